/**
 * A private vector UDF in MapLibre (headless Chromium): under `--auth` the map draws the UDF
 * only when the client adapter's `transformRequest` sends the token as an
 * `Authorization: Bearer` header — the tile URLs themselves carry no token.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { openTokenStore } from '../server/node/token-store.ts';
import { count, decode, haveChromium, launchChromium, stableShot, waitForTile, warnIfNoChromium } from './helpers/browser.ts';

warnIfNoChromium('browser auth tests');
const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
let server: RunningServer;
let browser: Browser;
let work: string;
let token: string;

beforeAll(async () => {
  if (!haveChromium) return;
  work = await mkdtemp(join(tmpdir(), 'tilesmith-browser-auth-'));
  const tokenDb = join(work, 'tokens.db');
  const store = openTokenStore(tokenDb, { create: true });
  token = store.create({ udfs: ['points'], label: 'browser' }).token;
  store.close();
  server = await startServer({ dir: EXAMPLES, port: 0, cacheDir: join(work, 'cache'), auth: true, tokenDb, log: () => {} });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A page on the server's origin with a MapLibre map of `points`, with or without the header token. */
function pageHtml(withToken: boolean): string {
  return `<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/vendor/maplibre-gl/maplibre-gl.css">
<style>html,body,#map{margin:0;width:100%;height:100%}</style>
<script src="/client/tilesmith-client.js"></script></head>
<body><div id="map"></div>
<script type="module">
  import * as maplibregl from '/vendor/maplibre-gl/maplibre-gl.mjs';
  const server = location.origin;
  const { addUdfLayer, transformRequest } = tilesmith.maplibre;
  const map = new maplibregl.Map({
    container: 'map',
    style: { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#ffffff' } }] },
    center: [0, 20],
    zoom: 1,
    ${withToken ? `transformRequest: transformRequest(${JSON.stringify(token)}, server),` : ''}
  });
  map.on('load', () => addUdfLayer(map, { server, udf: 'points', params: { n: 300 }, color: '#e6193c' }));
</script></body></html>`;
}

const isRed = (r: number, g: number, b: number) => r > 180 && g < 90 && b < 110;

describe.skipIf(!haveChromium)('MapLibre and a private vector UDF', () => {
  for (const withToken of [true, false]) {
    it(withToken ? 'draws it with the token sent as a header by transformRequest' : 'draws nothing without the token (401 tiles)', async () => {
      const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
      const tiles: { url: string; status: number; auth?: string }[] = [];
      page.on('response', async (r) => {
        if (r.url().includes('/tiles/')) tiles.push({ url: r.url(), status: r.status(), auth: await r.request().headerValue('authorization').catch(() => undefined) ?? undefined });
      });
      try {
        // Serve the test page from the server's origin (same-origin module and worker URLs).
        await page.route(`${server.url}/test-page.html`, (route) => route.fulfill({ contentType: 'text/html', body: pageHtml(withToken) }));
        await page.goto(`${server.url}/test-page.html`);
        if (withToken) {
          await waitForTile(tiles, /\/udf\/points\/tiles\/\d+\/\d+\/\d+\?format=mvt&n=300/);
          const shot = await decode(await stableShot(page));
          expect(count(shot, isRed)).toBeGreaterThan(500);
          expect(tiles.filter((t) => t.status !== 200)).toEqual([]);
          for (const t of tiles) {
            expect(t.url).not.toContain('token=');
            expect(t.auth).toBe(`Bearer ${token}`);
          }
        } else {
          const start = Date.now();
          while (!tiles.some((t) => t.status === 401) && Date.now() - start < 30_000) await new Promise((r) => setTimeout(r, 100));
          expect(tiles.length).toBeGreaterThan(0);
          expect(tiles.every((t) => t.status === 401)).toBe(true);
          const shot = await decode(await stableShot(page));
          expect(count(shot, isRed)).toBe(0);
        }
      } finally {
        await page.close();
      }
    }, 120_000);
  }
});
