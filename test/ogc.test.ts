/**
 * The standards endpoints against independent readers:
 * - `/openapi.json` validated as OpenAPI 3.1 by @seriousme/openapi-schema-validator (the
 *   official JSON Schema of the spec), with every UDF's parameters in it;
 * - OGC API – Tiles read by GDAL's OGCAPI driver (Debian gdal-bin): the landing page lists
 *   the collections, and a raster tile set is read into real pixels (Debian 12's GDAL 3.6.2
 *   compiles the driver's vector-tiles branch only under OGR_ENABLE_DRIVER_GML, which its build
 *   leaves undefined there, so vector tile sets are checked with @mapbox/vector-tile instead);
 * - WMTS GetCapabilities opened by QGIS 3.22's WMTS provider (offscreen) and rendered.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { VectorTile } from '@mapbox/vector-tile';
import { Validator } from '@seriousme/openapi-schema-validator';
import { PbfReader } from 'pbf';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { cannotRun } from './helpers/skip.ts';

const run = promisify(execFile);
const HERE = import.meta.dirname;
// GDAL caches OGC API / WMTS tiles in ./gdalwmscache unless told otherwise: keep it out of the checkout.
const GDAL_CACHE = process.env.GDAL_DEFAULT_WMS_CACHE_PATH ? undefined : mkdtempSync(join(tmpdir(), 'tilesmith-gdalwms-'));
if (GDAL_CACHE) process.env.GDAL_DEFAULT_WMS_CACHE_PATH = GDAL_CACHE;
afterAll(() => {
  if (GDAL_CACHE) rmSync(GDAL_CACHE, { recursive: true, force: true });
});
const haveGdal = spawnSync('gdalinfo', ['--version']).status === 0;
if (!haveGdal) cannotRun('the GDAL OGC API tests', 'gdalinfo is missing (apt-get install gdal-bin; scripts/setup-system.mjs installs it)');
const haveQgis = existsSync('/usr/lib/python3/dist-packages/qgis/core/__init__.py') || existsSync('/usr/share/qgis/python/qgis/core/__init__.py');
if (!haveQgis) cannotRun('the QGIS WMTS test', 'python3-qgis is not installed (scripts/setup-system.mjs installs it)');

/** EPSG:3857 world extent: GDAL before 3.7 reads a collection's bbox in the tile matrix set's CRS. */
const WORLD_3857 = ['MINX=-20037508.342789244', 'MINY=-20037508.342789244', 'MAXX=20037508.342789244', 'MAXY=20037508.342789244'];

const RGB_UDF = `import { defineUdf, raster } from 'tilesmith';
/** Solid colour raster whose red channel is a parameter, so baked-in parameters are visible. */
export default defineUdf({
  kind: 'raster',
  maxzoom: 6,
  description: 'A solid colour',
  params: { red: { type: 'int', default: 200, description: 'red channel 0-255' } },
  run: ({ tileSize, params }) => {
    const data = new Uint8Array(tileSize * tileSize * 3);
    for (let i = 0; i < data.length; i += 3) { data[i] = params.red; data[i + 1] = 40; data[i + 2] = 90; }
    return raster({ width: tileSize, height: tileSize, data, bands: 3 });
  },
});
`;

const DOTS_UDF = `import { defineUdf } from 'tilesmith';
export default defineUdf({
  kind: 'vector',
  minzoom: 1,
  maxzoom: 10,
  params: { n: { type: 'int', default: 3, description: 'points per tile' }, label: { type: 'str', default: 'dot' } },
  run: ({ bounds, params }) => {
    const [w, s, e, n] = bounds!;
    return { type: 'FeatureCollection', features: Array.from({ length: params.n }, (_, i) => ({ type: 'Feature', properties: { i, label: params.label }, geometry: { type: 'Point', coordinates: [w + ((e - w) * (i + 0.5)) / params.n, (s + n) / 2] } })) };
  },
});
`;

let server: RunningServer;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tilesmith-ogc-'));
  const udfs = join(work, 'udfs');
  spawnSync('mkdir', ['-p', udfs]);
  writeFileSync(join(udfs, 'solid.ts'), RGB_UDF);
  writeFileSync(join(udfs, 'dots.ts'), DOTS_UDF);
  writeFileSync(join(udfs, 'stats.ts'), `import { defineUdf } from 'tilesmith';\nexport default defineUdf({ kind: 'json', run: () => ({ ok: true }) });\n`);
  server = await startServer({ dir: udfs, port: 0, host: '127.0.0.1', cacheDir: join(work, 'cache'), maxZoom: 20, log: () => {} });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const getJson = async (path: string) => {
  const res = await fetch(`${server.url}${path}`);
  expect(res.status, `${path}: ${res.status}`).toBe(200);
  return (await res.json()) as any;
};

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document (independent validator) with every UDF and its parameters', async () => {
    const doc = await getJson('/openapi.json');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    const tile = doc.paths['/udf/dots/tiles/{z}/{x}/{y}'].get;
    const byName = Object.fromEntries(tile.parameters.map((p: any) => [p.name, p]));
    expect(byName.n).toMatchObject({ in: 'query', schema: { type: 'integer', default: 3, description: 'points per tile' } });
    expect(byName.label.schema).toMatchObject({ type: 'string', default: 'dot' });
    expect(byName.z.schema).toMatchObject({ minimum: 1, maximum: 10 });
    expect(Object.keys(tile.responses).sort()).toEqual(['200', '204', '304', '400', '404', '406', '414', '500', '503', '504']);
    expect(Object.keys(tile.responses['200'].headers).sort()).toEqual(['Cache-Control', 'ETag', 'Server-Timing', 'X-Cache', 'X-Request-Id']);
    expect(doc.paths['/udf/solid/file.{ext}'].get.parameters.find((p: any) => p.name === 'red').schema).toMatchObject({ type: 'integer', default: 200 });
    for (const path of ['/udfs', '/healthz', '/ogc', '/ogc/collections/{collectionId}/tiles/{tileMatrixSetId}', '/wmts/1.0.0/WMTSCapabilities.xml', '/udf/stats/tilejson.json']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.components.responses.Error503.headers['Retry-After']).toBeDefined();
  });

  it('is linked from the index page', async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    expect(html).toMatch(/href="\/openapi\.json"/);
    expect(html).toMatch(/href="\/ogc"/);
  });
});

describe('OGC API – Tiles', () => {
  it('has a landing page, conformance, and collections for the map UDFs only', async () => {
    const landing = await getJson('/ogc');
    expect(landing.links.map((l: any) => l.rel)).toEqual(expect.arrayContaining(['self', 'service-desc', 'conformance', 'data']));
    const conformance = await getJson('/ogc/conformance');
    expect(conformance.conformsTo).toContain('http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core');
    const { collections } = await getJson('/ogc/collections');
    expect(collections.map((c: any) => [c.id, c.dataType]).sort()).toEqual([
      ['dots', 'vector'],
      ['solid', 'map'],
    ]);
    expect((await fetch(`${server.url}/ogc/collections/stats`)).status).toBe(406);
    expect((await fetch(`${server.url}/ogc/collections/nope`)).status).toBe(404);
  });

  it('tileset metadata agrees with the zoom range, and its tile URL template serves the XYZ tile', async () => {
    const ts = await getJson('/ogc/collections/dots/tiles/WebMercatorQuad?n=5');
    expect(ts.tileMatrixSetURI).toBe('http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad');
    expect(ts.tileMatrixSetLimits.map((l: any) => l.tileMatrix)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    const item = ts.links.find((l: any) => l.rel === 'item' && l.type === 'application/vnd.mapbox-vector-tile');
    expect(item.href).toContain('{tileMatrix}/{tileRow}/{tileCol}');
    // tileMatrix/tileRow/tileCol = z/y/x; the UDF parameter n=5 was carried into the template.
    const url = item.href.replace('{tileMatrix}', '3').replace('{tileRow}', '2').replace('{tileCol}', '5');
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const tile = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())));
    expect(tile.layers.dots.length).toBe(5);
    const same = await fetch(`${server.url}/udf/dots/tiles/3/5/2.mvt?n=5`);
    expect(same.headers.get('etag')).toBe(res.headers.get('etag'));
    // Outside the zoom range: the XYZ route's 404.
    expect((await fetch(url.replace('/3/2/5', '/0/0/0'))).status).toBe(404);
    const tms = await getJson('/ogc/tileMatrixSets/WebMercatorQuad');
    expect(tms.tileMatrices[3]).toMatchObject({ id: '3', matrixWidth: 8, tileWidth: 256 });
  });

  it.skipIf(!haveGdal)("GDAL's OGCAPI driver lists the collections and reads a raster tile set into pixels", async () => {
    const { stdout: info } = await run('gdalinfo', [`OGCAPI:${server.url}/ogc`], { timeout: 60_000 });
    expect(info).toContain(`SUBDATASET_1_NAME=OGCAPI:${server.url}/ogc/collections/`);
    expect(info).toMatch(/Collection solid/);
    const png = join(work, 'solid.png');
    await run('gdal_translate', [...WORLD_3857.flatMap((o) => ['-oo', o]), '-oo', 'TILEMATRIX=2', '-of', 'PNG', `OGCAPI:${server.url}/ogc/collections/solid?red=77`, png], { timeout: 120_000 });
    const { data, info: meta } = await sharp(readFileSync(png)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
    // Every pixel is the UDF's colour, with the parameter from the collection URL.
    const centre = (512 * 1024 + 512) * 3;
    expect([data[0], data[1], data[2], data[centre], data[centre + 1], data[centre + 2]]).toEqual([77, 40, 90, 77, 40, 90]);
  }, 180_000);
});

describe('WMTS', () => {
  it('GetCapabilities lists the raster UDFs with parameters baked into the tile template', async () => {
    const res = await fetch(`${server.url}/wmts/1.0.0/WMTSCapabilities.xml?red=10`);
    expect(res.headers.get('content-type')).toMatch(/xml/);
    const xml = await res.text();
    expect(xml).toContain('<ows:Identifier>solid</ows:Identifier>');
    expect(xml).not.toContain('<ows:Identifier>dots</ows:Identifier>');
    expect(xml).toContain(`template="${server.url}/udf/solid/tiles/{TileMatrix}/{TileCol}/{TileRow}.png?red=10"`);
    const kvp = await fetch(`${server.url}/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&red=10`);
    expect(await kvp.text()).toContain(`template="${server.url}/udf/solid/tiles/{TileMatrix}/{TileCol}/{TileRow}.png?red=10"`);
    expect((await fetch(`${server.url}/wmts?SERVICE=WMTS&REQUEST=GetTile`)).status).toBe(400);
  });

  it.skipIf(!haveQgis)('QGIS 3.22 opens the WMTS layer and renders it', async () => {
    const capabilities = `${server.url}/wmts/1.0.0/WMTSCapabilities.xml?red=240`;
    const uri = `contextualWMSLegend=0&crs=EPSG:3857&dpiMode=7&format=image/png&layers=solid&styles=default&tileMatrixSet=WebMercatorQuad&url=${encodeURIComponent(capabilities)}`;
    const spec = { out: work, layers: [{ name: 'wmts-solid', kind: 'raster', uri }] };
    const specFile = join(work, 'qgis-spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const { stdout } = await run('/usr/bin/python3', [resolve(HERE, 'qgis/render.py'), specFile], {
      env: { ...process.env, HOME: join(work, 'home'), QT_QPA_PLATFORM: 'offscreen', XDG_RUNTIME_DIR: join(work, 'xdg') },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    const layer = result.layers['wmts-solid'];
    expect(layer.valid, JSON.stringify(layer)).toBe(true);
    expect(layer.errors).toEqual([]);
    // The world at 512 px: the layer's bounds cover most of the square, in the baked-in colour.
    expect(layer.drawn_fraction).toBeGreaterThan(0.5);
    expect(layer.top_colours[0][0]).toBe('#f0285a');
  }, 300_000);
});
