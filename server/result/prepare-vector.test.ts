import { describe, expect, it } from 'vitest';
import GeoJSONVT from 'geojson-vt';
import type { Feature, Geometry, TileCoord } from '../types.ts';
import { UdfError } from '../errors.ts';
import { mvtEncoder } from '../encoders/mvt.ts';
import { cutPrepared, cutTestHooks } from '../encoders/mvt-tile.ts';
import { streamMvtLayer } from '../encoders/mvt-writer.ts';
import { raster } from '../udf/define.ts';
import { normalizeResult } from './normalize.ts';
import { isPreparedVector, prepareVector, PREPARED_BRAND } from './prepare-vector.ts';
import {
  BUFFER,
  EXTENT,
  TILES,
  at,
  decode,
  distanceTo,
  expectSameTile,
  feature,
  lines,
  oddFeatures,
  points,
  polygons,
  ring,
  type Cutter,
  type Decoded,
} from '../../test/helpers/mvt-parity.ts';
import { makeLines, makePolygons, parisTile } from '../../bench/workloads.ts';

/** The prepared layer's tile at `tolerance`, written and decoded (layer `t`, as the harness expects). */
const prepared: Cutter = (features, t, tolerance) => {
  const layer = prepareVector({ type: 'FeatureCollection', features });
  const data = layer[PREPARED_BRAND];
  return decode(streamMvtLayer('t', EXTENT, (write) => cutPrepared(layer.features, data, t, { extent: EXTENT, buffer: BUFFER, tolerance }, write)));
};

/** A tile through the real encoder (tolerance 3), from whatever a UDF returned. */
function encoderTile(value: unknown, tile: TileCoord): Decoded[] {
  const bytes = mvtEncoder.encode(normalizeResult(value), { udfName: 't', tile, bounds: null, tileSize: 512, layerName: 't', extent: EXTENT, buffer: BUFFER }) as Uint8Array;
  return decode(bytes);
}

const vertices = (d: Decoded[]) => d.reduce((n, f) => n + f.geometry.reduce((m, r) => m + r.length, 0), 0);

describe('prepared layers match geojson-vt', () => {
  // the harness's own checks (same features, ids, properties, points; ≥ 99 % of a 64² grid
  // covered alike; every vertex within 2 × tolerance + 3 units of the other tile's geometry)
  for (const t of TILES) {
    for (const tolerance of [0, 3]) {
      if (t.z === 24 && tolerance > 0) continue; // geojson-vt cannot simplify at z24 (see mvt-tile.test.ts)
      describe(`tile ${t.z}/${t.x}/${t.y}, tolerance ${tolerance}`, () => {
        it('points and multipoints', () => {
          expect(expectSameTile(points(t, t.z + 1), t, tolerance, { cut: prepared }).features).toBeGreaterThan(100);
        });
        it('lines crossing the tile many times', () => {
          expect(expectSameTile(lines(t, t.z + 2), t, tolerance, { cut: prepared }).features).toBeGreaterThan(20);
        });
        it('polygons, holes, a tile-covering polygon', () => {
          expect(expectSameTile(polygons(t, t.z + 3), t, tolerance, { cut: prepared }).features).toBeGreaterThan(20);
        });
      });
    }
  }

  it('a world-spanning polygon and line at z0, and the antimeridian', () => {
    const world = feature({ type: 'Polygon', coordinates: [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]] }, { kind: 'world' }, 1);
    const equator = feature({ type: 'LineString', coordinates: [[-180, 0], [0, 0], [180, 0]] }, { kind: 'equator' }, 3);
    for (const tolerance of [0, 3]) expect(expectSameTile([world, equator], { z: 0, x: 0, y: 0 }, tolerance, { cut: prepared }).features).toBe(6);
    const east = feature({ type: 'Polygon', coordinates: [[[170, 60], [190, 60], [190, 80], [170, 80], [170, 60]]] }, { kind: 'east' }, 1);
    const west = feature({ type: 'Polygon', coordinates: [[[-190, -20], [-170, -20], [-170, -10], [-190, -10], [-190, -20]]] }, { kind: 'west' }, 2);
    const line = feature({ type: 'LineString', coordinates: [[160, 10], [200, 15]] }, { kind: 'line' }, 3);
    const point = feature({ type: 'Point', coordinates: [185, 75] }, { kind: 'point' }, 4);
    const tiles: TileCoord[] = [
      { z: 1, x: 0, y: 0 },
      { z: 1, x: 1, y: 0 },
      { z: 2, x: 0, y: 0 },
      { z: 2, x: 3, y: 2 },
      { z: 3, x: 7, y: 2 },
    ];
    for (const t of tiles) for (const tolerance of [0, 3]) expectSameTile([east, west, line, point], t, tolerance, { cut: prepared });
    expect(prepared([east, west, line, point], { z: 2, x: 0, y: 0 }, 3).map((f) => f.properties.kind)).toEqual(expect.arrayContaining(['east', 'point']));
  });

  it('GeometryCollections, null geometries, empty and unclosed rings', () => {
    const t = TILES[2];
    const fs = oddFeatures(t);
    expectSameTile(fs, t, 0, { cut: prepared });
    expectSameTile(fs, t, 3, { cut: prepared });
    const open = [at(t, -0.2, 0.3), at(t, 0.5, 0.3), at(t, 0.5, 0.6)];
    expect(prepared([feature({ type: 'Polygon', coordinates: [open] })], t, 0)).toEqual(prepared([feature({ type: 'Polygon', coordinates: [[...open, open[0]]] })], t, 0));
  });

  it('lines: skipping runs of vertices that lie in one region around the tile changes nothing', () => {
    const cases: [Feature<Geometry | null>[], TileCoord][] = TILES.map((t) => [lines(t, t.z + 5), t]);
    const z14 = parisTile(14);
    cases.push([makeLines(z14, 300, 500, 5).features, z14], [makeLines(z14, 300, 500, 5).features, { z: 15, x: 2 * z14.x + 1, y: 2 * z14.y }]);
    for (const [fs, t] of cases) {
      for (const tolerance of [0, 3]) {
        const fast = prepared(fs, t, tolerance);
        cutTestHooks.preparedSkips = false;
        try {
          expect(fast, `tile ${t.z}/${t.x}/${t.y}, tolerance ${tolerance}`).toEqual(prepared(fs, t, tolerance));
        } finally {
          cutTestHooks.preparedSkips = true;
        }
      }
    }
  });

  it('keeps the vertices geojson-vt keeps at every zoom of a dense line (same importance rule)', () => {
    // one 2,000-vertex wiggly line, tiles from z4 to z16 along it: the vertex counts agree with
    // geojson-vt's within 10 % (geojson-vt clips before it filters, so a part near the edge may
    // keep a vertex or two more or less)
    const rand = (() => {
      let a = 7;
      return () => ((a = (a * 16807) % 2147483647) - 1) / 2147483646;
    })();
    const coords: [number, number][] = [];
    let lon = 2.2;
    let lat = 48.8;
    for (let i = 0; i < 2000; i++) {
      coords.push([lon, lat]);
      lon += 0.0002 + (rand() - 0.5) * 0.0004;
      lat += (rand() - 0.5) * 0.0004;
    }
    const fs = [feature({ type: 'LineString', coordinates: coords }, { kind: 'wiggle' }, 1)];
    const index = new GeoJSONVT({ type: 'FeatureCollection', features: fs as Feature[] }, { maxZoom: 18, indexMaxZoom: 0, extent: EXTENT, buffer: BUFFER, tolerance: 3 });
    for (let z = 4; z <= 16; z += 2) {
      const t = parisTileAt(z, coords[1000]);
      const theirs = index.getTile(t.z, t.x, t.y);
      const want = theirs ? theirs.features.reduce((n: number, f: { geometry: unknown[][] }) => n + f.geometry.reduce((m: number, r: unknown[]) => m + r.length, 0), 0) : 0;
      const got = vertices(prepared(fs, t, 3));
      expect(Math.abs(got - want), `z${z}: ${got} vertices vs geojson-vt's ${want}`).toBeLessThanOrEqual(Math.max(2, want * 0.1));
    }
  });
});

/** The tile containing lon/lat `c` at zoom `z`. */
function parisTileAt(z: number, c: [number, number]): TileCoord {
  const n = 2 ** z;
  const lat = (c[1] * Math.PI) / 180;
  return { z, x: Math.floor(((c[0] + 180) / 360) * n), y: Math.floor(((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2) * n) };
}

/**
 * Prepared and unprepared tiles of the same features: the same features in the same order, with
 * the same type, id and properties; every vertex of either (inside the tile) within
 * `maxDeviation` units of the other's geometry. Returns the largest distance seen.
 */
function expectClose(a: Decoded[], b: Decoded[], maxDeviation: number): number {
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    expect(b[i].id).toBe(a[i].id);
    expect(b[i].properties).toEqual(a[i].properties);
    expect(b[i].type).toBe(a[i].type);
    for (const [from, to] of [
      [a[i].geometry, b[i].geometry],
      [b[i].geometry, a[i].geometry],
    ]) {
      for (const part of from) for (const p of part) if (p.x >= 0 && p.x <= EXTENT && p.y >= 0 && p.y <= EXTENT) worst = Math.max(worst, distanceTo(p, to));
    }
  }
  expect(worst).toBeLessThanOrEqual(maxDeviation);
  return worst;
}

describe('prepared vs unprepared tiles (the mvt encoder, tolerance 3)', () => {
  // Where they may differ: unprepared, Douglas–Peucker runs per tile at its tolerance (on the
  // parts inside, for a line crossing the edge); prepared, the vertices were ranked once over
  // the whole geometry and a tile keeps those whose rank passes its tolerance (geojson-vt's
  // rule, which may also keep a vertex whose parent in the recursion it drops). Each stays
  // within the tolerance (3 units) of the input, plus half a unit of rounding: so within
  // 2 × 3 + 1 = 7 units of each other.
  const ctxFor = (t: TileCoord) => ({ udfName: 't', tile: t, bounds: null, tileSize: 512, layerName: 't', extent: EXTENT, buffer: BUFFER });

  it('points: byte-identical tiles', () => {
    for (const t of TILES) {
      const fc = { type: 'FeatureCollection', features: points(t, 11) };
      const a = mvtEncoder.encode(normalizeResult(fc), ctxFor(t)) as Uint8Array;
      const b = mvtEncoder.encode(normalizeResult(prepareVector(fc)), ctxFor(t)) as Uint8Array;
      expect(Buffer.from(b).equals(Buffer.from(a)), `tile ${t.z}/${t.x}/${t.y}`).toBe(true);
    }
  });

  it("polygons: the bench's 9-vertex polygons byte-identical; stars, holes and tile-covering ones within 7 units", () => {
    const z14 = parisTile(14);
    const fc = makePolygons(z14, 2000, 2);
    const a = mvtEncoder.encode(normalizeResult(fc), ctxFor(z14)) as Uint8Array;
    const b = mvtEncoder.encode(normalizeResult(prepareVector(fc)), ctxFor(z14)) as Uint8Array;
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    for (const t of TILES) {
      const stars = { type: 'FeatureCollection', features: polygons(t, 12) };
      expectClose(encoderTile(stars, t), encoderTile(prepareVector(stars), t), 7);
    }
  });

  it("lines (the bench's workload): within 7 units, vertex counts within 10 %", () => {
    const t = parisTile(14);
    const fc = makeLines(t, 300, 500, 5);
    const a = encoderTile(fc, t);
    const b = encoderTile(prepareVector(fc), t);
    expect(a.length).toBeGreaterThan(100);
    expectClose(a, b, 7);
    expect(Math.abs(vertices(b) - vertices(a)) / vertices(a)).toBeLessThan(0.1);
    for (const t of TILES) {
      const walks = { type: 'FeatureCollection', features: lines(t, 13) };
      expectClose(encoderTile(walks, t), encoderTile(prepareVector(walks), t), 7);
    }
  });
});

describe('prepareVector', () => {
  const t = TILES[2];
  const good = { type: 'FeatureCollection' as const, features: [feature({ type: 'LineString', coordinates: [at(t, 0.1, 0.1), at(t, 0.9, 0.9)] }, { a: 1 }, 5)] };

  it('is the same FeatureCollection (features not copied), with its data out of sight of JSON', () => {
    const p = prepareVector(good);
    expect(p.features).toBe(good.features);
    expect(JSON.stringify(p)).toBe(JSON.stringify(good));
    expect(Object.keys(p)).toEqual(['type', 'features']);
    expect(isPreparedVector(p)).toBe(true);
    expect(isPreparedVector(good)).toBe(false);
    expect(prepareVector(p)).toBe(p);
    const n = normalizeResult(p);
    expect(n.kind === 'vector' && n.prepared).toBe(p[PREPARED_BRAND]);
  });

  it('takes every vector form a UDF may return', () => {
    const f = good.features[0] as Feature<Geometry>;
    expect(prepareVector(f).features).toEqual([f]);
    expect(prepareVector([f, f]).features).toHaveLength(2);
    expect(prepareVector(f.geometry).features[0].geometry).toBe(f.geometry);
    expect(prepareVector([]).features).toEqual([]);
    expect(prepareVector(null).features).toEqual([]);
    expect(encoderTile(prepareVector([]), t)).toEqual([]);
  });

  it('rejects bad features with the sentence returning them would get', () => {
    const bad: unknown[] = [
      { type: 'FeatureCollection', features: [good.features[0], { type: 'Feature', geometry: { type: 'LineString', coordinates: [[0, 0], [1, Infinity]] }, properties: {} }] },
      { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Polygon', coordinates: [[0, 0]] }, properties: {} }] },
      { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Blob', coordinates: [] }, properties: {} }] },
      { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: null, properties: 3 }] },
      { type: 'FeatureCollection', features: 'nope' },
      [good.features[0], 7],
      new Map(),
    ];
    for (const value of bad) {
      let want = '';
      try {
        normalizeResult(value);
      } catch (err) {
        want = (err as Error).message;
      }
      expect(want).not.toBe('');
      expect(() => prepareVector(value)).toThrow(UdfError);
      expect(() => prepareVector(value)).toThrow(want);
    }
  });

  it('rejects values that are not vector data', () => {
    for (const value of [raster({ width: 1, height: 1, data: new Uint8Array(1) }), 'text', 42, { a: 1 }, ['a']]) {
      expect(() => prepareVector(value)).toThrow(/prepareVector\(\) takes GeoJSON vector data/);
    }
  });

  it('survives a structured clone of the normalised result (the compute pool boundary): the same tile', () => {
    const fc = makeLines(parisTile(14), 100, 200, 9);
    const n = normalizeResult(prepareVector(fc));
    const copy = structuredClone(n);
    expect(copy.kind === 'vector' && copy.prepared?.xy).toBeInstanceOf(Float64Array);
    const ctx = { udfName: 't', tile: parisTile(14), bounds: null, tileSize: 512, layerName: 't', extent: EXTENT, buffer: BUFFER };
    expect(Buffer.from(mvtEncoder.encode(copy, ctx) as Uint8Array).equals(Buffer.from(mvtEncoder.encode(n, ctx) as Uint8Array))).toBe(true);
  });

  it('is ignored (the features are validated and cut as usual) when its features no longer match, or when the brand is lost', () => {
    const p = prepareVector({ type: 'FeatureCollection', features: [...good.features] });
    p.features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [1, Infinity] }, properties: {} });
    expect(isPreparedVector(p)).toBe(false);
    expect(() => normalizeResult(p)).toThrow(/Feature 1 of the UDF result/);
    const spread = { ...prepareVector(good) };
    const n = normalizeResult(spread);
    expect(n.kind === 'vector' && n.prepared).toBeFalsy();
  });

  it('ranks vertices: collinear ones never kept, the ends always, a corner from the zoom where it shows', () => {
    // a straight line with 50 vertices on it, then a right-angle corner 1e-4° off the line
    const coords: [number, number][] = Array.from({ length: 50 }, (_, i) => [i * 0.001, 0]);
    coords.push([0.05, 0.0001], [0.06, 0.0001]);
    const p = prepareVector({ type: 'LineString', coordinates: coords });
    const imp = p[PREPARED_BRAND].importance;
    expect(imp[0]).toBe(Infinity);
    expect(imp[coords.length - 1]).toBe(Infinity);
    expect(Array.from(imp.subarray(1, 49)).every((v) => v === 0)).toBe(true);
    expect(imp[49]).toBeGreaterThan(0);
    // the corner is 1e-4° ≈ 2.8e-7 world units off: under 3 units of a tile up to z10, over it from z12
    const z = (zoom: number) => parisTileAt(zoom, [0.025, 0]);
    expect(vertices(prepared(p.features, z(10), 3))).toBe(2);
    expect(vertices(prepared(p.features, z(12), 3))).toBeGreaterThan(2);
  });
});
