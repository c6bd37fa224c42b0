/**
 * End-to-end tests against a real listening server: the example UDFs and test fixtures,
 * decoded with independent decoders (@mapbox/vector-tile, sharp, hyparquet, apache-arrow).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import sharp from 'sharp';
import { tableFromIPC } from 'apache-arrow';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { tileToBounds } from '../server/tiling/bounds.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/udfs');
const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');

let server: RunningServer;
let cacheDir: string;
const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
// UDFs run in compute threads: the fixtures count their runs in files (see counted.ts).
const runsDir = mkdtempSync(join(tmpdir(), 'tilesmith-runs-'));
process.env.TILESMITH_TEST_RUNS = runsDir;
const runs = (tag: string): number => {
  try {
    return readFileSync(join(runsDir, tag)).length;
  } catch {
    return 0;
  }
};
const resetRuns = () => {
  for (const f of readdirSync(runsDir)) rmSync(join(runsDir, f), { force: true });
};

beforeAll(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), 'tilesmith-e2e-'));
  server = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
});
afterAll(async () => {
  await server?.close();
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(runsDir, { recursive: true, force: true });
});

function decodeMvt(buf: ArrayBuffer) {
  return new VectorTile(new PbfReader(new Uint8Array(buf)));
}

describe('vector tiles', () => {
  it('encodes MVT that an independent decoder reads back at the right coordinates', async () => {
    const res = await get('/udf/counted/tiles/3/4/2.mvt?tag=coords');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    const vt = decodeMvt(await res.arrayBuffer());
    const layer = vt.layers.counted;
    expect(layer).toBeDefined();
    expect(layer.extent).toBe(4096);
    expect(layer.length).toBe(2);
    const [w, s, e, n] = tileToBounds({ z: 3, x: 4, y: 2 });
    const point = layer.feature(0).toGeoJSON(4, 2, 3);
    expect(point.properties).toMatchObject({ tag: 'coords', n: 1 });
    const [lon, lat] = (point.geometry as any).coordinates;
    const tol = (e - w) / 4096 * 2;
    expect(Math.abs(lon - (w + e) / 2)).toBeLessThan(tol);
    expect(Math.abs(lat - (s + n) / 2)).toBeLessThan((n - s) / 4096 * 2);
    const poly = layer.feature(1).toGeoJSON(4, 2, 3);
    expect(poly.geometry.type).toBe('Polygon');
    const ring = (poly.geometry as any).coordinates[0] as number[][];
    const lons = ring.map((p) => p[0]);
    expect(Math.min(...lons)).toBeCloseTo(w + (e - w) / 4, 1);
    expect(Math.max(...lons)).toBeCloseTo(w + (3 * (e - w)) / 4, 1);
  });

  it('serves the example points UDF with parameters in every vector format', async () => {
    const ex = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'ex'), log: () => {} });
    try {
      const mvt = await fetch(`${ex.url}/udf/points/tiles/2/1/1?n=25&label=x`);
      expect(mvt.status).toBe(200);
      const layer = decodeMvt(await mvt.arrayBuffer()).layers.points;
      expect(layer.length).toBe(25);
      expect(layer.feature(0).properties.name).toMatch(/^x-/);

      const gj = await fetch(`${ex.url}/udf/points/tiles/2/1/1.geojson?n=25&label=x`);
      expect(gj.headers.get('content-type')).toContain('application/geo+json');
      const fc = await gj.json();
      expect(fc.features).toHaveLength(25);
      const [w, s, e, n] = tileToBounds({ z: 2, x: 1, y: 1 });
      for (const f of fc.features) {
        const [lon, lat] = f.geometry.coordinates;
        expect(lon >= w && lon <= e && lat >= s && lat <= n).toBe(true);
      }
      // The MVT point matches the GeoJSON point within tile precision.
      const first = layer.feature(0).toGeoJSON(1, 1, 2).geometry as any;
      expect(Math.abs(first.coordinates[0] - fc.features[0].geometry.coordinates[0])).toBeLessThan((e - w) / 4096 * 2);

      const countries = await fetch(`${ex.url}/udf/countries/file.geojson?bounds=5,45,10,50`);
      const names = (await countries.json()).features.map((f: any) => f.properties.name);
      expect(names).toEqual(expect.arrayContaining(['France', 'Germany', 'Switzerland']));
      expect(names).not.toContain('Australia');
      expect(names).not.toContain('Russia');

      const mandel = await fetch(`${ex.url}/udf/mandelbrot/tiles/1/0/0.png`);
      expect(mandel.headers.get('content-type')).toBe('image/png');
      const img = await sharp(Buffer.from(await mandel.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
      expect(img.info.width).toBe(256);
      const colours = new Set<number>();
      for (let i = 0; i < img.data.length; i += img.info.channels * 97) colours.add(img.data[i] * 65536 + img.data[i + 1] * 256 + img.data[i + 2]);
      expect(colours.size).toBeGreaterThan(5);

      const info = await fetch(`${ex.url}/udf/tile_info/file?bounds=0,0,1,1`);
      expect(info.headers.get('content-type')).toContain('application/json');
      expect((await info.json()).area).toBeGreaterThan(12000);
    } finally {
      await ex.close();
    }
  });

  it('answers an empty vector tile with 204 and the caching headers', async () => {
    const res = await get('/udf/empty/tiles/1/0/0');
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    expect(res.headers.get('etag')).toMatch(/^".+"$/);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('file endpoint: GeoJSON by default, CSV with WKT, Parquet and Arrow readable by independent readers', async () => {
    const gj = await get('/udf/counted/file?bounds=0,0,10,10&tag=file');
    expect(gj.headers.get('content-type')).toContain('application/geo+json');
    const fc = await gj.json();
    expect(fc.features[0].geometry.coordinates).toEqual([5, 5]);

    const csv = await get('/udf/counted/file.csv?bounds=0,0,10,10&tag=file');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toContain('counted.csv');
    const text = await csv.text();
    expect(text).toContain('POINT (5 5)');

    const pq = await get('/udf/counted/file.parquet?bounds=0,0,10,10&tag=file');
    expect(pq.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    const buf = await pq.arrayBuffer();
    const meta = parquetMetadata(buf);
    const geo = JSON.parse(meta.key_value_metadata!.find((kv) => kv.key === 'geo')!.value!);
    expect(geo.version).toBe('1.1.0');
    expect(geo.primary_column).toBe('geometry');
    expect(geo.columns.geometry.encoding).toBe('WKB');
    expect(geo.columns.geometry.geometry_types.sort()).toEqual(['Point', 'Polygon']);
    const rows = await parquetReadObjects({ file: buf });
    expect(rows).toHaveLength(2);
    expect(rows[0].tag).toBe('file');

    const arrow = await get('/udf/counted/file.arrow?bounds=0,0,10,10&tag=file');
    expect(arrow.headers.get('content-type')).toBe('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(new Uint8Array(await arrow.arrayBuffer()));
    expect(table.numRows).toBe(2);
    expect(table.getChild('tag')!.get(0)).toBe('file');

    const byTile = await get('/udf/counted/file.geojson?x=1&y=1&z=1&tag=file');
    const [w, s, e, n] = tileToBounds({ z: 1, x: 1, y: 1 });
    expect((await byTile.json()).features[0].geometry.coordinates).toEqual([(w + e) / 2, (s + n) / 2]);
  });

  it('accepts ?format=, the URL extension and Fused legacy dtype_out_vector', async () => {
    for (const q of ['/udf/counted/tiles/0/0/0?format=geojson&tag=f', '/udf/counted/tiles/0/0/0.geojson?tag=f', '/udf/counted/tiles/0/0/0?dtype_out_vector=geojson&tag=f']) {
      const res = await get(q);
      expect(res.headers.get('content-type'), q).toContain('application/geo+json');
    }
    const pbf = await get('/udf/counted/tiles/0/0/0.pbf?tag=f');
    expect(pbf.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
  });
});

describe('raster tiles', () => {
  it('renders uint8 RGB exactly, at 256 and 512 px, as PNG, JPEG and WebP', async () => {
    const png = await get('/udf/rgb/tiles/1/1/1');
    expect(png.headers.get('content-type')).toBe('image/png');
    const { data, info } = await sharp(Buffer.from(await png.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([256, 256]);
    const px = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    expect(px(10, 10)).toEqual([255, 0, 0]);
    expect(px(200, 100)).toEqual([0, 0, 255]);

    const big = await get('/udf/rgb/tiles/1/1/1.png?tile_size=512');
    expect((await sharp(Buffer.from(await big.arrayBuffer())).metadata()).width).toBe(512);

    for (const [fmt, type] of [['jpg', 'image/jpeg'], ['webp', 'image/webp']]) {
      const res = await get(`/udf/rgb/tiles/1/1/1.${fmt}`);
      expect(res.headers.get('content-type')).toBe(type);
      const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect(m.format).toBe(fmt === 'jpg' ? 'jpeg' : 'webp');
    }
  });

  it('float rasters need rescale; with rescale and a colormap the pixels follow the ramp', async () => {
    const missing = await get('/udf/floaty/tiles/0/0/0.png');
    expect(missing.status).toBe(400);
    expect((await missing.json()).message).toMatch(/rescale/);

    const grey = await get('/udf/floaty/tiles/0/0/0.png?rescale=0,100');
    const g1 = await sharp(Buffer.from(await grey.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    const at = (img: typeof g1, x: number) => img.data[(10 * img.info.width + x) * img.info.channels];
    expect(at(g1, 0)).toBeLessThan(3);
    expect(at(g1, 255)).toBeGreaterThan(252);
    expect(Math.abs(at(g1, 128) - 128)).toBeLessThan(4);

    const viridis = await get('/udf/floaty/tiles/0/0/0.png?rescale=0,100&colormap=viridis');
    const v = await sharp(Buffer.from(await viridis.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    const rgb = (x: number) => Array.from(v.data.subarray((10 * v.info.width + x) * v.info.channels, (10 * v.info.width + x) * v.info.channels + 3));
    // viridis runs from dark purple (#440154) to yellow (#fde725)
    expect(rgb(0)[0]).toBeGreaterThan(55);
    expect(rgb(0)[2]).toBeGreaterThan(70);
    expect(rgb(255)[0]).toBeGreaterThan(240);
    expect(rgb(255)[1]).toBeGreaterThan(220);

    const badMap = await get('/udf/floaty/tiles/0/0/0.png?rescale=0,100&colormap=nope');
    expect(badMap.status).toBe(400);
  });

  it('refuses a vector format for a raster result with 406 listing the accepted formats', async () => {
    const res = await get('/udf/rgb/tiles/0/0/0.mvt');
    expect(res.status).toBe(406);
    const body = await res.json();
    expect(body.error).toBe('not_acceptable');
    expect(body.accepted).toEqual(expect.arrayContaining(['png', 'jpg', 'webp']));
  });
});

describe('cache and HTTP caching', () => {
  it('MISS then HIT, Cache-Control per TTL, ETag and 304 on If-None-Match without running again', async () => {
    resetRuns();
    const a = await get('/udf/counted/tiles/4/3/5?tag=http');
    expect(a.headers.get('x-cache')).toBe('MISS');
    expect(a.headers.get('cache-control')).toMatch(/^public, max-age=(7775\d{3}|7776000)$/);
    const st = a.headers.get('server-timing')!;
    for (const k of ['udf', 'encode', 'total']) expect(st).toContain(`${k};dur=`);
    const etag = a.headers.get('etag')!;
    const b = await get('/udf/counted/tiles/4/3/5?tag=http');
    expect(b.headers.get('x-cache')).toBe('HIT');
    expect(b.headers.get('etag')).toBe(etag);
    const c = await get('/udf/counted/tiles/4/3/5?tag=http', { headers: { 'If-None-Match': etag } });
    expect(c.status).toBe(304);
    expect(runs('http')).toBe(1);
    // Undeclared parameters are ignored and do not change the key.
    const d = await get('/udf/counted/tiles/4/3/5?tag=http&unrelated=1');
    expect(d.headers.get('x-cache')).toBe('HIT');
  });

  it('cache=false bypasses, cache_reset recomputes, cache_max_age limits the age and sets max-age', async () => {
    resetRuns();
    const bypass = await get('/udf/counted/tiles/4/3/6?tag=ttl&cache=false');
    expect(bypass.headers.get('x-cache')).toBe('BYPASS');
    expect(bypass.headers.get('cache-control')).toBe('no-store');
    const miss = await get('/udf/counted/tiles/4/3/6?tag=ttl&cache_max_age=30m');
    expect(miss.headers.get('x-cache')).toBe('MISS');
    expect(miss.headers.get('cache-control')).toMatch(/max-age=(1799|1800)$/);
    const reset = await get('/udf/counted/tiles/4/3/6?tag=ttl&cache_reset=true');
    expect(reset.headers.get('x-cache')).toBe('MISS');
    expect(runs('ttl')).toBe(3);
    await new Promise((r) => setTimeout(r, 1100));
    const tooOld = await get('/udf/counted/tiles/4/3/6?tag=ttl&cache_max_age=1s');
    expect(tooOld.headers.get('x-cache')).toBe('MISS');
    expect(runs('ttl')).toBe(4);
  });

  it('20 concurrent identical cold requests run the UDF once', async () => {
    resetRuns();
    const responses = await Promise.all(Array.from({ length: 20 }, () => get('/udf/counted/tiles/6/10/20?tag=flight')));
    const bodies = await Promise.all(responses.map((r) => r.arrayBuffer()));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(runs('flight')).toBe(1);
    expect(new Set(bodies.map((b) => Buffer.from(b).toString('base64'))).size).toBe(1);
  });

  it('the disk tier survives a restart; a corrupted entry is recomputed, never served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilesmith-restart-'));
    try {
      resetRuns();
      let s = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: dir, log: () => {} });
      const first = await fetch(`${s.url}/udf/counted/tiles/5/1/1?tag=disk`);
      const body = Buffer.from(await first.arrayBuffer());
      await s.close();
      s = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: dir, log: () => {} });
      const again = await fetch(`${s.url}/udf/counted/tiles/5/1/1?tag=disk`);
      expect(again.headers.get('x-cache')).toBe('HIT');
      expect(Buffer.from(await again.arrayBuffer()).equals(body)).toBe(true);
      expect(runs('disk')).toBe(1);
      await s.close();

      // Corrupt every stored entry file (flip bytes in the middle), then restart.
      const files: string[] = [];
      const walk = (d: string) => {
        for (const f of readdirSync(d)) {
          const p = join(d, f);
          statSync(p).isDirectory() ? walk(p) : files.push(p);
        }
      };
      walk(dir);
      const entries = files.filter((f) => !f.includes('/py/'));
      expect(entries.length).toBeGreaterThan(0);
      for (const f of entries) {
        const bytes = readFileSync(f);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        writeFileSync(f, bytes);
      }
      s = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: dir, log: () => {} });
      const recomputed = await fetch(`${s.url}/udf/counted/tiles/5/1/1?tag=disk`);
      expect(recomputed.headers.get('x-cache')).toBe('MISS');
      expect(Buffer.from(await recomputed.arrayBuffer()).equals(body)).toBe(true);
      expect(runs('disk')).toBe(2);
      await s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('errors are never cached', async () => {
    const a = await get('/udf/fails/tiles/0/0/0');
    const b = await get('/udf/fails/tiles/0/0/0');
    expect([a.status, b.status]).toEqual([500, 500]);
    expect(b.headers.get('x-cache')).toBeNull();
    expect(a.headers.get('cache-control')).toBe('no-store');
  });
});

describe('errors', () => {
  it('a failing UDF answers 500 with its message and the lines it logged', async () => {
    const res = await get('/udf/fails/file');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error).toBe('udf_error');
    expect(body.message).toContain('the source data is not reachable');
    // Outside dev mode the lines and the traceback go to the log, under the request id.
    expect(body.logs).toBeUndefined();
    expect(body.traceback).toBeUndefined();
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    expect(JSON.stringify(body)).not.toMatch(/\/(?:tmp|work|root|home)\//);
    expect(res.headers.get('x-tilesmith-error')).toContain('udf_error');
  });

  it('with dev: true, the body of a failing UDF carries the lines it logged', async () => {
    const dev = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'dev'), dev: true, log: () => {} });
    try {
      const res = await fetch(`${dev.url}/udf/fails/file`);
      expect(res.status).toBe(500);
      expect((await res.json()).logs).toEqual(['loading the source data', 'step 2 reached']);
    } finally {
      await dev.close();
    }
  });

  it('a UDF over its timeout answers 504 and its thread is stopped', async () => {
    resetRuns();
    const restarts = server.pool!.stats().restarts;
    const res = await get('/udf/slow/file?ms=1500&cache=false');
    expect(res.status).toBe(504);
    expect((await res.json()).error).toBe('udf_timeout');
    expect(server.pool!.stats().restarts).toBe(restarts + 1);
    await new Promise((r) => setTimeout(r, 800));
    expect(runs('slow-done')).toBe(0);
    expect((await get('/udf/slow/file?ms=10&cache=false')).status).toBe(200);
  });

  it('a client that disconnects stops the computation', async () => {
    resetRuns();
    const restarts = server.pool!.stats().restarts;
    const ac = new AbortController();
    const pending = get('/udf/slow/file?ms=900&cache=false', { signal: ac.signal }).catch(() => null);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 1000));
    expect(runs('slow-done')).toBe(0);
    expect(server.pool!.stats().restarts).toBe(restarts + 1);
  });

  it('UDFs that fail to load are in the catalog with their error, answer 500, and do not stop the others', async () => {
    const catalog = await (await get('/udfs')).json();
    const broken = catalog.find((u: any) => u.name === 'broken');
    expect(broken.error.message).toMatch(/failed to load/);
    const notaudf = catalog.find((u: any) => u.name === 'notaudf');
    expect(notaudf.error.message).toMatch(/defineUdf/);
    const res = await get('/udf/broken/tiles/0/0/0');
    expect(res.status).toBe(500);
    expect((await res.json()).error).toBe('udf_load_error');
    expect((await get('/udf/counted/tiles/0/0/0?tag=alive')).status).toBe(200);
  });

  it('a return value no encoder can serve is a 500 naming the type', async () => {
    const res = await get('/udf/weird/file');
    expect(res.status).toBe(500);
    expect((await res.json()).message).toMatch(/Map/);
  });
});

describe('parameters', () => {
  it('coerces every declared type from the query string', async () => {
    const q = new URLSearchParams({
      i: '42', f: '2.5', b: 'yes', s: 'a b&c', l: 'x,y,z', d: '{"k":1}', j: '[1,"two"]',
      g: '{"type":"Point","coordinates":[1,2]}', bb: '-10,35,5,45', req: '7',
    });
    const res = await get(`/udf/typed/file?${q}`);
    expect(res.status).toBe(200);
    const { params } = await res.json();
    expect(params).toEqual({
      i: 42, f: 2.5, b: true, s: 'a b&c', l: ['x', 'y', 'z'], d: { k: 1 }, j: [1, 'two'],
      g: { type: 'Point', coordinates: [1, 2] }, bb: [-10, 35, 5, 45], req: 7,
    });
    const listJson = await (await get(`/udf/typed/file?req=1&l=${encodeURIComponent('["a,b",2]')}`)).json();
    expect(listJson.params.l).toEqual(['a,b', 2]);
    const defaults = await (await get('/udf/typed/file?req=1')).json();
    expect(defaults.params).toMatchObject({ i: 1, f: 0.5, b: false, s: 'x', l: [], d: {}, j: null, g: null });
  });

  it('a missing required or mistyped value is a 400 naming the parameter, the value and the type', async () => {
    const missing = await (await get('/udf/typed/file')).json();
    expect(missing.message).toMatch(/'req'/);
    expect(missing.message).toMatch(/int/);
    const bad = await get('/udf/typed/file?req=1&i=4.5');
    expect(bad.status).toBe(400);
    const body = await bad.json();
    expect(body.message).toContain("'i'");
    expect(body.message).toContain('"4.5"');
    expect(body.message).toContain('int');
  });
});

describe('metadata and protocol', () => {
  it('TileJSON 3.0.0 carries the query to every tile and names the vector layer', async () => {
    const res = await get('/udf/counted/tilejson.json?tag=tj&token=abc');
    const tj = await res.json();
    expect(tj.tilejson).toBe('3.0.0');
    expect(tj.tiles[0]).toBe(`${server.url}/udf/counted/tiles/{z}/{x}/{y}?tag=tj&token=abc`);
    expect(tj.vector_layers[0].id).toBe('counted');
    expect(tj.minzoom).toBe(0);
    expect(tj.maxzoom).toBeGreaterThan(0);
    expect(tj.bounds).toHaveLength(4);
    expect(res.headers.get('vary')).toContain('Host');
    // X-Forwarded-* are not trusted by default: a client cannot write its host into metadata.
    const spoofHeaders = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' };
    const spoofed = await get('/udf/rgb/tilejson.json', { headers: spoofHeaders });
    expect((await spoofed.json()).tiles[0]).toBe(`${server.url}/udf/rgb/tiles/{z}/{x}/{y}`);
    for (const path of ['/udfs', '/udf/counted/style.json', '/udf/counted/qgis.xml']) {
      expect(await (await get(path, { headers: spoofHeaders })).text()).not.toContain('evil.example');
    }
    const proxied = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'proxy'), trustProxy: true, log: () => {} });
    try {
      const res2 = await fetch(`${proxied.url}/udf/rgb/tilejson.json`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'tiles.example.org' } });
      const fwd = await res2.json();
      expect(fwd.tiles[0]).toBe('https://tiles.example.org/udf/rgb/tiles/{z}/{x}/{y}');
      expect(fwd.vector_layers).toEqual([]);
      expect(res2.headers.get('vary')).toContain('X-Forwarded-Host');
    } finally {
      await proxied.close();
    }
  });

  it('the catalog lists language, parameters with type and default', async () => {
    const catalog = await (await get('/udfs')).json();
    const typed = catalog.find((u: any) => u.name === 'typed');
    expect(typed.language).toBe('typescript');
    expect(typed.params.i).toEqual({ type: 'int', default: 1 });
    expect(typed.params.req.required).toBe(true);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('HEAD works on GET routes, CORS allows any origin and Authorization, OPTIONS is answered', async () => {
    const head = await get('/udf/counted/tiles/0/0/0?tag=head', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const cors = await get('/udf/counted/tiles/0/0/0?tag=head', { headers: { Origin: 'https://app.example' } });
    expect(cors.headers.get('access-control-allow-origin')).toBe('*');
    const pre = await get('/udf/counted/tiles/0/0/0', {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });
});

describe('bad input never crashes the server', () => {
  const long = 'x'.repeat(9000);
  const cases: Array<[string, number, string?]> = [
    ['/udf/counted/tiles/-1/0/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1/2/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1/0/2', 400, 'invalid_tile'],
    ['/udf/counted/tiles/31/0/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/99999999999999999999/0/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1.5/0/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/a/b/c', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1/0/0x1', 400, 'invalid_tile'],
    ['/udf/counted/tiles/01/0/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1/+1/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/1/1e1/0', 400, 'invalid_tile'],
    ['/udf/counted/tiles/2/0/0.exe', 400, 'bad_request'],
    ['/udf/counted/tiles/2/0/0?format=bmp', 400, 'bad_request'],
    ['/udf/counted/tiles/2/0/0.mvt?format=png', 400, 'bad_request'],
    ['/udf/counted/tiles/2/0/0?tile_size=300', 400, 'invalid_parameter'],
    ['/udf/counted/tiles/2/0/0?cache_max_age=forever', 400, 'invalid_parameter'],
    ['/udf/counted/tiles/2/0/0?cache=maybe', 400, 'invalid_parameter'],
    ['/udf/counted/tiles/2/0/0?rescale=1', 400, 'invalid_parameter'],
    ['/udf/counted/tiles/2/0/0?colormap=%5Bnope', 400, 'invalid_parameter'],
    ['/udf/counted/file?bounds=1,2,3', 400, 'invalid_parameter'],
    ['/udf/counted/file?bounds=0,50,10,40', 400, 'invalid_parameter'],
    ['/udf/counted/file?bounds=a,b,c,d', 400, 'invalid_parameter'],
    ['/udf/counted/file?x=1&y=1', 400, 'invalid_tile'],
    ['/udf/typed/file?req=abc', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&i=99999999999999999999', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&f=NaN', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&b=perhaps', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&d=%5B1%5D', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&j=%7Bbroken', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&g=%7B%22type%22%3A%22Nope%22%7D', 400, 'invalid_parameter'],
    ['/udf/typed/file?req=1&bb=1,2,3,4,5', 400, 'invalid_parameter'],
    ['/udf/nope/tiles/0/0/0', 404, 'unknown_udf'],
    ['/udf/..%2F..%2Fetc%2Fpasswd/tiles/0/0/0', 404, 'unknown_udf'],
    ['/udf/%2e%2e/tiles/0/0/0', 404, 'not_found'],
    ['/udf/a%20b/tiles/0/0/0', 404, 'unknown_udf'],
    ['/udf/counted%00/tiles/0/0/0', 404, 'unknown_udf'],
    ['/udf/counted/tiles/0/0', 404, 'not_found'],
    ['/udf/counted/file.exe', 400, 'bad_request'],
    [`/udf/counted/tiles/0/0/0?tag=${long}`, 414, 'uri_too_long'],
    ['/nothing/here', 404, 'not_found'],
  ];
  it.each(cases)('%s → %i', async (path, status, code) => {
    const res = await get(path);
    expect(res.status).toBe(status);
    const body = await res.json();
    if (code) expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    expect(body.message.length).toBeGreaterThan(15);
  });
  it('still serves after all of that', async () => {
    expect((await get('/udf/counted/tiles/0/0/0?tag=after')).status).toBe(200);
  });
});

describe('Fused URL compatibility', () => {
  it('answers /run/tiles/… and /run/file like Fused shared-token URLs', async () => {
    const tile = await get('/udf/counted/run/tiles/0/0/0?dtype_out_vector=mvt&tag=fused');
    expect(tile.status).toBe(200);
    expect(tile.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    const file = await get('/udf/counted/run/file?bounds=0,0,10,10&dtype_out_vector=csv&tag=fused');
    expect(file.headers.get('content-type')).toContain('text/csv');
  });
});

describe('example data', () => {
  it("countries' rings never jump across the antimeridian (no bands across the map)", async () => {
    const ex = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'am'), log: () => {} });
    try {
      const fc = await (await fetch(`${ex.url}/udf/countries/file.geojson`)).json();
      const names = new Set<string>();
      for (const f of fc.features) {
        const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
        for (const poly of polys)
          for (const ring of poly)
            for (let i = 1; i < ring.length; i++) {
              if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180 && f.properties.name !== 'Antarctica') names.add(f.properties.name);
            }
      }
      expect([...names]).toEqual([]);
      // Russia's far east (west of -180) is still in the tile that covers it.
      const east = await (await fetch(`${ex.url}/udf/countries/tiles/2/0/0.geojson`)).json();
      expect(east.features.map((f: any) => f.properties.name)).toContain('Russia');
    } finally {
      await ex.close();
    }
  });
});
