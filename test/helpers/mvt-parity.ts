/**
 * The geojson-vt parity harness of the MVT cutter: fixtures (points, lines, polygons in, around
 * and far from a tile), geojson-vt's own tile for them, and `expectSameTile`, which compares a
 * cutter's decoded tile with it. Shared by server/encoders/mvt-tile.test.ts (`cutTile`) and
 * server/result/prepare-vector.test.ts (prepared layers).
 */
import { VectorTile } from '@mapbox/vector-tile';
import GeoJSONVT from 'geojson-vt';
import { PbfReader } from 'pbf';
import { expect } from 'vitest';
import type { Feature, Geometry, TileCoord } from '../../server/types.ts';
import { cutTile } from '../../server/encoders/mvt-tile.ts';
import { encodeMvtLayer, type VtFeature } from '../../server/encoders/mvt-writer.ts';
import { rasterRings } from './coverage.ts';

export const EXTENT = 4096;
export const BUFFER = 64;

/** lon/lat at fraction (fx, fy) across tile `t` (fy in Mercator space, from the north edge). */
export function at(t: TileCoord, fx: number, fy: number): [number, number] {
  const n = 2 ** t.z;
  const lon = ((t.x + fx) / n) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (t.y + fy)) / n))) * 180) / Math.PI;
  return [lon, lat];
}

/** Seeded PRNG (mulberry32, shared with the bench), so that failures reproduce. */
import { rng } from '../../bench/fixtures.ts';

export { rng };

export const feature = (geometry: Geometry | null, properties: Record<string, unknown> = {}, id?: number | string): Feature<Geometry | null> =>
  id === undefined ? { type: 'Feature', geometry, properties } : { type: 'Feature', id, geometry, properties };

/** A closed ring through tile fractions. */
export function ring(t: TileCoord, pts: [number, number][]): [number, number][] {
  const r = pts.map(([fx, fy]) => at(t, fx, fy));
  return [...r, r[0]];
}

/** A GeometryCollection, a null geometry, empty geometries and an empty hole, in tile `t`. */
export function oddFeatures(t: TileCoord): Feature<Geometry | null>[] {
  return [
    feature(
      {
        type: 'GeometryCollection',
        geometries: [
          { type: 'Point', coordinates: at(t, 0.5, 0.5) },
          { type: 'LineString', coordinates: [at(t, 0.1, 0.1), at(t, 0.9, 0.2)] },
          { type: 'Polygon', coordinates: [ring(t, [[0.2, 0.6], [0.4, 0.6], [0.4, 0.8]])] },
        ],
      },
      { kind: 'collection' },
      7,
    ),
    feature(null, { kind: 'null' }),
    feature({ type: 'Polygon', coordinates: [] }, { kind: 'empty polygon' }),
    feature({ type: 'MultiPoint', coordinates: [] }, { kind: 'empty multipoint' }),
    feature({ type: 'Polygon', coordinates: [ring(t, [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]), []] }, { kind: 'empty hole' }),
  ];
}

/** A star-shaped ring (`n` vertices, radius varying in [r/2, r]) around (cx, cy) in tile fractions. */
export function star(t: TileCoord, cx: number, cy: number, r: number, n: number, rand: () => number, clockwise = false): [number, number][] {
  const pts = Array.from({ length: n }, (_, i): [number, number] => {
    const a = ((clockwise ? -i : i) / n) * 2 * Math.PI;
    const rr = r * (0.5 + 0.5 * rand());
    return [cx + rr * Math.cos(a), cy + rr * Math.sin(a)];
  });
  return ring(t, pts);
}

// ---- both pipelines, decoded ----

export interface Decoded {
  type: number;
  id: number | undefined;
  properties: Record<string, unknown>;
  geometry: { x: number; y: number }[][];
}

export function decode(bytes: Uint8Array): Decoded[] {
  if (bytes.length === 0) return [];
  const layer = new VectorTile(new PbfReader(bytes)).layers.t;
  if (!layer) return [];
  return Array.from({ length: layer.length }, (_, i) => {
    const f = layer.feature(i);
    return { type: f.type, id: f.id, properties: f.properties, geometry: f.loadGeometry().map((r) => r.map((p) => ({ x: p.x, y: p.y }))) };
  });
}

/**
 * geojson-vt's own tile for the same input: at its maxZoom (no simplification) when
 * `tolerance` is 0; otherwise with maxZoom one deeper, so that the tile is simplified with
 * `tolerance` tile units, as geojson-vt does for every zoom above maxZoom.
 */
export function reference(features: Feature<Geometry | null>[], t: TileCoord, tolerance: number): Decoded[] {
  const maxZoom = tolerance > 0 ? Math.min(t.z + 1, 24) : t.z;
  const index = new GeoJSONVT({ type: 'FeatureCollection', features: features as Feature[] }, { maxZoom, indexMaxZoom: 0, extent: EXTENT, buffer: BUFFER, tolerance: tolerance || 3 });
  const tile = index.getTile(t.z, t.x, t.y);
  return decode(encodeMvtLayer('t', (tile?.features ?? []) as VtFeature[], EXTENT));
}

/** A way of cutting a tile (decoded): `cutTile` by default; the prepared-layer tests pass theirs. */
export type Cutter = (features: Feature<Geometry | null>[], t: TileCoord, tolerance: number) => Decoded[];

/** `cutTile`'s tile, written and decoded. */
export function ours(features: Feature<Geometry | null>[], t: TileCoord, tolerance: number): Decoded[] {
  return decode(encodeMvtLayer('t', cutTile(features, t, { extent: EXTENT, buffer: BUFFER, tolerance }), EXTENT));
}

// ---- comparison: points exactly, lines and polygons by coverage of a coarse grid ----

export const GRID = 64;
export const LO = -BUFFER;
export const CELL = (EXTENT + 2 * BUFFER) / GRID;

/** Cells (of a GRID² raster of the buffered tile) whose centre is inside the rings (even-odd). */
export const rasterPolygon = (rings: { x: number; y: number }[][]): Uint8Array => rasterRings(rings, { grid: GRID, extent: EXTENT, buffer: BUFFER });

/** Cells a line passes through (sampled at a quarter cell). */
export function rasterLine(parts: { x: number; y: number }[][]): Uint8Array {
  const out = new Uint8Array(GRID * GRID);
  const mark = (x: number, y: number) => {
    const col = Math.floor((x - LO) / CELL);
    const row = Math.floor((y - LO) / CELL);
    if (col >= 0 && col < GRID && row >= 0 && row < GRID) out[row * GRID + col] = 1;
  };
  for (const p of parts) {
    for (let i = 1; i < p.length; i++) {
      const a = p[i - 1];
      const b = p[i];
      const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / (CELL / 4)));
      for (let s = 0; s <= steps; s++) mark(a.x + ((b.x - a.x) * s) / steps, a.y + ((b.y - a.y) * s) / steps);
    }
  }
  return out;
}

export function signedArea(r: { x: number; y: number }[]): number {
  let s = 0;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) s += r[j].x * r[i].y - r[i].x * r[j].y;
  return s / 2;
}

/** Distance from p to the nearest segment of `parts` (closed rings when `closed`). */
export function distanceTo(p: { x: number; y: number }, parts: { x: number; y: number }[][]): number {
  let best = Infinity;
  for (const part of parts) {
    if (part.length === 1) best = Math.min(best, Math.hypot(p.x - part[0].x, p.y - part[0].y));
    for (let i = 1; i < part.length; i++) {
      const a = part[i - 1];
      const b = part[i];
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len2 = dx * dx + dy * dy;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2));
      best = Math.min(best, Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy)));
    }
  }
  return best;
}

export interface Report {
  features: number;
  /** Worst per-feature share of grid cells with the same coverage in both tiles. */
  minAgreement: number;
  /** Largest distance from a vertex of either tile to the other tile's geometry of the same feature. */
  maxDeviation: number;
}

/**
 * Matches two point lists one to one, each point within `slack` units (on both axes) of its
 * partner; returns the unmatched points.
 */
export function unmatchedPoints(a: { x: number; y: number }[], b: { x: number; y: number }[], slack: number): string[] {
  const rest = [...b];
  const missing: string[] = [];
  for (const p of a) {
    const j = rest.findIndex((q) => Math.abs(q.x - p.x) <= slack && Math.abs(q.y - p.y) <= slack);
    if (j < 0) missing.push(`${p.x},${p.y}`);
    else rest.splice(j, 1);
  }
  return [...missing, ...rest.map((q) => `${q.x},${q.y} (extra)`)];
}

/**
 * Cuts `features` both ways and checks: same feature count, and per feature (in order) the same
 * type, id and properties; the same points; lines and polygons covering the same cells of a
 * 64×64 grid of the buffered tile for ≥ 99 % of the cells, and no vertex of one further than
 * `maxDeviation` units from the other's geometry. Returns the measures.
 *
 * Where the reference is not exact: geojson-vt first snaps coordinates to a grid at its maxZoom
 * (a unit, or half a unit when it simplifies, with maxZoom one deeper), then rounds again to the
 * tile. A multipoint's coordinates can so differ by one unit (points are compared exactly at
 * tolerance 0), and a clip point on a segment nearly parallel to the edge moves by a few units
 * along the edge (`maxDeviation` 3 at tolerance 0); simplifying adds up to twice the tolerance.
 */
export function expectSameTile(
  features: Feature<Geometry | null>[],
  t: TileCoord,
  tolerance: number,
  { maxDeviation = tolerance > 0 ? 2 * tolerance + 3 : 3, cut = ours }: { maxDeviation?: number; cut?: Cutter } = {},
): Report {
  const want = reference(features, t, tolerance);
  const got = cut(features, t, tolerance);
  const where = `tile ${t.z}/${t.x}/${t.y}, tolerance ${tolerance}`;
  expect(got.length, `feature count, ${where}`).toBe(want.length);
  let minAgreement = 1;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    const what = `feature ${i} (${JSON.stringify(w.properties)}), ${where}`;
    expect(g.type, what).toBe(w.type);
    expect(g.id, what).toBe(w.id);
    expect(g.properties, what).toEqual(w.properties);
    if (w.type === 1) {
      expect(g.geometry.flat().length, what).toBe(w.geometry.flat().length);
      expect(unmatchedPoints(g.geometry.flat(), w.geometry.flat(), tolerance > 0 ? 1 : 0), what).toEqual([]);
      continue;
    }
    if (w.type === 3 && t.z < 20) {
      // the same outer rings and holes (MVT winding: outer rings positive area with y down). Not
      // from z20 on: there geojson-vt keeps coordinates as [0, 1] world fractions and its winding
      // test (a shoelace sum on them) loses the sign of small rings; see the winding test below.
      const signs = (d: Decoded) => d.geometry.map(signedArea).filter((a) => Math.abs(a) > 50).map(Math.sign);
      expect(signs(g), `ring winding, ${what}`).toEqual(signs(w));
    }
    const raster = w.type === 3 ? rasterPolygon : rasterLine;
    const a = raster(w.geometry);
    const b = raster(g.geometry);
    let same = 0;
    for (let c = 0; c < a.length; c++) if (a[c] === b[c]) same++;
    const agreement = same / a.length;
    minAgreement = Math.min(minAgreement, agreement);
    expect(agreement, `grid agreement, ${what}`).toBeGreaterThanOrEqual(0.99);
    for (const [from, to] of [
      [g.geometry, w.geometry],
      [w.geometry, g.geometry],
    ]) {
      for (const part of from) for (const p of part) worst = Math.max(worst, distanceTo(p, to));
    }
    expect(worst, `vertex deviation, ${what}`).toBeLessThanOrEqual(maxDeviation);
  }
  return { features: want.length, minAgreement, maxDeviation: worst };
}

// ---- fixtures ----

export const TILES: TileCoord[] = [
  { z: 0, x: 0, y: 0 },
  { z: 3, x: 4, y: 2 },
  { z: 12, x: 2074, y: 1409 },
  { z: 18, x: 132_742, y: 90_183 },
  { z: 24, x: 8_495_515, y: 5_771_726 },
];

/** Points and multipoints in, around (buffer) and far outside the tile. */
export function points(t: TileCoord, seed: number): Feature<Geometry | null>[] {
  const rand = rng(seed);
  const out: Feature<Geometry | null>[] = [];
  for (let i = 0; i < 300; i++) {
    const fx = -0.3 + 1.6 * rand();
    const fy = -0.3 + 1.6 * rand();
    out.push(feature({ type: 'Point', coordinates: at(t, fx, fy) }, { i, kind: 'point' }, i));
  }
  for (let i = 0; i < 30; i++) {
    const coords = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => at(t, -0.2 + 1.4 * rand(), -0.2 + 1.4 * rand()));
    out.push(feature({ type: 'MultiPoint', coordinates: coords }, { i, kind: 'multipoint' }, 1000 + i));
  }
  return out;
}

/** Lines that cross the tile edges many times, short lines, multilines, lines far outside. */
export function lines(t: TileCoord, seed: number): Feature<Geometry | null>[] {
  const rand = rng(seed);
  const out: Feature<Geometry | null>[] = [];
  // a sine wave running across the whole tile and in and out of its top and bottom edges
  const wave = Array.from({ length: 400 }, (_, i) => at(t, -0.3 + (1.6 * i) / 399, 0.5 + 0.7 * Math.sin(i / 9)));
  out.push(feature({ type: 'LineString', coordinates: wave }, { kind: 'wave' }, 1));
  // a zigzag in and out of the left edge, densely sampled (simplification has work to do)
  const zig: [number, number][] = [];
  for (let i = 0; i < 60; i++) {
    for (let k = 0; k < 10; k++) zig.push(at(t, (i % 2 === 0 ? -0.1 : 0.15) + (i % 2 === 0 ? 0.025 : -0.025) * k, i / 60 + k / 600));
  }
  out.push(feature({ type: 'LineString', coordinates: zig }, { kind: 'zigzag' }, 2));
  for (let i = 0; i < 40; i++) {
    const n = 2 + Math.floor(rand() * 30);
    let fx = -0.4 + 1.8 * rand();
    let fy = -0.4 + 1.8 * rand();
    const coords: [number, number][] = [];
    for (let k = 0; k < n; k++) {
      coords.push(at(t, fx, fy));
      fx += (rand() - 0.5) * 0.3;
      fy += (rand() - 0.5) * 0.3;
    }
    out.push(feature({ type: 'LineString', coordinates: coords }, { kind: 'walk', i }, 10 + i));
  }
  out.push(
    feature(
      {
        type: 'MultiLineString',
        coordinates: [
          [at(t, -0.5, 0.2), at(t, 1.5, 0.3)],
          [at(t, 0.2, -0.5), at(t, 0.4, 1.5), at(t, 0.6, -0.5)],
          [at(t, 2, 2), at(t, 3, 3)],
        ],
      },
      { kind: 'multiline' },
      3,
    ),
  );
  out.push(feature({ type: 'LineString', coordinates: [at(t, 3, 3), at(t, 4, 3.5)] }, { kind: 'far away' }, 4));
  return out;
}

/** Polygons: small and star-shaped, holes, a hole bigger than the tile, one covering the tile. */
export function polygons(t: TileCoord, seed: number): Feature<Geometry | null>[] {
  const rand = rng(seed);
  const out: Feature<Geometry | null>[] = [];
  for (let i = 0; i < 60; i++) {
    const cx = -0.3 + 1.6 * rand();
    const cy = -0.3 + 1.6 * rand();
    const r = 0.01 + 0.3 * rand();
    const outer = star(t, cx, cy, r, 5 + Math.floor(rand() * 60), rand, rand() < 0.5);
    const rings = [outer];
    if (rand() < 0.4) rings.push(star(t, cx, cy, r * 0.3, 12, rand, rand() < 0.5));
    out.push(feature({ type: 'Polygon', coordinates: rings }, { kind: 'star', i }, i));
  }
  // a frame whose hole is bigger than the tile: nothing of it inside, its ring in the buffer only
  out.push(
    feature(
      { type: 'Polygon', coordinates: [ring(t, [[-1, -1], [2, -1], [2, 2], [-1, 2]]), ring(t, [[-0.01, -0.01], [-0.01, 1.01], [1.01, 1.01], [1.01, -0.01]])] },
      { kind: 'frame' },
      100,
    ),
  );
  // a hole bigger than the tile that covers only part of it
  out.push(
    feature(
      { type: 'Polygon', coordinates: [ring(t, [[-2, -2], [3, -2], [3, 3], [-2, 3]]), ring(t, [[0.4, -1], [0.4, 2], [2, 2], [2, -1]])] },
      { kind: 'big hole' },
      101,
    ),
  );
  // covering the whole tile
  out.push(feature({ type: 'Polygon', coordinates: [ring(t, [[-5, -5], [6, -5], [6, 6], [-5, 6]])] }, { kind: 'cover' }, 102));
  // a multipolygon: one part inside, one crossing the corner, one far outside
  out.push(
    feature(
      {
        type: 'MultiPolygon',
        coordinates: [
          [ring(t, [[0.1, 0.1], [0.3, 0.1], [0.3, 0.3], [0.1, 0.3]])],
          [ring(t, [[0.9, 0.9], [1.3, 0.9], [1.3, 1.3], [0.9, 1.3]]), ring(t, [[1.0, 1.0], [1.0, 1.1], [1.1, 1.1], [1.1, 1.0]])],
          [ring(t, [[5, 5], [6, 5], [6, 6]])],
        ],
      },
      { kind: 'multipolygon' },
      103,
    ),
  );
  // entirely outside, next to the buffer
  out.push(feature({ type: 'Polygon', coordinates: [ring(t, [[1.05, 0.2], [1.2, 0.2], [1.2, 0.4], [1.05, 0.4]])] }, { kind: 'outside' }, 104));
  return out;
}

