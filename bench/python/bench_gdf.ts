import { defineUdf } from 'tilesmith';
import type { Feature, Point } from 'geojson';
import { rng } from '../fixtures.ts';

/** Bench: the TypeScript twin of bench_gdf.py (n random points with id, name, value). */
export default defineUdf({
  kind: 'vector',
  params: { n: { type: 'int', default: 1000 } },
  run: ({ bounds, params }) => {
    const [w, s, e, north] = bounds!;
    const n = params.n as number;
    const rand = rng(n);
    const features: Feature<Point>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const lon = w + rand() * (e - w);
      const lat = s + rand() * (north - s);
      features[i] = {
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [lon, lat] },
        properties: { id: i, name: `f-${i}`, value: Math.round(rand() * 1000) / 10 },
      };
    }
    return { type: 'FeatureCollection', features };
  },
});
