/**
 * Python UDFs through the real HTTP server: the same endpoints, formats, cache and errors as
 * TypeScript UDFs, decoded with independent decoders (@mapbox/vector-tile, sharp).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { tileToBounds } from '../server/tiling/bounds.ts';
import { findPython } from '../server/udf/python/interpreter.ts';
import { cannotRun } from './helpers/skip.ts';

const EXAMPLES = path.resolve(import.meta.dirname, '../examples/udfs');
const probe = await findPython();
if (!probe.python) {
  cannotRun('the Python HTTP tests', `no Python that can import numpy and pandas (tried: ${probe.tried.join(' | ')})`);
}

describe.skipIf(!probe.python)('Python UDFs over HTTP', () => {
  let server: RunningServer;
  let dir: string;
  const get = (p: string) => fetch(`${server.url}${p}`);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pyhttp-'));
    const udfs = path.join(dir, 'udfs');
    cpSync(path.join(EXAMPLES, 'parcels.py'), path.join(udfs, 'parcels.py'));
    cpSync(path.join(EXAMPLES, 'waves.py'), path.join(udfs, 'waves.py'));
    cpSync(path.join(EXAMPLES, 'Fused_Buildings'), path.join(udfs, 'Fused_Buildings'), { recursive: true });
    writeFileSync(path.join(udfs, 'rgb.py'), `
import numpy as np
from tilesmith import udf
@udf(cache_max_age="0s")
def udf(bounds=None):
    a = np.zeros((256, 256, 3), dtype=np.uint8)
    a[..., 0] = 200
    a[:128, :, 2] = 50
    return a
`);
    writeFileSync(path.join(udfs, 'stats.py'), `
import pandas as pd
from tilesmith import udf
@udf
def udf(bounds=None, n: int = 3):
    return pd.DataFrame({"i": range(n), "label": [f"row{i}" for i in range(n)]})
`);
    writeFileSync(path.join(udfs, 'broken.py'), 'from tilesmith import udf\n@udf\ndef udf(bounds=None):\n    return (\n');
    writeFileSync(path.join(udfs, 'dies.py'), 'import os\nfrom tilesmith import udf\n@udf(cache_max_age="0s")\ndef udf(bounds=None):\n    os._exit(9)\n');
    server = await startServer({ dir: udfs, port: 0, host: '127.0.0.1', cacheDir: path.join(dir, 'cache'), pythonWorkers: 2, pythonCrashCooldownMs: 1500, log: () => {} });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists Python UDFs in the catalog with their parameters, and the broken one with its traceback', async () => {
    const list = (await (await get('/udfs')).json()) as any[];
    const byName = Object.fromEntries(list.map((u) => [u.name, u]));
    expect(byName.parcels).toMatchObject({ language: 'python', kind: 'vector', cacheMaxAge: '1h', params: { min_area: { type: 'float', default: 0 } }, error: null });
    expect(byName.Fused_Buildings.params.min_height).toEqual({ type: 'float', default: 5 });
    expect(byName.broken.error.message).toMatch(/SyntaxError/);
    // Tracebacks (with absolute paths) are for the log and dev mode only.
    expect(byName.broken.error.detail).toBeNull();
    expect(JSON.stringify(byName.broken.error)).not.toContain(dir);
    const res = await get('/udf/broken/tiles/1/0/0.mvt');
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).message).toMatch(/SyntaxError/);
  });

  it('serves a GeoDataFrame UDF as MVT at the right coordinates, with params and the result cache', async () => {
    const [z, x, y] = [12, 655, 1582];
    const url = `/udf/parcels/tiles/${z}/${x}/${y}.mvt?kinds=park,residential&min_area=1000`;
    const res = await get(url);
    expect(res.status).toBe(200);
    const vt = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())));
    const layer = vt.layers.parcels;
    expect(layer.length).toBeGreaterThan(0);
    const [w, s, e, n] = tileToBounds({ z, x, y });
    for (let i = 0; i < layer.length; i++) {
      const f = layer.feature(i).toGeoJSON(x, y, z);
      expect(['park', 'residential']).toContain(f.properties!.kind);
      for (const [lon, lat] of (f.geometry as any).coordinates[0]) {
        expect(lon).toBeGreaterThanOrEqual(w - 1e-6);
        expect(lon).toBeLessThanOrEqual(e + 1e-6);
        expect(lat).toBeGreaterThanOrEqual(s - 1e-6);
        expect(lat).toBeLessThanOrEqual(n + 1e-6);
      }
    }
    const again = await get(url);
    expect(again.headers.get('x-cache')).toMatch(/hit/i);
  });

  it('serves numpy rasters as PNG: uint8 RGB pixels and a float array through its colormap', async () => {
    const png = await get('/udf/rgb/tiles/3/1/1.png');
    expect(png.status).toBe(200);
    const { data, info } = await sharp(Buffer.from(await png.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    const px = (r: number, c: number) => Array.from(data.subarray((r * info.width + c) * info.channels, (r * info.width + c) * info.channels + 3));
    expect(px(10, 10)).toEqual([200, 0, 50]);
    expect(px(200, 10)).toEqual([200, 0, 0]);
    const waves = await get('/udf/waves/tiles/0/0/0.png');
    expect(waves.status).toBe(200);
    const stats = await sharp(Buffer.from(await waves.arrayBuffer())).stats();
    expect(stats.channels[0].max - stats.channels[0].min).toBeGreaterThan(100);
  });

  it('serves a DataFrame as CSV and JSON files', async () => {
    const csv = await get('/udf/stats/file.csv?n=2');
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split(/\r?\n/)).toEqual(['i,label', '0,row0', '1,row1']);
    const json = await get('/udf/stats/file.json?n=2');
    expect(await json.json()).toEqual([{ i: 0, label: 'row0' }, { i: 1, label: 'row1' }]);
  });

  it('serves the Fused folder UDF as tiles with meta.json defaults', async () => {
    const res = await get('/udf/Fused_Buildings/tiles/12/655/1582.geojson');
    expect(res.status).toBe(200);
    const fc = (await res.json()) as any;
    expect(fc.features.length).toBeGreaterThan(10);
    for (const f of fc.features) expect(f.properties.height).toBeGreaterThanOrEqual(5);
  });

  it('answers a crashing UDF with 500 (worker crashed), then 503 + Retry-After during its cool-down, then tries again', async () => {
    const statuses: number[] = [];
    let last: any;
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const res = await get(`/udf/dies/tiles/1/0/${i % 2}.mvt`);
      statuses.push(res.status);
      retryAfter = res.headers.get('retry-after');
      last = await res.json();
    }
    expect(statuses).toEqual([500, 500, 500, 503]);
    expect(last.message).toMatch(/crashed its Python worker 3 times in a row and is resting/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(2);
    expect((await get('/udf/parcels/tiles/1/0/0.mvt')).status).toBe(200);
    // After the cool-down the UDF runs again (and, still broken, crashes again: 500, then rests).
    await new Promise((r) => setTimeout(r, 1600));
    expect((await get('/udf/dies/tiles/1/1/0.mvt')).status).toBe(500);
    expect((await get('/udf/dies/tiles/1/1/1.mvt')).status).toBe(503);
  });
});
