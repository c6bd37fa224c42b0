import { defineUdf } from 'tilesmith';
import { cellToLatLng, getHexagonAreaAvg, polygonToCells } from 'h3-js';

/** A call never returns more than this many cells (it fails with a clear error instead). */
const MAX_CELLS = 20_000;
/** File calls without `res` pick the finest resolution expected to stay under this. */
const AUTO_FILE_CELLS = 5_000;

/** Area of a lon/lat box in km² (on a sphere). */
function areaKm2([w, s, e, n]: [number, number, number, number]): number {
  const R = 6371.0088;
  const rad = Math.PI / 180;
  return R * R * Math.abs(Math.sin(n * rad) - Math.sin(s * rad)) * Math.abs(e - w) * rad;
}

/**
 * The box as polygon rings h3-js handles: longitudes clamped to ±180 (a box with w > e is
 * taken as crossing the antimeridian) and cut into strips under 180° wide, because
 * `polygonToCells` reads a ring wider than 180° as one crossing the antimeridian.
 */
function strips([w, s, e, n]: [number, number, number, number]): [number, number][][] {
  s = Math.max(-90, Math.min(90, s));
  n = Math.max(-90, Math.min(90, n));
  const spans: [number, number][] =
    e - w >= 360 ? [[-180, 180]] : w > e ? [[Math.max(-180, w), 180], [-180, Math.min(180, e)]] : [[Math.max(-180, w), Math.min(180, e)]];
  const rings: [number, number][][] = [];
  for (const [a, b] of spans) {
    const parts = Math.ceil((b - a) / 90) || 1;
    for (let i = 0; i < parts; i++) {
      const x0 = a + ((b - a) * i) / parts;
      const x1 = a + ((b - a) * (i + 1)) / parts;
      // [lat, lng] order (h3-js's default).
      if (x1 > x0 && n > s) rings.push([[s, x0], [s, x1], [n, x1], [n, x0], [s, x0]]);
    }
  }
  return rings;
}

/**
 * H3 cells covering the requested area, as JSON rows `{ hex, value }` for deck.gl's
 * `H3HexagonLayer` (`h3Layer` in tilesmith/client/deckgl; see examples/web/h3.html).
 * Each cell is the one whose centre lies in the area, so tiles fit together without gaps or
 * duplicates. `value` (0–100) is a smooth, deterministic function of the cell's centre.
 * Try /udf/hexes/file?bounds=0,0,1,1&res=5 or /udf/hexes/tiles/4/8/5?format=json.
 */
export default defineUdf({
  description: 'H3 cells covering the area, with a deterministic value per cell (JSON rows)',
  kind: 'json',
  cacheMaxAge: '1d',
  params: {
    res: { type: 'int', description: 'H3 resolution 0–15 (default: from the zoom on tiles, the finest under ~5,000 cells otherwise)' },
    offset: { type: 'int', default: 0, description: 'added to the zoom-derived resolution on tile calls' },
  },
  run: ({ bounds, tile, params }) => {
    const box = (bounds ?? [-180, -85, 180, 85]) as [number, number, number, number];
    const { res: asked, offset } = params as { res?: number | null; offset: number };
    const area = areaKm2(box);
    if (asked !== undefined && asked !== null && (asked < 0 || asked > 15)) throw new Error(`res must be between 0 and 15, got ${asked}`);
    let res: number;
    if (asked !== undefined && asked !== null) res = asked;
    else if (tile) res = Math.round(tile.z * 0.8) + offset;
    else {
      res = 0;
      while (res < 15 && area / getHexagonAreaAvg(res + 1, 'km2') <= AUTO_FILE_CELLS) res++;
    }
    res = Math.min(15, Math.max(0, res));

    const expected = area / getHexagonAreaAvg(res, 'km2');
    const tooMany = (n: number) =>
      new Error(`hexes: about ${Math.round(n)} H3 cells at resolution ${res} for this area, more than ${MAX_CELLS}; use a lower res (or offset) or smaller bounds`);
    if (expected > MAX_CELLS * 1.2) throw tooMany(expected);

    const cells = new Set<string>();
    for (const ring of strips(box)) for (const c of polygonToCells(ring, res)) cells.add(c);
    if (cells.size > MAX_CELLS) throw tooMany(cells.size);

    const rad = Math.PI / 180;
    return [...cells].sort().map((hex) => {
      const [lat, lng] = cellToLatLng(hex);
      const value = 50 + 25 * Math.sin(lng * 6 * rad) + 25 * Math.cos(lat * 9 * rad);
      return { hex, value: Math.round(value * 10) / 10 };
    });
  },
});
