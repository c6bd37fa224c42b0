import { defineUdf } from 'tilesmith';
import type { Feature, Point, Polygon } from 'geojson';

/** Small, fast, seeded PRNG (mulberry32): the same tile always gets the same features. */
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

/**
 * Synthetic vector data: `n` random points (or small squares with `shape=polygons`) inside
 * the requested bounds, deterministic per tile and seed.
 */
export default defineUdf({
  description: 'Random points or squares, deterministic per tile',
  kind: 'vector',
  cacheMaxAge: '1h',
  params: {
    n: { type: 'int', default: 100, description: 'how many features per tile' },
    label: { type: 'str', default: 'pt', description: 'prefix of each feature name' },
    shape: { type: 'str', default: 'points', description: 'points or polygons' },
    seed: { type: 'int', default: 0 },
  },
  run: ({ bounds, tile, params }) => {
    if (!bounds) bounds = [-180, -85, 180, 85];
    const { n, label, shape, seed } = params as { n: number; label: string; shape: string; seed: number };
    if (n < 0 || n > 1_000_000) throw new Error(`n must be between 0 and 1000000, got ${n}`);
    if (shape !== 'points' && shape !== 'polygons') throw new Error(`shape must be 'points' or 'polygons', got '${shape}'`);
    const [w, s, e, north] = bounds;
    const key = tile ? tile.z * 73856093 ^ tile.x * 19349663 ^ tile.y * 83492791 : 7;
    const rand = rng(key ^ (seed * 2654435761));
    const dx = (e - w) / 100;
    const dy = (north - s) / 100;
    const features: Feature<Point | Polygon>[] = [];
    for (let i = 0; i < n; i++) {
      const lon = w + rand() * (e - w);
      const lat = s + rand() * (north - s);
      const value = Math.round(rand() * 1000) / 10;
      const geometry: Point | Polygon =
        shape === 'points'
          ? { type: 'Point', coordinates: [lon, lat] }
          : {
              type: 'Polygon',
              coordinates: [[[lon, lat], [lon + dx, lat], [lon + dx, lat + dy], [lon, lat + dy], [lon, lat]]],
            };
      features.push({ type: 'Feature', id: i, geometry, properties: { name: `${label}-${i}`, value } });
    }
    return { type: 'FeatureCollection', features };
  },
});
