/**
 * The Python UDF runtime end to end, through the loader and the runtime (no HTTP): a real
 * interpreter with numpy, pandas and geopandas, real worker processes, real crashes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureCollection, Polygon } from 'geojson';
import { TilesmithError } from '../server/errors.ts';
import type { LoadedUdf, RasterData, TableData, UdfCall, UdfLoader } from '../server/types.ts';
import { findPython } from '../server/udf/python/interpreter.ts';
import { createPythonLoader } from '../server/udf/python/loader.ts';
import { cannotRun } from './helpers/skip.ts';

const EXAMPLES = fileURLToPath(new URL('../examples/udfs/', import.meta.url));
const probe = await findPython();
if (!probe.python) {
  cannotRun(
    'the Python runtime tests',
    `no Python that can import numpy and pandas was found. Install Debian's python3-numpy python3-pandas python3-geopandas (scripts/setup-system.mjs) or set TILESMITH_PYTHON. Tried: ${probe.tried.join(' | ')}`,
  );
}

const TILE_BOUNDS: [number, number, number, number] = [-122.5, 37.7, -122.3, 37.9];

function call(params: Record<string, unknown> = {}, extra: Partial<UdfCall> = {}): UdfCall {
  return { bounds: TILE_BOUNDS, tile: { x: 655, y: 1582, z: 12 }, tileSize: 256, params, signal: new AbortController().signal, ...extra };
}

async function rejection(p: Promise<unknown>): Promise<TilesmithError> {
  try {
    await p;
  } catch (e) {
    return e as TilesmithError;
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(!probe.python)('Python UDF runtime', () => {
  let dir: string;
  let loader: UdfLoader & { close(): Promise<void> };
  const logs: string[] = [];
  const write = (rel: string, text: string) => {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  };
  const load = async (name: string, rel = `${name}.py`): Promise<LoadedUdf> => {
    const udf = await loader.load(name, path.join(dir, rel));
    return udf;
  };
  const ok = async (name: string, rel?: string): Promise<LoadedUdf> => {
    const udf = await load(name, rel);
    expect(udf.loadError, JSON.stringify(udf.loadError)).toBeUndefined();
    return udf;
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-py-'));
    loader = createPythonLoader({ cacheDir: path.join(dir, '.cache'), workers: 2, log: (m) => logs.push(m) });
  });
  afterAll(async () => {
    await loader?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs the interpreter it picked (one that imports numpy + pandas)', async () => {
    await ok('parcels', path.relative(dir, path.join(EXAMPLES, 'parcels.py')));
    expect(logs.some((l) => /\[python\] using .*numpy .*pandas/.test(l))).toBe(true);
  });

  it('serves a GeoDataFrame tile UDF as a FeatureCollection with typed parameters', async () => {
    const udf = await ok('parcels', path.relative(dir, path.join(EXAMPLES, 'parcels.py')));
    expect(udf.language).toBe('python');
    expect(udf.codeHash).toMatch(/^[0-9a-f]{16}$/);
    expect(udf.options).toMatchObject({ cacheMaxAge: '1h', kind: 'vector' });
    expect(udf.params).toEqual({
      min_area: { type: 'float', default: 0 },
      kinds: { type: 'list' },
      cells: { type: 'int', default: 8 },
    });
    const { value } = await udf.runtime!.run(call());
    const fc = value as FeatureCollection<Polygon>;
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(64);
    const [w, s, e, n] = TILE_BOUNDS;
    for (const f of fc.features) {
      expect(f.geometry.type).toBe('Polygon');
      for (const [x, y] of f.geometry.coordinates[0]) {
        expect(x).toBeGreaterThanOrEqual(w);
        expect(x).toBeLessThanOrEqual(e);
        expect(y).toBeGreaterThanOrEqual(s);
        expect(y).toBeLessThanOrEqual(n);
      }
      expect(typeof f.properties!.area_m2).toBe('number');
      expect(Number.isInteger(f.properties!.parcel_id)).toBe(true);
    }
    // The first cell is the south-west one: its parcel sits inside [w, w + dx] × [s, s + dy].
    const ring = fc.features[0].geometry.coordinates[0];
    const xs = ring.map((p) => p[0]);
    expect(Math.min(...xs)).toBeGreaterThan(w);
    expect(Math.max(...xs)).toBeLessThan(w + (e - w) / 8);
    // Parameters filter, and runs are deterministic.
    const again = await udf.runtime!.run(call());
    expect(again.value).toEqual(value);
    const parks = (await udf.runtime!.run(call({ kinds: ['park'], min_area: 50_000 }))).value as FeatureCollection;
    expect(parks.features.length).toBeGreaterThan(0);
    expect(parks.features.length).toBeLessThan(64);
    for (const f of parks.features) {
      expect(f.properties!.kind).toBe('park');
      expect(f.properties!.area_m2).toBeGreaterThanOrEqual(50_000);
    }
  });

  it('reprojects a GeoDataFrame in another CRS to EPSG:4326', async () => {
    write('mercator.py', `
from tilesmith import udf
@udf
def udf(bounds=None):
    import geopandas as gpd
    from shapely.geometry import Point
    return gpd.GeoDataFrame({"name": ["null island", "east"]}, geometry=[Point(0, 0), Point(1113194.9079327357, 0)], crs=3857)
`);
    const { value } = await (await ok('mercator')).runtime!.run(call());
    const coords = (value as FeatureCollection).features.map((f) => (f.geometry as any).coordinates);
    expect(coords[0][0]).toBeCloseTo(0, 9);
    expect(coords[1][0]).toBeCloseTo(10, 6);
    expect(coords[1][1]).toBeCloseTo(0, 9);
  });

  it('sends all-point GeoDataFrames as coordinate columns (nulls, empty and 3-D points included) and mixed ones as WKB, decoding both alike', async () => {
    write('pointcols.py', `
from tilesmith import udf
@udf
def udf(which: str = "2d"):
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import LineString, Point
    if which == "2d":
        return gpd.GeoDataFrame({"i": np.arange(3)}, geometry=gpd.points_from_xy([1.5, -2.25, 179.999999999], [0.1, 45.0, -89.5]), crs=4326)
    if which == "nulls":
        return gpd.GeoDataFrame({"i": [0, 1, 2]}, geometry=[Point(1, 2), None, Point()], crs=4326)
    if which == "3d":
        return gpd.GeoDataFrame({"i": [0, 1]}, geometry=[Point(1, 2, 3), Point(4, 5)], crs=4326)
    return gpd.GeoDataFrame({"i": [0, 1]}, geometry=[Point(1, 2), LineString([(0, 0), (1, 1)])], crs=4326)
`);
    const udf = await ok('pointcols');
    const geoms = async (which: string) => ((await udf.runtime!.run(call({ which }))).value as FeatureCollection).features.map((f) => f.geometry);
    expect(await geoms('2d')).toEqual([
      { type: 'Point', coordinates: [1.5, 0.1] },
      { type: 'Point', coordinates: [-2.25, 45] },
      { type: 'Point', coordinates: [179.999999999, -89.5] },
    ]);
    expect(await geoms('nulls')).toEqual([{ type: 'Point', coordinates: [1, 2] }, null, null]);
    expect(await geoms('3d')).toEqual([
      { type: 'Point', coordinates: [1, 2, 3] },
      { type: 'Point', coordinates: [4, 5] },
    ]);
    expect(await geoms('mixed')).toEqual([
      { type: 'Point', coordinates: [1, 2] },
      { type: 'LineString', coordinates: [[0, 0], [1, 1]] },
    ]);
  });

  it('turns a bands-first uint8 RGB array into pixel-interleaved raster pixels', async () => {
    write('rgb.py', `
import numpy as np
from tilesmith import udf
@udf
def udf(bounds=None):
    a = np.zeros((3, 4, 5), dtype=np.uint8)   # bands, rows, cols
    a[0] = 255                                 # red everywhere
    a[1, 0, :] = 128                           # green on the top row
    a[2, :, 4] = 7                             # blue in the last column
    return a
`);
    const { value } = await (await ok('rgb')).runtime!.run(call());
    const r = value as RasterData;
    expect([r.width, r.height, r.bands]).toEqual([5, 4, 3]);
    expect(r.data).toBeInstanceOf(Uint8Array);
    const px = (row: number, col: number) => Array.from(r.data.slice((row * 5 + col) * 3, (row * 5 + col) * 3 + 3));
    expect(px(0, 0)).toEqual([255, 128, 0]);
    expect(px(1, 0)).toEqual([255, 0, 0]);
    expect(px(3, 4)).toEqual([255, 0, 7]);
    expect(px(0, 4)).toEqual([255, 128, 7]);
  });

  it('returns a float raster with its bounds from an (array, bounds) tuple, and the waves example with its hints', async () => {
    write('floaty.py', `
import numpy as np
from tilesmith import udf
@udf(rescale=(0, 10), colormap="magma")
def udf(bounds=None):
    return np.arange(12, dtype=np.float64).reshape(3, 4), [1, 2, 3, 4]
`);
    const udf = await ok('floaty');
    expect(udf.options).toMatchObject({ rescale: [0, 10], colormap: 'magma' });
    const r = (await udf.runtime!.run(call())).value as RasterData;
    expect(r.data).toBeInstanceOf(Float64Array);
    expect([r.width, r.height, r.bands]).toEqual([4, 3, 1]);
    expect(Array.from(r.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(r.bounds).toEqual([1, 2, 3, 4]);

    const waves = await ok('waves', path.relative(dir, path.join(EXAMPLES, 'waves.py')));
    expect(waves.options).toMatchObject({ kind: 'raster', rescale: [-1, 1], colormap: 'viridis' });
    expect(waves.params).toEqual({ wavelength: { type: 'float', default: 20 } }); // tile_size comes from the call
    const wr = (await waves.runtime!.run(call({}, { bounds: [-180, -85, 180, 85], tile: { x: 0, y: 0, z: 0 } }))).value as RasterData;
    expect(wr.data).toBeInstanceOf(Float32Array);
    expect([wr.width, wr.height, wr.bands]).toEqual([256, 256, 1]);
    const values = Array.from(wr.data);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...values)).toBeLessThanOrEqual(1);
    expect(new Set(values.map((v) => v.toFixed(2))).size).toBeGreaterThan(20);
    const big = (await waves.runtime!.run(call({}, { tileSize: 512 }))).value as RasterData;
    expect([big.width, big.height]).toEqual([512, 512]);
  });

  it('turns a DataFrame (and a Series) into a table with typed columns and nulls', async () => {
    write('frame.py', `
import numpy as np, pandas as pd
from tilesmith import udf
@udf
def udf(bounds=None, as_series: bool = False):
    df = pd.DataFrame({
        "name": ["a", "b", None],
        "count": pd.array([1, None, 3], dtype="Int64"),
        "big": np.array([2**40, -5, 0], dtype=np.int64),
        "ratio": [0.5, np.nan, 1.25],
        "flag": [True, False, True],
        "when": pd.to_datetime(["2024-01-02", "2024-03-04", None]),
        "extra": [{"k": 1}, [1, 2], "text"],
    })
    return df["ratio"] if as_series else df
`);
    const udf = await ok('frame');
    const t = (await udf.runtime!.run(call())).value as TableData;
    expect(t.columns).toEqual(['name', 'count', 'big', 'ratio', 'flag', 'when', 'extra']);
    expect(t.rows).toEqual([
      { name: 'a', count: 1, big: 2 ** 40, ratio: 0.5, flag: true, when: '2024-01-02T00:00:00', extra: { k: 1 } },
      { name: 'b', count: null, big: -5, ratio: null, flag: false, when: '2024-03-04T00:00:00', extra: [1, 2] },
      { name: null, count: 3, big: 0, ratio: 1.25, flag: true, when: null, extra: 'text' },
    ]);
    const s = (await udf.runtime!.run(call({ as_series: true }))).value as TableData;
    expect(s).toEqual({ columns: ['ratio'], rows: [{ ratio: 0.5 }, { ratio: null }, { ratio: 1.25 }] });
  });

  it('introspects parameters from the signature and coerces call values to those types', async () => {
    write('params.py', `
from typing import Optional, List
import pandas as pd, geopandas as gpd
from tilesmith import udf, Bounds
@udf
def udf(bounds: Bounds = None, n: int = 3, ratio: float = 0.5, flag: bool = False, label: str = "x",
        tags: list = ("a", "b"), opts: dict = None, untyped="raw", maybe: Optional[int] = None, names: List[str] = None,
        table: pd.DataFrame = None, shapes: gpd.GeoDataFrame = None, required_one: int = None, tile=None, tile_size: int = 256):
    return {
        "tile": tile, "tile_size": tile_size,
        "bounds": list(bounds) if bounds is not None else None,
        "types": {k: type(v).__name__ for k, v in dict(n=n, ratio=ratio, flag=flag, label=label, tags=tags, opts=opts,
                  untyped=untyped, maybe=maybe, table=table, shapes=shapes).items()},
        "n": n, "ratio": ratio, "flag": flag, "tags": tags, "untyped": untyped,
        "table_rows": None if table is None else len(table),
        "shape_area": None if shapes is None else float(shapes.geometry.area.sum()),
    }
`);
    const udf = await ok('params');
    expect(udf.params).toEqual({
      n: { type: 'int', default: 3 },
      ratio: { type: 'float', default: 0.5 },
      flag: { type: 'bool', default: false },
      label: { type: 'str', default: 'x' },
      tags: { type: 'list', default: ['a', 'b'] },
      opts: { type: 'dict' },
      untyped: { type: 'str', default: 'raw' },
      maybe: { type: 'int' },
      names: { type: 'list' },
      table: { type: 'json' },
      shapes: { type: 'geojson' },
      required_one: { type: 'int' },
    });
    const out = (await udf.runtime!.run(call({
      n: '7', ratio: '2.5', flag: 'true', tags: ['x'], untyped: 12,
      table: [{ a: 1 }, { a: 2 }],
      shapes: { type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]] } }] },
    }))).value as any;
    expect(out.bounds).toEqual(TILE_BOUNDS);
    expect(out.tile).toEqual({ x: 655, y: 1582, z: 12 });
    expect(out.tile_size).toBe(256);
    expect(out.types).toEqual({
      n: 'int', ratio: 'float', flag: 'bool', label: 'str', tags: 'list', opts: 'NoneType',
      untyped: 'int', maybe: 'NoneType', table: 'DataFrame', shapes: 'GeoDataFrame',
    });
    expect(out).toMatchObject({ n: 7, ratio: 2.5, flag: true, tags: ['x'], table_rows: 2, shape_area: 4 });
    // Defaults apply when the call omits a parameter (signature default, tuple → list).
    const d = (await udf.runtime!.run(call({}, { bounds: null, tile: null }))).value as any;
    expect(d).toMatchObject({ bounds: null, n: 3, tags: ['a', 'b'], untyped: 'raw' });
  });

  it('returns print() output as log lines and keeps the protocol intact, even for raw fd 1 writes', async () => {
    write('chatty.py', `
import os, sys
from tilesmith import udf
print("printed at import")
@udf
def udf(bounds=None, n: int = 3):
    for i in range(n):
        print("line", i)
    print("to stderr", file=sys.stderr)
    os.write(1, b"\\x00\\x01 raw bytes on fd 1\\n")   # what a C extension would do
    sys.stdout.write("no newline")
    return {"ok": True}
`);
    const udf = await ok('chatty');
    expect(logs).toContain('[chatty] printed at import');
    const out = await udf.runtime!.run(call({ n: 3 }));
    expect(out.value).toEqual({ ok: true });
    expect(out.logs).toEqual(['line 0', 'line 1', 'line 2', 'to stderr', 'no newline']);
    const again = await udf.runtime!.run(call({ n: 1 }));
    expect(again.logs).toEqual(['line 0', 'to stderr', 'no newline']);
  });

  it('answers a UDF exception with a UdfError carrying the traceback and logs', async () => {
    write('raises.py', `
from tilesmith import udf
def helper(x):
    raise ValueError(f"bad value {x}")
@udf
def udf(bounds=None):
    print("about to fail")
    helper(42)
`);
    const err = await rejection((await ok('raises')).runtime!.run(call()));
    expect(err.code).toBe('udf_error');
    expect(err.status).toBe(500);
    expect(err.message).toContain('ValueError: bad value 42');
    expect(err.details!.traceback).toMatch(/raises\.py", line 4, in helper/);
    expect(err.details!.traceback).not.toContain('worker.py');
    expect(err.details!.logs).toEqual(['about to fail']);
  });

  it('rejects an unsupported return type, naming it and the supported ones', async () => {
    write('weird.py', `
from tilesmith import udf
class Thing: pass
@udf
def udf(bounds=None, nested: bool = False):
    return {"x": Thing()} if nested else Thing()
`);
    const udf = await ok('weird');
    const err = await rejection(udf.runtime!.run(call()));
    expect(err.code).toBe('udf_error');
    expect(err.message).toMatch(/tilesmith_udf_weird\.Thing/);
    expect(err.message).toMatch(/GeoDataFrame.*DataFrame.*numpy array.*dict/);
    expect((await rejection(udf.runtime!.run(call({ nested: true })))).message).toMatch(/Thing/);
  });

  it('keeps module-level state across calls and reloads a changed file (new codeHash)', async () => {
    const file = write('stateful.py', `
from tilesmith import udf
calls = 0
@udf
def udf(bounds=None):
    global calls
    calls += 1
    return {"calls": calls, "version": 1}
`);
    const v1 = await ok('stateful');
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(((await v1.runtime!.run(call())).value as any).calls);
    expect(seen).toEqual([1, 2, 3]);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"version": 1', '"version": 2'));
    const v2 = await ok('stateful');
    expect(v2.codeHash).not.toBe(v1.codeHash);
    expect((await v2.runtime!.run(call())).value).toMatchObject({ version: 2 });
  });

  it('isolates a syntax error: loadError with the traceback, other UDFs keep working', async () => {
    write('broken.py', `
from tilesmith import udf
@udf
def udf(bounds=None):
    return [1, 2
`);
    const broken = await load('broken');
    expect(broken.runtime).toBeUndefined();
    expect(broken.loadError?.unavailable).toBeFalsy();
    expect(broken.loadError?.message).toMatch(/broken.*SyntaxError/);
    expect(broken.loadError?.detail).toMatch(/broken\.py", line \d/);
    write('imports_missing.py', `
import not_a_real_module
from tilesmith import udf
@udf
def udf(bounds=None):
    return 1
`);
    const missing = await load('imports_missing');
    expect(missing.loadError?.message).toMatch(/ModuleNotFoundError: No module named 'not_a_real_module'/);
    write('no_function.py', `x = 1  # mentions udf in a comment only\n`);
    expect((await load('no_function')).loadError?.message).toMatch(/no UDF function found/);
    const fine = await ok('rgb');
    expect(((await fine.runtime!.run(call())).value as RasterData).width).toBe(5);
  });

  it('reports a worker crash (exit code / signal) with its own stderr in details, then serves the next call', async () => {
    write('crashy.py', `
import os
from tilesmith import udf
@udf
def udf(bounds=None, how: str = "exit"):
    if how == "fine":
        return {"pid": os.getpid()}
    print("last words before", how)
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), 9)
`);
    const udf = await ok('crashy');
    const e1 = await rejection(udf.runtime!.run(call({ how: 'exit' })));
    expect(e1.code).toBe('worker_crashed');
    expect(e1.status).toBe(500);
    expect(e1.message).toMatch(/the Python worker crashed \(exit code 3\) while running UDF "crashy"/);
    // What the call printed is in details (log / --dev), never in the message …
    expect(e1.message).not.toContain('last words');
    expect(e1.details?.stderr).toContain('last words before exit');
    const e2 = await rejection(udf.runtime!.run(call({ how: 'kill' })));
    expect(e2.message).toMatch(/crashed \(signal SIGKILL/);
    expect(e2.details?.stderr).toContain('last words before kill');
    // … and only what this call wrote: not the previous call's output.
    expect(e2.details?.stderr).not.toContain('last words before exit');
    // A success resets the crash count; the pool was refilled.
    expect((await udf.runtime!.run(call({ how: 'fine' }))).value).toHaveProperty('pid');
  });

  it('rests a UDF after 3 consecutive crashes (503 + Retry-After for the cool-down), then tries it again', async () => {
    const file = write('crashloop.py', `
import os
from tilesmith import udf
@udf
def udf(bounds=None):
    os._exit(7)
`);
    const udf = await ok('crashloop');
    for (let i = 0; i < 3; i++) expect((await rejection(udf.runtime!.run(call()))).code).toBe('worker_crashed');
    const resting = await rejection(udf.runtime!.run(call()));
    expect(resting.code).toBe('udf_unavailable');
    expect(resting.status).toBe(503);
    expect(resting.message).toMatch(/crashed its Python worker 3 times in a row and is resting; it will be tried again in \d+ s.*exit code 7/);
    expect(Number(resting.headers?.['Retry-After'])).toBeGreaterThan(0);
    expect(Number(resting.headers?.['Retry-After'])).toBeLessThanOrEqual(30);
    // Reloading the same code keeps it resting; changing the code brings it back at once.
    expect((await rejection((await ok('crashloop')).runtime!.run(call()))).status).toBe(503);
    writeFileSync(file, readFileSync(file, 'utf8').replace('os._exit(7)', 'return {"fixed": True}'));
    expect((await (await ok('crashloop')).runtime!.run(call())).value).toEqual({ fixed: true });
  });

  it('kills and replaces a worker that runs past its timeout (504), and on abort', async () => {
    write('sleepy.py', `
import os, time
from tilesmith import udf
@udf(timeout="1s")
def udf(bounds=None, seconds: float = 30):
    time.sleep(seconds)
    return {"pid": os.getpid()}
`);
    const udf = await ok('sleepy');
    expect(udf.options.timeout).toBe('1s');
    const t0 = Date.now();
    const err = await rejection(udf.runtime!.run(call()));
    expect(err.code).toBe('udf_timeout');
    expect(err.status).toBe(504);
    expect(err.message).toMatch(/UDF "sleepy" ran past its timeout of 1 s/);
    expect(Date.now() - t0).toBeLessThan(5000);
    // A client disconnect: the signal aborts, the run stops at once.
    const ac = new AbortController();
    const p = udf.runtime!.run(call({}, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 200);
    const t1 = Date.now();
    const aborted = await rejection(p);
    expect(aborted.name).toBe('AbortError');
    expect(Date.now() - t1).toBeLessThan(3000);
    // A deadline signal (AbortSignal.timeout) is a timeout too.
    expect((await rejection(udf.runtime!.run(call({}, { signal: AbortSignal.timeout(100) })))).code).toBe('udf_timeout');
    // The pool recovers. (The 1 s timeout counts from when a call is queued, so while the
    // replacements are still starting a call may use it up waiting: try again then.)
    let value: unknown;
    for (let i = 0; i < 20 && value === undefined; i++) {
      try {
        value = (await udf.runtime!.run(call({ seconds: 0 }))).value;
      } catch (e) {
        expect((e as TilesmithError).message).toMatch(/waited .* for a free Python worker/);
      }
    }
    expect(value).toHaveProperty('pid');
  });

  it('caps worker memory (per-UDF sidecar config) and reports a MemoryError clearly', async () => {
    write('hog.py', `
import os
import numpy as np
from tilesmith import udf
@udf
def udf(bounds=None, gb: float = 4):
    if gb == 0:
        return {"pid": os.getpid(), "limit": os.environ.get("TILESMITH_MEMORY_MB"), "greeting": os.environ.get("GREETING")}
    return float(np.ones(int(gb * 2**30 / 8)).sum())
`);
    write('hog.tilesmith.json', JSON.stringify({ memory_mb: 700, env: { GREETING: 'hi' }, timeout: '20s', workers: 1 }));
    const udf = await ok('hog');
    expect(udf.options.timeout).toBe('20s');
    const err = await rejection(udf.runtime!.run(call()));
    expect(err.code).toBe('udf_error');
    expect(err.message).toMatch(/UDF "hog" exceeded the worker memory limit of 700 MB/);
    expect((await udf.runtime!.run(call({ gb: 0 }))).value).toMatchObject({ limit: '700', greeting: 'hi' });
    expect(loader.watchPaths!(path.join(dir, 'hog.py'))).toContain(path.join(dir, 'hog.tilesmith.json'));
  });

  it('runs an unmodified Fused UDF (no import, @fused.udf, TileGDF bbox, @fused.cache) and names unsupported cloud APIs', async () => {
    write('fused_plain.py', `
@fused.udf(cache_max_age="30m", instance_type="small")
def udf(bbox: fused.types.TileGDF = None, n: int = 2, mode: str = "tile"):
    import geopandas as gpd
    if mode == "run":
        return fused.run("UDF_Overture_Maps_Example", bbox=bbox)
    if mode == "utils":
        return fused.utils.common.read_shape()
    if mode == "local":
        return fused.run(lambda a, b=1: {"sum": a + b}, 2, b=3)
    @fused.cache
    def double(v):
        return v * 2
    x, y, z = bbox[["x", "y", "z"]].iloc[0]
    out = bbox.copy()
    out["n2"] = double(n)
    out["xyz"] = f"{z}/{x}/{y}"
    return out
`);
    write('fused_legacy.py', `
import fused
@fused.udf
def udf(bbox, label="legacy"):
    return {"z": int(bbox.z[0]), "total_bounds": [float(v) for v in bbox.total_bounds], "label": label}
`);
    write('fused_listbounds.py', `
@fused.udf(default_parameters={"k": 9})
def udf(bounds: list = None, k: int = 1):
    return {"bounds": bounds, "k": k}
`);
    const udf = await ok('fused_plain');
    expect(udf.options).toEqual({ cacheMaxAge: '30m' });
    expect(udf.params).toEqual({ n: { type: 'int', default: 2 }, mode: { type: 'str', default: 'tile' } });
    const fc = (await udf.runtime!.run(call({ n: 5 }))).value as FeatureCollection<Polygon>;
    expect(fc.features).toHaveLength(1);
    expect(fc.features[0].properties).toEqual({ x: 655, y: 1582, z: 12, n2: 10, xyz: '12/655/1582' });
    const ring = fc.features[0].geometry.coordinates[0];
    expect(Math.min(...ring.map((p) => p[0]))).toBeCloseTo(TILE_BOUNDS[0], 9);
    expect(Math.max(...ring.map((p) => p[1]))).toBeCloseTo(TILE_BOUNDS[3], 9);
    const run = await rejection(udf.runtime!.run(call({ mode: 'run' })));
    expect(run.message).toMatch(/UdfNotFound: fused\.load\('UDF_Overture_Maps_Example'\): no UDF folder UDF_Overture_Maps_Example in the UDF path \(\(no UDF path set\)\)/);
    const utils = await rejection(udf.runtime!.run(call({ mode: 'utils' })));
    expect(utils.message).toMatch(/NotImplementedError: fused\.utils\.common: Fused loads these utils from its catalog; tilesmith looks for a UDF folder named 'common' on the UDF path/);
    expect((await udf.runtime!.run(call({ mode: 'local' }))).value).toEqual({ sum: 5 });

    const legacy = await ok('fused_legacy');
    expect(legacy.params).toEqual({ label: { type: 'str', default: 'legacy' } });
    expect((await legacy.runtime!.run(call())).value).toEqual({ z: 12, total_bounds: TILE_BOUNDS, label: 'legacy' });
    const lb = await ok('fused_listbounds');
    expect(lb.params).toEqual({ k: { type: 'int', default: 9 } });
    expect((await lb.runtime!.run(call())).value).toEqual({ bounds: TILE_BOUNDS, k: 9 });
  });

  it('loads a Fused folder (meta.json defaults, utils.py) and keeps each folder\'s utils apart', async () => {
    const fb = await ok('Fused_Buildings', path.relative(dir, path.join(EXAMPLES, 'Fused_Buildings')));
    expect(fb.params).toEqual({ min_height: { type: 'float', default: 5 }, max_buildings: { type: 'int', default: 80 } });
    const out = await fb.runtime!.run(call());
    const fc = out.value as FeatureCollection;
    expect(fc.features.length).toBeGreaterThan(10);
    expect(fc.features.length).toBeLessThanOrEqual(80);
    for (const f of fc.features) {
      expect(f.properties!.height).toBeGreaterThanOrEqual(5);
      expect(['low-rise', 'mid-rise', 'tower']).toContain(f.properties!.class);
    }
    expect(out.logs).toEqual([`tile 12/655/1582: ${fc.features.length} buildings taller than 5.0 m`]);
    expect((await fb.runtime!.run(call())).value).toEqual(fc); // deterministic
    const watched = loader.watchPaths!(path.join(EXAMPLES, 'Fused_Buildings')).map((p) => path.basename(p)).sort();
    expect(watched).toEqual(['Fused_Buildings.py', 'meta.json', 'utils.py']);

    // Two Fused folders, both with a utils.py, served by the same workers.
    for (const name of ['Alpha', 'Beta']) {
      write(`${name}/${name}.py`, `@fused.udf\ndef udf(bounds: fused.types.Bounds = None):\n    from utils import WHO\n    import utils\n    return {"who": WHO, "also": utils.who()}\n`);
      write(`${name}/utils.py`, `WHO = "${name}"\ndef who():\n    return "${name.toLowerCase()}"\n`);
    }
    const a = await ok('Alpha', 'Alpha');
    const b = await ok('Beta', 'Beta');
    for (let i = 0; i < 2; i++) {
      expect((await a.runtime!.run(call())).value).toEqual({ who: 'Alpha', also: 'alpha' });
      expect((await b.runtime!.run(call())).value).toEqual({ who: 'Beta', also: 'beta' });
    }
  });

  it('loads a zip UDF (entry file + package) and a folder with main.py', async () => {
    const src = write('zipsrc/main.py', `
from tilesmith import udf
from shapes_pkg.cells import square
@udf
def udf(bounds=None, size: float = 1.0):
    return square(size)
`);
    write('zipsrc/shapes_pkg/__init__.py', '');
    write('zipsrc/shapes_pkg/cells.py', `
from shapely.geometry import box
def square(s):
    return box(0, 0, s, s)
`);
    execFileSync(probe.python!.executable, ['-c', `
import zipfile, os, sys
root = sys.argv[1]
with zipfile.ZipFile(sys.argv[2], "w") as z:
    for base, _, files in os.walk(root):
        for f in files:
            p = os.path.join(base, f)
            z.write(p, os.path.relpath(p, root))
`, path.dirname(src), path.join(dir, 'zipped.zip')]);
    expect(loader.match(path.join(dir, 'zipped.zip'), false)).toBe('zipped');
    const z = await ok('zipped', 'zipped.zip');
    expect(z.params).toEqual({ size: { type: 'float', default: 1 } });
    const fc = (await z.runtime!.run(call({ size: 2 }))).value as FeatureCollection<Polygon>;
    expect(fc.features[0].geometry.coordinates[0]).toContainEqual([2, 2]);
    expect(existsSync(path.join(dir, '.cache', '_zips'))).toBe(true);

    expect(loader.match(path.join(dir, 'zipsrc'), true)).toBe('zipsrc');
    const folder = await ok('zipsrc', 'zipsrc');
    expect(((await folder.runtime!.run(call({ size: 3 }))).value as FeatureCollection).features).toHaveLength(1);
  });

  it('shares @cache results across workers: concurrent callers compute once', async () => {
    const counter = path.join(dir, 'computed.txt');
    write('cached.py', `
import os, time
from tilesmith import udf, cache
@cache(cache_max_age="1h")
def expensive(key):
    with open(${JSON.stringify(counter)}, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(0.6)
    return {"key": key, "computed_by": os.getpid()}
@udf
def udf(bounds=None, key: str = "k", hold: float = 0):
    time.sleep(hold)
    return {"result": expensive(key), "pid": os.getpid()}
`);
    const udf = await ok('cached');
    const [r1, r2] = await Promise.all([udf.runtime!.run(call({ hold: 0.3 })), udf.runtime!.run(call({ hold: 0.3 }))]);
    const v1 = r1.value as any;
    const v2 = r2.value as any;
    expect(v1.pid).not.toBe(v2.pid); // two different workers …
    expect(v1.result).toEqual(v2.result); // … one computation
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
    const files = readdirSync(path.join(dir, '.cache', 'expensive')).filter((f) => f.endsWith('.pkl'));
    expect(files).toHaveLength(1);
    await udf.runtime!.run(call({ key: 'other' }));
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('spreads concurrent requests over the pool', async () => {
    write('busy.py', `
import os, time
from tilesmith import udf
@udf
def udf(bounds=None, i: int = 0):
    time.sleep(0.25)
    return {"i": i, "pid": os.getpid()}
`);
    const udf = await ok('busy');
    const results = await Promise.all([0, 1, 2, 3].map((i) => udf.runtime!.run(call({ i }))));
    expect(results.map((r) => (r.value as any).i)).toEqual([0, 1, 2, 3]);
    expect(new Set(results.map((r) => (r.value as any).pid)).size).toBe(2); // both workers ran some
  });

  it('matches Python entries and nothing else', () => {
    const m = (rel: string, isDir = false) => loader.match(path.join(dir, rel), isDir);
    write('helpers_only.py', 'def area(x):\n    return x * 2\n');
    write('_private.py', '@udf\ndef udf(): pass\n');
    expect(m('params.py')).toBe('params');
    expect(m('helpers_only.py')).toBeNull();
    expect(m('_private.py')).toBeNull();
    expect(m('hog.tilesmith.json')).toBeNull();
    expect(m('Alpha', true)).toBe('Alpha');
    expect(m('Alpha/utils.py')).toBeNull();
    expect(m('.cache', true)).toBeNull();
    expect(loader.match(path.join(EXAMPLES, 'Fused_Buildings'), true)).toBe('Fused_Buildings');
    expect(loader.match(path.join(EXAMPLES, 'mandelbrot.ts'), false)).toBeNull();
  });
});

describe.skipIf(!probe.python)('Python UDF runtime without a usable interpreter', () => {
  it('loads the UDF with a clear load error instead of failing the server', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-nopy-'));
    writeFileSync(path.join(dir, 'a.py'), 'from tilesmith import udf\n@udf\ndef udf(bounds=None):\n    return 1\n');
    const loader = createPythonLoader({ cacheDir: path.join(dir, 'c'), python: path.join(dir, 'no-such-python'), workers: 1 });
    try {
      // The explicit interpreter is missing, so the probe moves on and still finds a working one …
      const udf = await loader.load('a', path.join(dir, 'a.py'));
      expect(udf.loadError).toBeUndefined();
      // … while a per-UDF interpreter that does not exist is that UDF's load error (503).
      writeFileSync(path.join(dir, 'b.py'), 'from tilesmith import udf\n@udf\ndef udf(bounds=None):\n    return 1\n');
      writeFileSync(path.join(dir, 'b.tilesmith.json'), JSON.stringify({ python: './venv-missing' }));
      const b = await loader.load('b', path.join(dir, 'b.py'));
      expect(b.runtime).toBeUndefined();
      expect(b.loadError?.unavailable).toBe(true);
      // Fail fast: named at load, before any worker is spawned.
      expect(b.loadError?.message).toMatch(/its interpreter \.\/venv-missing\/?\S* \(relative to its config file\) does not exist/);
    } finally {
      await loader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
