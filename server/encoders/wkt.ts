import type { Geometry, Position } from 'geojson';
import { geometryHasZ } from './wkb.ts';

const KEYWORDS: Record<Geometry['type'], string> = {
  Point: 'POINT',
  LineString: 'LINESTRING',
  Polygon: 'POLYGON',
  MultiPoint: 'MULTIPOINT',
  MultiLineString: 'MULTILINESTRING',
  MultiPolygon: 'MULTIPOLYGON',
  GeometryCollection: 'GEOMETRYCOLLECTION',
};

/**
 * Writes a GeoJSON geometry as OGC WKT (ISO flavour: `POINT Z (1 2 3)`, `MULTIPOINT ((1 2), (3 4))`,
 * `LINESTRING EMPTY`). Numbers use JavaScript's shortest round-trip form.
 * @example geometryToWkt({ type: 'Point', coordinates: [1, 2] }) // 'POINT (1 2)'
 */
export function geometryToWkt(geometry: Geometry): string {
  return write(geometry, geometryHasZ(geometry));
}

function write(g: Geometry, z: boolean): string {
  const head = KEYWORDS[g.type] + (z ? ' Z ' : ' ');
  const body = g.type === 'GeometryCollection' ? g.geometries.map((c) => write(c, z)).join(', ') : coords(g, z);
  return head + (body === '' ? 'EMPTY' : `(${body})`);
}

/** The text between the outer parentheses, or '' for an empty geometry. */
function coords(g: Exclude<Geometry, { type: 'GeometryCollection' }>, z: boolean): string {
  switch (g.type) {
    case 'Point':
      return g.coordinates.length ? pos(g.coordinates, z) : '';
    case 'LineString':
      return list(g.coordinates, z);
    case 'MultiPoint':
      return g.coordinates.map((p) => `(${pos(p, z)})`).join(', ');
    case 'Polygon':
    case 'MultiLineString':
      return g.coordinates.map((r) => paren(list(r, z))).join(', ');
    case 'MultiPolygon':
      return g.coordinates.map((poly) => paren(poly.map((r) => paren(list(r, z))).join(', '))).join(', ');
  }
}

function paren(s: string): string {
  return s === '' ? 'EMPTY' : `(${s})`;
}

function list(ps: Position[], z: boolean): string {
  return ps.map((p) => pos(p, z)).join(', ');
}

function pos(p: Position, z: boolean): string {
  return z ? `${p[0]} ${p[1]} ${p.length > 2 ? p[2] : 'NaN'}` : `${p[0]} ${p[1]}`;
}
