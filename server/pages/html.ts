/**
 * Server-rendered HTML of the index and preview pages. The pages load only local files
 * (`/vendor/*`, `/client/tilesmith-client.js`, `/pages/*`), so they work offline.
 */
import type { Bounds, ParamSpecs } from '../types.ts';

/** What a page needs to know about a UDF. */
export interface PageUdf {
  name: string;
  language: string;
  kind: string | null;
  description: string | null;
  params: ParamSpecs;
  minzoom: number;
  maxzoom: number;
  bounds: Bounds | null;
  error: string | null;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON safe inside `<script type="application/json">`: `<` escaped so `</script>` cannot end it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function layout(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/pages/common.css">
${head}
</head>
<body>
${body}
</body>
</html>
`;
}

const EXAMPLE_TITLES: Record<string, string> = {
  'deckgl.html': 'deck.gl',
  'maplibre.html': 'MapLibre GL JS',
  'leaflet.html': 'Leaflet (+ protomaps-leaflet)',
};

/** `GET /`: the UDFs with links to their preview, TileJSON, style and QGIS file, and the example pages. */
export function renderIndexPage(input: { server: string; udfs: PageUdf[]; examples: string[] }): string {
  const rows = input.udfs
    .map((u) => {
      const n = encodeURIComponent(u.name);
      const params = Object.entries(u.params)
        .map(([k, p]) => `<code>${escapeHtml(k)}</code>: ${escapeHtml(p.type)}${p.default !== undefined ? ` = ${escapeHtml(JSON.stringify(p.default))}` : ''}`)
        .join(', ');
      const links = u.error
        ? `<span class="error">failed to load: ${escapeHtml(u.error)}</span>`
        : [
            `<a href="/udf/${n}">preview</a>`,
            `<a href="/udf/${n}/tilejson.json">TileJSON</a>`,
            u.kind === 'json' || u.kind === 'table' ? `<a href="/udf/${n}/file.json">file.json</a>` : `<a href="/udf/${n}/style.json">style.json</a>`,
            u.kind === 'json' || u.kind === 'table' ? '' : `<a href="/udf/${n}/qgis.xml">QGIS</a>`,
          ]
            .filter(Boolean)
            .join(' · ');
      return `<tr data-udf="${escapeHtml(u.name)}"><td><a href="/udf/${n}"><strong>${escapeHtml(u.name)}</strong></a></td><td>${escapeHtml(u.kind ?? '?')}</td><td>${escapeHtml(
        u.language,
      )}</td><td>${escapeHtml(u.description ?? '')}</td><td>${params || '—'}</td><td>${links}</td></tr>`;
    })
    .join('\n');
  const examples = input.examples.length
    ? `<ul>${input.examples.map((f) => `<li><a href="/examples/${encodeURIComponent(f)}">${escapeHtml(EXAMPLE_TITLES[f] ?? f)}</a> <small>(/examples/${escapeHtml(f)})</small></li>`).join('')}</ul>`
    : '<p>No example pages in this install.</p>';
  return layout(
    'tilesmith',
    '',
    `<main class="index">
<h1>tilesmith</h1>
<p>Serving ${input.udfs.length} UDF${input.udfs.length === 1 ? '' : 's'} at <code>${escapeHtml(input.server)}</code>. Catalog: <a href="/udfs">/udfs</a>.</p>
<table class="udfs">
<thead><tr><th>UDF</th><th>kind</th><th>language</th><th>description</th><th>parameters</th><th>links</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="6">No UDFs found in the served folder.</td></tr>'}
</tbody>
</table>
<h2>Example pages</h2>
${examples}
</main>`,
  );
}

/** `GET /udf/:name`: the UDF on a MapLibre map with a parameter form, snippets and a feature popup. */
export function renderPreviewPage(input: { server: string; udf: PageUdf; query: Record<string, string> }): string {
  const { udf } = input;
  const config = { server: input.server, udf, query: input.query };
  const body = udf.error
    ? `<main class="index"><h1>${escapeHtml(udf.name)}</h1><p class="error">This UDF failed to load: ${escapeHtml(udf.error)}</p><p><a href="/">All UDFs</a></p></main>`
    : `<div class="preview">
<aside>
<p class="crumbs"><a href="/">tilesmith</a> / <strong>${escapeHtml(udf.name)}</strong> <span class="badge">${escapeHtml(udf.kind ?? '?')}</span> <span class="badge">${escapeHtml(udf.language)}</span></p>
${udf.description ? `<p class="description">${escapeHtml(udf.description)}</p>` : ''}
<form id="params" autocomplete="off"></form>
<div id="snippets"></div>
</aside>
<div id="map"></div>
<pre id="json-output" hidden></pre>
</div>
<script type="application/json" id="tilesmith-config">${scriptJson(config)}</script>
<script src="/client/tilesmith-client.js"></script>
<script type="module" src="/pages/preview.js"></script>`;
  return layout(`${udf.name} · tilesmith`, '<link rel="stylesheet" href="/vendor/maplibre-gl/maplibre-gl.css">', body);
}
