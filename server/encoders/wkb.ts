import type { Geometry, Position } from 'geojson';

const TYPE_CODES: Record<Geometry['type'], number> = {
  Point: 1,
  LineString: 2,
  Polygon: 3,
  MultiPoint: 4,
  MultiLineString: 5,
  MultiPolygon: 6,
  GeometryCollection: 7,
};

/**
 * Encodes a GeoJSON geometry as little-endian ISO WKB (the GeoParquet / GeoArrow encoding).
 * A geometry with any 3-coordinate position is written as XYZ (type code + 1000) throughout,
 * with NaN for positions that lack a Z; an empty Point is written as POINT(NaN NaN).
 * @example geometryToWkb({ type: 'Point', coordinates: [1, 2] }) // 0101000000 000000000000F03F 0000000000000040
 */
export function geometryToWkb(geometry: Geometry): Uint8Array {
  const hasZ = geometryHasZ(geometry);
  const dims = hasZ ? 3 : 2;
  const bytes = new Uint8Array(wkbSize(geometry, dims));
  const view = new DataView(bytes.buffer);
  writeGeometry(view, 0, geometry, dims);
  return bytes;
}

/** True when any position of the geometry carries a Z value. */
export function geometryHasZ(g: Geometry): boolean {
  switch (g.type) {
    case 'Point':
      return g.coordinates.length > 2;
    case 'MultiPoint':
    case 'LineString':
      return g.coordinates.some((p) => p.length > 2);
    case 'MultiLineString':
    case 'Polygon':
      return g.coordinates.some((ring) => ring.some((p) => p.length > 2));
    case 'MultiPolygon':
      return g.coordinates.some((poly) => poly.some((ring) => ring.some((p) => p.length > 2)));
    case 'GeometryCollection':
      return g.geometries.some(geometryHasZ);
  }
}

function wkbSize(g: Geometry, dims: number): number {
  const pos = 8 * dims;
  switch (g.type) {
    case 'Point':
      return 5 + pos;
    case 'LineString':
      return 9 + g.coordinates.length * pos;
    case 'MultiPoint':
      return 9 + g.coordinates.length * (5 + pos);
    case 'Polygon':
    case 'MultiLineString': {
      let n = 9;
      for (const ring of g.coordinates) n += (g.type === 'Polygon' ? 4 : 9) + ring.length * pos;
      return n;
    }
    case 'MultiPolygon': {
      let n = 9;
      for (const poly of g.coordinates) {
        n += 9;
        for (const ring of poly) n += 4 + ring.length * pos;
      }
      return n;
    }
    case 'GeometryCollection': {
      let n = 9;
      for (const child of g.geometries) n += wkbSize(child, dims);
      return n;
    }
  }
}

function writeHeader(view: DataView, o: number, type: Geometry['type'], dims: number): number {
  view.setUint8(o, 1); // little-endian
  view.setUint32(o + 1, TYPE_CODES[type] + (dims === 3 ? 1000 : 0), true);
  return o + 5;
}

function writePosition(view: DataView, o: number, p: Position, dims: number): number {
  view.setFloat64(o, p.length ? p[0] : NaN, true);
  view.setFloat64(o + 8, p.length ? p[1] : NaN, true);
  if (dims === 3) view.setFloat64(o + 16, p.length > 2 ? p[2] : NaN, true);
  return o + 8 * dims;
}

function writePositions(view: DataView, o: number, ps: Position[], dims: number): number {
  view.setUint32(o, ps.length, true);
  o += 4;
  for (const p of ps) o = writePosition(view, o, p, dims);
  return o;
}

function writeGeometry(view: DataView, o: number, g: Geometry, dims: number): number {
  o = writeHeader(view, o, g.type, dims);
  switch (g.type) {
    case 'Point':
      return writePosition(view, o, g.coordinates, dims);
    case 'LineString':
      return writePositions(view, o, g.coordinates, dims);
    case 'Polygon':
      view.setUint32(o, g.coordinates.length, true);
      o += 4;
      for (const ring of g.coordinates) o = writePositions(view, o, ring, dims);
      return o;
    case 'MultiPoint':
      view.setUint32(o, g.coordinates.length, true);
      o += 4;
      for (const p of g.coordinates) o = writeGeometry(view, o, { type: 'Point', coordinates: p }, dims);
      return o;
    case 'MultiLineString':
      view.setUint32(o, g.coordinates.length, true);
      o += 4;
      for (const line of g.coordinates) o = writeGeometry(view, o, { type: 'LineString', coordinates: line }, dims);
      return o;
    case 'MultiPolygon':
      view.setUint32(o, g.coordinates.length, true);
      o += 4;
      for (const poly of g.coordinates) o = writeGeometry(view, o, { type: 'Polygon', coordinates: poly }, dims);
      return o;
    case 'GeometryCollection':
      view.setUint32(o, g.geometries.length, true);
      o += 4;
      for (const child of g.geometries) o = writeGeometry(view, o, child, dims);
      return o;
  }
}
