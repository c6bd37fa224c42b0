import { defineUdf } from 'tilesmith';
import { cachedFeatures } from '../fixtures.ts';

/** `n` precomputed small squares per tile (built once, then returned as the same object). */
export default defineUdf({
  description: 'Bench: n precomputed small polygons per tile',
  kind: 'vector',
  params: { n: { type: 'int', default: 1000 } },
  run: ({ tile, params }) => {
    if (!tile) throw new Error('bench_polygons serves tiles only');
    return cachedFeatures(tile, params.n as number, 'polygons');
  },
});
