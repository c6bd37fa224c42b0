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

/** UDFs the index map can show: loaded, with a vector or raster result. */
function isMapable(u: PageUdf): boolean {
  return !u.error && (u.kind === 'vector' || u.kind === 'raster');
}

const INDEX_MAP_CSS = `
#index-map { height: 360px; border: 1px solid #ddd; margin: 8px 0 16px; background: #f4f1ea; }
.udfs tr.mapable { cursor: pointer; }
.udfs tr.mapable:hover { background: #f3f6fc; }
.udfs tr.active, .udfs tr.active:hover { background: #e3ecfd; box-shadow: inset 3px 0 0 #0a5cd6; }
button.show-on-map { font-size: 12px; padding: 0 6px; cursor: pointer; }
tr.active button.show-on-map { font-weight: 600; }
`;

/**
 * The index page's map: one UDF at a time (the first map-able one by default); a row's
 * "show on map" button, or a click on the row, swaps the layer via the `addUdfLayer` handle.
 * No backticks or `${` in here: it sits inside a template literal.
 */
const INDEX_MAP_SCRIPT = `
import * as maplibregl from '/vendor/maplibre-gl/maplibre-gl.mjs';
const cfg = JSON.parse(document.getElementById('tilesmith-index-config').textContent);
const byName = new Map(cfg.udfs.map((u) => [u.name, u]));
const map = new maplibregl.Map({
  container: 'index-map',
  style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f1ea' } }] },
  center: [0, 20],
  zoom: 1,
  attributionControl: false,
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
const state = { current: null, handle: null };
const loaded = new Promise((resolve) => map.on('load', resolve));

function markActive(name) {
  for (const tr of document.querySelectorAll('tr.mapable')) {
    const on = tr.dataset.udf === name;
    tr.classList.toggle('active', on);
    if (on) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
    const button = tr.querySelector('button.show-on-map');
    if (button) button.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  document.getElementById('index-map-current').textContent = name;
}

async function show(name) {
  const udf = byName.get(name);
  if (!udf) return;
  markActive(name);
  await loaded;
  if (state.current === name) return;
  if (state.handle) state.handle.remove();
  state.handle = window.tilesmith.maplibre.addUdfLayer(map, { server: cfg.server, udf: udf.name, kind: udf.kind, minzoom: udf.minzoom, maxzoom: udf.maxzoom, ...(udf.bounds ? { bounds: udf.bounds } : {}) });
  state.current = name;
  const b = udf.bounds;
  if (b) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 20, maxZoom: udf.maxzoom, animate: false });
  else if (map.getZoom() < udf.minzoom) map.jumpTo({ zoom: udf.minzoom });
}

document.querySelector('table.udfs').addEventListener('click', (e) => {
  const button = e.target.closest('button.show-on-map');
  if (button) { show(button.dataset.showUdf); return; }
  if (e.target.closest('a, button, input, select, textarea')) return;
  const tr = e.target.closest('tr.mapable');
  if (tr) show(tr.dataset.udf);
});

// A handle for tests and the console.
window.tilesmithIndex = { map, state, show };
show(cfg.udfs[0].name);
`;

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
      const show = isMapable(u)
        ? ` · <button type="button" class="show-on-map" data-show-udf="${escapeHtml(u.name)}" aria-pressed="false">show on map</button>`
        : '';
      const rowAttrs = isMapable(u) ? ` class="mapable" data-kind="${escapeHtml(u.kind ?? '')}"` : '';
      return `<tr data-udf="${escapeHtml(u.name)}"${rowAttrs}><td><a href="/udf/${n}"><strong>${escapeHtml(u.name)}</strong></a></td><td>${escapeHtml(u.kind ?? '?')}</td><td>${escapeHtml(
        u.language,
      )}</td><td>${escapeHtml(u.description ?? '')}</td><td>${params || '—'}</td><td>${links}${show}</td></tr>`;
    })
    .join('\n');
  const examples = input.examples.length
    ? `<ul>${input.examples.map((f) => `<li><a href="/examples/${encodeURIComponent(f)}">${escapeHtml(EXAMPLE_TITLES[f] ?? f)}</a> <small>(/examples/${escapeHtml(f)})</small></li>`).join('')}</ul>`
    : '<p>No example pages in this install.</p>';
  const mapable = input.udfs.filter(isMapable).map((u) => ({ name: u.name, kind: u.kind, minzoom: u.minzoom, maxzoom: u.maxzoom, bounds: u.bounds }));
  const map = mapable.length
    ? `<section class="index-map-section">
<p id="index-map-caption" class="muted">On the map: <strong id="index-map-current">${escapeHtml(mapable[0].name)}</strong> — use “show on map” in the table to switch.</p>
<div id="index-map" role="region" aria-label="Map of the selected UDF"></div>
</section>
<script type="application/json" id="tilesmith-index-config">${scriptJson({ server: input.server, udfs: mapable })}</script>
<script src="/client/tilesmith-client.js"></script>
<script type="module">${INDEX_MAP_SCRIPT}</script>`
    : '';
  return layout(
    'tilesmith',
    mapable.length ? `<link rel="stylesheet" href="/vendor/maplibre-gl/maplibre-gl.css">\n<style>${INDEX_MAP_CSS}</style>` : '',
    `<main class="index">
<h1>tilesmith</h1>
<p>Serving ${input.udfs.length} UDF${input.udfs.length === 1 ? '' : 's'} at <code>${escapeHtml(input.server)}</code>. Catalog: <a href="/udfs">/udfs</a>. API description: <a href="/openapi.json">OpenAPI</a>. OGC API – Tiles: <a href="/ogc">/ogc</a>; WMTS: <a href="/wmts/1.0.0/WMTSCapabilities.xml">capabilities</a>.</p>
${map}
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
<section id="job" class="job">
<button type="button" id="job-start">Run as a job</button> <small class="muted">(file result, current map area; see <a href="/runs?udf=${encodeURIComponent(udf.name)}">runs</a>)</small>
<div id="job-running" hidden><progress id="job-progress" max="1"></progress> <span id="job-state"></span> <span id="job-status"></span> <button type="button" id="job-cancel">cancel</button></div>
<p id="job-done" hidden><a id="job-result" href="#">download the result</a></p>
</section>
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
