/**
 * Independent decoders used by the encoder tests (not by the server): a WKB reader and an
 * RFC 4180 CSV parser, written from the specs rather than from the encoders' code.
 */
import type { Geometry } from 'geojson';

const NAMES = ['', 'Point', 'LineString', 'Polygon', 'MultiPoint', 'MultiLineString', 'MultiPolygon', 'GeometryCollection'] as const;

/** Parses ISO WKB (either byte order, 2D or Z) into GeoJSON. */
export function readWkb(bytes: Uint8Array): Geometry {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const read = (): Geometry => {
    const le = view.getUint8(o) === 1;
    const code = view.getUint32(o + 1, le);
    o += 5;
    const dims = code >= 1000 && code < 2000 ? 3 : 2;
    const type = NAMES[code % 1000];
    const u32 = () => {
      const v = view.getUint32(o, le);
      o += 4;
      return v;
    };
    const pos = () => {
      const p: number[] = [];
      for (let d = 0; d < dims; d++, o += 8) p.push(view.getFloat64(o, le));
      return p;
    };
    const posList = () => Array.from({ length: u32() }, pos);
    switch (type) {
      case 'Point': {
        const p = pos();
        return { type, coordinates: Number.isNaN(p[0]) ? [] : p };
      }
      case 'LineString':
        return { type, coordinates: posList() };
      case 'Polygon':
        return { type, coordinates: Array.from({ length: u32() }, posList) };
      case 'MultiPoint':
      case 'MultiLineString':
      case 'MultiPolygon': {
        const parts = Array.from({ length: u32() }, () => (read() as { coordinates: any }).coordinates);
        return { type, coordinates: parts } as Geometry;
      }
      case 'GeometryCollection':
        return { type, geometries: Array.from({ length: u32() }, read) };
      default:
        throw new Error(`unknown WKB type ${code}`);
    }
  };
  const g = read();
  if (o !== bytes.length) throw new Error(`WKB has ${bytes.length - o} trailing bytes`);
  return g;
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF) into rows of fields. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Hex (upper case) of bytes, for comparing against known WKB. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

const square = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]];
const hole = [[2, 2], [2, 4], [4, 4], [4, 2], [2, 2]];
/** One geometry of each type (plus empties and Z) with its expected WKT. */
export const ALL_GEOMETRIES: [Geometry, string][] = [
  [{ type: 'Point', coordinates: [1, 2] }, 'POINT (1 2)'],
  [{ type: 'Point', coordinates: [1, 2, 3] }, 'POINT Z (1 2 3)'],
  [{ type: 'LineString', coordinates: [[0, 0], [1.5, -2.25]] }, 'LINESTRING (0 0, 1.5 -2.25)'],
  [{ type: 'LineString', coordinates: [] }, 'LINESTRING EMPTY'],
  [{ type: 'Polygon', coordinates: [square, hole] }, 'POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2))'],
  [{ type: 'MultiPoint', coordinates: [[1, 2], [3, 4]] }, 'MULTIPOINT ((1 2), (3 4))'],
  [{ type: 'MultiLineString', coordinates: [[[0, 0], [1, 1]], [[2, 2], [3, 3]]] }, 'MULTILINESTRING ((0 0, 1 1), (2 2, 3 3))'],
  [
    { type: 'MultiPolygon', coordinates: [[square, hole], [[[20, 20], [21, 20], [21, 21], [20, 20]]]] },
    'MULTIPOLYGON (((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2)), ((20 20, 21 20, 21 21, 20 20)))',
  ],
  [
    { type: 'GeometryCollection', geometries: [{ type: 'Point', coordinates: [1, 2] }, { type: 'LineString', coordinates: [[0, 0], [1, 1]] }] },
    'GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))',
  ],
  [{ type: 'GeometryCollection', geometries: [] }, 'GEOMETRYCOLLECTION EMPTY'],
  [{ type: 'MultiLineString', coordinates: [[[0, 0, 1], [1, 1, 2]]] }, 'MULTILINESTRING Z ((0 0 1, 1 1 2))'],
];
