import { VectorTile } from '@mapbox/vector-tile';
import GeoJSONVT from 'geojson-vt';
import { PbfReader } from 'pbf';
import { describe, expect, it } from 'vitest';
import type { Feature, Geometry, TileCoord } from '../types.ts';
import { normalizeResult } from '../result/normalize.ts';
import { cutTestHooks, cutTile } from './mvt-tile.ts';
import { encodeMvtLayer, streamMvtLayer, type VtFeature } from './mvt-writer.ts';
import { rasterRings } from '../../test/helpers/coverage.ts';

const EXTENT = 4096;
const BUFFER = 64;

/** lon/lat at fraction (fx, fy) across tile `t` (fy in Mercator space, from the north edge). */
function at(t: TileCoord, fx: number, fy: number): [number, number] {
  const n = 2 ** t.z;
  const lon = ((t.x + fx) / n) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (t.y + fy)) / n))) * 180) / Math.PI;
  return [lon, lat];
}

/** Seeded PRNG (mulberry32), so that failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const feature = (geometry: Geometry | null, properties: Record<string, unknown> = {}, id?: number | string): Feature<Geometry | null> =>
  id === undefined ? { type: 'Feature', geometry, properties } : { type: 'Feature', id, geometry, properties };

/** A closed ring through tile fractions. */
function ring(t: TileCoord, pts: [number, number][]): [number, number][] {
  const r = pts.map(([fx, fy]) => at(t, fx, fy));
  return [...r, r[0]];
}

/** A star-shaped ring (`n` vertices, radius varying in [r/2, r]) around (cx, cy) in tile fractions. */
function star(t: TileCoord, cx: number, cy: number, r: number, n: number, rand: () => number, clockwise = false): [number, number][] {
  const pts = Array.from({ length: n }, (_, i): [number, number] => {
    const a = ((clockwise ? -i : i) / n) * 2 * Math.PI;
    const rr = r * (0.5 + 0.5 * rand());
    return [cx + rr * Math.cos(a), cy + rr * Math.sin(a)];
  });
  return ring(t, pts);
}

// ---- both pipelines, decoded ----

interface Decoded {
  type: number;
  id: number | undefined;
  properties: Record<string, unknown>;
  geometry: { x: number; y: number }[][];
}

function decode(bytes: Uint8Array): Decoded[] {
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
function reference(features: Feature<Geometry | null>[], t: TileCoord, tolerance: number): Decoded[] {
  const maxZoom = tolerance > 0 ? Math.min(t.z + 1, 24) : t.z;
  const index = new GeoJSONVT({ type: 'FeatureCollection', features: features as Feature[] }, { maxZoom, indexMaxZoom: 0, extent: EXTENT, buffer: BUFFER, tolerance: tolerance || 3 });
  const tile = index.getTile(t.z, t.x, t.y);
  return decode(encodeMvtLayer('t', (tile?.features ?? []) as VtFeature[], EXTENT));
}

function ours(features: Feature<Geometry | null>[], t: TileCoord, tolerance: number): Decoded[] {
  return decode(encodeMvtLayer('t', cutTile(features, t, { extent: EXTENT, buffer: BUFFER, tolerance }), EXTENT));
}

// ---- comparison: points exactly, lines and polygons by coverage of a coarse grid ----

const GRID = 64;
const LO = -BUFFER;
const CELL = (EXTENT + 2 * BUFFER) / GRID;

/** Cells (of a GRID² raster of the buffered tile) whose centre is inside the rings (even-odd). */
const rasterPolygon = (rings: { x: number; y: number }[][]): Uint8Array => rasterRings(rings, { grid: GRID, extent: EXTENT, buffer: BUFFER });

/** Cells a line passes through (sampled at a quarter cell). */
function rasterLine(parts: { x: number; y: number }[][]): Uint8Array {
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

function signedArea(r: { x: number; y: number }[]): number {
  let s = 0;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) s += r[j].x * r[i].y - r[i].x * r[j].y;
  return s / 2;
}

/** Distance from p to the nearest segment of `parts` (closed rings when `closed`). */
function distanceTo(p: { x: number; y: number }, parts: { x: number; y: number }[][]): number {
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

interface Report {
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
function unmatchedPoints(a: { x: number; y: number }[], b: { x: number; y: number }[], slack: number): string[] {
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
function expectSameTile(features: Feature<Geometry | null>[], t: TileCoord, tolerance: number, maxDeviation = tolerance > 0 ? 2 * tolerance + 3 : 3): Report {
  const want = reference(features, t, tolerance);
  const got = ours(features, t, tolerance);
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

const TILES: TileCoord[] = [
  { z: 0, x: 0, y: 0 },
  { z: 3, x: 4, y: 2 },
  { z: 12, x: 2074, y: 1409 },
  { z: 18, x: 132_742, y: 90_183 },
  { z: 24, x: 8_495_515, y: 5_771_726 },
];

/** Points and multipoints in, around (buffer) and far outside the tile. */
function points(t: TileCoord, seed: number): Feature<Geometry | null>[] {
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
function lines(t: TileCoord, seed: number): Feature<Geometry | null>[] {
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
function polygons(t: TileCoord, seed: number): Feature<Geometry | null>[] {
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

describe('cutTile matches geojson-vt', () => {
  for (const t of TILES) {
    for (const tolerance of [0, 3]) {
      // at z24 geojson-vt cannot simplify (it has no deeper maxZoom): compare unsimplified only
      if (t.z === 24 && tolerance > 0) continue;
      describe(`tile ${t.z}/${t.x}/${t.y}, tolerance ${tolerance}`, () => {
        it('points and multipoints: the same point sets', () => {
          const r = expectSameTile(points(t, t.z + 1), t, tolerance);
          expect(r.features).toBeGreaterThan(100);
        });
        it('lines crossing the tile many times', () => {
          const r = expectSameTile(lines(t, t.z + 2), t, tolerance);
          expect(r.features).toBeGreaterThan(20);
        });
        it('polygons, holes, a tile-covering polygon', () => {
          const r = expectSameTile(polygons(t, t.z + 3), t, tolerance);
          expect(r.features).toBeGreaterThan(20);
        });
      });
    }
  }

  it('a world-spanning polygon and line at z0', () => {
    const world = feature({ type: 'Polygon', coordinates: [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]] }, { kind: 'world' }, 1);
    const poles = feature({ type: 'Polygon', coordinates: [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]] }, { kind: 'poles' }, 2);
    const equator = feature({ type: 'LineString', coordinates: [[-180, 0], [0, 0], [180, 0]] }, { kind: 'equator' }, 3);
    for (const tolerance of [0, 3]) {
      const r = expectSameTile([world, poles, equator], { z: 0, x: 0, y: 0 }, tolerance);
      expect(r.features).toBe(9); // each one, plus its copies reaching into the buffer across ±180°
    }
  });

  it('features on the buffer edge', () => {
    for (const t of TILES) {
      const b = BUFFER / EXTENT;
      const fs = [
        // just inside and just outside the buffered square on each side (a tenth of a unit)
        ...[-b + 0.1 / EXTENT, -b - 0.1 / EXTENT, 1 + b - 0.1 / EXTENT, 1 + b + 0.1 / EXTENT].flatMap((f, i) => [
          feature({ type: 'Point', coordinates: at(t, f, 0.5) }, { i, axis: 'x' }),
          feature({ type: 'Point', coordinates: at(t, 0.5, f) }, { i, axis: 'y' }),
        ]),
        // a polygon and a line touching the buffer edge from outside, and lying along it
        feature({ type: 'Polygon', coordinates: [ring(t, [[1 + b, 0.2], [1.2, 0.2], [1.2, 0.4], [1 + b, 0.4]])] }, { kind: 'touching' }),
        feature({ type: 'LineString', coordinates: [at(t, -b, 0.1), at(t, -b, 0.9)] }, { kind: 'along' }),
        feature({ type: 'Polygon', coordinates: [ring(t, [[-b - 0.1, 0.2], [1.1, 0.2], [1.1, 0.4], [-b - 0.1, 0.4]])] }, { kind: 'across' }),
      ];
      for (const tolerance of t.z === 24 ? [0] : [0, 3]) expectSameTile(fs, t, tolerance);
    }
  });

  it('antimeridian: rings unwrapped past ±180° show up on the other side', () => {
    // like examples/udfs/countries.ts: Russia's far east, unwrapped to lon 190
    const east = feature({ type: 'Polygon', coordinates: [[[170, 60], [190, 60], [190, 80], [170, 80], [170, 60]]] }, { kind: 'east' }, 1);
    const west = feature({ type: 'Polygon', coordinates: [[[-190, -20], [-170, -20], [-170, -10], [-190, -10], [-190, -20]]] }, { kind: 'west' }, 2);
    const line = feature({ type: 'LineString', coordinates: [[160, 10], [200, 15]] }, { kind: 'line' }, 3);
    const point = feature({ type: 'Point', coordinates: [185, 75] }, { kind: 'point' }, 4);
    const fs = [east, west, line, point];
    const tiles: TileCoord[] = [
      { z: 0, x: 0, y: 0 },
      { z: 1, x: 0, y: 0 },
      { z: 1, x: 1, y: 0 },
      { z: 2, x: 0, y: 0 },
      { z: 2, x: 3, y: 0 },
      { z: 2, x: 0, y: 2 },
      { z: 2, x: 3, y: 2 },
      { z: 3, x: 0, y: 1 },
      { z: 3, x: 7, y: 2 },
    ];
    for (const t of tiles) for (const tolerance of [0, 3]) expectSameTile(fs, t, tolerance);
    // the part east of 180° is in the westernmost tile, the part west of -180° in the easternmost
    const z2west = ours(fs, { z: 2, x: 0, y: 0 }, 3).map((f) => f.properties.kind);
    expect(z2west).toContain('east');
    expect(z2west).toContain('point');
    expect(ours(fs, { z: 2, x: 3, y: 2 }, 3).map((f) => f.properties.kind)).toContain('west');
  });

  it('GeometryCollections, null geometries, empty and unclosed rings', () => {
    const t = TILES[2];
    const fs = [
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
    expectSameTile(fs, t, 0);
    expectSameTile(fs, t, 3);
    // an unclosed ring is cut as if closed (geojson-vt joins its ends only after clipping)
    const open = [at(t, -0.2, 0.3), at(t, 0.5, 0.3), at(t, 0.5, 0.6)];
    const closed = [...open, open[0]];
    const a = ours([feature({ type: 'Polygon', coordinates: [open] })], t, 0);
    const b = ours([feature({ type: 'Polygon', coordinates: [closed] })], t, 0);
    expect(a).toEqual(b);
  });
});

describe('cutTile', () => {
  const t = TILES[2];

  it('passes ids and properties through as given (same properties object)', () => {
    const props = { a: 1, nested: { b: 2 } };
    const [f] = cutTile([feature({ type: 'Point', coordinates: at(t, 0.5, 0.5) }, props, 'x')], t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 });
    expect(f.tags).toBe(props);
    expect(f.id).toBe('x');
    expect(f).toMatchObject({ type: 4, x: 2048, y: 2048 });
  });

  it('gives outer rings positive area (y down) and holes negative, whatever the input winding, at any zoom', () => {
    const area = (r: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i + 3 < r.length; i += 2) s += r[i] * r[i + 3] - r[i + 2] * r[i + 1];
      return s / 2;
    };
    // large and small (~40 units) rings: the small ones are where geojson-vt goes wrong from z20 on
    for (const t of TILES) for (const r of [0.4, 0.005]) for (const reverse of [false, true]) {
      const outer = ring(t, [[0.5 - r, 0.5 - r], [0.5 - r, 0.5 + r], [0.5 + r, 0.5 + r], [0.5 + r, 0.5 - r]]);
      const hole = ring(t, [[0.5 - r / 2, 0.5 - r / 2], [0.5 + r / 2, 0.5 - r / 2], [0.5 + r / 2, 0.5 + r / 2], [0.5 - r / 2, 0.5 + r / 2]]);
      const coords = reverse ? [outer.reverse(), hole.reverse()] : [outer, hole];
      const [f] = cutTile([feature({ type: 'Polygon', coordinates: coords })], t, { extent: EXTENT, buffer: BUFFER, tolerance: 0 });
      if (f.type !== 3) throw new Error('expected a polygon');
      const [o, h] = f.geometry as ArrayLike<number>[];
      expect(area(o)).toBeGreaterThan(0);
      expect(area(h)).toBeLessThan(0);
    }
  });

  it('simplifies with the tolerance and drops rings and lines smaller than it', () => {
    const n = 2000;
    const circle = Array.from({ length: n }, (_, i): [number, number] => [0.5 + 0.3 * Math.cos((i / n) * 2 * Math.PI), 0.5 + 0.3 * Math.sin((i / n) * 2 * Math.PI)]);
    const fs = [
      feature({ type: 'Polygon', coordinates: [ring(t, circle)] }, { kind: 'circle' }),
      feature({ type: 'Polygon', coordinates: [ring(t, [[0.1, 0.1], [0.1 + 2 / 4096, 0.1], [0.1, 0.1 + 2 / 4096]])] }, { kind: 'tiny' }),
      feature({ type: 'LineString', coordinates: [at(t, 0.2, 0.2), at(t, 0.2 + 2 / 4096, 0.2)] }, { kind: 'short' }),
    ];
    const exact = cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 0 });
    const simple = cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 });
    expect(exact.map((f) => f.tags?.kind)).toEqual(['circle', 'tiny', 'short']);
    expect(simple.map((f) => f.tags?.kind)).toEqual(['circle']);
    const vertices = (f: (typeof simple)[number]) => (f.type === 3 ? (f.geometry as ArrayLike<number>[])[0].length / 2 : 0);
    expect(vertices(exact[0])).toBe(n + 1);
    expect(vertices(simple[0])).toBeLessThan(100);
    expect(vertices(simple[0])).toBeGreaterThan(20);
  });

  it('wraps the tile x like geojson-vt', () => {
    const fs = [feature({ type: 'Point', coordinates: at(t, 0.5, 0.5) }, { a: 1 })];
    const wrapped = { ...t, x: t.x + 2 ** t.z };
    expect(cutTile(fs, wrapped, { extent: EXTENT, buffer: BUFFER, tolerance: 3 })).toEqual(cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }));
  });

  it('cuts a deep tile from many features in one pass', () => {
    const deep = TILES[4];
    const rand = rng(5);
    const fs = Array.from({ length: 5000 }, (_, i) =>
      i % 2 ? feature({ type: 'Point', coordinates: at(deep, rand(), rand()) }, { i }, i) : feature({ type: 'Polygon', coordinates: [star(deep, rand(), rand(), 0.01, 8, rand)] }, { i }, i),
    );
    expect(cutTile(fs, deep, { extent: EXTENT, buffer: BUFFER, tolerance: 3 })).toHaveLength(5000);
  });

  it('streams (cut → write one feature at a time) to the same bytes as cut-then-write, antimeridian copies and big tiles included', () => {
    const streamed = (fs: Feature<Geometry | null>[], t: TileCoord) =>
      streamMvtLayer('t', EXTENT, (write) => cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }, (f, group, done, total) => write(f, group, done, total)));
    const listed = (fs: Feature<Geometry | null>[], t: TileCoord) => encodeMvtLayer('t', cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }), EXTENT);
    const wrap = [
      feature({ type: 'Polygon', coordinates: [[[170, 60], [190, 60], [190, 80], [170, 80], [170, 60]]] }, { kind: 'east' }, 1),
      feature({ type: 'Polygon', coordinates: [[[-190, -20], [-170, -20], [-170, -10], [-190, -10], [-190, -20]]] }, { kind: 'west' }, 2),
      feature({ type: 'LineString', coordinates: [[160, 10], [200, 15]] }, { kind: 'line' }, 3),
      feature({ type: 'Point', coordinates: [185, 75] }, { kind: 'point' }, 4),
      feature({ type: 'Point', coordinates: [0, 0] }, { kind: 'middle' }, 5),
    ];
    for (const t of [{ z: 0, x: 0, y: 0 }, { z: 1, x: 0, y: 0 }, { z: 1, x: 1, y: 1 }, { z: 2, x: 0, y: 0 }, { z: 2, x: 3, y: 2 }]) {
      // same features in the same order (the dictionaries are numbered in input order when
      // streaming, in output order otherwise, so the bytes differ when copies move to the front)
      expect(decode(streamed(wrap, t)), `tile ${t.z}/${t.x}/${t.y}`).toEqual(decode(listed(wrap, t)));
    }
    for (const t of TILES.slice(1, 3)) {
      const fs = [...points(t, 1), ...lines(t, 2), ...polygons(t, 3)];
      expect(Buffer.from(streamed(fs, t)).equals(Buffer.from(listed(fs, t)))).toBe(true);
    }
    // past the writer's 8 MB scratch size: the buffer grows to its projected size and is handed over
    const t = TILES[2];
    const rand = rng(9);
    const many = Array.from({ length: 300_000 }, (_, i) => feature({ type: 'Point', coordinates: at(t, rand(), rand()) }, { name: `n-${i}`, v: rand() }, i));
    const big = streamed(many, t);
    expect(big.byteLength).toBeGreaterThan(8 * 1024 * 1024);
    expect(Buffer.from(big).equals(Buffer.from(listed(many, t)))).toBe(true);
    expect(decode(big)).toHaveLength(300_000);
  });

  it('skips lines and polygons by their validated bbox and computes y only where it matters, to the same bytes', () => {
    // The fast path (normalizeResult's boxes, y only for vertices next to the tile) against the
    // plain one (no boxes, every vertex projected): byte-identical tiles.
    const write = (fs: Feature<Geometry | null>[], t: TileCoord, fast: boolean, tolerance: number) => {
      cutTestHooks.lazyY = fast;
      try {
        const r = normalizeResult(fs);
        const boxes = fast && r.kind === 'vector' ? r.boxes : undefined;
        if (fast) expect(boxes).toBeInstanceOf(Float64Array);
        return Buffer.from(encodeMvtLayer('t', cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance, boxes }), EXTENT));
      } finally {
        cutTestHooks.lazyY = true;
      }
    };
    const wanderers = (t: TileCoord, seed: number) => {
      const rand = rng(seed);
      return Array.from({ length: 200 }, (_, i) => {
        let fx = -0.6 + 2.2 * rand();
        let fy = -0.6 + 2.2 * rand();
        let heading = rand() * 2 * Math.PI;
        const coords = Array.from({ length: 2 + Math.floor(rand() * 300) }, () => {
          const c = at(t, fx, fy);
          heading += (rand() - 0.5) * 0.3;
          fx += 0.01 * Math.cos(heading);
          fy += 0.01 * Math.sin(heading);
          return c;
        });
        return feature({ type: 'LineString', coordinates: coords }, { i }, i);
      });
    };
    const wrap = [
      feature({ type: 'LineString', coordinates: [[160, 10], [200, 15], [175, 40]] }, {}, 1),
      feature({ type: 'MultiLineString', coordinates: [[[-200, -60], [-150, 70]], [[-179, 0], [181, 1]]] }, {}, 2),
      feature({ type: 'LineString', coordinates: [[-180, 85.5], [180, -89], [0, 89]] }, {}, 3),
    ];
    let compared = 0;
    for (const t of [...TILES, { z: 1, x: 0, y: 0 }, { z: 2, x: 3, y: 3 }, { z: 14, x: 8299, y: 5636 }]) {
      const fs = [...lines(t, 7), ...wanderers(t, t.z + 11), ...polygons(t, 8), ...wrap];
      for (const tolerance of [0, 3]) {
        const fast = write(fs, t, true, tolerance);
        expect(fast.equals(write(fs, t, false, tolerance)), `tile ${t.z}/${t.x}/${t.y} tolerance ${tolerance}`).toBe(true);
        compared += decode(fast).length;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
