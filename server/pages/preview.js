// Preview page of one UDF: a MapLibre map loaded from the UDF's own style.json, a form built
// from the UDF's declared parameters (changing a value re-points the tile source), copyable
// URLs and snippets for every client, and a popup with the properties of a clicked feature.
// Plain ES module on purpose: it is served as is, with no build step.
import * as maplibregl from '/vendor/maplibre-gl/maplibre-gl.mjs';

const ts = window.tilesmith;
const cfg = JSON.parse(document.getElementById('tilesmith-config').textContent);
const { server, udf } = cfg;
const kind = udf.kind || 'vector';
const isMap = kind === 'vector' || kind === 'raster';
const sourceId = `tilesmith-${udf.name}`;
const vectorLayerIds = [`${udf.name}-fill`, `${udf.name}-line`, `${udf.name}-circle`];
const COLORMAPS = ['', 'viridis', 'magma', 'inferno', 'plasma', 'greys'];

// Request parameters that the page shows but the UDF does not declare (colormap, rescale,
// token, …) are kept and carried into every URL, so a shared preview link keeps them.
const declared = new Set(Object.keys(udf.params));
const extras = {};
for (const [k, v] of Object.entries(cfg.query)) if (!declared.has(k) && k !== 'format') extras[k] = v;

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** The form's current values as strings (what the server parses), empty fields left out. */
function currentParams() {
  const out = {};
  for (const [name, spec] of Object.entries(udf.params)) {
    const el = document.querySelector(`[data-param="${CSS.escape(name)}"]`);
    if (!el) continue;
    if (spec.type === 'bool') out[name] = el.checked ? 'true' : 'false';
    else if (el.value !== '') out[name] = el.value;
  }
  const cm = document.querySelector('[data-extra="colormap"]');
  if (cm) {
    if (cm.value) extras.colormap = cm.value;
    else delete extras.colormap;
  }
  return { ...out, ...extras };
}

/** Typed values for code snippets (numbers as numbers, lists and objects parsed). */
function typedParams(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    const type = udf.params[k]?.type;
    if (type === 'int' || type === 'float') out[k] = Number(v);
    else if (type === 'bool') out[k] = v === 'true';
    else if (type === 'dict' || type === 'json' || type === 'geojson') {
      try { out[k] = JSON.parse(v); } catch { out[k] = v; }
    } else out[k] = v;
  }
  return out;
}

function buildForm() {
  const form = document.getElementById('params');
  const rows = [];
  for (const [name, spec] of Object.entries(udf.params)) {
    const initial = cfg.query[name] ?? (spec.default === undefined || spec.default === null ? '' : ts.encodeParamValue(spec.default));
    const label = `<span>${escapeHtml(name)} <small>${escapeHtml(spec.type)}${spec.required ? ', required' : ''}</small></span>`;
    const help = spec.description ? `<small class="help">${escapeHtml(spec.description)}</small>` : '';
    let input;
    if (spec.type === 'bool') input = `<input type="checkbox" data-param="${escapeHtml(name)}" ${initial === 'true' || initial === true ? 'checked' : ''}>`;
    else if (spec.type === 'int' || spec.type === 'float')
      input = `<input type="number" step="${spec.type === 'int' ? 1 : 'any'}" data-param="${escapeHtml(name)}" value="${escapeHtml(initial)}">`;
    else input = `<input type="text" data-param="${escapeHtml(name)}" value="${escapeHtml(initial)}" placeholder="${spec.type === 'list' ? 'a,b,c' : spec.type === 'bounds' ? 'w,s,e,n' : ''}">`;
    rows.push(`<label class="param">${label}${input}${help}</label>`);
  }
  if (kind === 'raster') {
    const current = cfg.query.colormap ?? '';
    rows.push(
      `<label class="param"><span>colormap <small>server option</small></span><select data-extra="colormap">${COLORMAPS.map(
        (c) => `<option value="${c}" ${c === current ? 'selected' : ''}>${c || '(UDF default)'}</option>`,
      ).join('')}</select></label>`,
    );
  }
  form.innerHTML = rows.length ? `<h3>Parameters</h3>${rows.join('')}` : '<p class="muted">This UDF takes no parameters.</p>';
  form.addEventListener('change', () => update());
  form.addEventListener('submit', (e) => { e.preventDefault(); update(); });
}

function snippetBlock(title, text, id) {
  return `<section class="snippet"><h4>${escapeHtml(title)} <button type="button" class="copy" data-copy="${id}">copy</button></h4><pre id="${id}">${escapeHtml(text)}</pre></section>`;
}

function renderSnippets(params) {
  const p = typedParams(params);
  const pJson = JSON.stringify(p);
  const base = { server, udf: udf.name, params };
  const blocks = [];
  const tiles = kind === 'raster' ? ts.tileUrl({ ...base, format: 'png' }) : ts.tileUrl({ ...base, format: kind === 'vector' ? 'mvt' : 'json' });
  blocks.push(snippetBlock('Tile URL', tiles, 'snip-tiles'));
  blocks.push(snippetBlock('TileJSON', ts.tilejsonUrl(base), 'snip-tilejson'));
  if (isMap) {
    blocks.push(
      snippetBlock(
        'deck.gl',
        `import { Deck } from '@deck.gl/core';\nimport { udfLayer } from 'tilesmith/client/deckgl';\n\nnew Deck({\n  initialViewState: { longitude: 0, latitude: 20, zoom: 2 },\n  controller: true,\n  layers: [udfLayer({ server: '${server}', udf: '${udf.name}', kind: '${kind}', params: ${pJson} })],\n});`,
        'snip-deck',
      ),
    );
    blocks.push(
      snippetBlock(
        'MapLibre GL JS',
        `import * as maplibregl from 'maplibre-gl';\nimport { addUdfLayer } from 'tilesmith/client/maplibre';\n\nconst map = new maplibregl.Map({ container: 'map', style: { version: 8, sources: {}, layers: [] }, center: [0, 20], zoom: 1 });\nmap.on('load', () => addUdfLayer(map, { server: '${server}', udf: '${udf.name}', kind: '${kind}', params: ${pJson} }));\n// or the whole style: new maplibregl.Map({ container: 'map', style: '${ts.styleUrl(base)}' })`,
        'snip-maplibre',
      ),
    );
    blocks.push(
      snippetBlock(
        'Leaflet',
        kind === 'raster'
          ? `import L from 'leaflet';\nimport { udfTileLayer } from 'tilesmith/client/leaflet';\n\nconst map = L.map('map').setView([20, 0], 2);\nudfTileLayer(L, { server: '${server}', udf: '${udf.name}', params: ${pJson} }).addTo(map);`
          : `import L from 'leaflet';\nimport * as protomapsL from 'protomaps-leaflet';\nimport { udfVectorLayer } from 'tilesmith/client/leaflet';\n\nconst map = L.map('map').setView([20, 0], 2);\nudfVectorLayer(protomapsL, { server: '${server}', udf: '${udf.name}', params: ${pJson} }).addTo(map);`,
        'snip-leaflet',
      ),
    );
    const qgisUri = kind === 'raster' ? ts.qgis.qgisRasterUri(base) : ts.qgis.qgisVectorTileUri(base);
    blocks.push(snippetBlock(kind === 'raster' ? 'QGIS data source (XYZ raster, provider wms)' : 'QGIS data source (vector tiles)', qgisUri, 'snip-qgis'));
    blocks.push(
      snippetBlock(
        'PyQGIS',
        kind === 'raster'
          ? `layer = QgsRasterLayer(${JSON.stringify(qgisUri)}, ${JSON.stringify(udf.name)}, 'wms')\nQgsProject.instance().addMapLayer(layer)`
          : `layer = QgsVectorTileLayer(${JSON.stringify(qgisUri)}, ${JSON.stringify(udf.name)})\nlayer.loadDefaultStyle()\nQgsProject.instance().addMapLayer(layer)`,
        'snip-pyqgis',
      ),
    );
    const xmlHref = `/udf/${encodeURIComponent(udf.name)}/qgis.xml${ts.encodeParams(params) ? `?${ts.encodeParams(params)}` : ''}`;
    blocks.push(`<p class="links"><a id="qgis-xml" href="${escapeHtml(xmlHref)}" download>QGIS connection file (${escapeHtml(udf.name)}.xml)</a> — Browser → ${kind === 'raster' ? 'XYZ Tiles' : 'Vector Tiles'} → Load Connections…</p>`);
  }
  const felt = ts.felt.feltUrls({ ...base, kind });
  blocks.push(snippetBlock('Felt (Upload from URL)', Object.values(felt).join('\n'), 'snip-felt'));
  document.getElementById('snippets').innerHTML = `<h3>Use it</h3>${blocks.join('')}`;
}

document.addEventListener('click', async (e) => {
  const btn = e.target.closest('button.copy');
  if (!btn) return;
  const text = document.getElementById(btn.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API needs a secure context; fall back to selecting the text for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents(document.getElementById(btn.dataset.copy));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
  btn.textContent = 'copied';
  setTimeout(() => (btn.textContent = 'copy'), 1200);
});

let map;
const state = { params: {}, tiles: null, updates: 0 };

function update() {
  const params = currentParams();
  state.params = params;
  state.updates += 1;
  renderSnippets(params);
  const q = ts.encodeParams(params);
  history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}`);
  if (isMap && map) {
    state.tiles = kind === 'raster' ? ts.tileUrl({ server, udf: udf.name, format: 'png', params }) : ts.tileUrl({ server, udf: udf.name, format: 'mvt', params });
    map.getSource(sourceId)?.setTiles([state.tiles]);
  } else if (!isMap) {
    loadJson();
  }
}

async function loadJson() {
  const out = document.getElementById('json-output');
  out.hidden = false;
  const b = map.getBounds();
  const url = ts.fileUrl({ server, udf: udf.name, format: 'json', params: state.params, bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => Math.round(v * 1e5) / 1e5) });
  const res = await fetch(url);
  out.textContent = `GET ${url}\n\n${res.status === 204 ? '(empty)' : JSON.stringify(await res.json(), null, 2)}`;
}

function propertiesTable(props) {
  const rows = Object.entries(props)
    .filter(([k]) => k !== 'layerName')
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`);
  return `<table class="props">${rows.join('') || '<tr><td>(no properties)</td></tr>'}</table>`;
}

buildForm();
state.params = currentParams();
renderSnippets(state.params);

const styleQuery = ts.encodeParams(state.params);
const b = udf.bounds;
map = new maplibregl.Map({
  container: 'map',
  style: isMap
    ? `${server}/udf/${encodeURIComponent(udf.name)}/style.json${styleQuery ? `?${styleQuery}` : ''}`
    : { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f1ea' } }] },
  ...(b ? { bounds: [[b[0], b[1]], [b[2], b[3]]], fitBoundsOptions: { padding: 20 } } : { center: [0, 20], zoom: 1 }),
  attributionControl: false,
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
if (kind === 'vector') {
  map.on('click', (e) => {
    const layers = vectorLayerIds.filter((id) => map.getLayer(id));
    const features = map.queryRenderedFeatures(e.point, { layers });
    if (!features.length) return;
    new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(e.lngLat).setHTML(propertiesTable(features[0].properties)).addTo(map);
  });
  for (const id of vectorLayerIds) {
    map.on('mouseenter', id, () => (map.getCanvas().style.cursor = 'pointer'));
    map.on('mouseleave', id, () => (map.getCanvas().style.cursor = ''));
  }
}
if (!isMap) map.on('moveend', loadJson);
map.on('load', () => {
  if (!isMap) loadJson();
});

// Run as a job: POST /udf/{name}/jobs, then a progress bar fed by the run's Server-Sent Events
// (its status() / progress() reports) until it ends, and a link to the result.
let jobEvents = null;
function startJob() {
  const el = (id) => document.getElementById(id);
  const params = { ...currentParams() };
  const bounds = map.getBounds();
  params.bounds = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(6)).join(',');
  jobEvents?.close();
  el('job-done').hidden = true;
  el('job-running').hidden = false;
  el('job-progress').removeAttribute('value'); // indeterminate until the UDF reports progress
  el('job-state').textContent = 'starting';
  el('job-status').textContent = '';
  fetch(`${server}/udf/${encodeURIComponent(udf.name)}/jobs?${ts.encodeParams(params)}`, { method: 'POST' })
    .then(async (res) => {
      const body = await res.json();
      if (res.status !== 202) throw new Error(body.message || `HTTP ${res.status}`);
      el('job-cancel').onclick = () => fetch(`${server}/runs/${body.runId}`, { method: 'DELETE' });
      jobEvents = new EventSource(`${server}${body.events}`);
      jobEvents.addEventListener('run', (ev) => {
        const run = JSON.parse(ev.data);
        if (typeof run.progress === 'number') el('job-progress').value = run.progress;
        el('job-state').textContent = run.state.replace('_', ' ');
        el('job-status').textContent = run.error ? `${run.status ? `${run.status} — ` : ''}${run.error.message}` : run.status || '';
        if (['done', 'failed', 'cancelled', 'timed_out'].includes(run.state)) {
          jobEvents.close();
          el('job-cancel').hidden = true;
          if (run.state === 'done') {
            el('job-result').href = `${server}${body.result}`;
            el('job-done').hidden = false;
          }
        } else el('job-cancel').hidden = false;
      });
    })
    .catch((err) => {
      el('job-state').textContent = 'failed';
      el('job-status').textContent = err.message;
    });
}
document.getElementById('job-start')?.addEventListener('click', startJob);

// A handle for tests and the console.
window.tilesmithPreview = { map, state, update, currentParams, startJob };
