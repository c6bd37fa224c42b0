import type { Encoder, NormalizedResult } from '../types.ts';
import { toJsonText } from './json.ts';
import { tabulate } from './tabular.ts';
import { geometryToWkt } from './wkt.ts';

const utf8 = new TextEncoder();
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML elements and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function page(title: string, body: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n${body}\n</body></html>\n`;
}

/** A vector or table result as a `<table class="dataframe">`, the markup pandas' `to_html` writes. */
function tableHtml(result: NormalizedResult): string {
  const { columns, geometries, rowCount } = tabulate(result);
  const head = [...columns.map((c) => c.name), ...(geometries ? ['geometry'] : [])];
  const out = ['<table border="1" class="dataframe">', '<thead><tr>', ...head.map((h) => `<th>${escapeHtml(h)}</th>`), '</tr></thead>', '<tbody>'];
  for (let r = 0; r < rowCount; r++) {
    out.push('<tr>');
    for (const c of columns) {
      const v = c.values[r];
      out.push(`<td>${v === null ? '' : escapeHtml(String(v))}</td>`);
    }
    if (geometries) {
      const g = geometries[r];
      out.push(`<td>${g ? escapeHtml(geometryToWkt(g)) : ''}</td>`);
    }
    out.push('</tr>');
  }
  out.push('</tbody>', '</table>');
  return out.join('');
}

/**
 * `text/html`: an HTML result (a document string, `html()`, a Python `HTMLResponse`) as it is;
 * a string JSON result as it is (Fused serves a returned string as the page); vector and table
 * results as an HTML table (geometry as WKT); other JSON values as an escaped `<pre>` block.
 */
export const htmlEncoder: Encoder = {
  name: 'html',
  aliases: ['htm'],
  extension: 'html',
  mediaType: 'text/html; charset=utf-8',
  accepts: ['html', 'vector', 'table', 'json', 'empty'],
  encode(result, ctx) {
    switch (result.kind) {
      case 'html':
        return utf8.encode(result.html);
      case 'json':
        if (typeof result.value === 'string') return utf8.encode(result.value);
        return utf8.encode(page(ctx.udfName, `<pre>${escapeHtml(toJsonText(result.value))}</pre>`));
      case 'vector':
      case 'table':
      case 'empty':
        return utf8.encode(page(ctx.udfName, tableHtml(result)));
      default:
        throw new Error(`html encoder cannot encode a ${result.kind} result`);
    }
  },
};
