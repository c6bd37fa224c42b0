/**
 * OGC API – Tiles (landing page, conformance, collections, tilesets in the WebMercatorQuad
 * tile matrix set, tiles) and a WMTS 1.0.0 GetCapabilities document for raster UDFs, so
 * desktop GIS that speak OGC standards (QGIS, ArcGIS, GDAL's OGCAPI driver) can use
 * tilesmith without knowing its URL scheme.
 *
 * Tiles are not computed here: an OGC tile request is re-dispatched as the equivalent
 * `/udf/{name}/tiles/{z}/{x}/{y}.{ext}` request through the whole app, so caching, ETags,
 * zoom limits, parameters and errors are exactly those of the XYZ route.
 */
import { Hono, type Context } from 'hono';
import { BadRequestError, NotAcceptableError, NotFoundError, udfLoadFailure } from '../errors.ts';
import { UDF_NAME } from '../udf/name.ts';
import type { LoadedUdf, ResultKind } from '../types.ts';
import { zoomRange } from './udf-routes.ts';

/** What the OGC routes need from the app. */
export interface OgcRouteDeps {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  /** The server's `--max-zoom`. */
  maxZoom: number;
  /** Runs a request through the whole app (used to serve OGC tile URLs as XYZ tiles). */
  dispatch(req: Request): Response | Promise<Response>;
}

const WEB_MERCATOR_QUAD = 'WebMercatorQuad';
const TMS_URI = 'http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad';
const CRS_3857 = 'http://www.opengis.net/def/crs/EPSG/0/3857';
const CRS84 = 'http://www.opengis.net/def/crs/OGC/1.3/CRS84';
const REL = 'http://www.opengis.net/def/rel/ogc/1.0/';
/** Half the equator in EPSG:3857 metres. */
const ORIGIN = 20037508.342789244;
/** Scale denominator of zoom 0 with 256 px tiles and 0.28 mm pixels (OGC's standardized rendering pixel). */
const SCALE_0 = 559082264.0287178;
const WORLD: [number, number, number, number] = [-180, -85.0511287798066, 180, 85.0511287798066];
const MEDIA: Record<string, string> = {
  mvt: 'application/vnd.mapbox-vector-tile',
  geojson: 'application/geo+json',
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
};

/** The query keys the OGC/WMTS routes read themselves; every other key is a UDF parameter passed on. */
const OWN_KEYS = new Set(['f', 'service', 'request', 'version', 'acceptversions', 'sections', 'acceptformats']);

/** The request's UDF parameters as a query string (`?a=1&b=2` or ''). */
function passthrough(c: Context): string {
  const out = new URLSearchParams();
  for (const [k, v] of new URL(c.req.url).searchParams) if (!OWN_KEYS.has(k.toLowerCase())) out.append(k, v);
  const s = out.toString();
  return s ? `?${s}` : '';
}

function appendQuery(url: string, query: string): string {
  if (!query) return url;
  return url.includes('?') ? `${url}&${query.slice(1)}` : `${url}${query}`;
}

/** A map UDF's OGC data type: vector tiles or map (image) tiles. json/table UDFs have none. */
async function dataTypeOf(deps: OgcRouteDeps, udf: LoadedUdf): Promise<'vector' | 'map' | null> {
  if (udf.loadError || !udf.runtime) return null;
  const kind = await deps.resolveKind(udf);
  if (kind === 'raster') return 'map';
  if (kind === 'vector' || kind === 'empty') return 'vector';
  return null;
}

function lookup(deps: OgcRouteDeps, id: string): LoadedUdf {
  const udf = UDF_NAME.test(id) ? deps.registry.get(id) : undefined;
  if (!udf) throw new NotFoundError(`No collection '${id.slice(0, 100)}': collections are the vector and raster UDFs listed by the collections endpoint.`, 'unknown_udf');
  if (udf.loadError || !udf.runtime) throw udfLoadFailure(id, udf.loadError);
  return udf;
}

/** The tile matrix set limits (in the OGC's row/column terms) covering the UDF's bounds at every zoom it serves. */
export function tileMatrixSetLimits(bounds: readonly number[], minzoom: number, maxzoom: number) {
  const [w, s, e, n] = bounds;
  const clampLat = (lat: number) => Math.max(-85.0511287798066, Math.min(85.0511287798066, lat));
  const col = (lon: number, z: number) => Math.min(2 ** z - 1, Math.max(0, Math.floor(((lon + 180) / 360) * 2 ** z)));
  const row = (lat: number, z: number) => {
    const r = (clampLat(lat) * Math.PI) / 180;
    return Math.min(2 ** z - 1, Math.max(0, Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * 2 ** z)));
  };
  const limits = [];
  for (let z = minzoom; z <= maxzoom; z++) {
    limits.push({ tileMatrix: String(z), minTileRow: row(n, z), maxTileRow: row(s, z), minTileCol: col(w, z), maxTileCol: col(e, z) });
  }
  return limits;
}

/** The WebMercatorQuad tile matrix set (OGC TMS 2.0 JSON encoding), zooms 0…maxZoom. */
export function webMercatorQuad(maxZoom: number) {
  const tileMatrices = [];
  for (let z = 0; z <= maxZoom; z++) {
    tileMatrices.push({
      id: String(z),
      identifier: String(z),
      scaleDenominator: SCALE_0 / 2 ** z,
      cellSize: (2 * ORIGIN) / 256 / 2 ** z,
      cornerOfOrigin: 'topLeft',
      pointOfOrigin: [-ORIGIN, ORIGIN],
      topLeftCorner: [-ORIGIN, ORIGIN],
      tileWidth: 256,
      tileHeight: 256,
      matrixWidth: 2 ** z,
      matrixHeight: 2 ** z,
    });
  }
  // TMS 2.0 keys (id, crs, pointOfOrigin) plus their TMS 1.0 names (identifier,
  // supportedCRS, topLeftCorner, lowerCorner/upperCorner): GDAL before 3.7 reads only 1.0.
  return {
    id: WEB_MERCATOR_QUAD,
    identifier: WEB_MERCATOR_QUAD,
    title: 'Google Maps Compatible for the World',
    uri: TMS_URI,
    crs: CRS_3857,
    supportedCRS: CRS_3857,
    boundingBox: { crs: CRS_3857, lowerLeft: [-ORIGIN, -ORIGIN], upperRight: [ORIGIN, ORIGIN], lowerCorner: [-ORIGIN, -ORIGIN], upperCorner: [ORIGIN, ORIGIN] },
    orderedAxes: ['E', 'N'],
    wellKnownScaleSet: 'http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible',
    tileMatrices,
  };
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * `GET /ogc`, `/ogc/conformance`, `/ogc/collections`, `/ogc/collections/{id}`,
 * `/ogc/collections/{id}/tiles`, `/ogc/collections/{id}/tiles/WebMercatorQuad`,
 * `/ogc/collections/{id}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`,
 * `/ogc/tileMatrixSets`, `/ogc/tileMatrixSets/WebMercatorQuad`, and WMTS at
 * `/wmts/1.0.0/WMTSCapabilities.xml` (also `/wmts?SERVICE=WMTS&REQUEST=GetCapabilities`).
 * Query parameters other than the OGC/WMTS ones are UDF parameters: they are carried into
 * every link and tile URL template.
 */
export function createOgcRoutes(deps: OgcRouteDeps): Hono {
  const app = new Hono();
  const root = (c: Context) => `${deps.baseUrl(c.req.raw)}/ogc`;
  const json = (c: Context, body: unknown) => {
    c.header('Cache-Control', 'public, max-age=60');
    return c.json(body);
  };

  app.get('/ogc', (c) => {
    const r = root(c);
    const q = passthrough(c);
    return json(c, {
      title: 'tilesmith',
      description: 'UDFs served as OGC API – Tiles collections (vector and map tiles in WebMercatorQuad).',
      links: [
        { rel: 'self', type: 'application/json', title: 'This document', href: appendQuery(r, q) },
        { rel: 'service-desc', type: 'application/vnd.oai.openapi+json;version=3.1', title: 'The API definition', href: `${deps.baseUrl(c.req.raw)}/openapi.json` },
        { rel: 'conformance', type: 'application/json', title: 'Conformance classes', href: `${r}/conformance` },
        { rel: 'data', type: 'application/json', title: 'Collections', href: appendQuery(`${r}/collections`, q) },
        { rel: `${REL}tiling-schemes`, type: 'application/json', title: 'Tile matrix sets', href: `${r}/tileMatrixSets` },
      ],
    });
  });

  app.get('/ogc/conformance', (c) =>
    json(c, {
      conformsTo: [
        'http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core',
        'http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page',
        'http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json',
        'http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png',
        'http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/jpeg',
        'http://www.opengis.net/spec/tms/2.0/conf/tilematrixset',
        'http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset',
        'http://www.opengis.net/spec/tms/2.0/conf/tilesetmetadata',
      ],
    }),
  );

  const collectionOf = (c: Context, udf: LoadedUdf, dataType: 'vector' | 'map') => {
    const r = root(c);
    const q = passthrough(c);
    const self = `${r}/collections/${udf.name}`;
    return {
      id: udf.name,
      title: udf.name,
      description: udf.options.description ?? `tilesmith UDF ${udf.name}`,
      ...(udf.options.attribution ? { attribution: udf.options.attribution } : {}),
      dataType,
      extent: { spatial: { bbox: [[...(udf.options.bounds ?? WORLD)]], crs: CRS84 } },
      links: [
        { rel: 'self', type: 'application/json', title: udf.name, href: appendQuery(self, q) },
        { rel: `${REL}tilesets-${dataType}`, type: 'application/json', title: `${dataType === 'map' ? 'Map' : 'Vector'} tilesets`, href: appendQuery(`${self}/tiles`, q) },
        { rel: 'describedby', type: 'application/json', title: 'TileJSON', href: appendQuery(`${deps.baseUrl(c.req.raw)}/udf/${udf.name}/tilejson.json`, q) },
      ],
    };
  };

  app.get('/ogc/collections', async (c) => {
    const r = root(c);
    const collections = [];
    for (const udf of deps.registry.list()) {
      const dataType = await dataTypeOf(deps, udf);
      if (dataType) collections.push(collectionOf(c, udf, dataType));
    }
    return json(c, { links: [{ rel: 'self', type: 'application/json', href: appendQuery(`${r}/collections`, passthrough(c)) }], collections });
  });

  /** The collection's data type, or a 406 for UDFs that return JSON or tables. */
  const mapUdf = async (c: Context): Promise<[LoadedUdf, 'vector' | 'map']> => {
    const udf = lookup(deps, c.req.param('id')!);
    const dataType = await dataTypeOf(deps, udf);
    if (!dataType) {
      throw new NotAcceptableError(`UDF '${udf.name}' returns JSON or a table, which has no tiles; use /udf/${udf.name}/file.json instead.`, ['vector', 'raster']);
    }
    return [udf, dataType];
  };

  app.get('/ogc/collections/:id', async (c) => {
    const [udf, dataType] = await mapUdf(c);
    return json(c, collectionOf(c, udf, dataType));
  });

  const tilesetSummary = (c: Context, udf: LoadedUdf, dataType: 'vector' | 'map') => {
    const base = `${root(c)}/collections/${udf.name}/tiles/${WEB_MERCATOR_QUAD}`;
    return {
      title: `${udf.name} (${WEB_MERCATOR_QUAD})`,
      dataType,
      crs: CRS_3857,
      tileMatrixSetURI: TMS_URI,
      links: [
        { rel: 'self', type: 'application/json', href: appendQuery(base, passthrough(c)) },
        { rel: `${REL}tiling-scheme`, type: 'application/json', href: `${root(c)}/tileMatrixSets/${WEB_MERCATOR_QUAD}` },
      ],
    };
  };

  app.get('/ogc/collections/:id/tiles', async (c) => {
    const [udf, dataType] = await mapUdf(c);
    return json(c, {
      links: [{ rel: 'self', type: 'application/json', href: appendQuery(`${root(c)}/collections/${udf.name}/tiles`, passthrough(c)) }],
      tilesets: [tilesetSummary(c, udf, dataType)],
    });
  });

  app.get(`/ogc/collections/:id/tiles/:tms`, async (c) => {
    const [udf, dataType] = await mapUdf(c);
    if (c.req.param('tms') !== WEB_MERCATOR_QUAD) throw new NotFoundError(`No tile matrix set '${c.req.param('tms').slice(0, 60)}'; tilesmith serves ${WEB_MERCATOR_QUAD}.`);
    const { minzoom, maxzoom } = zoomRange(udf, deps.maxZoom);
    const summary = tilesetSummary(c, udf, dataType);
    const base = `${root(c)}/collections/${udf.name}/tiles/${WEB_MERCATOR_QUAD}/{tileMatrix}/{tileRow}/{tileCol}`;
    const q = passthrough(c);
    const formats = dataType === 'vector' ? ['mvt', 'geojson'] : ['png', 'jpg', 'webp'];
    const items = formats.map((f) => ({
      rel: 'item',
      type: MEDIA[f],
      title: `${udf.name} tiles (${f})`,
      templated: true,
      href: `${base}?f=${f}${q ? `&${q.slice(1)}` : ''}`,
    }));
    const bounds = udf.options.bounds ?? WORLD;
    return json(c, {
      ...summary,
      description: udf.options.description ?? `tilesmith UDF ${udf.name}`,
      boundingBox: { lowerLeft: [bounds[0], bounds[1]], upperRight: [bounds[2], bounds[3]], crs: CRS84 },
      centerPoint: { coordinates: [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2], tileMatrix: String(minzoom) },
      tileMatrixSetLimits: tileMatrixSetLimits(bounds, minzoom, maxzoom),
      ...(dataType === 'vector' ? { layers: [{ id: udf.name, dataType: 'vector', minTileMatrix: String(minzoom), maxTileMatrix: String(maxzoom) }] } : {}),
      links: [...summary.links, ...items],
    });
  });

  app.get(`/ogc/collections/:id/tiles/:tms/:tileMatrix/:tileRow/:tileCol`, async (c) => {
    const [udf, dataType] = await mapUdf(c);
    if (c.req.param('tms') !== WEB_MERCATOR_QUAD) throw new NotFoundError(`No tile matrix set '${c.req.param('tms').slice(0, 60)}'; tilesmith serves ${WEB_MERCATOR_QUAD}.`);
    const f = c.req.query('f') ?? (dataType === 'vector' ? 'mvt' : 'png');
    if (!/^[a-z0-9]{1,16}$/.test(f)) throw new BadRequestError(`Invalid f=${JSON.stringify(f.slice(0, 40))}: give a format name such as mvt, geojson, png, jpg or webp.`, 'invalid_parameter');
    // OGC order is tileMatrix/tileRow/tileCol, i.e. z/y/x; the XYZ route validates all three.
    const target = new URL(`${deps.baseUrl(c.req.raw)}/udf/${udf.name}/tiles/${c.req.param('tileMatrix')}/${c.req.param('tileCol')}/${c.req.param('tileRow')}.${f}`);
    for (const [k, v] of new URL(c.req.url).searchParams) if (!OWN_KEYS.has(k.toLowerCase())) target.searchParams.append(k, v);
    const inner = new URL(c.req.url);
    inner.pathname = target.pathname;
    inner.search = target.search;
    return deps.dispatch(new Request(inner, { headers: c.req.raw.headers, signal: c.req.raw.signal }));
  });

  app.get('/ogc/tileMatrixSets', (c) =>
    json(c, {
      tileMatrixSets: [
        {
          id: WEB_MERCATOR_QUAD,
          title: 'Google Maps Compatible for the World',
          uri: TMS_URI,
          links: [{ rel: 'self', type: 'application/json', href: `${root(c)}/tileMatrixSets/${WEB_MERCATOR_QUAD}` }],
        },
      ],
    }),
  );

  app.get('/ogc/tileMatrixSets/:tms', (c) => {
    if (c.req.param('tms') !== WEB_MERCATOR_QUAD) throw new NotFoundError(`No tile matrix set '${c.req.param('tms').slice(0, 60)}'; tilesmith serves ${WEB_MERCATOR_QUAD}.`);
    return json(c, webMercatorQuad(deps.maxZoom));
  });

  const capabilities = async (c: Context) => {
    const base = deps.baseUrl(c.req.raw);
    const q = passthrough(c);
    const layers: string[] = [];
    let top = 0;
    for (const udf of deps.registry.list()) {
      if ((await dataTypeOf(deps, udf)) !== 'map') continue;
      const { minzoom, maxzoom } = zoomRange(udf, deps.maxZoom);
      top = Math.max(top, maxzoom);
      const [w, s, e, n] = udf.options.bounds ?? WORLD;
      const limits = tileMatrixSetLimits([w, s, e, n], minzoom, maxzoom)
        .map(
          (l) =>
            `<TileMatrixLimits><TileMatrix>${l.tileMatrix}</TileMatrix><MinTileRow>${l.minTileRow}</MinTileRow><MaxTileRow>${l.maxTileRow}</MaxTileRow><MinTileCol>${l.minTileCol}</MinTileCol><MaxTileCol>${l.maxTileCol}</MaxTileCol></TileMatrixLimits>`,
        )
        .join('');
      // The request's UDF parameters are baked into the template: a WMTS client cannot add its own.
      const template = `${base}/udf/${udf.name}/tiles/{TileMatrix}/{TileCol}/{TileRow}.png${q}`;
      layers.push(
        `<Layer><ows:Title>${xmlEscape(udf.name)}</ows:Title>` +
          (udf.options.description ? `<ows:Abstract>${xmlEscape(udf.options.description)}</ows:Abstract>` : '') +
          `<ows:WGS84BoundingBox><ows:LowerCorner>${w} ${s}</ows:LowerCorner><ows:UpperCorner>${e} ${n}</ows:UpperCorner></ows:WGS84BoundingBox>` +
          `<ows:Identifier>${xmlEscape(udf.name)}</ows:Identifier>` +
          `<Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>` +
          `<Format>image/png</Format>` +
          `<TileMatrixSetLink><TileMatrixSet>${WEB_MERCATOR_QUAD}</TileMatrixSet><TileMatrixSetLimits>${limits}</TileMatrixSetLimits></TileMatrixSetLink>` +
          `<ResourceURL format="image/png" resourceType="tile" template="${xmlEscape(template)}"/>` +
          `</Layer>`,
      );
    }
    const matrices = webMercatorQuad(top)
      .tileMatrices.map(
        (m) =>
          `<TileMatrix><ows:Identifier>${m.id}</ows:Identifier><ScaleDenominator>${m.scaleDenominator}</ScaleDenominator><TopLeftCorner>${-ORIGIN} ${ORIGIN}</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight><MatrixWidth>${m.matrixWidth}</MatrixWidth><MatrixHeight>${m.matrixHeight}</MatrixHeight></TileMatrix>`,
      )
      .join('');
    const self = `${base}/wmts/1.0.0/WMTSCapabilities.xml${q}`;
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n` +
      `<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd" version="1.0.0">` +
      `<ows:ServiceIdentification><ows:Title>tilesmith</ows:Title><ows:Abstract>Raster UDFs as WMTS layers</ows:Abstract><ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion></ows:ServiceIdentification>` +
      `<Contents>${layers.join('')}` +
      `<TileMatrixSet><ows:Identifier>${WEB_MERCATOR_QUAD}</ows:Identifier><ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS><WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>${matrices}</TileMatrixSet>` +
      `</Contents><ServiceMetadataURL xlink:href="${xmlEscape(self)}"/></Capabilities>`;
    return c.body(xml, 200, { 'Content-Type': 'application/xml; charset=utf-8', 'Cache-Control': 'public, max-age=60' });
  };

  app.get('/wmts/1.0.0/WMTSCapabilities.xml', capabilities);
  app.get('/wmts', (c) => {
    const params = new Map([...new URL(c.req.url).searchParams].map(([k, v]) => [k.toLowerCase(), v]));
    const request = params.get('request');
    if ((params.get('service') ?? 'WMTS').toUpperCase() !== 'WMTS' || (request ?? '').toLowerCase() !== 'getcapabilities') {
      throw new BadRequestError(
        'This WMTS endpoint answers SERVICE=WMTS&REQUEST=GetCapabilities; tiles are fetched from the RESTful ResourceURL templates in that document.',
        'invalid_parameter',
      );
    }
    return capabilities(c);
  });

  return app;
}
