import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { EncoderRegistry } from './encoders/registry.ts';
import { BadRequestError, NotFoundError } from './errors.ts';
import { errorResponse } from './http/response.ts';
import { normalizeResult } from './result/normalize.ts';
import { insightKey, type UdfInsight } from './routes/serve-result.ts';
import { createUdfRoutes } from './routes/udf-routes.ts';
import { tileToBounds } from './tiling/bounds.ts';
import type { LoadedUdf, ResultCache, ResultKind } from './types.ts';

export interface AppOptions {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  encoders: EncoderRegistry;
  cache: ResultCache;
  /** `Access-Control-Allow-Origin`. @default '*' */
  corsOrigin?: string | string[];
  /** Highest zoom a tile request may ask for. @default 30 */
  maxZoom?: number;
  /** Result lifetime when a UDF sets none, in seconds. @default 90 days */
  defaultMaxAge?: number;
  /** Base URL used in TileJSON and pages (e.g. behind a proxy). @default from the request */
  publicUrl?: string;
  /** Longest accepted URL (path + query), in bytes. @default 8192 */
  maxUrlLength?: number;
  /**
   * Extra route groups mounted before the UDF routes (client pages, style.json, …). Each
   * factory receives the helpers the core uses.
   */
  extraRoutes?: Array<(deps: AppHelpers) => Hono>;
  log?: (msg: string) => void;
}

/** Helpers that route groups share. */
export interface AppHelpers {
  registry: AppOptions['registry'];
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
}

/**
 * Builds the tilesmith HTTP app from its parts. It touches no Node-only API itself: the
 * runtimes, encoders and cache come in as arguments.
 * @example
 * const app = createApp({ registry, encoders: createDefaultEncoderRegistry(), cache });
 * serve({ fetch: app.fetch, port: 8787 });
 */
export function createApp(options: AppOptions): Hono {
  const log = options.log ?? ((m: string) => console.error(m));
  const insights = new Map<string, UdfInsight>();
  const maxUrl = options.maxUrlLength ?? 8192;

  const baseUrl = (req: Request): string => {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
    const url = new URL(req.url);
    const proto = req.headers.get('x-forwarded-proto')?.split(',')[0].trim() || url.protocol.replace(':', '');
    const host = req.headers.get('x-forwarded-host')?.split(',')[0].trim() || req.headers.get('host') || url.host;
    return `${proto}://${host}`;
  };

  const probes = new Map<string, Promise<ResultKind>>();
  /** The UDF's result kind: declared, learned from a run, or found by one probe run. */
  const resolveKind = async (udf: LoadedUdf): Promise<ResultKind> => {
    if (udf.options.kind) return udf.options.kind;
    const key = insightKey(udf);
    const known = insights.get(key)?.kind;
    if (known) return known;
    if (!udf.runtime) return 'empty';
    let probe = probes.get(key);
    if (!probe) {
      probe = (async () => {
        const z = udf.options.minzoom ?? 0;
        const [w, s, e, n] = udf.options.bounds ?? [-180, -85, 180, 85];
        const lon = (w + e) / 2;
        const lat = (s + n) / 2;
        const x = Math.floor(((lon + 180) / 360) * 2 ** z);
        const rad = (lat * Math.PI) / 180;
        const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * 2 ** z);
        const tile = { z, x: Math.min(x, 2 ** z - 1), y: Math.min(Math.max(y, 0), 2 ** z - 1) };
        const params = Object.fromEntries(Object.entries(udf.params).map(([k, s]) => [k, s.default ?? null]));
        try {
          const out = await udf.runtime!.run({ bounds: tileToBounds(tile), tile, tileSize: 256, params, signal: AbortSignal.timeout(30_000) });
          const kind = normalizeResult(out.value).kind;
          if (kind !== 'empty') insights.set(key, { kind, fields: insights.get(key)?.fields ?? {} });
          return kind;
        } catch (err) {
          log(`tilesmith: could not probe the result kind of '${udf.name}': ${err instanceof Error ? err.message : err}`);
          return 'empty';
        } finally {
          probes.delete(key);
        }
      })();
      probes.set(key, probe);
    }
    return probe;
  };

  const app = new Hono();
  app.use(
    '*',
    cors({
      origin: options.corsOrigin ?? '*',
      allowMethods: ['GET', 'HEAD', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Range'],
      exposeHeaders: ['ETag', 'X-Cache', 'Server-Timing', 'X-Tilesmith-Error', 'Content-Disposition', 'Content-Length'],
      maxAge: 86400,
    }),
  );
  app.use('*', async (c, next) => {
    c.header('Timing-Allow-Origin', '*');
    const url = c.req.url;
    const pathAndQuery = url.length - new URL(url).origin.length;
    if (pathAndQuery > maxUrl) {
      throw new BadRequestError(`The URL is ${pathAndQuery} bytes long; at most ${maxUrl} bytes are accepted. Send fewer or shorter parameters.`, 'uri_too_long');
    }
    await next();
  });

  const helpers: AppHelpers = { registry: options.registry, baseUrl, resolveKind };
  for (const make of options.extraRoutes ?? []) app.route('/', make(helpers));
  app.route(
    '/',
    createUdfRoutes({
      registry: options.registry,
      encoders: options.encoders,
      cache: options.cache,
      defaultMaxAge: options.defaultMaxAge ?? 90 * 86400,
      insights,
      log,
      maxZoom: options.maxZoom ?? 30,
      baseUrl,
      resolveKind,
    }),
  );

  app.notFound(() =>
    errorResponse(new NotFoundError('No such endpoint. Try GET /udfs, /udf/{name}/tiles/{z}/{x}/{y}, /udf/{name}/file or /udf/{name}/tilejson.json.')),
  );
  app.onError((err) => errorResponse(err, log));
  return app;
}
