/**
 * Shared by the headless-Chromium tests: how to launch Debian's chromium, wait for tile
 * responses, take a screenshot once the picture has settled, and count pixels in it.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { cannotRun } from './skip.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** Prints the loud reason a suite skips when chromium is missing. */
export function warnIfNoChromium(what: string): void {
  if (!haveChromium) {
    cannotRun(what, `${CHROMIUM} is missing. Run \`node scripts/setup-system.mjs\` as root (apt-get install chromium).`);
  }
}

/** Chromium with the flags this machine needs (no GPU, no sandbox as root, no background network). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface TileResponse {
  url: string;
  status: number;
}

/** Waits until a 200 tile response matching `pattern` has arrived. */
export async function waitForTile(tiles: TileResponse[], pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!tiles.some((t) => pattern.test(t.url) && t.status === 200)) {
    if (Date.now() - start > timeoutMs) throw new Error(`no tile response matching ${pattern}; got:\n${tiles.map((t) => `${t.status} ${t.url}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Screenshots (of a page or an element) until two in a row are identical: tiles have been drawn. */
export async function stableShot(target: { screenshot(): Promise<Buffer> }, timeoutMs = 30_000): Promise<Buffer> {
  const start = Date.now();
  let prev = await target.screenshot();
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const next = await target.screenshot();
    if (next.equals(prev) || Date.now() - start > timeoutMs) return next;
    prev = next;
  }
}

export interface Pixels {
  width: number;
  height: number;
  data: Buffer;
}

/** RGB pixels of a PNG screenshot. */
export async function decode(png: Buffer): Promise<Pixels> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Counts pixels matching a colour test, optionally only right of `minX` (outside a side panel). */
export function count(p: Pixels, test: (r: number, g: number, b: number) => boolean, minX = 0): number {
  let n = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = minX; x < p.width; x++) {
      const i = (y * p.width + x) * 3;
      if (test(p.data[i], p.data[i + 1], p.data[i + 2])) n++;
    }
  }
  return n;
}

/** Fraction of pixels that differ (any channel by > 40) between two screenshots. */
export function diffFraction(a: Pixels, b: Pixels): number {
  let n = 0;
  for (let i = 0; i < a.data.length; i += 3) {
    if (Math.abs(a.data[i] - b.data[i]) > 40 || Math.abs(a.data[i + 1] - b.data[i + 1]) > 40 || Math.abs(a.data[i + 2] - b.data[i + 2]) > 40) n++;
  }
  return n / (a.data.length / 3);
}
