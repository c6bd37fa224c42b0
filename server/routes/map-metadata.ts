/**
 * Map metadata beyond TileJSON: `GET /udf/{name}/style.json` (a MapLibre style, also QGIS's
 * `styleUrl`) and `GET /udf/{name}/qgis.xml` (a QGIS "Load Connections" file). Both are built
 * from the UDF's options and kind by the client package's pure functions, so this module is
 * part of the runtime-neutral core and the edge bundles serve them too. The pages, vendor
 * files and client bundle that read files of the package are the Node-only `clients.ts`.
 */
import { Hono, type Context } from 'hono';
import { qgisConnectionsXml } from '../../client/qgis.ts';
import { udfStyle } from '../../client/maplibre.ts';
import { tileUrl } from '../../client/index.ts';
import { NotAcceptableError } from '../errors.ts';
import { errorResponse } from '../http/response.ts';
import type { LoadedUdf, ResultKind } from '../types.ts';
import { requireUdf } from './serve-result.ts';

/** What the metadata routes need from the app (a subset of `AppHelpers`). */
export interface MapMetadataDeps {
  registry: { get(name: string): LoadedUdf | undefined };
  /** The UDF's result kind: declared, learned, or probed (`empty` when unknown). */
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  /** Public base URL for this request, e.g. `http://localhost:8787` (honours X-Forwarded-* when trusted). */
  baseUrl(req: Request): string;
  log?: (msg: string) => void;
  /** Error bodies carry logs/tracebacks (see AppOptions.dev). */
  dev?: boolean;
}

/**
 * Query parameters that shape the rendering of a style / connection rather than the UDF's
 * output: they are not copied into the tile templates.
 */
const PRESENTATION_PARAMS = new Set(['format', 'tile_size', 'color', 'background']);

/** Turns a request's query into UDF params for the templates, minus presentation-only keys. */
function passthroughParams(c: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URL(c.req.url).searchParams) if (!PRESENTATION_PARAMS.has(k)) out[k] = v;
  return out;
}


/** Map kinds a style or a QGIS connection can show. Unknown (`empty`) is treated as vector. */
async function mapKind(deps: MapMetadataDeps, udf: LoadedUdf, what: string): Promise<'vector' | 'raster'> {
  const kind = await deps.resolveKind(udf);
  if (kind === 'json' || kind === 'table' || kind === 'html') {
    throw new NotAcceptableError(
      `UDF '${udf.name}' returns ${kind}, which has no map layer, so there is no ${what} for it. Use /udf/${udf.name}/file.${kind === 'html' ? 'html' : 'json or file.csv'}.`,
      ['vector', 'raster'],
    );
  }
  return kind === 'raster' ? 'raster' : 'vector';
}

/**
 * Route group for `style.json` and `qgis.xml`, mounted by `createApp` before the UDF routes.
 * @example app.route('/', createMapMetadataRoutes({ registry, resolveKind, baseUrl }));
 */
export function createMapMetadataRoutes(deps: MapMetadataDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => errorResponse(err, deps.log, c, { dev: deps.dev }));

  app.get('/udf/:name/style.json', async (c) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const kind = await mapKind(deps, udf, 'style.json');
    const base = deps.baseUrl(c.req.raw);
    const q = new URL(c.req.url).searchParams;
    const tileSize = kind === 'raster' && q.get('tile_size') === '512' ? 512 : 256;
    const tiles = [tileUrl({ server: base, udf: udf.name, format: kind === 'raster' ? 'png' : 'mvt', params: passthroughParams(c), tileSize })];
    const [w, s, e, n] = udf.options.bounds ?? [-180, -85.0511, 180, 85.0511];
    const style = udfStyle({
      udf: udf.name,
      kind,
      tiles,
      tileSize,
      minzoom: udf.options.minzoom ?? 0,
      maxzoom: udf.options.maxzoom ?? 22,
      ...(udf.options.bounds ? { bounds: udf.options.bounds } : {}),
      ...(udf.options.attribution ? { attribution: udf.options.attribution } : {}),
      color: q.get('color') ?? undefined,
      background: q.get('background') ?? undefined,
      center: [(w + e) / 2, (s + n) / 2],
      zoom: udf.options.minzoom ?? 1,
    });
    // Short lifetime: the style follows the UDF's code, which can be edited under --watch.
    c.header('Cache-Control', 'public, max-age=60');
    return c.json(style);
  });

  app.get('/udf/:name/qgis.xml', async (c) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const kind = await mapKind(deps, udf, 'QGIS connection');
    const q = new URL(c.req.url).searchParams;
    const xml = qgisConnectionsXml({
      server: deps.baseUrl(c.req.raw),
      udf: udf.name,
      kind,
      params: passthroughParams(c),
      tileSize: q.get('tile_size') === '512' ? 512 : undefined,
      zmin: udf.options.minzoom ?? 0,
      ...(udf.options.maxzoom !== undefined ? { zmax: udf.options.maxzoom } : {}),
    });
    return c.body(xml, 200, {
      'Content-Type': 'application/xml; charset=utf-8',
      'Content-Disposition': `attachment; filename="${udf.name}.xml"`,
      'Cache-Control': 'no-store',
    });
  });

  return app;
}
