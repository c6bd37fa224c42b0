/**
 * The index page's map in a real browser (Debian chromium driven by playwright-core) against a
 * real tilesmith server: it draws the first map-able UDF by default (asserted on pixels of the
 * map element), only vector/raster rows get a "show on map" control, and switching rows swaps
 * the layer: the new UDF's tiles are requested, the old layer is gone, the picture changes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator } from 'playwright-core';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { count, decode, diffFraction, haveChromium, launchChromium, stableShot, waitForTile, warnIfNoChromium, type Pixels } from './helpers/browser.ts';

const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
warnIfNoChromium('index-map browser test');

let server: RunningServer;
let browser: Browser;
let cacheDir: string;

beforeAll(async () => {
  if (!haveChromium) return;
  cacheDir = await mkdtemp(join(tmpdir(), 'tilesmith-browser-index-'));
  server = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});



const fraction = (p: Pixels, test: (r: number, g: number, b: number) => boolean) => count(p, test) / (p.width * p.height);

// Background #f4f1ea; countries are the adapter's default blue (#0a7cff at 0.4 over it);
// mandelbrot is drawn through magma (dark purple outside the set).
const notBackground = (r: number, g: number, b: number) => Math.abs(r - 0xf4) + Math.abs(g - 0xf1) + Math.abs(b - 0xea) > 60;
const isBluish = (r: number, g: number, b: number) => b > r + 40 && b > g;
const isMagmaDark = (r: number, g: number, b: number) => r < 90 && g < 40 && b > 40 && b > r;

describe.skipIf(!haveChromium)('index page map in headless Chromium', () => {
  it('draws the first map-able UDF and switches to another one from the table', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const tiles: { url: string; status: number }[] = [];
    const errors: string[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/tiles/')) tiles.push({ url: r.url(), status: r.status() });
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    try {
      await page.goto(`${server.url}/`);
      // The table and its links are still there.
      for (const udf of ['points', 'mandelbrot', 'countries']) {
        expect(await page.getAttribute(`tr[data-udf="${udf}"] a`, 'href')).toBe(`/udf/${udf}`);
      }
      // Only vector/raster rows get the control; json UDFs do not.
      for (const udf of ['countries', 'mandelbrot', 'points']) expect(await page.locator(`tr[data-udf="${udf}"] button.show-on-map`).count()).toBe(1);
      for (const udf of ['tile_info', 'hexes']) expect(await page.locator(`tr[data-udf="${udf}"] button.show-on-map`).count()).toBe(0);

      // Default: the first map-able UDF (countries, alphabetically first), highlighted.
      await waitForTile(tiles, /\/udf\/countries\/tiles\/\d+\/\d+\/\d+\?format=mvt/);
      const mapEl = page.locator('#index-map');
      const before = await decode(await stableShot(mapEl));
      expect(before.width).toBeGreaterThan(500);
      expect(fraction(before, notBackground)).toBeGreaterThan(0.1);
      expect(fraction(before, isBluish)).toBeGreaterThan(0.1);
      expect(fraction(before, isMagmaDark)).toBeLessThan(0.005);
      expect(await page.getAttribute('tr[data-udf="countries"]', 'class')).toContain('active');
      expect(await page.textContent('#index-map-current')).toBe('countries');
      expect(tiles.some((t) => /\/udf\/mandelbrot\/tiles\//.test(t.url))).toBe(false);

      // Switch to mandelbrot: its tiles are requested, the countries layers are removed, the picture changes.
      await page.click('tr[data-udf="mandelbrot"] button.show-on-map');
      await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/\d+\/\d+\/\d+\?format=png/);
      const after = await decode(await stableShot(mapEl));
      expect(diffFraction(before, after)).toBeGreaterThan(0.2);
      expect(fraction(after, isMagmaDark)).toBeGreaterThan(0.02);
      expect(fraction(after, notBackground)).toBeGreaterThan(0.3);
      const layerState = await page.evaluate(() => {
        const { map } = (window as any).tilesmithIndex;
        return { countries: !!map.getSource('tilesmith-countries') || !!map.getLayer('countries-fill'), mandelbrot: !!map.getLayer('mandelbrot-raster') };
      });
      expect(layerState).toEqual({ countries: false, mandelbrot: true });
      expect(await page.getAttribute('tr[data-udf="mandelbrot"]', 'class')).toContain('active');
      expect(await page.getAttribute('tr[data-udf="countries"]', 'class')).not.toContain('active');
      expect(await page.getAttribute('tr[data-udf="mandelbrot"] button.show-on-map', 'aria-pressed')).toBe('true');

      // Clicking a row (outside its links) switches back.
      await page.click('tr[data-udf="countries"] td:nth-child(3)');
      await page.waitForFunction(() => (window as any).tilesmithIndex.state.current === 'countries');
      const back = await decode(await stableShot(mapEl));
      expect(fraction(back, isMagmaDark)).toBeLessThan(0.005);
      expect(diffFraction(before, back)).toBeLessThan(0.05);
      expect(await page.getAttribute('tr[data-udf="countries"]', 'class')).toContain('active');

      expect(tiles.filter((t) => t.status >= 400)).toEqual([]);
      expect(errors.filter((e) => !/GPU stall|GL Driver/.test(e))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 180_000);
});
