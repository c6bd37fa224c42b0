/**
 * The example pages and the preview page in a real browser (Debian chromium driven by
 * playwright-core) against a real tilesmith server: tiles are fetched from the server and
 * drawn (asserted on screenshot pixels), and changing a parameter changes both the tile URLs
 * requested and the picture.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { count, decode, diffFraction, haveChromium, launchChromium, stableShot, waitForTile, warnIfNoChromium } from './helpers/browser.ts';

const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
warnIfNoChromium('browser tests');

let server: RunningServer;
let browser: Browser;
let cacheDir: string;

beforeAll(async () => {
  if (!haveChromium) return;
  cacheDir = await mkdtemp(join(tmpdir(), 'tilesmith-browser-'));
  server = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

/** A page that records every tile response and every page error. */
async function openPage(path: string): Promise<{ page: Page; tiles: { url: string; status: number }[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const tiles: { url: string; status: number }[] = [];
  const errors: string[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/tiles/')) tiles.push({ url: r.url(), status: r.status() });
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${server.url}${path}`);
  return { page, tiles, errors };
}






// The example pages draw points in #e6193c, countries in #5b8c3a (translucent) and the
// Mandelbrot set through magma: strongly red, greenish and dark-purple/cream pixels.
const isPointRed = (r: number, g: number, b: number) => r > 180 && g < 90 && b < 110 && b > 20;
const isMagmaDark = (r: number, g: number, b: number) => r < 90 && g < 40 && b > 40 && b > r;
const notBackground = (r: number, g: number, b: number) => Math.abs(r - 0xf4) + Math.abs(g - 0xf1) + Math.abs(b - 0xea) > 60;

describe.skipIf(!haveChromium)('example pages in headless Chromium', () => {
  for (const name of ['deckgl', 'maplibre', 'leaflet']) {
    it(`${name}.html draws the vector and raster UDFs and follows parameter changes`, async () => {
      const { page, tiles, errors } = await openPage(`/examples/${name}.html`);
      try {
        await waitForTile(tiles, /\/udf\/points\/tiles\/\d+\/\d+\/\d+\?format=mvt&n=100\b/);
        await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/\d+\/\d+\/\d+\?format=png.*iterations=64/);
        await waitForTile(tiles, /\/udf\/countries\/tiles\//);
        const before = await decode(await stableShot(page));
        const total = before.width * before.height;
        // Drawn for real: most of the map is covered by data, with red points and magma pixels.
        expect(count(before, notBackground) / total).toBeGreaterThan(0.3);
        const redBefore = count(before, isPointRed);
        expect(redBefore).toBeGreaterThan(500);
        expect(count(before, isMagmaDark)).toBeGreaterThan(total * 0.02);

        // Fewer points: new tile URLs with n=5, and far fewer red pixels.
        await page.fill('#n', '5');
        await page.dispatchEvent('#n', 'change');
        await waitForTile(tiles, /\/udf\/points\/tiles\/\d+\/\d+\/\d+\?format=mvt&n=5\b/);
        const fewer = await decode(await stableShot(page));
        const redAfter = count(fewer, isPointRed);
        expect(redAfter).toBeLessThan(redBefore * 0.3);

        // Another colormap for the raster UDF: new tile URLs and a different picture.
        await page.selectOption('#colormap', 'viridis');
        await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/.*colormap=viridis/);
        const recoloured = await decode(await stableShot(page));
        expect(diffFraction(fewer, recoloured)).toBeGreaterThan(0.1);
        // The set's inside turns from magma's cream (#fcfdbf) to viridis's yellow (#fde725).
        const isViridisYellow = (r: number, g: number, b: number) => r > 200 && g > 190 && b < 90;
        expect(count(fewer, isViridisYellow)).toBeLessThan(total * 0.005);
        expect(count(recoloured, isViridisYellow)).toBeGreaterThan(total * 0.02);

        expect(tiles.filter((t) => t.status >= 400)).toEqual([]);
        expect(errors.filter((e) => !/GPU stall|GL Driver/.test(e))).toEqual([]);
      } finally {
        await page.close();
      }
      // deck.gl under software WebGL (SwiftShader) takes ~100 s for the three pictures here.
    }, 300_000);
  }
});

describe.skipIf(!haveChromium)('preview page in headless Chromium', () => {
  it('shows a vector UDF, rebuilds its source from the form, and pops up feature properties', async () => {
    const { page, tiles, errors } = await openPage('/udf/points');
    try {
      await waitForTile(tiles, /\/udf\/points\/tiles\/\d+\/\d+\/\d+\?format=mvt&n=100&label=pt/);
      const isBlue = (r: number, g: number, b: number) => r < 60 && g > 90 && g < 160 && b > 200;
      const before = await decode(await stableShot(page));
      const blueBefore = count(before, isBlue, 430);
      expect(blueBefore).toBeGreaterThan(500);

      // The snippets carry the current parameters.
      expect(await page.textContent('#snip-tiles')).toContain('/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=100');
      expect(await page.textContent('#snip-qgis')).toContain('type=xyz&url=http');
      expect(await page.textContent('#snip-felt')).toContain('/udf/points/file.geojson');
      expect(await page.getAttribute('#qgis-xml', 'href')).toContain('/udf/points/qgis.xml?n=100');

      await page.fill('[data-param="n"]', '3');
      await page.dispatchEvent('[data-param="n"]', 'change');
      await waitForTile(tiles, /\/udf\/points\/tiles\/\d+\/\d+\/\d+\?format=mvt&n=3&label=pt/);
      const after = await decode(await stableShot(page));
      expect(count(after, isBlue, 430)).toBeLessThan(blueBefore * 0.2);
      expect(await page.textContent('#snip-tiles')).toContain('n=3');
      expect(page.url()).toContain('n=3');

      // Click a rendered point: the popup lists its properties.
      const target = await page.evaluate(() => {
        const { map } = (window as any).tilesmithPreview;
        const [f] = map.queryRenderedFeatures({ layers: ['points-circle'] });
        const p = map.project(f.geometry.coordinates);
        const box = map.getCanvas().getBoundingClientRect();
        return { x: box.left + p.x, y: box.top + p.y, name: f.properties.name };
      });
      await page.mouse.click(target.x, target.y);
      await page.waitForSelector('.maplibregl-popup');
      const popup = await page.textContent('.maplibregl-popup');
      expect(popup).toContain('name');
      expect(popup).toMatch(/pt-\d+/);
      expect(errors.filter((e) => !/GPU stall|GL Driver/.test(e))).toEqual([]);
    } finally {
      await page.close();
    }
  }, 180_000);

  it('shows a raster UDF and changes tiles and picture with the colormap and iterations', async () => {
    const { page, tiles } = await openPage('/udf/mandelbrot');
    try {
      await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/\d+\/\d+\/\d+\?format=png&iterations=64/);
      const before = await decode(await stableShot(page));
      expect(count(before, notBackground, 430) / ((before.width - 430) * before.height)).toBeGreaterThan(0.3);
      await page.selectOption('[data-extra="colormap"]', 'greys');
      await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/.*iterations=64&colormap=greys/);
      const grey = await decode(await stableShot(page));
      expect(diffFraction(before, grey)).toBeGreaterThan(0.1);
      // greys: map pixels are (nearly) neutral grey.
      const coloured = count(grey, (r, g, b) => Math.max(r, g, b) - Math.min(r, g, b) > 40, 430);
      expect(coloured / ((grey.width - 430) * grey.height)).toBeLessThan(0.05);
      await page.fill('[data-param="iterations"]', '6');
      await page.dispatchEvent('[data-param="iterations"]', 'change');
      await waitForTile(tiles, /\/udf\/mandelbrot\/tiles\/.*iterations=6&colormap=greys/);
      expect(diffFraction(grey, await decode(await stableShot(page)))).toBeGreaterThan(0.05);
    } finally {
      await page.close();
    }
  }, 180_000);

  it('the index page links every UDF preview and the example pages', async () => {
    const { page } = await openPage('/');
    try {
      for (const udf of ['points', 'mandelbrot', 'countries']) {
        expect(await page.getAttribute(`tr[data-udf="${udf}"] a`, 'href')).toBe(`/udf/${udf}`);
      }
      const examples = await page.$$eval('a[href^="/examples/"]', (as) => as.map((a) => a.getAttribute('href')));
      expect(examples).toEqual(expect.arrayContaining(['/examples/deckgl.html', '/examples/leaflet.html', '/examples/maplibre.html']));
    } finally {
      await page.close();
    }
  });
});
