/**
 * The documented client snippets (README.md, blocks marked `<!-- snippet: … -->`)
 * run verbatim in headless Chromium: bare imports (`tilesmith/client/deckgl`, `maplibre-gl`,
 * `leaflet`, …) resolve through an import map to the package's own modules (built with
 * esbuild) and to the libraries' browser builds. Each snippet must draw the raster and the
 * vector UDF it names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { cannotRun } from './helpers/skip.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(import.meta.dirname, '..');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) cannotRun('snippet tests', `${CHROMIUM} is missing (node scripts/setup-system.mjs as root installs it).`);

/** The code blocks of README.md marked `<!-- snippet: NAME -->`. */
function snippets(): Record<string, string> {
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const out: Record<string, string> = {};
  for (const m of md.matchAll(/<!-- snippet: (\w+) -->\n```js\n([\s\S]*?)```/g)) out[m[1]] = m[2];
  return out;
}

// Browser stand-ins for the bare imports the snippets and the adapters use. deck.gl,
// Leaflet and protomaps-leaflet are loaded from their UMD builds; these re-export the globals.
const SHIMS: Record<string, string> = {
  '@deck.gl/core': 'export const { Deck } = globalThis.deck;',
  '@deck.gl/geo-layers': 'export const { MVTLayer, TileLayer, H3HexagonLayer } = globalThis.deck;',
  '@deck.gl/layers': 'export const { BitmapLayer, GeoJsonLayer } = globalThis.deck;',
  leaflet: 'export default globalThis.L;',
  'protomaps-leaflet': 'export const { leafletLayer, PolygonSymbolizer, LineSymbolizer, CircleSymbolizer } = globalThis.protomapsL;',
};
const UMD: Record<string, string[]> = {
  deckgl: ['/vendor/deck.gl/dist.min.js'],
  maplibre: [],
  leaflet: ['/vendor/leaflet/leaflet.js', '/vendor/protomaps-leaflet/protomaps-leaflet.js'],
};
const CSS: Record<string, string[]> = { deckgl: [], maplibre: ['/vendor/maplibre-gl/maplibre-gl.css'], leaflet: ['/vendor/leaflet/leaflet.css'] };

let server: RunningServer;
let browser: Browser;
let cacheDir: string;
const modules = new Map<string, string>();

beforeAll(async () => {
  if (!haveChromium) return;
  cacheDir = await mkdtemp(join(tmpdir(), 'tilesmith-snippets-'));
  server = await startServer({ dir: join(ROOT, 'examples/udfs'), port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
  for (const name of ['index', 'deckgl', 'maplibre', 'leaflet']) {
    const built = await esbuild.build({
      entryPoints: [join(ROOT, `client/${name}.ts`)],
      bundle: true,
      format: 'esm',
      write: false,
      external: ['@deck.gl/*', 'leaflet', 'protomaps-leaflet', 'maplibre-gl'],
    });
    modules.set(`client-${name}.js`, built.outputFiles[0].text);
  }
  Object.entries(SHIMS).forEach(([k, v], i) => modules.set(`shim-${i}.js`, v));
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

function pageFor(name: string, code: string): string {
  const imports: Record<string, string> = {
    'tilesmith/client': '/__snippet/client-index.js',
    'tilesmith/client/deckgl': '/__snippet/client-deckgl.js',
    'tilesmith/client/maplibre': '/__snippet/client-maplibre.js',
    'tilesmith/client/leaflet': '/__snippet/client-leaflet.js',
    'maplibre-gl': '/vendor/maplibre-gl/maplibre-gl.mjs',
  };
  Object.keys(SHIMS).forEach((k, i) => (imports[k] = `/__snippet/shim-${i}.js`));
  const runnable = code.replaceAll('http://localhost:8787', server.url);
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
${CSS[name].map((h) => `<link rel="stylesheet" href="${h}">`).join('\n')}
<style>html,body{margin:0;height:100%;background:#f4f1ea}#map{position:absolute;inset:0}</style>
${UMD[name].map((s) => `<script src="${s}"></script>`).join('\n')}
<script type="importmap">${JSON.stringify({ imports })}</script>
</head><body><div id="map"></div>
<script type="module">
${runnable}
</script></body></html>`;
}

describe.skipIf(!haveChromium)('documented snippets run as pasted', () => {
  it('the README has the deck.gl, MapLibre and Leaflet snippets', () => {
    expect(Object.keys(snippets()).sort()).toEqual(['deckgl', 'leaflet', 'maplibre']);
  });

  for (const name of ['deckgl', 'maplibre', 'leaflet']) {
    it(`the ${name} snippet draws mandelbrot and points`, async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
      const errors: string[] = [];
      const tiles: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('response', (r) => {
        if (r.url().includes('/tiles/') && r.status() === 200) tiles.push(r.url());
      });
      try {
        await page.route(`${server.url}/__snippet/**`, (route) => {
          const file = new URL(route.request().url()).pathname.replace('/__snippet/', '');
          if (file === 'page.html') return route.fulfill({ contentType: 'text/html', body: pageFor(name, snippets()[name]) });
          const js = modules.get(file);
          return js ? route.fulfill({ contentType: 'text/javascript', body: js }) : route.fulfill({ status: 404, body: '' });
        });
        await page.goto(`${server.url}/__snippet/page.html`);
        const start = Date.now();
        while (!(tiles.some((u) => /\/udf\/points\/.*n=500/.test(u)) && tiles.some((u) => /\/udf\/mandelbrot\/.*iterations=128/.test(u)))) {
          if (Date.now() - start > 90_000) throw new Error(`tiles not requested; errors: ${errors.join('; ')}; tiles: ${tiles.join(' ')}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        // Wait for the picture to settle.
        let prev = await page.screenshot();
        for (let i = 0; i < 40; i++) {
          await new Promise((r) => setTimeout(r, 700));
          const next = await page.screenshot();
          if (next.equals(prev)) break;
          prev = next;
        }
        const { data, info } = await sharp(prev).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        let red = 0;
        let magma = 0;
        for (let i = 0; i < data.length; i += 3) {
          const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
          if (r > 180 && g < 90 && b < 110 && b > 20) red++;
          if (r < 90 && g < 40 && b > 40 && b > r) magma++;
        }
        const total = info.width * info.height;
        expect(red, 'red point pixels').toBeGreaterThan(500);
        expect(magma / total, 'magma raster pixels').toBeGreaterThan(0.02);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }, 180_000);
  }
});
