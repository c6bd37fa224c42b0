import { defineUdf } from 'tilesmith';
import { EXPORT_BBOX, rng } from '../fixtures.ts';

const random = rng(10_000);
const [W, S, E, N] = EXPORT_BBOX;
/** 10,000 seeded points over the export bench's area, built once. */
const POINTS = Array.from({ length: 10_000 }, (_, i) => ({
  type: 'Feature' as const,
  geometry: { type: 'Point' as const, coordinates: [W + random() * (E - W), S + random() * (N - S)] },
  properties: { id: i, v: Math.round(random() * 1000) },
}));

/** Bench: the points of a fixed 10k-point layer that fall in the requested tile. */
export default defineUdf({
  description: 'Bench: 10k points, filtered to the tile',
  kind: 'vector',
  run: ({ bounds }) => {
    const [w, s, e, n] = bounds!;
    return POINTS.filter((f) => {
      const [x, y] = f.geometry.coordinates as [number, number];
      return x >= w && x <= e && y >= s && y <= n;
    });
  },
});
