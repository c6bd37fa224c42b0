import { createRequire } from 'node:module';
import { defineUdf } from 'tilesmith';
import { feature } from 'topojson-client';
import type { Feature, FeatureCollection, Geometry, Position } from 'geojson';
import type { Topology } from 'topojson-specification';

/** Natural Earth 1:110m countries from the world-atlas npm package, loaded once. */
const require = createRequire(import.meta.url);
const topology = require('world-atlas/countries-110m.json') as Topology;
const countries = (feature(topology, topology.objects.countries) as FeatureCollection<Geometry, { name: string }>).features;

function bboxOf(geometry: Geometry): [number, number, number, number] {
  const b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (c: unknown): void => {
    if (typeof (c as number[])[0] === 'number') {
      const [x, y] = c as Position;
      if (x < b[0]) b[0] = x;
      if (y < b[1]) b[1] = y;
      if (x > b[2]) b[2] = x;
      if (y > b[3]) b[3] = y;
    } else for (const p of c as unknown[]) visit(p);
  };
  if ('coordinates' in geometry) visit(geometry.coordinates);
  return b;
}
/**
 * Natural Earth rings that cross the antimeridian (Russia, Fiji) jump from 180 to -180,
 * which draws as a band across the whole map in planar clients. Unwrap such rings so their
 * longitudes are continuous (e.g. up to 190): geojson-vt wraps the part beyond 180 onto the
 * other side of the world. Antarctica's ring crosses once, around the pole, and is right.
 */
function unwrapRing(ring: Position[]): Position[] {
  let jumps = 0;
  for (let i = 1; i < ring.length; i++) if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180) jumps++;
  if (jumps < 2) return ring;
  let shift = 0;
  const out: Position[] = [ring[0]];
  for (let i = 1; i < ring.length; i++) {
    const d = ring[i][0] - ring[i - 1][0];
    if (d > 180) shift -= 360;
    else if (d < -180) shift += 360;
    out.push([ring[i][0] + shift, ring[i][1]]);
  }
  // Keep most of the ring inside -180..180.
  const mean = out.reduce((sum, p) => sum + p[0], 0) / out.length;
  const back = mean > 180 ? -360 : mean < -180 ? 360 : 0;
  return back ? out.map((p) => [p[0] + back, p[1]]) : out;
}
function fixGeometry(g: Geometry): Geometry {
  if (g.type === 'Polygon') return { type: 'Polygon', coordinates: g.coordinates.map(unwrapRing) };
  if (g.type === 'MultiPolygon') return { type: 'MultiPolygon', coordinates: g.coordinates.map((poly) => poly.map(unwrapRing)) };
  return g;
}
const indexed = countries.map((f) => {
  const geometry = fixGeometry(f.geometry);
  // One box per polygon: a country's overall box (Russia's spans the globe once its rings
  // are unwrapped) would put it in every tile.
  const parts: Geometry[] =
    geometry.type === 'MultiPolygon' ? geometry.coordinates.map((coordinates) => ({ type: 'Polygon', coordinates })) : [geometry];
  return { f: { ...f, geometry }, boxes: parts.map(bboxOf) };
});

function overlaps(a: number[], b: number[]): boolean {
  return !(a[0] > b[2] || a[2] < b[0] || a[1] > b[3] || a[3] < b[1]);
}

/** Real data: the world's countries whose bounding box meets the requested bounds. */
export default defineUdf({
  description: 'Countries of the world (Natural Earth 1:110m, via world-atlas)',
  attribution: 'Natural Earth',
  kind: 'vector',
  maxzoom: 8,
  params: {
    name: { type: 'str', default: '', description: 'keep countries whose name contains this text' },
  },
  run: ({ bounds, params }) => {
    const needle = String(params.name ?? '').toLowerCase();
    const out: Feature[] = [];
    const windows = bounds && [bounds, [bounds[0] + 360, bounds[1], bounds[2] + 360, bounds[3]], [bounds[0] - 360, bounds[1], bounds[2] - 360, bounds[3]]];
    for (const { f, boxes } of indexed) {
      if (windows && !boxes.some((box) => windows.some((w) => overlaps(box, w)))) continue;
      if (needle && !f.properties.name.toLowerCase().includes(needle)) continue;
      out.push({ type: 'Feature', id: Number(f.id), geometry: f.geometry, properties: { name: f.properties.name, iso_n3: String(f.id) } });
    }
    return out;
  },
});
