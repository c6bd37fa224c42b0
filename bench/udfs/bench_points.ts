import { defineUdf } from 'tilesmith';
import { cachedFeatures } from '../fixtures.ts';

/**
 * `n` precomputed points per tile (built once, then returned as the same object), so a
 * `cache=false` request measures the server and the encoder, not data generation.
 */
export default defineUdf({
  description: 'Bench: n precomputed points per tile',
  kind: 'vector',
  params: { n: { type: 'int', default: 1000 } },
  run: ({ tile, params }) => {
    if (!tile) throw new Error('bench_points serves tiles only');
    return cachedFeatures(tile, params.n as number, 'points');
  },
});
