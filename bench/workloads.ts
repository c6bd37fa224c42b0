/**
 * The cold-MVT workloads measured against PostGIS (bench/vs-postgis.ts) and used by the PostGIS
 * parity tests: deterministic lon/lat features (seeded), each with an integer id and a `name`
 * and `value` property, plus the tile they are cut for.
 */
import type { Feature, FeatureCollection, LineString, Point, Polygon } from 'geojson';
import type { TileCoord } from '../server/types.ts';
import { rng } from './fixtures.ts';

export interface Workload {
  key: string;
  label: string;
  tile: TileCoord;
  kind: 'points' | 'polygons' | 'lines';
  /** Builds the features (deterministic; may take a while for 1M points). */
  make(): FeatureCollection<Point | Polygon | LineString>;
}

/** Paris: lon 2.3522, lat 48.8566, as the tile containing it at `z`. */
export function parisTile(z: number): TileCoord {
  const n = 2 ** z;
  const lat = (48.8566 * Math.PI) / 180;
  return {
    z,
    x: Math.floor(((2.3522 + 180) / 360) * n),
    y: Math.floor(((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2) * n),
  };
}

/** Tile-local fractional position (0..1 across the tile, may lie outside) → lon/lat. */
function unproject(tile: TileCoord, fx: number, fy: number): [number, number] {
  const n = 2 ** tile.z;
  const lon = ((tile.x + fx) / n) * 360 - 180;
  const yy = Math.PI * (1 - (2 * (tile.y + fy)) / n);
  const lat = (Math.atan(Math.sinh(yy)) * 180) / Math.PI;
  return [lon, lat];
}

function props(i: number, rand: () => number): Record<string, unknown> {
  return { name: `f-${i}`, value: Math.round(rand() * 1000) / 10 };
}

/** `n` points spread over the tile. */
export function makePoints(tile: TileCoord, n: number, seed: number): FeatureCollection<Point> {
  const rand = rng(seed);
  const features: Feature<Point>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const c = unproject(tile, rand(), rand());
    features[i] = { type: 'Feature', id: i, geometry: { type: 'Point', coordinates: c }, properties: props(i, rand) };
  }
  return { type: 'FeatureCollection', features };
}

/** `n` small octagons (9 positions: 8 vertices + the closing one), ~1/400 of the tile across, inside the tile. */
export function makePolygons(tile: TileCoord, n: number, seed: number): FeatureCollection<Polygon> {
  const rand = rng(seed);
  const features: Feature<Polygon>[] = new Array(n);
  const r = 1 / 800;
  for (let i = 0; i < n; i++) {
    const cx = r + rand() * (1 - 2 * r);
    const cy = r + rand() * (1 - 2 * r);
    const ring: [number, number][] = [];
    for (let k = 0; k < 8; k++) {
      const a = (k / 8) * 2 * Math.PI + rand() * 0.3;
      const rr = r * (0.6 + 0.4 * rand());
      ring.push(unproject(tile, cx + rr * Math.cos(a), cy + rr * Math.sin(a)));
    }
    ring.push(ring[0]);
    features[i] = { type: 'Feature', id: i, geometry: { type: 'Polygon', coordinates: [ring] }, properties: props(i, rand) };
  }
  return { type: 'FeatureCollection', features };
}

/**
 * `n` wandering lines of `vertices` positions each, about 1.2 tiles long, starting anywhere in
 * the 2.2×2.2 tiles around the tile (from −0.6 to 1.6 tile widths): many cross its edges and
 * about 43 % miss it entirely (the issue measured 38 % on its own data), like a road layer.
 */
export function makeLines(tile: TileCoord, n: number, vertices: number, seed: number): FeatureCollection<LineString> {
  const rand = rng(seed);
  const features: Feature<LineString>[] = new Array(n);
  const step = 1.2 / vertices;
  for (let i = 0; i < n; i++) {
    let x = -0.6 + rand() * 2.2;
    let y = -0.6 + rand() * 2.2;
    let heading = rand() * 2 * Math.PI;
    const coords: [number, number][] = new Array(vertices);
    for (let k = 0; k < vertices; k++) {
      coords[k] = unproject(tile, x, y);
      heading += (rand() - 0.5) * 0.08;
      const s = step * (0.5 + rand());
      x += s * Math.cos(heading);
      y += s * Math.sin(heading);
    }
    features[i] = { type: 'Feature', id: i, geometry: { type: 'LineString', coordinates: coords }, properties: props(i, rand) };
  }
  return { type: 'FeatureCollection', features };
}

/** The workloads of the PostGIS section; `quick` shrinks the 1M-point one to 200k. */
export function workloads(quick: boolean): Workload[] {
  const z14 = parisTile(14);
  const z10 = parisTile(10);
  const million = quick ? 200_000 : 1_000_000;
  return [
    { key: 'points10k', label: '10,000 points, z14', tile: z14, kind: 'points', make: () => makePoints(z14, 10_000, 1) },
    { key: 'polygons10k', label: '10,000 9-vertex polygons, z14', tile: z14, kind: 'polygons', make: () => makePolygons(z14, 10_000, 2) },
    { key: 'points100k', label: '100,000 points, z10', tile: z10, kind: 'points', make: () => makePoints(z10, 100_000, 3) },
    { key: 'points1m', label: `${million.toLocaleString('en-US')} points, one z10 tile`, tile: z10, kind: 'points', make: () => makePoints(z10, million, 4) },
    { key: 'lines1k', label: '1,000 lines × 500 vertices crossing tile edges, z14', tile: z14, kind: 'lines', make: () => makeLines(z14, 1000, 500, 5) },
  ];
}
