/**
 * The H3 example end to end: the `hexes` UDF (examples/udfs/hexes.ts) answers file calls
 * with valid H3 cells inside the bounds, and examples/web/h3.html draws its per-tile JSON
 * through `h3Layer` in headless Chromium (asserted on screenshot pixels in the layer's colours).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as h3 from 'h3-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { count, decode, haveChromium, launchChromium, stableShot, warnIfNoChromium } from './helpers/browser.ts';

const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
warnIfNoChromium('H3 browser test');

let server: RunningServer;
let browser: Browser | undefined;
let cacheDir: string;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'tilesmith-browser-h3-'));
  server = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
  if (!haveChromium) return;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('hexes UDF', () => {
  it('a file call returns valid resolution-5 H3 cells whose centres lie in the bounds', async () => {
    const res = await fetch(`${server.url}/udf/hexes/file?bounds=0,0,1,1&res=5`);
    expect(res.status).toBe(200);
    const rows = (await res.json()) as { hex: string; value: number }[];
    // A 1°×1° box near the equator is ~12,300 km²; a resolution-5 cell ~253 km².
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.length).toBeLessThan(100);
    const slack = 2 * h3.getHexagonEdgeLengthAvg(5, 'km') / 111; // about one cell, in degrees
    for (const { hex, value } of rows) {
      expect(h3.isValidCell(hex)).toBe(true);
      expect(h3.getResolution(hex)).toBe(5);
      const [lat, lng] = h3.cellToLatLng(hex);
      expect(lng).toBeGreaterThanOrEqual(0 - slack);
      expect(lng).toBeLessThanOrEqual(1 + slack);
      expect(lat).toBeGreaterThanOrEqual(0 - slack);
      expect(lat).toBeLessThanOrEqual(1 + slack);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(100);
    }
    expect(new Set(rows.map((r) => r.hex)).size).toBe(rows.length);
  });

  it('covers a whole-world tile (bounds wider than 180°) and refuses calls over the cell cap', async () => {
    const world = (await (await fetch(`${server.url}/udf/hexes/tiles/0/0/0?format=json`)).json()) as { hex: string }[];
    // All resolution-0 cells but the few whose centres lie beyond Web Mercator's ±85°.
    expect(world.length).toBeGreaterThan(100);
    expect(world.every((r) => h3.getResolution(r.hex) === 0)).toBe(true);
    const lngs = world.map((r) => h3.cellToLatLng(r.hex)[1]);
    expect(Math.min(...lngs)).toBeLessThan(-120);
    expect(Math.max(...lngs)).toBeGreaterThan(120);
    const tooMany = await fetch(`${server.url}/udf/hexes/file?bounds=-180,-85,180,85&res=6`);
    expect(tooMany.status).toBeGreaterThanOrEqual(400);
    expect(await tooMany.text()).toMatch(/more than 20000/);
  });
});



async function waitFor(cond: () => boolean, what: () => string, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// h3.html fills cells between #ffd65a and #d63014 ("warm") or #a0dce6 and #1450aa ("cool"),
// at alpha 210 over the page's #f4f1ea: clearly orange/red resp. clearly blue pixels.
const isWarm = (r: number, g: number, b: number) => r > 190 && r - b > 90 && g < r - 15;
const isCool = (r: number, g: number, b: number) => b > 150 && b - r > 40;

describe.skipIf(!haveChromium)('examples/web/h3.html in headless Chromium', () => {
  it('fetches per-tile H3 JSON from the hexes UDF and draws hexagons in the fill colours', async () => {
    // deck.gl's UMD bundle leaves h3-js out (it reads a global `h3`), so the page needs the
    // server to vendor h3-js; without it H3HexagonLayer throws "getResolution is not a function".
    expect((await fetch(`${server.url}/vendor/h3-js/h3-js.umd.js`)).status).toBe(200);
    const page = await browser!.newPage({ viewport: { width: 1000, height: 700 } });
    const tiles: { url: string; status: number }[] = [];
    const errors: string[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/udf/hexes/tiles/')) tiles.push({ url: r.url(), status: r.status() });
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const list = () => tiles.map((t) => `${t.status} ${t.url}`).join('\n');
    try {
      await page.goto(`${server.url}/examples/h3.html`);
      const jsonTile = /\/udf\/hexes\/tiles\/\d+\/\d+\/\d+\?format=json/;
      await waitFor(() => tiles.filter((t) => jsonTile.test(t.url) && t.status === 200).length >= 2, () => `hexes json tiles; got:\n${list()}`);
      const shot = await decode(await stableShot(page));
      const total = shot.width * shot.height;
      // The view (zoom 2.5 around 10°E 30°N) is covered by hexagons: most pixels are warm.
      const warm = count(shot, isWarm);
      expect(warm / total).toBeGreaterThan(0.3);
      expect(count(shot, isCool)).toBeLessThan(total * 0.01);

      // The colour control recolours the same cells: warm pixels give way to cool ones.
      await page.selectOption('#palette', 'cool');
      const cool = await decode(await stableShot(page));
      expect(count(cool, isCool) / total).toBeGreaterThan(0.3);
      expect(count(cool, isWarm)).toBeLessThan(warm * 0.05);

      // A coarser resolution: new tile URLs carrying offset=-2.
      await page.selectOption('#offset', '-2');
      await waitFor(() => tiles.some((t) => /format=json.*offset=-2/.test(t.url) && t.status === 200), () => `offset=-2 tiles; got:\n${list()}`);

      expect(tiles.filter((t) => t.status >= 400)).toEqual([]);
      expect(errors.filter((e) => !/GPU stall|GL Driver/.test(e))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 240_000);
});
