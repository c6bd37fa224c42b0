/**
 * Deterministic bench data, shared by the bench UDFs (served by tilesmith) and the in-process
 * baselines, so both sides encode exactly the same features.
 */
import type { Feature, FeatureCollection, Point, Polygon } from 'geojson';
import { tileToBounds } from '../server/tiling/bounds.ts';
import type { TileCoord } from '../server/types.ts';

/** The tile every vector section measures: a zoom-12 tile (central Paris). */
export const BENCH_TILE: TileCoord = { z: 12, x: 2074, y: 1409 };

export type Shape = 'points' | 'polygons';

/** Small, fast, seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` points, or `n` small squares (1/200 of the tile wide, ~20 units at extent 4096), inside
 * the tile, with an id, a string and a number property (like examples/udfs/points.ts).
 */
export function makeFeatures(tile: TileCoord, n: number, shape: Shape): FeatureCollection<Point | Polygon> {
  const [w, s, e, north] = tileToBounds(tile);
  const rand = rng((tile.z * 73856093) ^ (tile.x * 19349663) ^ (tile.y * 83492791) ^ n);
  const dx = (e - w) / 200;
  const dy = (north - s) / 200;
  const features: Feature<Point | Polygon>[] = [];
  for (let i = 0; i < n; i++) {
    const lon = w + rand() * (e - w - dx);
    const lat = s + rand() * (north - s - dy);
    const geometry: Point | Polygon =
      shape === 'points'
        ? { type: 'Point', coordinates: [lon, lat] }
        : { type: 'Polygon', coordinates: [[[lon, lat], [lon + dx, lat], [lon + dx, lat + dy], [lon, lat + dy], [lon, lat]]] };
    features.push({ type: 'Feature', id: i, geometry, properties: { name: `f-${i}`, value: Math.round(rand() * 1000) / 10 } });
  }
  return { type: 'FeatureCollection', features };
}

const memo = new Map<string, FeatureCollection<Point | Polygon>>();

/**
 * `makeFeatures`, built once per (tile, n, shape) and then returned as the same object — for
 * the tiles sections ask for again and again (zoom ≤ `BENCH_TILE.z`). A deeper tile (the
 * isolation section's fresh cold tiles, each asked for once) is built per call and not kept:
 * a UDF serving a fresh tile does not hold on to earlier tiles' data, and keeping 16 of them
 * (≈ 150 MB of features in a compute thread) made every major GC of that thread mark them,
 * which cost more CPU per tile than the UDF itself.
 */
export function cachedFeatures(tile: TileCoord, n: number, shape: Shape): FeatureCollection<Point | Polygon> {
  if (tile.z > BENCH_TILE.z) return makeFeatures(tile, n, shape);
  const key = `${tile.z}/${tile.x}/${tile.y}/${n}/${shape}`;
  let fc = memo.get(key);
  if (!fc) {
    if (memo.size >= 16) memo.delete(memo.keys().next().value!);
    memo.set(key, (fc = makeFeatures(tile, n, shape)));
  }
  return fc;
}

/**
 * The size of section 2's collections, built on first use (its warm-up requests), not at
 * module load: every isolate that imports this module (the server's main thread for the
 * direct baseline, each compute thread for the bench UDFs) would otherwise hold 20,000
 * features from the start, which a real server does not, and every major GC there would mark
 * them during the sections that do not use them.
 */
export const COLD_N = 10_000;

/** Area of the export bench (`bench_10k`): about 440 tiles over z0–z10. */
export const EXPORT_BBOX: [number, number, number, number] = [5, 45, 10, 50];
