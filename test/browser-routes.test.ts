/**
 * The endpoints the browser pages and desktop clients depend on, over real HTTP: style.json
 * (validated by MapLibre's own validator), TileJSON, qgis.xml, the vendor files and the
 * client bundle, and the error answers for unknown names and unsafe paths.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { validateStyleMin } from '@maplibre/maplibre-gl-style-spec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';

const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
let server: RunningServer;
let cacheDir: string;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'tilesmith-routes-'));
  server = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
});
afterAll(async () => {
  await server?.close();
  await rm(cacheDir, { recursive: true, force: true });
});

const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);

describe('style.json', () => {
  it('is a valid MapLibre style for a vector UDF, carrying the request parameters', async () => {
    const res = await get('/udf/points/style.json?n=5&label=a%26b&format=png&color=%23ff0000');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const style = await res.json();
    expect(validateStyleMin(style)).toEqual([]);
    expect(style.sources['tilesmith-points']).toMatchObject({
      type: 'vector',
      // format/color are presentation options: not copied; the UDF params are, still encoded.
      tiles: [`${server.url}/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=5&label=a%26b`],
    });
    expect(style.layers.map((l: { id: string; type: string }) => `${l.id}:${l.type}`)).toEqual([
      'background:background',
      'points-fill:fill',
      'points-line:line',
      'points-circle:circle',
    ]);
    expect(style.layers[3]['source-layer']).toBe('points');
    expect(style.layers[3].paint['circle-color']).toBe('#ff0000');
  });

  it('is a valid raster style with 256 px tiles and ?format=png', async () => {
    const style = await (await get('/udf/mandelbrot/style.json?iterations=10&colormap=viridis')).json();
    expect(validateStyleMin(style)).toEqual([]);
    expect(style.sources['tilesmith-mandelbrot']).toMatchObject({
      type: 'raster',
      tileSize: 256,
      tiles: [`${server.url}/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&iterations=10&colormap=viridis`],
    });
    expect(style.layers[1]).toMatchObject({ id: 'mandelbrot-raster', type: 'raster', source: 'tilesmith-mandelbrot' });
  });

  it('uses the UDF zoom range; X-Forwarded-Proto/Host only with trustProxy', async () => {
    const headers = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'maps.example.com' };
    const plain = await (await get('/udf/countries/style.json', { headers })).json();
    expect(validateStyleMin(plain)).toEqual([]);
    expect(plain.sources['tilesmith-countries']).toMatchObject({ maxzoom: 8, tiles: [`${server.url.replace('localhost', '127.0.0.1')}/udf/countries/tiles/{z}/{x}/{y}?format=mvt`] });
    const proxied = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'proxy'), trustProxy: true, log: () => {} });
    try {
      const style = await (await fetch(`${proxied.url}/udf/countries/style.json`, { headers })).json();
      expect(validateStyleMin(style)).toEqual([]);
      expect(style.sources['tilesmith-countries']).toMatchObject({ maxzoom: 8, tiles: ['https://maps.example.com/udf/countries/tiles/{z}/{x}/{y}?format=mvt'] });
    } finally {
      await proxied.close();
    }
  });

  it('answers 404 JSON for unknown UDFs and 406 for UDFs without a map layer', async () => {
    const res = await get('/udf/nope/style.json');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'unknown_udf', message: expect.stringContaining('nope') });
    const json = await get('/udf/tile_info/style.json');
    expect(json.status).toBe(406);
    expect((await json.json()).message).toMatch(/returns json/);
  });
});

describe('TileJSON (served by the core, consumed by the clients)', () => {
  it('has the TileJSON 3.0.0 fields the clients read, with vector_layers[0].id = the MVT layer name', async () => {
    const tj = await (await get('/udf/points/tilejson.json?n=5')).json();
    expect(tj.tilejson).toBe('3.0.0');
    expect(tj.tiles).toHaveLength(1);
    expect(tj.tiles[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/udf\/points\/tiles\/\{z\}\/\{x\}\/\{y\}.*n=5/);
    expect(tj.vector_layers[0].id).toBe('points');
    expect(typeof tj.vector_layers[0].fields).toBe('object');
    expect(tj.minzoom).toBeTypeOf('number');
    expect(tj.maxzoom).toBeTypeOf('number');
    expect(tj.bounds).toHaveLength(4);
  });
});

describe('qgis.xml', () => {
  it('is a vector tile connection file for a vector UDF, as an attachment', async () => {
    const res = await get('/udf/points/qgis.xml?n=5&label=a%26b');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="points.xml"');
    const xml = await res.text();
    expect(xml).toMatch(/^<!DOCTYPE connections>\n<qgsVectorTileConnections version="1.0">/);
    expect(xml).toContain(`url="${server.url}/udf/points/tiles/{z}/{x}/{y}?format=mvt&amp;n=5&amp;label=a%26b"`);
    expect(xml).toContain(`styleUrl="${server.url}/udf/points/style.json?n=5&amp;label=a%26b"`);
  });
  it('is an XYZ connection file for a raster UDF (tilePixelRatio 2 for 512 px)', async () => {
    const xml = await (await get('/udf/mandelbrot/qgis.xml?tile_size=512&iterations=9')).text();
    expect(xml).toContain('<qgsXYZTilesConnections version="1.0">');
    expect(xml).toContain(`url="${server.url}/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&amp;tile_size=512&amp;iterations=9"`);
    expect(xml).toContain('tilePixelRatio="2"');
  });
  it('answers 404 for unknown UDFs', async () => {
    expect((await get('/udf/nope/qgis.xml')).status).toBe(404);
  });
});

describe('pages, vendor files and the client bundle', () => {
  it('serves the whitelisted vendor files with long caching, and nothing else', async () => {
    for (const [path, type] of [
      ['/vendor/deck.gl/dist.min.js', 'text/javascript'],
      ['/vendor/maplibre-gl/maplibre-gl.mjs', 'text/javascript'],
      ['/vendor/maplibre-gl/maplibre-gl-worker.mjs?v=6', 'text/javascript'],
      ['/vendor/maplibre-gl/maplibre-gl.css', 'text/css'],
      ['/vendor/leaflet/leaflet.js', 'text/javascript'],
      ['/vendor/leaflet/images/marker-icon.png', 'image/png'],
      ['/vendor/protomaps-leaflet/protomaps-leaflet.js', 'text/javascript'],
      ['/vendor/loaders.gl/mvt-worker.js', 'text/javascript'],
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toContain(type);
      expect(res.headers.get('cache-control'), path).toMatch(/max-age=\d{5,}/);
      await res.arrayBuffer();
    }
    for (const path of ['/vendor/../package.json', '/vendor/%2e%2e/package.json', '/vendor/leaflet/../../package.json', '/vendor/leaflet/leaflet-src.js', '/vendor/', '/examples/..%2Fudfs%2Fpoints.ts', '/examples/.hidden.html', '/pages/html.ts']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/json/);
      expect(await res.text()).not.toContain('"version"');
    }
  });

  it('bundles the client for the browser as the global `tilesmith`', async () => {
    const res = await get('/client/tilesmith-client.js');
    expect(res.status).toBe(200);
    const code = await res.text();
    const sandbox: Record<string, any> = {};
    sandbox.globalThis = sandbox;
    runInNewContext(`${code}\nglobalThis.tilesmith = tilesmith;`, sandbox);
    const ts = sandbox.tilesmith;
    expect(ts.tileUrl({ server: 'http://h', udf: 'p', format: 'mvt', params: { n: 1 } })).toBe('http://h/udf/p/tiles/{z}/{x}/{y}?format=mvt&n=1');
    expect(typeof ts.deckgl.udfLayer).toBe('function');
    expect(typeof ts.maplibre.addUdfLayer).toBe('function');
    expect(typeof ts.leaflet.udfTileLayer).toBe('function');
    expect(ts.qgis.qgisRasterUri({ server: 'http://h', udf: 'm' })).toMatch(/^type=xyz&url=http%3A/);
    expect(ts.felt.feltFileUrl({ server: 'http://h', udf: 'c' })).toBe('http://h/udf/c/file.geojson');
    // deck.gl is not bundled: the adapter uses the page's global `deck`.
    expect(code.length).toBeLessThan(200_000);
    expect(() => ts.deckgl.udfLayer({ server: 'http://h', udf: 'p' })).toThrow(/load deck\.gl/);
  });

  it('serves the index, preview and example pages', async () => {
    const index = await (await get('/')).text();
    for (const udf of ['points', 'mandelbrot', 'countries']) expect(index).toContain(`href="/udf/${udf}"`);
    expect(index).toContain('href="/examples/deckgl.html"');
    const preview = await get('/udf/points?n=5');
    expect(preview.headers.get('content-type')).toMatch(/text\/html/);
    const html = await preview.text();
    expect(html).toContain('/client/tilesmith-client.js');
    expect(html).toContain('"query":{"n":"5"}');
    expect((await get('/udf/nope')).status).toBe(404);
    for (const page of ['deckgl', 'maplibre', 'leaflet']) expect((await get(`/examples/${page}.html`)).status).toBe(200);
  });

  it('escapes query values embedded in the preview page', async () => {
    const html = await (await get('/udf/points?label=%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E')).text();
    expect(html).not.toContain('</script><script>alert(1)');
  });
});
