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
const indexed = countries.map((f) => ({ f, bbox: bboxOf(f.geometry) }));

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
    for (const { f, bbox } of indexed) {
      if (bounds && (bbox[0] > bounds[2] || bbox[2] < bounds[0] || bbox[1] > bounds[3] || bbox[3] < bounds[1])) continue;
      if (needle && !f.properties.name.toLowerCase().includes(needle)) continue;
      out.push({ type: 'Feature', id: Number(f.id), geometry: f.geometry, properties: { name: f.properties.name, iso_n3: String(f.id) } });
    }
    return out;
  },
});
