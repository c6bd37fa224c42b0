import type { Point } from 'geojson';
import type { Encoder, Geometry } from '../types.ts';
import { tabulate } from './tabular.ts';
import { geometryToWkt } from './wkt.ts';

const utf8 = new TextEncoder();
const NEEDS_QUOTES = /[",\r\n]/;
const LON_LAT = new Set(['longitude', 'latitude']);

/** True when every non-null geometry is a Point and there is at least one. */
function pointsOnly(geometries: (Geometry | null)[]): boolean {
  let points = 0;
  for (const g of geometries) {
    if (g === null) continue;
    if (g.type !== 'Point') return false;
    points++;
  }
  return points > 0;
}

/** A coordinate in plain decimal notation: `1e-7` becomes `0.0000001` (to 1e-12 degrees). */
function decimal(v: number): string {
  const s = String(v);
  if (!s.includes('e')) return s;
  return v.toFixed(12).replace(/\.?0+$/, '');
}

/** RFC 4180: fields holding a comma, a quote, CR or LF are quoted, with quotes doubled. */
function field(s: string | null): string {
  if (s === null) return '';
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * `text/csv`: RFC 4180 with CRLF line ends and a header row. Vector results get one column per
 * property key plus a last `geometry` column in WKT (GDAL and QGIS pick that up); tables keep
 * their columns. An empty result is a header-only file (`geometry`).
 *
 * When a vector result holds points only (every non-null geometry is a `Point`, and there is at
 * least one), `longitude` and `latitude` columns come before `geometry`: Felt imports CSV by
 * lat/lon columns, not WKT. They are left out when a column already uses either name (compared
 * case-insensitively, so a `Latitude` property is not shadowed by a second latitude column).
 */
export const csvEncoder: Encoder = {
  name: 'csv',
  aliases: [],
  extension: 'csv',
  mediaType: 'text/csv; charset=utf-8',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    const { columns, geometries, rowCount } = tabulate(result);
    const lonLat = geometries !== null && pointsOnly(geometries) && !columns.some((c) => LON_LAT.has(c.name.toLowerCase()));
    const header = columns.map((c) => field(c.name));
    if (lonLat) header.push('longitude', 'latitude');
    if (geometries) header.push('geometry');
    const lines = new Array<string>(rowCount + 1);
    lines[0] = header.join(',');
    for (let r = 0; r < rowCount; r++) {
      const cells = columns.map((c) => {
        const v = c.values[r];
        return field(v === null ? null : String(v));
      });
      if (geometries) {
        const g = geometries[r];
        if (lonLat) {
          const p = (g as Point | null)?.coordinates;
          if (p && p.length >= 2) cells.push(decimal(p[0]), decimal(p[1]));
          else cells.push('', ''); // no geometry, or POINT EMPTY
        }
        cells.push(g ? field(geometryToWkt(g)) : '');
      }
      lines[r + 1] = cells.join(',');
    }
    return utf8.encode(lines.join('\r\n') + '\r\n');
  },
};
