/**
 * prepareVector() through a real server and its compute threads: a UDF keeps a prepared layer
 * in module state and returns it; tiles, files, the cache and errors behave as with the same
 * features returned unprepared. Tiles decoded with @mapbox/vector-tile, Parquet with hyparquet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { makeLines, parisTile } from '../bench/workloads.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/prepared');
let server: RunningServer;
let cacheDir: string;
const get = (path: string) => fetch(`${server.url}${path}`);
const z14 = parisTile(14);
const features = makeLines(z14, 200, 300, 5).features;

beforeAll(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), 'tilesmith-prepared-'));
  server = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir, threads: 2, log: () => {} });
});
afterAll(async () => {
  await server?.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

interface Decoded {
  id: number | undefined;
  properties: Record<string, unknown>;
  vertices: number;
}

async function tile(path: string): Promise<{ res: Response; features: Decoded[]; bytes: Uint8Array }> {
  const res = await get(path);
  expect(res.status, path).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/vnd\.mapbox-vector-tile/);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const layer = new VectorTile(new PbfReader(bytes)).layers.roads;
  const out: Decoded[] = [];
  for (let i = 0; i < layer.length; i++) {
    const f = layer.feature(i);
    out.push({ id: f.id, properties: f.properties, vertices: f.loadGeometry().reduce((n, r) => n + r.length, 0) });
  }
  return { res, features: out, bytes };
}

describe('a UDF returning a prepared layer', () => {
  it('serves tiles with the same features, ids and properties as the unprepared features, at several zooms, cached', async () => {
    const tiles = [z14, { z: 13, x: z14.x >> 1, y: z14.y >> 1 }, { z: 15, x: 2 * z14.x + 1, y: 2 * z14.y }, { z: 12, x: z14.x >> 2, y: z14.y >> 2 }];
    // The prepared path picks a few vertices differently (ranked once over whole lines, not per
    // tile on the clipped parts): some tile differing from the unprepared one shows that the
    // prepared data was used in the compute thread rather than dropped on the way.
    let differing = 0;
    for (const t of tiles) {
      const prepared = await tile(`/udf/roads/tiles/${t.z}/${t.x}/${t.y}.mvt`);
      const plain = await tile(`/udf/roads/tiles/${t.z}/${t.x}/${t.y}.mvt?prepared=false`);
      if (!Buffer.from(prepared.bytes).equals(Buffer.from(plain.bytes))) differing++;
      expect(prepared.features.length, `${t.z}/${t.x}/${t.y}`).toBeGreaterThan(20);
      expect(prepared.features.map((f) => [f.id, f.properties])).toEqual(plain.features.map((f) => [f.id, f.properties]));
      const a = prepared.features.reduce((n, f) => n + f.vertices, 0);
      const b = plain.features.reduce((n, f) => n + f.vertices, 0);
      expect(Math.abs(a - b) / b, `vertices ${a} vs ${b}`).toBeLessThan(0.1);
      // the cache holds the prepared tile like any other
      expect(prepared.res.headers.get('x-cache')).toBe('MISS');
      const again = await tile(`/udf/roads/tiles/${t.z}/${t.x}/${t.y}.mvt`);
      expect(again.res.headers.get('x-cache')).toBe('HIT');
      expect(Buffer.from(again.bytes).equals(Buffer.from(prepared.bytes))).toBe(true);
    }
    expect(differing).toBeGreaterThan(0);
    // a tile away from the features is empty, as unprepared
    for (const q of ['', '?prepared=false']) {
      const far = await get(`/udf/roads/tiles/14/${z14.x + 5}/${z14.y}.mvt${q}`);
      expect(far.status).toBe(200);
      expect((await far.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it('serves files from its features: GeoJSON, CSV and Parquet as for the unprepared collection', async () => {
    const gj = await (await get('/udf/roads/file.geojson')).json();
    expect(gj.type).toBe('FeatureCollection');
    expect(gj.features).toHaveLength(features.length);
    expect(gj.features[7]).toEqual(JSON.parse(JSON.stringify(features[7])));
    expect(await (await get('/udf/roads/file.geojson?prepared=false')).json()).toEqual(gj);
    const csv = await (await get('/udf/roads/file.csv')).text();
    expect(csv).toBe(await (await get('/udf/roads/file.csv?prepared=false')).text());
    expect(csv.trim().split('\n')).toHaveLength(features.length + 1);
    const rows = await parquetReadObjects({ file: await (await get('/udf/roads/file.parquet')).arrayBuffer() });
    expect(rows).toHaveLength(features.length);
    expect(rows[3].name).toBe('f-3');
    // a file for a tile (x, y, z) or for bounds too: the UDF's result as returned (no filtering by the server, as for any collection)
    const byTile = await (await get(`/udf/roads/file.geojson?x=${z14.x}&y=${z14.y}&z=14`)).json();
    expect(byTile.features).toHaveLength(features.length);
    const byBounds = await (await get('/udf/roads/file.geojson?bounds=2.35,48.85,2.36,48.86')).json();
    expect(byBounds).toEqual(await (await get('/udf/roads/file.geojson?bounds=2.35,48.85,2.36,48.86&prepared=false')).json());
  });

  it('bad features: preparing them fails with the sentence returning them gets (500, no source or paths)', async () => {
    const a = await get('/udf/bad_prepare/tiles/14/8298/5638.mvt');
    const b = await get('/udf/bad_prepare/tiles/14/8298/5638.mvt?prepare=false');
    expect(a.status).toBe(500);
    expect(b.status).toBe(500);
    const ba = await a.json();
    const bb = await b.json();
    expect(ba.error).toBe('udf_error');
    expect(bb.message).toMatch(/^Feature 1 of the UDF result has an invalid LineString: its coordinates must be an array of positions/);
    // thrown from run(), the same sentence after the UDF's name
    expect(ba.message).toBe(`UDF 'bad_prepare' failed: ${bb.message}`);
    expect(JSON.stringify(ba)).not.toMatch(/\/work\/|\.ts:\d|at run/);
  });
});
