/**
 * The compiled accelerator of the Python result encoder (tilesmith/_accel.c, built by
 * tilesmith/_accel.py into the cache folder) against the pure-Python path, with a real
 * interpreter, real shapely and real worker processes: both must give Node the same GeoJSON
 * and tables for points, mixed geometries, nulls, empties, text and zero rows; a machine that
 * cannot build it must still serve everything.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureCollection } from 'geojson';
import type { UdfCall, UdfLoader } from '../../types.ts';
import { findPython } from './interpreter.ts';
import { createPythonLoader } from './loader.ts';
import { cannotRun } from '../../../test/helpers/skip.ts';

const probe = await findPython();
let why = probe.python ? '' : `no Python that can import numpy and pandas was found (tried: ${probe.tried.join(' | ')})`;
if (probe.python) {
  try {
    execFileSync(probe.python.executable, ['-c', 'import geopandas, shapely; assert shapely.__version__.startswith("1.8")'], { stdio: 'pipe' });
    try {
      const check = 'import os, shutil, sysconfig; assert shutil.which("cc") and os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))';
      execFileSync(probe.python.executable, ['-c', check], { stdio: 'pipe' });
    } catch {
      why = `no C compiler (cc) or no Python.h for ${probe.python.executable} (Debian: gcc, python3-dev)`;
    }
  } catch {
    why = `${probe.python.executable} has no geopandas with shapely 1.8 (the accelerator is for shapely 1.8; Debian 12: python3-geopandas)`;
  }
}
if (why) cannotRun('the Python accelerator tests', `${why}. Install the packages of scripts/setup-system.mjs or set TILESMITH_PYTHON.`);

const SHAPES = `
import math
import numpy as np
import pandas as pd
import geopandas as gpd
from shapely import wkt
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from tilesmith import udf


@udf
def udf(which: str = "points"):
    if which == "points":
        return gpd.GeoDataFrame({"i": np.arange(3), "name": ["a", "b", "c"]},
                                geometry=gpd.points_from_xy([1.5, -2.25, 179.999999999], [0.1, 45.0, -89.5]), crs=4326)
    if which == "points_missing":  # None, shapely's empty Point() and GEOS' POINT EMPTY (crashed the pure path once)
        return gpd.GeoDataFrame({"i": [0, 1, 2, 3]}, geometry=[Point(1, 2), None, Point(), wkt.loads("POINT EMPTY")], crs=4326)
    if which == "points_3d":
        return gpd.GeoDataFrame({"i": [0, 1, 2]}, geometry=[Point(1, 2, 3), Point(4, 5), None], crs=4326)
    if which == "points_many":
        rng = np.random.default_rng(7)
        n = 2000
        return gpd.GeoDataFrame({"v": rng.random(n), "s": [f"p{i}" if i % 7 else None for i in range(n)]},
                                geometry=gpd.points_from_xy(rng.random(n) * 360 - 180, rng.random(n) * 170 - 85), crs=4326)
    if which == "mixed":
        return gpd.GeoDataFrame({"i": list(range(7))}, geometry=[
            Point(1, 2),
            LineString([(0, 0), (1, 1), (2, 0)]),
            Polygon([(0, 0), (4, 0), (4, 4), (0, 0)], [[(1, 0.5), (2, 0.5), (2, 1.5), (1, 0.5)]]),
            MultiPolygon([Polygon([(0, 0), (1, 0), (1, 1)]), Polygon([(5, 5), (6, 5), (6, 6)])]),
            wkt.loads("GEOMETRYCOLLECTION (POINT (1 2), LINESTRING Z (0 0 1, 1 1 2))"),
            None,
            wkt.loads("POLYGON EMPTY"),
        ], crs=4326)
    if which == "columns":  # the worker's array-level GeoDataFrame path (with the accelerator) vs the Series path (without)
        return gpd.GeoDataFrame({
            "i": np.array([-1, 2**53, 7]), "u": np.array([1, 2, 2**63], dtype=np.uint64), "f": [1.5, float("nan"), -0.0],
            "b": [True, False, True], "s": ["a", None, "é€"], "t": ["x", "y", "z"],
        }, geometry=[Point(1, 2), None, Point(3, 4, 5)], crs=4326)
    if which == "columns_other":  # what that path leaves to the Series one: dates, mixed objects, a named index
        return gpd.GeoDataFrame({"d": pd.to_datetime(["2020-01-01", None]), "o": [1, "a"]},
                                geometry=[Point(0, 0), Point(1, 1)], crs=4326).rename_axis("k")
    if which == "all_none":
        return gpd.GeoDataFrame({"i": [0, 1]}, geometry=gpd.GeoSeries([None, None]), crs=4326)
    if which == "empty":
        return gpd.GeoDataFrame({"i": pd.Series([], dtype="int64"), "name": pd.Series([], dtype=object)},
                                geometry=gpd.GeoSeries([], dtype="geometry"), crs=4326)
    if which == "text":  # the string column fast path, and what it must leave to the pure one
        return pd.DataFrame({
            "ascii": ["a", "bb", ""],
            "unicode": ["é€", "日本", "🗺️ map"],
            "nulls": ["x", None, "z"],
            "nan": ["x", float("nan"), "z"],
            "mixed": ["x", 1, {"k": [1, 2]}],
            "allnull": pd.Series([None, None, None], dtype=object),
        })
    if which == "owned":  # parts owned by a parent that is freed first (shapely's __del__ must leave them alone)
        polys = [Polygon([(i, 0), (i + 1, 0), (i + 1, 1), (i, 0)]) for i in range(50)]
        rings = [p.exterior for p in polys]
        multi = MultiPolygon(polys[:3])
        parts = list(multi.geoms)
        del polys, multi
        churn = [Point(i, i).buffer(1) for i in range(2000)]  # many geometries freed inside the call
        del churn
        return gpd.GeoDataFrame({"i": range(53)}, geometry=rings + parts, crs=4326)
    if which == "text_empty":
        return pd.DataFrame({"s": pd.Series([], dtype=object), "f": pd.Series([], dtype="float64")})
    raise ValueError(which)
`;

const STATUS = `
from tilesmith import udf


@udf
def udf():
    from tilesmith import _accel
    _accel.wait(120)
    _accel._ready(geos=True)
    return {"status": _accel.status(), "used": dict(_accel.used), "fastFree": _accel.fast_free}
`;

const CASES = ['points', 'points_missing', 'points_3d', 'points_many', 'mixed', 'owned', 'all_none', 'empty', 'text', 'text_empty', 'columns', 'columns_other'];

function call(params: Record<string, unknown> = {}): UdfCall {
  return { bounds: [-10, -10, 10, 10], tile: { x: 0, y: 0, z: 0 }, tileSize: 256, params, signal: new AbortController().signal };
}

describe.skipIf(!!why)('Python result accelerator (shapely 1.8)', () => {
  let dir: string;
  const loaders: Record<string, UdfLoader & { close(): Promise<void> }> = {};
  const make = (name: string, env: Record<string, string>) => {
    loaders[name] = createPythonLoader({ python: probe.python?.executable, cacheDir: path.join(dir, `cache-${name}`), workers: 1, env, log: () => {} });
    return loaders[name];
  };
  const run = async (loader: UdfLoader, udf: string, params: Record<string, unknown> = {}) => {
    const u = await loader.load(udf, path.join(dir, `${udf}.py`));
    expect(u.loadError, JSON.stringify(u.loadError)).toBeUndefined();
    return (await u.runtime!.run(call(params))).value;
  };
  const status = (loader: UdfLoader) => run(loader, 'accel_status') as Promise<{ status: string; used: Record<string, number>; fastFree: boolean }>;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-accel-'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'shapes.py'), SHAPES);
    writeFileSync(path.join(dir, 'accel_status.py'), STATUS);
    make('fast', {});
    make('pure', { TILESMITH_PY_ACCEL: '0' });
    make('nocc', { CC: '/bin/false' });
  });
  afterAll(async () => {
    await Promise.allSettled(Object.values(loaders).map((l) => l.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('builds into the cache folder and loads once checked; TILESMITH_PY_ACCEL=0 turns it off', async () => {
    const s = await status(loaders.fast);
    expect(s.status).toMatch(/^ready \(_tilesmith_accel-[0-9a-f]{16}\..*\.so\)$/);
    expect(s.fastFree).toBe(true); // shapely 1.8's __del__ runs in C in this worker
    expect(readdirSync(path.join(dir, 'cache-fast', '_accel')).filter((f) => f.endsWith('.so'))).toHaveLength(1);
    expect(await status(loaders.pure)).toMatchObject({ status: 'not used: turned off (TILESMITH_PY_ACCEL=0)', fastFree: false });
    expect(existsSync(path.join(dir, 'cache-pure', '_accel'))).toBe(false);
  });

  it('gives Node the same values as the pure path for points, mixed geometries, nulls, empties, text and zero rows', async () => {
    await status(loaders.fast); // built and loaded before the comparison
    for (const which of CASES) {
      const fast = await run(loaders.fast, 'shapes', { which });
      const pure = await run(loaders.pure, 'shapes', { which });
      expect(fast, which).toEqual(pure);
    }
    // …and the columns went through the extension (so the comparison compared something).
    const { used } = await status(loaders.fast);
    expect(used.points).toBeGreaterThanOrEqual(5); // points, points_missing, points_3d, points_many, all_none (nulls only)
    expect(used.wkb).toBeGreaterThanOrEqual(1); // mixed
    expect(used.strings).toBeGreaterThanOrEqual(4);
    expect((await status(loaders.pure)).used).toEqual({ points: 0, wkb: 0, strings: 0 });
  });

  it('decodes to the GeoJSON and rows a TypeScript UDF would return', async () => {
    const pts = (await run(loaders.fast, 'shapes', { which: 'points' })) as FeatureCollection;
    expect(pts.features).toEqual([
      { type: 'Feature', geometry: { type: 'Point', coordinates: [1.5, 0.1] }, properties: { i: 0, name: 'a' } },
      { type: 'Feature', geometry: { type: 'Point', coordinates: [-2.25, 45] }, properties: { i: 1, name: 'b' } },
      { type: 'Feature', geometry: { type: 'Point', coordinates: [179.999999999, -89.5] }, properties: { i: 2, name: 'c' } },
    ]);
    const missing = (await run(loaders.fast, 'shapes', { which: 'points_missing' })) as FeatureCollection;
    expect(missing.features.map((f) => f.geometry)).toEqual([{ type: 'Point', coordinates: [1, 2] }, null, null, null]);
    const z = (await run(loaders.fast, 'shapes', { which: 'points_3d' })) as FeatureCollection;
    expect(z.features.map((f) => f.geometry)).toEqual([{ type: 'Point', coordinates: [1, 2, 3] }, { type: 'Point', coordinates: [4, 5] }, null]);
    const mixed = (await run(loaders.fast, 'shapes', { which: 'mixed' })) as FeatureCollection;
    expect(mixed.features.map((f) => f.geometry?.type ?? null)).toEqual(['Point', 'LineString', 'Polygon', 'MultiPolygon', 'GeometryCollection', null, 'Polygon']);
    expect(mixed.features[2].geometry).toEqual({
      type: 'Polygon',
      coordinates: [[[0, 0], [4, 0], [4, 4], [0, 0]], [[1, 0.5], [2, 0.5], [2, 1.5], [1, 0.5]]],
    });
    const owned = (await run(loaders.fast, 'shapes', { which: 'owned' })) as FeatureCollection;
    expect(owned.features).toHaveLength(53);
    expect(owned.features[0].geometry).toEqual({ type: 'LineString', coordinates: [[0, 0], [1, 0], [1, 1], [0, 0]] });
    expect(owned.features[52].geometry).toEqual({ type: 'Polygon', coordinates: [[[2, 0], [3, 0], [3, 1], [2, 0]]] });
    expect(mixed.features[4].geometry).toEqual({
      type: 'GeometryCollection',
      geometries: [{ type: 'Point', coordinates: [1, 2] }, { type: 'LineString', coordinates: [[0, 0, 1], [1, 1, 2]] }],
    });
    expect(await run(loaders.fast, 'shapes', { which: 'empty' })).toBeNull(); // no rows: an empty result, as for the pure path
    const text = (await run(loaders.fast, 'shapes', { which: 'text' })) as { rows: Record<string, unknown>[] };
    expect(text.rows).toEqual([
      { ascii: 'a', unicode: 'é€', nulls: 'x', nan: 'x', mixed: 'x', allnull: null },
      { ascii: 'bb', unicode: '日本', nulls: null, nan: null, mixed: 1, allnull: null },
      { ascii: '', unicode: '🗺️ map', nulls: 'z', nan: 'z', mixed: { k: [1, 2] }, allnull: null },
    ]);
  });

  it('serves everything through the pure path when it cannot be built (no working compiler)', async () => {
    const s = await status(loaders.nocc);
    expect(s.status).toMatch(/^not built: \/bin\/false failed/);
    for (const which of ['points', 'mixed', 'text']) {
      expect(await run(loaders.nocc, 'shapes', { which }), which).toEqual(await run(loaders.pure, 'shapes', { which }));
    }
    expect((await status(loaders.nocc)).used).toEqual({ points: 0, wkb: 0, strings: 0 });
  });
});
