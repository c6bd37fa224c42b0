import type { Encoder } from '../types.ts';
import { escapeHtml } from './html.ts';
import { tabulate } from './tabular.ts';
import { geometryToWkt } from './wkt.ts';

const utf8 = new TextEncoder();
// XML 1.0 forbids most C0 control characters even when escaped.
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** A column name as an XML element name: invalid characters become `_`, and a name that
 * cannot start an element (a digit, `-`, `.`, or `xml…`) gets a `_` prefix. */
export function xmlName(name: string): string {
  let n = name.replace(/[^A-Za-z0-9_.\-\u00C0-\uFFEF]/g, '_');
  if (n === '' || /^[0-9.\-]/.test(n) || /^xml/i.test(n)) n = `_${n}`;
  return n;
}

function text(s: string): string {
  return escapeHtml(s.replace(XML_INVALID, ''));
}

/**
 * `application/xml`: the layout pandas' `DataFrame.to_xml()` writes (what Fused serves for
 * `xml`): `<data>` holding one `<row>` per feature or row, with an `<index>` and one element
 * per column (names made XML-safe, a null cell is an empty element), and for vector results a
 * last `<geometry>` element in WKT.
 */
export const xmlEncoder: Encoder = {
  name: 'xml',
  aliases: [],
  extension: 'xml',
  mediaType: 'application/xml',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    const { columns, geometries, rowCount } = tabulate(result);
    const names = columns.map((c) => xmlName(c.name));
    const out = ["<?xml version='1.0' encoding='utf-8'?>", '<data>'];
    for (let r = 0; r < rowCount; r++) {
      const cells = [`<index>${r}</index>`];
      for (let i = 0; i < columns.length; i++) {
        const v = columns[i].values[r];
        cells.push(v === null ? `<${names[i]}/>` : `<${names[i]}>${text(String(v))}</${names[i]}>`);
      }
      if (geometries) {
        const g = geometries[r];
        cells.push(g ? `<geometry>${geometryToWkt(g)}</geometry>` : '<geometry/>');
      }
      out.push(`  <row>${cells.join('')}</row>`);
    }
    out.push('</data>', '');
    return utf8.encode(out.join('\n'));
  },
};
