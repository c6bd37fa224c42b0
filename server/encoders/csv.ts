import type { Encoder } from '../types.ts';
import { tabulate } from './tabular.ts';
import { geometryToWkt } from './wkt.ts';

const utf8 = new TextEncoder();
const NEEDS_QUOTES = /[",\r\n]/;

/** RFC 4180: fields holding a comma, a quote, CR or LF are quoted, with quotes doubled. */
function field(s: string | null): string {
  if (s === null) return '';
  return NEEDS_QUOTES.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * `text/csv`: RFC 4180 with CRLF line ends and a header row. Vector results get one column per
 * property key plus a last `geometry` column in WKT (GDAL and QGIS pick that up); tables keep
 * their columns. An empty result is a header-only file (`geometry`).
 */
export const csvEncoder: Encoder = {
  name: 'csv',
  aliases: [],
  extension: 'csv',
  mediaType: 'text/csv; charset=utf-8',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    const { columns, geometries, rowCount } = tabulate(result);
    const header = columns.map((c) => field(c.name));
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
        cells.push(g ? field(geometryToWkt(g)) : '');
      }
      lines[r + 1] = cells.join(',');
    }
    return utf8.encode(lines.join('\r\n') + '\r\n');
  },
};
