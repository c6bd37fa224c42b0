/**
 * `GET /openapi.json`: an OpenAPI 3.1 description of this server, built from the registry on
 * each request, so every loaded UDF appears with its own paths and its parameters as JSON
 * Schema (types, defaults, descriptions, required), next to the generic routes, their
 * statuses and headers.
 */
import { Hono } from 'hono';
import type { LoadedUdf, ParamSpec, ResultKind } from '../types.ts';
import { zoomRange } from './udf-routes.ts';

/** What the OpenAPI route needs from the app. */
export interface OpenApiRouteDeps {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  maxZoom: number;
  /** Formats the encoders offer: name, media type, kinds accepted. */
  formats: Array<{ name: string; aliases: string[]; mediaType: string; accepts: string[] }>;
}

type Json = Record<string, unknown>;

/** A UDF parameter's JSON Schema, as it is written in a query string. */
export function paramSchema(spec: ParamSpec): Json {
  const base: Json = (() => {
    switch (spec.type) {
      case 'int':
        return { type: 'integer' };
      case 'float':
        return { type: 'number' };
      case 'bool':
        return { type: 'boolean' };
      case 'str':
        return { type: 'string' };
      case 'list':
        return { type: 'array', description: 'comma-separated values or a JSON array' };
      case 'dict':
        return { type: 'object', description: 'a JSON object' };
      case 'json':
        return { description: 'any JSON value' };
      case 'geojson':
        return { type: 'object', description: 'a GeoJSON object (JSON text)' };
      case 'bounds':
        return { type: 'string', pattern: '^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$', description: 'w,s,e,n in degrees' };
      default:
        return {};
    }
  })();
  const out: Json = { ...base, 'x-tilesmith-type': spec.type };
  if (spec.description) out.description = base.description ? `${spec.description} (${base.description})` : spec.description;
  if (spec.default !== undefined && spec.default !== null) out.default = spec.default;
  return out;
}

const ERROR_STATUSES: Record<string, string> = {
  '400': 'The request is malformed (bad tile address, parameter or format); the message says what is accepted.',
  '404': 'No such UDF, endpoint, or a tile outside the UDF zoom range.',
  '406': 'The format does not fit the result kind.',
  '401': 'A token is needed (under --auth): WWW-Authenticate says how.',
  '403': 'The token does not cover this UDF or endpoint.',
  '409': 'The run has no result (yet): it is still running, failed or was cancelled.',
  '414': 'The URL is too long.',
  '429': 'Too many computations for this token or address (--rate-limit); retry after Retry-After seconds.',
  '500': 'The UDF failed or could not be loaded.',
  '503': 'Overloaded or the UDF is unavailable; retry after Retry-After seconds.',
  '504': 'The UDF ran longer than its timeout.',
};

function errors(...codes: string[]): Json {
  return Object.fromEntries(codes.map((c) => [c, { $ref: `#/components/responses/Error${c}` }]));
}

const RESULT_HEADERS = {
  ETag: { $ref: '#/components/headers/ETag' },
  'Cache-Control': { $ref: '#/components/headers/Cache-Control' },
  'X-Cache': { $ref: '#/components/headers/X-Cache' },
  'Server-Timing': { $ref: '#/components/headers/Server-Timing' },
  'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
};

/** The query parameters the server itself reads on tile and file routes. */
const SERVER_PARAMS: Json[] = [
  { name: 'format', in: 'query', description: 'Output format; must agree with the URL extension if both are given.', schema: { type: 'string' } },
  { name: 'tile_size', in: 'query', description: 'Raster size in pixels.', schema: { type: 'integer', enum: [256, 512], default: 256 } },
  { name: 'rescale', in: 'query', description: 'min,max: the value range mapped to 0–255 for non-uint8 rasters.', schema: { type: 'string' } },
  { name: 'colormap', in: 'query', description: 'A colormap name (`_r` reverses it), hex stops, or a JSON array of them.', schema: { type: 'string' } },
  { name: 'cache', in: 'query', description: '`false` bypasses the result cache.', schema: { type: 'boolean', default: true } },
  { name: 'cache_max_age', in: 'query', description: 'e.g. `30m`: the oldest cached result this request accepts (it can shorten, never extend, the UDF lifetime).', schema: { type: 'string' } },
  { name: 'cache_reset', in: 'query', description: '`true` recomputes and replaces the cached result.', schema: { type: 'boolean', default: false } },
  { name: 'dtype_out_vector', in: 'query', description: "Fused's legacy format name for vector results.", schema: { type: 'string' } },
  { name: 'dtype_out_raster', in: 'query', description: "Fused's legacy format name for raster results.", schema: { type: 'string' } },
  { name: 'If-None-Match', in: 'header', description: 'An ETag from an earlier response: 304 when unchanged.', schema: { type: 'string' } },
];

const FILE_PARAMS: Json[] = [
  { name: 'bounds', in: 'query', description: 'w,s,e,n: the area to compute.', schema: { type: 'string' } },
  { name: 'x', in: 'query', description: 'Tile column (with y and z) instead of bounds.', schema: { type: 'integer', minimum: 0 } },
  { name: 'y', in: 'query', description: 'Tile row (with x and z).', schema: { type: 'integer', minimum: 0 } },
  { name: 'z', in: 'query', description: 'Tile zoom (with x and y).', schema: { type: 'integer', minimum: 0 } },
];

function jsonResponse(description: string, schema: Json = { type: 'object' }): Json {
  return { description, content: { 'application/json': { schema } } };
}

function simpleGet(summary: string, tag: string, responses: Json, extra: Json = {}): Json {
  return { get: { summary, tags: [tag], responses, ...extra } };
}

/** Builds the document for the UDFs as they are now. */
export async function buildOpenApi(deps: OpenApiRouteDeps, base: string): Promise<Json> {
  const paths: Record<string, Json> = {};
  const pathParam = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({ name, in: 'path', required: true, description, schema });

  // Generic routes.
  paths['/'] = simpleGet('The index page: the catalog, a map, links to examples and to this document.', 'pages', { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } });
  paths['/healthz'] = simpleGet('Liveness.', 'meta', { '200': jsonResponse('OK', { type: 'object', properties: { ok: { type: 'boolean' }, udfs: { type: 'integer' } } }) });
  paths['/udfs'] = simpleGet('The catalog of UDFs: name, language, kind, parameters, zoom range, URLs, load error.', 'meta', { '200': jsonResponse('The catalog', { type: 'array', items: { type: 'object' } }) });
  paths['/openapi.json'] = simpleGet('This document (OpenAPI 3.1).', 'meta', { '200': jsonResponse('OpenAPI document') });
  paths['/examples/{file}'] = simpleGet('An example page.', 'pages', { '200': { description: 'The file' }, ...errors('404') }, { parameters: [pathParam('file', 'File name, e.g. maplibre.html')] });
  paths['/vendor/{path}'] = simpleGet('A map library file the pages load (MapLibre, Leaflet, deck.gl, …).', 'pages', { '200': { description: 'The file', headers: { 'Cache-Control': { $ref: '#/components/headers/Cache-Control' } } }, ...errors('404') }, { parameters: [pathParam('path', 'e.g. maplibre-gl/maplibre-gl.mjs')] });
  paths['/pages/{file}'] = simpleGet('A script or stylesheet of the built-in pages.', 'pages', { '200': { description: 'The file' }, ...errors('404') }, { parameters: [pathParam('file', 'preview.js or common.css')] });
  paths['/client/tilesmith-client.js'] = simpleGet('The browser build of tilesmith/client (global `tilesmith`).', 'pages', { '200': { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } } });

  // OGC API – Tiles and WMTS.
  const ogcJson = (summary: string, params: Json[] = [], extra: string[] = []) =>
    simpleGet(summary, 'ogc', { '200': jsonResponse(summary), ...errors('404', ...extra) }, params.length ? { parameters: params } : {});
  const collectionId = pathParam('collectionId', 'A UDF name');
  const tms = pathParam('tileMatrixSetId', 'The tile matrix set: WebMercatorQuad', { type: 'string', enum: ['WebMercatorQuad'] });
  paths['/ogc'] = ogcJson('OGC API landing page');
  paths['/ogc/conformance'] = ogcJson('OGC API conformance classes');
  paths['/ogc/collections'] = ogcJson('Collections: one per vector or raster UDF');
  paths['/ogc/collections/{collectionId}'] = ogcJson('A collection', [collectionId], ['406', '500', '503']);
  paths['/ogc/collections/{collectionId}/tiles'] = ogcJson('The tilesets of a collection', [collectionId], ['406', '500', '503']);
  paths['/ogc/collections/{collectionId}/tiles/{tileMatrixSetId}'] = ogcJson('Tileset metadata with tile URL templates and tile matrix set limits', [collectionId, tms], ['406', '500', '503']);
  paths['/ogc/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}'] = simpleGet(
    'A tile (the same response as /udf/{name}/tiles/{z}/{x}/{y}).',
    'ogc',
    {
      '200': { description: 'The tile', headers: RESULT_HEADERS, content: { 'application/vnd.mapbox-vector-tile': {}, 'image/png': {}, 'image/jpeg': {}, 'image/webp': {}, 'application/geo+json': {} } },
      '204': { description: 'Empty tile', headers: RESULT_HEADERS },
      '304': { description: 'Not modified', headers: RESULT_HEADERS },
      ...errors('400', '404', '406', '414', '500', '503', '504'),
    },
    {
      parameters: [
        collectionId,
        tms,
        pathParam('tileMatrix', 'Zoom level', { type: 'integer', minimum: 0 }),
        pathParam('tileRow', 'Row (y)', { type: 'integer', minimum: 0 }),
        pathParam('tileCol', 'Column (x)', { type: 'integer', minimum: 0 }),
        { name: 'f', in: 'query', description: 'Format: mvt or geojson (vector), png, jpg or webp (map).', schema: { type: 'string' } },
      ],
    },
  );
  paths['/ogc/tileMatrixSets'] = ogcJson('Tile matrix sets');
  paths['/ogc/tileMatrixSets/{tileMatrixSetId}'] = ogcJson('A tile matrix set definition (OGC TMS 2.0 JSON)', [tms]);
  const wmtsXml = { '200': { description: 'WMTS 1.0.0 Capabilities', content: { 'application/xml': { schema: { type: 'string' } } } } };
  paths['/wmts/1.0.0/WMTSCapabilities.xml'] = simpleGet('WMTS GetCapabilities (RESTful): raster UDFs as layers; query parameters are baked into the tile URL templates.', 'ogc', wmtsXml);
  paths['/wmts'] = simpleGet('WMTS GetCapabilities (KVP).', 'ogc', { ...wmtsXml, ...errors('400') }, {
    parameters: [
      { name: 'SERVICE', in: 'query', required: true, schema: { type: 'string', enum: ['WMTS'] } },
      { name: 'REQUEST', in: 'query', required: true, schema: { type: 'string', enum: ['GetCapabilities'] } },
    ],
  });

  // Share URLs, operations (issue 11), runs, jobs and environments (issue 14).
  const tokenParam = pathParam('token', 'A share token (`fsh_…`, from `tilesmith token create --udf NAME`).');
  const binary = { description: 'The result', headers: RESULT_HEADERS, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } };
  paths['/server/v1/realtime-shared/{token}/run/tiles/{z}/{x}/{y}'] = simpleGet("A tile of the UDF a share token is for, with its pinned parameters (Fused's share URL).", 'share', { '200': binary, '204': { description: 'Empty tile' }, '304': { description: 'Not modified' }, ...errors('400', '401', '403', '404', '406', '500', '503', '504') }, {
    parameters: [tokenParam, pathParam('z', 'Zoom', { type: 'integer' }), pathParam('x', 'Column', { type: 'integer' }), pathParam('y', 'Row, optionally with an extension (`5.mvt`)'), ...SERVER_PARAMS],
  });
  paths['/server/v1/realtime-shared/{token}/run/file'] = simpleGet('The whole-file result of the UDF a share token is for.', 'share', { '200': binary, ...errors('400', '401', '403', '404', '406', '500', '503', '504') }, {
    parameters: [tokenParam, ...FILE_PARAMS, ...SERVER_PARAMS],
  });
  paths['/metrics'] = simpleGet('Prometheus metrics (text format); an admin token under --auth unless served on --admin-port.', 'operations', { '200': { description: 'Prometheus text', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors('401', '403') });
  paths['/admin/cache'] = {
    delete: {
      summary: "Purges a UDF's cached results (memory, disk and a shared tier), optionally only those meeting bbox or within minzoom..maxzoom. Admin token.",
      tags: ['operations'],
      parameters: [
        { name: 'udf', in: 'query', required: true, schema: { type: 'string' } },
        { name: 'bbox', in: 'query', description: 'w,s,e,n', schema: { type: 'string' } },
        { name: 'minzoom', in: 'query', schema: { type: 'integer', minimum: 0 } },
        { name: 'maxzoom', in: 'query', schema: { type: 'integer', minimum: 0 } },
      ],
      responses: { '200': jsonResponse('How many entries went', { type: 'object', properties: { purged: { type: 'integer' } } }), ...errors('400', '401', '403') },
    },
  };
  paths['/admin/runs'] = simpleGet('Computations in flight: UDF, tile/bounds, state (queued/running), queue position, since. Admin token.', 'operations', { '200': jsonResponse('In-flight computations', { type: 'array', items: { type: 'object' } }), ...errors('401', '403') });
  paths['/admin/reload'] = { post: { summary: 'Rescans the UDF folder. Admin token.', tags: ['operations'], responses: { '200': jsonResponse('Reloaded', { type: 'object', properties: { reloaded: { type: 'boolean' }, udfs: { type: 'integer' } } }), ...errors('401', '403') } } };
  const runId = pathParam('id', 'A run id (X-Run-Id, or the 202 answer of a job).');
  const runRecord = jsonResponse('The run record: state (queued, running, done, failed, cancelled, timed_out), timings, last status, progress, error', { type: 'object' });
  paths['/runs'] = simpleGet('Recent runs (bounded history), newest first.', 'runs', { '200': jsonResponse('Run records', { type: 'array', items: { type: 'object' } }), ...errors('400', '401') }, {
    parameters: [
      { name: 'udf', in: 'query', schema: { type: 'string' } },
      { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } },
    ],
  });
  paths['/runs/{id}'] = {
    get: { summary: 'One run record.', tags: ['runs'], parameters: [runId], responses: { '200': runRecord, ...errors('401', '404') } },
    delete: { summary: 'Cancels a queued or running job (its thread is stopped, or its Python worker killed).', tags: ['runs'], parameters: [runId], responses: { '200': runRecord, ...errors('401', '404', '409') } },
  };
  paths['/runs/{id}/events'] = simpleGet("The run's changes as Server-Sent Events until it ends.", 'runs', { '200': { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors('401', '404') }, { parameters: [runId] });
  paths['/runs/{id}/result'] = simpleGet("A finished job's result (kept for --job-ttl).", 'runs', { '200': binary, ...errors('401', '404', '409') }, { parameters: [runId] });
  paths['/udf/{name}/jobs'] = {
    post: {
      summary: 'Starts an async job: the same computation as GET /udf/{name}/file; answers 202 with the run id and Location.',
      tags: ['runs'],
      parameters: [pathParam('name', 'UDF name'), ...FILE_PARAMS, ...SERVER_PARAMS.filter((p) => p.in === 'query')],
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { params: { type: 'object' }, bounds: {}, tile: { type: 'object' }, format: { type: 'string' } } } } } },
      responses: { '202': { description: 'Accepted', headers: { Location: { description: '/runs/{id}', schema: { type: 'string' } } }, content: { 'application/json': { schema: { type: 'object' } } } }, ...errors('400', '401', '403', '404', '503') },
    },
  };
  paths['/envs'] = simpleGet('Function environments: interpreter version, packages and the UDFs using each.', 'runs', { '200': jsonResponse('Environments', { type: 'array', items: { type: 'object' } }), ...errors('401') });

  // One set of paths per UDF, with its parameters.
  const formatsFor = (kind: ResultKind | null, mode: 'tile' | 'file') => {
    const list = deps.formats.filter((f) => !kind || kind === 'empty' || f.accepts.includes(kind));
    return Object.fromEntries(list.filter((f) => mode === 'file' || ['vector', 'raster'].some((k) => f.accepts.includes(k))).map((f) => [f.mediaType, {}]));
  };
  for (const udf of deps.registry.list()) {
    const kind = udf.loadError || !udf.runtime ? null : await deps.resolveKind(udf);
    const { minzoom, maxzoom } = zoomRange(udf, deps.maxZoom);
    const udfParams: Json[] = Object.entries(udf.params).map(([name, spec]) => ({
      name,
      in: 'query',
      required: !!spec.required && spec.default === undefined,
      ...(spec.description ? { description: spec.description } : {}),
      schema: paramSchema(spec),
    }));
    const describe = udf.options.description ? ` ${udf.options.description}` : '';
    const tag = `udf: ${udf.name}`;
    const tileOp = (id: string): Json => ({
      get: {
        operationId: id,
        tags: [tag],
        summary: `A tile of ${udf.name} (${kind ?? 'unknown kind'}).${describe}`,
        parameters: [
          pathParam('z', `Zoom, ${minzoom} to ${maxzoom} (404 outside)`, { type: 'integer', minimum: minzoom, maximum: maxzoom }),
          pathParam('x', 'Column', { type: 'integer', minimum: 0 }),
          pathParam('y', 'Row, optionally with a format extension (e.g. 3.mvt, 3.png)', { type: 'string', pattern: '^(0|[1-9][0-9]*)(\\.[A-Za-z0-9]+)?$' }),
          ...udfParams,
          ...SERVER_PARAMS,
        ],
        responses: {
          '200': { description: 'The encoded tile', headers: RESULT_HEADERS, content: formatsFor(kind, 'tile') },
          '204': { description: 'The UDF returned nothing for this tile', headers: RESULT_HEADERS },
          '304': { description: 'Not modified (If-None-Match matched the ETag)', headers: RESULT_HEADERS },
          ...errors('400', '404', '406', '414', '500', '503', '504'),
        },
      },
    });
    const fileOp = (id: string, withExt: boolean): Json => ({
      get: {
        operationId: id,
        tags: [tag],
        summary: `${udf.name} as a file (the whole result, or for bounds or a tile).${describe}`,
        parameters: [
          ...(withExt ? [pathParam('ext', 'Format extension, e.g. geojson, csv, parquet, png')] : []),
          ...udfParams,
          ...FILE_PARAMS,
          ...SERVER_PARAMS,
        ],
        responses: {
          '200': {
            description: 'The encoded result',
            headers: { ...RESULT_HEADERS, 'Content-Disposition': { $ref: '#/components/headers/Content-Disposition' } },
            content: formatsFor(kind, 'file'),
          },
          '204': { description: 'The UDF returned nothing', headers: RESULT_HEADERS },
          '304': { description: 'Not modified', headers: RESULT_HEADERS },
          ...errors('400', '404', '406', '414', '500', '503', '504'),
        },
      },
    });
    const root = `/udf/${udf.name}`;
    paths[`${root}/tiles/{z}/{x}/{y}`] = tileOp(`${udf.name}.tile`);
    paths[`${root}/run/tiles/{z}/{x}/{y}`] = tileOp(`${udf.name}.tile.fused`);
    paths[`${root}/file`] = fileOp(`${udf.name}.file`, false);
    paths[`${root}/file.{ext}`] = fileOp(`${udf.name}.file.ext`, true);
    paths[`${root}/run/file`] = fileOp(`${udf.name}.file.fused`, false);
    paths[`${root}/tilejson.json`] = {
      get: {
        operationId: `${udf.name}.tilejson`,
        tags: [tag],
        summary: `TileJSON 3.0.0 for ${udf.name}: tile URL (with the request's parameters), zoom range ${minzoom}–${maxzoom}, bounds, vector layers.`,
        parameters: udfParams,
        responses: { '200': jsonResponse('TileJSON'), ...errors('404', '500', '503') },
      },
    };
    paths[`${root}/style.json`] = {
      get: {
        operationId: `${udf.name}.style`,
        tags: [tag],
        summary: `A MapLibre style showing ${udf.name}.`,
        parameters: [
          ...udfParams,
          { name: 'color', in: 'query', description: 'Vector colour', schema: { type: 'string' } },
          { name: 'background', in: 'query', description: 'Background colour', schema: { type: 'string' } },
          { name: 'tile_size', in: 'query', schema: { type: 'integer', enum: [256, 512] } },
        ],
        responses: { '200': jsonResponse('MapLibre style (version 8)'), ...errors('404', '406', '500', '503') },
      },
    };
    paths[`${root}/qgis.xml`] = {
      get: {
        operationId: `${udf.name}.qgis`,
        tags: [tag],
        summary: `A QGIS "Load Connections" file for ${udf.name}.`,
        parameters: udfParams,
        responses: {
          '200': { description: 'QGIS connections XML', headers: { 'Content-Disposition': { $ref: '#/components/headers/Content-Disposition' } }, content: { 'application/xml': { schema: { type: 'string' } } } },
          ...errors('404', '406', '500', '503'),
        },
      },
    };
    paths[root] = {
      get: {
        operationId: `${udf.name}.preview`,
        tags: [tag],
        summary: `A preview page for ${udf.name}: a map and a form for its parameters.`,
        parameters: udfParams,
        responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } }, ...errors('404') },
      },
    };
  }

  const errorSchema = {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', description: 'A stable error code, e.g. invalid_tile, unknown_udf, udf_error.' },
      message: { type: 'string', description: 'A sentence saying what was wrong and what is accepted.' },
      requestId: { type: 'string', description: 'The id under which the server logged details.' },
    },
  };
  const errorResponses = Object.fromEntries(
    Object.entries(ERROR_STATUSES).map(([code, description]) => [
      `Error${code}`,
      {
        description,
        headers: {
          'X-Tilesmith-Error': { $ref: '#/components/headers/X-Tilesmith-Error' },
          'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
          ...(code === '503' ? { 'Retry-After': { $ref: '#/components/headers/Retry-After' } } : {}),
        },
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]),
  );

  return {
    openapi: '3.1.0',
    info: {
      title: 'tilesmith',
      version: '1',
      description:
        'UDFs (TypeScript or Python functions of a map area and typed parameters) served as XYZ tiles, files and map metadata, plus OGC API – Tiles and WMTS. Every loaded UDF has its own paths below, with its parameters as JSON Schema.',
    },
    servers: [{ url: base }],
    tags: [
      { name: 'meta', description: 'Catalog, health and this document' },
      { name: 'pages', description: 'Pages and the files they load' },
      { name: 'ogc', description: 'OGC API – Tiles and WMTS' },
      { name: 'share', description: "Fused's share URLs (a token in the path)" },
      { name: 'operations', description: 'Metrics and the admin API' },
      { name: 'runs', description: 'Run records, progress, async jobs and function environments' },
      ...deps.registry.list().map((u) => ({ name: `udf: ${u.name}`, description: u.options.description ?? `UDF ${u.name} (${u.language})` })),
    ],
    paths,
    components: {
      schemas: { Error: errorSchema },
      responses: errorResponses,
      headers: {
        ETag: { description: 'Strong validator of the body; send it back in If-None-Match.', schema: { type: 'string' } },
        'Cache-Control': { description: '`public, max-age=N` (the remaining lifetime of the result) or `no-store`.', schema: { type: 'string' } },
        'X-Cache': { description: 'HIT, MISS or BYPASS: whether the result came from the cache.', schema: { type: 'string' } },
        'Server-Timing': { description: 'Time spent running the UDF and encoding, e.g. `udf;dur=12.3, encode;dur=1.2`.', schema: { type: 'string' } },
        'X-Request-Id': { description: 'The id of this request in the server log.', schema: { type: 'string' } },
        'X-Tilesmith-Error': { description: '`code: message` of an error, for clients that cannot read error bodies (map libraries).', schema: { type: 'string' } },
        'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
        'Content-Disposition': { description: 'The file name for downloads.', schema: { type: 'string' } },
      },
    },
  };
}

/** `GET /openapi.json`. */
export function createOpenApiRoutes(deps: OpenApiRouteDeps): Hono {
  const app = new Hono();
  app.get('/openapi.json', async (c) => {
    const doc = await buildOpenApi(deps, deps.baseUrl(c.req.raw));
    c.header('Cache-Control', 'no-store');
    return c.json(doc);
  });
  return app;
}
