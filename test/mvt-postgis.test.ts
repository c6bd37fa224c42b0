/**
 * Parity with PostGIS: the same lon/lat lines and polygons cut by tilesmith's mvt encoder and by
 * `ST_AsMVT(ST_AsMVTGeom(…))` in a real, private PostGIS cluster (started here, stopped after),
 * both tiles read back with @mapbox/vector-tile. The tolerances (documented in README
 * "Benchmarks") are:
 * - the same features (ids) in the tile, with the same properties;
 * - lines: every vertex of either tile within `LINE_DEVIATION` tile units of the other tile's
 *   line for that feature (tilesmith simplifies with 3 units — geojson-vt's tolerance — where
 *   PostGIS keeps nearly every vertex; + rounding), measured inside the tile proper (the two
 *   clip the buffer the same way but may split a part at a slightly different point);
 * - polygons: per feature, of the cells of a 128² grid over the buffered tile that either tile
 *   covers, at most 3 % (or 2 cells, for tiny polygons) differ on inside / outside, and rings
 *   keep the MVT winding (outer rings positive area with y down in both).
 * Every check runs twice: on the tile from the FeatureCollection and on the tile from the same
 * features as a `prepareVector()` layer (simplified the geojson-vt way: same tolerances).
 * Skipped, loudly, when PostgreSQL 15 + PostGIS 3 are not installed (scripts/setup-system.mjs
 * installs Debian's postgresql-15-postgis-3).
 */
import { VectorTile } from '@mapbox/vector-tile';
import type { Feature, FeatureCollection, Geometry, Polygon } from 'geojson';
import { PbfReader } from 'pbf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeatures, postgisMissing, startPostgis, tileQuery, type Postgis } from '../bench/postgis.ts';
import { rng } from '../bench/fixtures.ts';
import { makeLines, makePolygons, parisTile } from '../bench/workloads.ts';
import { mvtEncoder } from '../server/encoders/mvt.ts';
import { normalizeResult } from '../server/result/normalize.ts';
import { prepareVector } from '../server/result/prepare-vector.ts';
import type { TileCoord } from '../server/types.ts';
import { rasterRings } from './helpers/coverage.ts';
import { distanceTo, signedArea } from './helpers/mvt-parity.ts';
import { cannotRun } from './helpers/skip.ts';

const EXTENT = 4096;
const BUFFER = 64;
/** Tile units: simplification tolerance 3, + 1 for rounding on each side. */
const LINE_DEVIATION = 5;
const GRID = 128;
const AGREEMENT = 0.97;

const missing = postgisMissing();
if (missing) {
  cannotRun('the PostGIS parity tests', missing);
}

type P = { x: number; y: number };
interface Decoded {
  id: number | undefined;
  type: number;
  properties: Record<string, unknown>;
  geometry: P[][];
}

function decode(bytes: Uint8Array): Map<number, Decoded> {
  const out = new Map<number, Decoded>();
  if (!bytes.byteLength) return out;
  const vt = new VectorTile(new PbfReader(bytes));
  const layer = vt.layers.t;
  for (let i = 0; i < layer.length; i++) {
    const f = layer.feature(i);
    out.set(Number(f.id), { id: f.id, type: f.type, properties: f.properties, geometry: f.loadGeometry() });
  }
  return out;
}

function ours(fc: unknown, tile: TileCoord): Uint8Array {
  const ctx = { udfName: 't', tile, bounds: null, tileSize: 512, layerName: 't', extent: EXTENT, buffer: BUFFER };
  return mvtEncoder.encode(normalizeResult(fc), ctx) as Uint8Array;
}

/** Even-odd coverage of a GRID² raster of the buffered tile. */
const raster = (rings: P[][]): Uint8Array => rasterRings(rings, { grid: GRID, extent: EXTENT, buffer: BUFFER });

/** Polygons of all sizes around and across the tile, some with a hole, for the parity test. */
function bigPolygons(tile: TileCoord, n: number, seed: number): FeatureCollection<Polygon> {
  const rand = rng(seed);
  const z2 = 2 ** tile.z;
  const at = (fx: number, fy: number): [number, number] => {
    const lon = ((tile.x + fx) / z2) * 360 - 180;
    const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (tile.y + fy)) / z2))) * 180) / Math.PI;
    return [lon, lat];
  };
  const ring = (cx: number, cy: number, r: number, k: number, reverse: boolean) => {
    const pts: [number, number][] = [];
    for (let i = 0; i < k; i++) {
      const a = (i / k) * 2 * Math.PI;
      const rr = r * (0.7 + 0.3 * rand());
      pts.push(at(cx + rr * Math.cos(a), cy + rr * Math.sin(a)));
    }
    if (reverse) pts.reverse();
    pts.push(pts[0]);
    return pts;
  };
  const features: Feature<Polygon>[] = [];
  for (let i = 0; i < n; i++) {
    const cx = -0.3 + 1.6 * rand();
    const cy = -0.3 + 1.6 * rand();
    const r = 0.02 + 0.3 * rand();
    const rings = [ring(cx, cy, r, 8 + Math.floor(rand() * 200), rand() < 0.5)];
    if (rand() < 0.4) rings.push(ring(cx, cy, r * 0.3, 24, rand() < 0.5));
    features.push({ type: 'Feature', id: i, geometry: { type: 'Polygon', coordinates: rings }, properties: { name: `p-${i}`, value: i / 2 } });
  }
  return { type: 'FeatureCollection', features };
}

describe.skipIf(missing !== null)('mvt encoder vs PostGIS ST_AsMVT', () => {
  let pg: Postgis;
  beforeAll(async () => {
    pg = await startPostgis();
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  async function both(table: string, fc: FeatureCollection<Geometry>, tile: TileCoord) {
    await loadFeatures(pg.client, table, fc.features);
    const r = await pg.client.query<{ mvt: Buffer }>(tileQuery(table, 't', tile, EXTENT, BUFFER));
    const theirs = decode(r.rows[0].mvt);
    // the unprepared tile, then the prepared layer's
    return [decode(ours(fc, tile)), decode(ours(prepareVector(fc), tile))].map((mine) => ({ mine, theirs }));
  }

  function sameFeatures(mine: Map<number, Decoded>, theirs: Map<number, Decoded>) {
    expect([...mine.keys()].sort((a, b) => a - b)).toEqual([...theirs.keys()].sort((a, b) => a - b));
    for (const [id, f] of mine) {
      const t = theirs.get(id)!;
      expect(f.type, `type of ${id}`).toBe(t.type);
      expect({ ...f.properties }, `properties of ${id}`).toEqual({ ...t.properties });
    }
  }

  for (const z of [14, 10]) {
    it(`lines crossing the tile edges (z${z}): same features, every vertex within ${LINE_DEVIATION} units of the other's line`, async () => {
      const tile = parisTile(z);
      const fc = makeLines(tile, 300, 400, 11 + z);
      for (const { mine, theirs } of await both(`lines_z${z}`, fc, tile)) {
        expect(mine.size).toBeGreaterThan(100);
        sameFeatures(mine, theirs);
        let worst = 0;
        let ourVertices = 0;
        let theirVertices = 0;
        const inside = (p: P) => p.x >= 0 && p.x <= EXTENT && p.y >= 0 && p.y <= EXTENT;
        for (const [id, f] of mine) {
          const t = theirs.get(id)!;
          for (const part of f.geometry) for (const p of part) if (inside(p)) worst = Math.max(worst, distanceTo(p, t.geometry));
          for (const part of t.geometry) for (const p of part) if (inside(p)) worst = Math.max(worst, distanceTo(p, f.geometry));
          ourVertices += f.geometry.reduce((n, part) => n + part.length, 0);
          theirVertices += t.geometry.reduce((n, part) => n + part.length, 0);
        }
        expect(worst).toBeLessThanOrEqual(LINE_DEVIATION);
        // tilesmith simplifies (3 units), PostGIS barely does: fewer vertices, never more
        expect(ourVertices).toBeLessThan(theirVertices);
      }
    }, 120_000);
  }

  it(`polygons across the tile edges, with holes (z14): same features, ≤ ${Math.round((1 - AGREEMENT) * 100)} % of covered grid cells differ, same winding`, async () => {
    const tile = parisTile(14);
    const fc = bigPolygons(tile, 150, 7);
    for (const { mine, theirs } of await both('bigpolys', fc, tile)) {
      expect(mine.size).toBeGreaterThan(50);
      sameFeatures(mine, theirs);
      let worst = 0;
      for (const [id, f] of mine) {
        const t = theirs.get(id)!;
        const a = raster(f.geometry);
        const b = raster(t.geometry);
        let either = 0;
        let same = 0;
        for (let i = 0; i < a.length; i++) {
          if (a[i] || b[i]) {
            either++;
            if (a[i] === b[i]) same++;
          }
        }
        // cells that differ, against what the tolerance allows for this feature
        worst = Math.max(worst, (either - same) / Math.max(2, (1 - AGREEMENT) * either));
        // MVT winding: the first ring of each is an outer ring, positive area (y down)
        expect(signedArea(f.geometry[0]), `winding of ${id}`).toBeGreaterThan(0);
        expect(signedArea(t.geometry[0]), `PostGIS winding of ${id}`).toBeGreaterThan(0);
      }
      expect(worst).toBeLessThanOrEqual(1);
    }
  }, 120_000);

  it('small 9-vertex polygons (the bench workload): same features, same vertex count or fewer', async () => {
    const tile = parisTile(14);
    const fc = makePolygons(tile, 2000, 2);
    for (const { mine, theirs } of await both('smallpolys', fc, tile)) {
      sameFeatures(mine, theirs);
      for (const [id, f] of mine) {
        const n = f.geometry.reduce((s, r) => s + r.length, 0);
        const m = theirs.get(id)!.geometry.reduce((s, r) => s + r.length, 0);
        expect(n, `vertices of ${id}`).toBeLessThanOrEqual(m);
        expect(n, `vertices of ${id}`).toBeGreaterThanOrEqual(4);
      }
    }
  }, 120_000);
});
