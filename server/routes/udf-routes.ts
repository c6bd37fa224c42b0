import { Hono, type Context } from 'hono';
import { BadRequestError, NotFoundError } from '../errors.ts';
import { scrubMessage } from '../http/response.ts';
import { parseBounds, parseTile, tileToBounds } from '../tiling/bounds.ts';
import type { Bounds, LoadedUdf, ResultKind, TileCoord } from '../types.ts';
import { requireUdf, serveResult, type ServeDeps } from './serve-result.ts';
import { insightKey } from '../udf/kinds.ts';

export interface UdfRouteDeps extends ServeDeps {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  maxZoom: number;
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  /** Show load errors' tracebacks in the catalog (see AppOptions.dev). */
  dev?: boolean;
}

const WORLD: Bounds = [-180, -85.0511287798066, 180, 85.0511287798066];

/** Splits `5.mvt` into `['5', 'mvt']`. */
function splitExtension(segment: string): [string, string | undefined] {
  const dot = segment.indexOf('.');
  return dot < 0 ? [segment, undefined] : [segment.slice(0, dot), segment.slice(dot + 1)];
}

/**
 * The zooms a UDF's tiles exist at: its declared `minzoom`/`maxzoom`, within the server's
 * `--max-zoom`. Tile routes answer 404 outside it and TileJSON advertises exactly it, so a
 * client that reads TileJSON never asks for a tile that is not there.
 */
export function zoomRange(udf: LoadedUdf, serverMaxZoom: number): { minzoom: number; maxzoom: number } {
  const maxzoom = Math.min(udf.options.maxzoom ?? serverMaxZoom, serverMaxZoom);
  return { minzoom: Math.min(udf.options.minzoom ?? 0, maxzoom), maxzoom };
}

/** Public description of a UDF, shared by the catalog and TileJSON. */
export function describeUdf(udf: LoadedUdf, base: string, deps: Pick<UdfRouteDeps, 'insights' | 'dev' | 'maxZoom'>) {
  const root = `${base}/udf/${udf.name}`;
  return {
    name: udf.name,
    language: udf.language,
    kind: udf.options.kind ?? deps.insights.get(insightKey(udf))?.kind ?? null,
    description: udf.options.description ?? null,
    params: udf.params,
    cacheMaxAge: udf.options.cacheMaxAge ?? '90d',
    ...zoomRange(udf, deps.maxZoom),
    bounds: udf.options.bounds ?? WORLD,
    urls: {
      tiles: `${root}/tiles/{z}/{x}/{y}`,
      file: `${root}/file`,
      tilejson: `${root}/tilejson.json`,
      style: `${root}/style.json`,
      qgis: `${root}/qgis.xml`,
      preview: root,
    },
    // Load errors' tracebacks quote source lines and absolute paths: only in dev mode.
    error: udf.loadError
      ? { message: deps.dev ? udf.loadError.message : scrubMessage(udf.loadError.message), detail: deps.dev ? (udf.loadError.detail ?? null) : null }
      : null,
  };
}

/** Tiles, files, TileJSON and the catalog: the routes that run UDFs or describe them. */
export function createUdfRoutes(deps: UdfRouteDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ ok: true, udfs: deps.registry.list().length }));

  app.get('/udfs', (c) => {
    const base = deps.baseUrl(c.req.raw);
    return c.json(deps.registry.list().map((u) => describeUdf(u, base, deps)));
  });

  // `/run/tiles/...` and `/run/file` mirror Fused's shared-token URLs, so moving a Fused
  // URL to tilesmith is a prefix swap.
  const tileHandler = (c: Context<any, '/udf/:name/tiles/:z/:x/:y'>) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const [y, extension] = splitExtension(c.req.param('y'));
    const tile: TileCoord = parseTile(c.req.param('z'), c.req.param('x'), y, deps.maxZoom);
    // Like Martin: a zoom outside the UDF's range is a tile that does not exist (404 with a
    // sentence), not a malformed request (400) and not an empty tile (204), so a client
    // that ignores TileJSON learns why nothing draws.
    const { minzoom, maxzoom } = zoomRange(udf, deps.maxZoom);
    if (tile.z < minzoom || tile.z > maxzoom) {
      throw new NotFoundError(`Zoom level ${tile.z} is out of range for UDF '${udf.name}': its tiles exist at zooms ${minzoom} to ${maxzoom} (see its TileJSON).`, 'not_found');
    }
    return serveResult(c, deps, { udf, mode: 'tile', tile, bounds: tileToBounds(tile), extension });
  };
  app.get('/udf/:name/tiles/:z/:x/:y', tileHandler);
  app.get('/udf/:name/run/tiles/:z/:x/:y', tileHandler);

  app.get('/udf/:name/tilejson.json', async (c) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const base = deps.baseUrl(c.req.raw);
    const info = describeUdf(udf, base, deps);
    const kind = await deps.resolveKind(udf);
    const search = new URL(c.req.url).search;
    const [w, s, e, n] = info.bounds;
    const center = [(w + e) / 2, (s + n) / 2, Math.max(info.minzoom, Math.min(info.maxzoom, 2))];
    const fields = deps.insights.get(insightKey(udf))?.fields ?? {};
    return c.json({
      tilejson: '3.0.0',
      name: udf.name,
      description: info.description ?? `tilesmith UDF ${udf.name}`,
      attribution: udf.options.attribution ?? '',
      scheme: 'xyz',
      tiles: [`${info.urls.tiles}${search}`],
      minzoom: info.minzoom,
      maxzoom: info.maxzoom,
      bounds: info.bounds,
      center,
      vector_layers: kind === 'vector' ? [{ id: udf.name, description: info.description ?? '', fields }] : [],
    });
  });

  const fileHandler = (c: Context<any, '/udf/:name/:leaf'>) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const [, extension] = splitExtension(c.req.param('leaf'));
    const q = (k: string) => c.req.query(k);
    let tile: TileCoord | null = null;
    let bounds: Bounds | null = null;
    const bq = q('bounds');
    if (bq !== undefined) {
      bounds = parseBounds(bq);
    } else if (q('x') !== undefined || q('y') !== undefined || q('z') !== undefined) {
      if (q('x') === undefined || q('y') === undefined || q('z') === undefined) {
        throw new BadRequestError('A file call with a tile needs all of x, y and z (or give bounds=w,s,e,n instead).', 'invalid_tile');
      }
      tile = parseTile(q('z')!, q('x')!, q('y')!, deps.maxZoom);
      bounds = tileToBounds(tile);
    }
    const ext = extension ?? deps.encoders.get(q('format') ?? '')?.extension;
    return serveResult(c, deps, { udf, mode: 'file', tile, bounds, extension, filename: ext ? `${udf.name}.${ext}` : undefined });
  };
  app.get('/udf/:name/:leaf{file(?:\\.[A-Za-z0-9]+)?}', fileHandler);
  app.get('/udf/:name/run/:leaf{file(?:\\.[A-Za-z0-9]+)?}', fileHandler);

  return app;
}
