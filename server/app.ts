import { Hono } from 'hono';
import type { EncoderRegistry } from './encoders/registry.ts';
import { BadRequestError, NotFoundError } from './errors.ts';
import { errorResponse, hasCommonHeaders, setCommonHeaders, type CommonHeaders } from './http/response.ts';
import type { Admission } from './compute/admission.ts';
import { createKindResolver, type UdfInsight } from './udf/kinds.ts';
import { installOperations, type OperationsOptions } from './operations.ts';
import { isAdminRequest, principalOf } from './auth/middleware.ts';
import { createUdfRoutes } from './routes/udf-routes.ts';
import { createMapMetadataRoutes } from './routes/map-metadata.ts';
import { createStandardsRoutes } from './routes/standards.ts';
import { createRunRoutes } from './routes/runs.ts';
import { RunRegistry } from './compute/runs.ts';
import { pathAndQuery } from './http/url.ts';
import { createHotHits, type HotHits } from './routes/hot-hits.ts';
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
  /** Base URL used in TileJSON and pages (e.g. behind a proxy). Wins over `trustProxy`. @default from the request */
  publicUrl?: string;
  /**
   * Build URLs from `X-Forwarded-Proto` / `X-Forwarded-Host` (set this only behind a proxy
   * that sets or strips them: otherwise any client could write its host into metadata).
   * @default false
   */
  trustProxy?: boolean;
  /** Caps concurrent computations (global, per UDF, client-forced) with a bounded queue. */
  admission?: Admission;
  /** A UDF's timeout when it declares none, ms. @default 120000 */
  defaultTimeoutMs?: number;
  /** Whether clients may force recomputation (`cache_reset`, `cache=false`, `cache_max_age`). @default 'honor' */
  clientCacheControl?: 'honor' | 'ignore';
  /** Encoded results larger than this answer 500. @default 128 MB */
  maxResultBytes?: number;
  /** The run registry (`GET /runs`, jobs). @default one in memory with default limits */
  runs?: RunRegistry;
  /**
   * Who may see and cancel a run (the auth layer's hook: admin tokens all runs, other tokens
   * the runs they started, see `RunRecord.tokenId`). @default everyone
   */
  canSeeRun?: (c: import('hono').Context, run: import('./compute/runs.ts').RunRecord) => boolean;
  /** Longest accepted URL (path + query), in bytes. @default 8192 */
  maxUrlLength?: number;
  /**
   * Extra route groups mounted before the UDF routes (the Node server's pages). Each
   * factory receives the helpers the core uses.
   */
  extraRoutes?: Array<(deps: AppHelpers) => Hono>;
  log?: (msg: string) => void;
  /**
   * Development mode: error bodies carry the UDF's log lines and traceback. Off in
   * production, where they go only to the log (under the request id the client sees).
   * @default false
   */
  dev?: boolean;
  /**
   * [issue 11] Tokens and private UDFs (`auth`), share URLs, the admin API, `/metrics`,
   * observation hooks (metrics, access log) and rate limits. See server/operations.ts.
   */
  operations?: OperationsOptions;
}

/**
 * The app `createApp` returns: a Hono app plus its cached-hit fast path, which a server
 * adapter may consult before building a `Request` (the Node server does, see serve.ts).
 */
export type TilesmithApp = Hono & {
  /**
   * Answers repeated anonymous GETs of results in the memory tier without the middleware
   * chain (see routes/hot-hits.ts); undefined means "run `fetch`".
   */
  hotHits: HotHits;
};

/** Helpers that route groups share. */
export interface AppHelpers {
  registry: AppOptions['registry'];
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  log: (msg: string) => void;
  dev: boolean;
}

/**
 * Builds the tilesmith HTTP app from its parts. It touches no Node-only API itself: the
 * runtimes, encoders and cache come in as arguments.
 * @example
 * const app = createApp({ registry, encoders: createDefaultEncoderRegistry(), cache });
 * serve({ fetch: app.fetch, port: 8787 });
 */
export function createApp(options: AppOptions): TilesmithApp {
  const log = options.log ?? ((m: string) => console.error(m));
  const insights = new Map<string, UdfInsight>();
  const maxUrl = options.maxUrlLength ?? 8192;
  const errorOpts = { dev: options.dev ?? false };

  /** Requests whose response embeds a URL built from their own headers (they need `Vary`). */
  const hostDependent = new WeakSet<Request>();
  const baseUrl = (req: Request): string => {
    if (options.publicUrl) return options.publicUrl.replace(/\/+$/, '');
    hostDependent.add(req);
    const url = new URL(req.url);
    const forwarded = (name: string) => (options.trustProxy ? req.headers.get(name)?.split(',')[0]!.trim() : undefined);
    const proto = forwarded('x-forwarded-proto') || url.protocol.replace(':', '');
    const host = forwarded('x-forwarded-host') || req.headers.get('host') || url.host;
    return `${proto}://${host}`;
  };
  const hostVary = options.trustProxy ? 'Host, X-Forwarded-Host, X-Forwarded-Proto' : 'Host';

  /** The UDF's result kind: declared, learned from tile results, or found by one probe run. */
  const resolveKind = createKindResolver({ insights, encoders: options.encoders, admission: options.admission, log });

  const app = new Hono();
  const cors = corsPolicy(options.corsOrigin ?? '*');
  /** Computations in flight by cache key (serve-result.ts); the fast path declines their keys. */
  const flights = new Map();
  const cache = options.cache;
  const hotHits = createHotHits({
    registry: options.registry,
    peek: cache.peek ? (key) => cache.peek!(key) : undefined,
    busy: (key) => flights.has(key),
    commonHeaders: (origin) => cors.headers(origin),
    observe: options.operations?.observe,
  });
  app.use('*', async (c, next) => {
    const common = cors.headers(c.req.header('origin'));
    if (c.req.method === 'OPTIONS') return cors.preflight(common);
    setCommonHeaders(c, common);
    const pathAndQuery = pathAndQueryLength(c.req.url);
    if (pathAndQuery > maxUrl) {
      const err = new BadRequestError(`The URL is ${pathAndQuery} bytes long; at most ${maxUrl} bytes are accepted. Send fewer or shorter parameters.`, 'uri_too_long');
      return errorResponse(err, log, c, errorOpts);
    }
    await next();
    // Responses from resultResponse / errorResponse carry the common headers already; others
    // (JSON, pages, …) get them here. Mutating the lightweight Response's headers keeps it on
    // @hono/node-server's fast path, unlike c.header() after next(), which rebuilds it.
    if (!hasCommonHeaders(c.res)) addHeaders(c, common);
    // Metadata whose URLs came from this request's Host (and trusted X-Forwarded-*) headers
    // differs per host: shared caches must key it on them.
    if (hostDependent.has(c.req.raw) && c.res.status < 300) appendVary(c, hostVary);
  });

  // [issue 11] auth, share URLs, admin API, metrics and observation (server/operations.ts).
  const hooks = options.operations ? installOperations(app, options.operations, { registry: options.registry, cache: options.cache, dev: errorOpts.dev }) : undefined;

  const helpers: AppHelpers = { registry: options.registry, baseUrl, resolveKind, log, dev: errorOpts.dev };
  for (const make of options.extraRoutes ?? []) app.route('/', make(helpers));
  app.route('/', createMapMetadataRoutes(helpers));
  app.route('/', createStandardsRoutes({ ...helpers, maxZoom: options.maxZoom ?? 30, encoders: options.encoders, dispatch: (req) => app.fetch(req) }));
  const runs = options.runs ?? new RunRegistry();
  app.route('/', createRunRoutes({ runs, registry: options.registry, encoders: options.encoders, fetch: (req) => app.fetch(req), canSee: options.canSeeRun ?? (options.operations?.auth?.required ? canSeeOwnRuns : undefined), log }));
  app.route(
    '/',
    createUdfRoutes({
      registry: options.registry,
      encoders: options.encoders,
      cache: options.cache,
      defaultMaxAge: options.defaultMaxAge ?? 90 * 86400,
      insights,
      log,
      admission: options.admission,
      defaultTimeoutMs: options.defaultTimeoutMs,
      clientCacheControl: options.clientCacheControl,
      maxResultBytes: options.maxResultBytes,
      runs,
      maxZoom: options.maxZoom ?? 30,
      baseUrl,
      resolveKind,
      dev: errorOpts.dev,
      hooks,
      flights,
      hot: hotHits,
    }),
  );

  app.notFound((c) =>
    errorResponse(new NotFoundError('No such endpoint. Try GET /udfs, /udf/{name}/tiles/{z}/{x}/{y}, /udf/{name}/file or /udf/{name}/tilejson.json.'), undefined, c, errorOpts),
  );
  app.onError((err, c) => errorResponse(err, log, c, errorOpts));
  return Object.assign(app, { hotHits });
}

const CORS_EXPOSE_HEADERS = ['ETag', 'X-Cache', 'X-Cache-Tier', 'Server-Timing', 'X-Tilesmith-Error', 'X-Request-Id', 'Retry-After', 'Content-Disposition', 'Content-Length', 'X-Run-Id', 'Location'].join(',');
const CORS_ALLOW_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'DELETE'].join(',');
const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'If-None-Match', 'Range'].join(',');
const CORS_MAX_AGE = '86400';

/**
 * What hono's `cors()` middleware (with the options tilesmith used) plus a
 * `Timing-Allow-Origin: *` header did, as headers decided up front: hono's middleware sets them
 * on the response after the handler, which forces the slow Response conversion (see
 * `CommonHeaders`).
 * - Every response: `Access-Control-Allow-Origin` (when the request's origin is allowed),
 *   `Access-Control-Expose-Headers`, `Timing-Allow-Origin: *`, and `Vary: Origin` unless the
 *   origin setting is `'*'`.
 * - `OPTIONS` (any path): a 204 preflight answer with the allowed methods, headers and max age.
 */
export function corsPolicy(origin: string | string[]): {
  headers(requestOrigin: string | undefined): CommonHeaders;
  preflight(common: CommonHeaders): Response;
} {
  const any = origin === '*';
  const allowed = (o: string): string | null => (typeof origin === 'string' ? (any || origin === o ? (any ? '*' : o) : null) : origin.includes(o) ? o : null);
  const build = (allowOrigin: string | null): CommonHeaders => {
    const h: Record<string, string> = {};
    if (allowOrigin) h['Access-Control-Allow-Origin'] = allowOrigin;
    h['Access-Control-Expose-Headers'] = CORS_EXPOSE_HEADERS;
    h['Timing-Allow-Origin'] = '*';
    if (!any) h.Vary = 'Origin';
    return Object.freeze(h);
  };
  const forAny = any ? build('*') : undefined;
  const denied = build(null);
  // One frozen object per allowed origin (the list is the operator's, so this stays small): the
  // cached-hit fast path keeps a prepared header list per entry and common-headers object.
  const perOrigin = new Map<string, CommonHeaders>();
  return {
    headers(requestOrigin) {
      if (forAny) return forAny;
      const allowOrigin = allowed(requestOrigin ?? '');
      if (!allowOrigin) return denied;
      let h = perOrigin.get(allowOrigin);
      if (!h) perOrigin.set(allowOrigin, (h = build(allowOrigin)));
      return h;
    },
    preflight(common) {
      const headers: Record<string, string> = {};
      const allowOrigin = common['Access-Control-Allow-Origin'];
      if (allowOrigin) headers['Access-Control-Allow-Origin'] = allowOrigin;
      headers['Access-Control-Expose-Headers'] = CORS_EXPOSE_HEADERS;
      headers.Vary = any ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers';
      headers['Access-Control-Max-Age'] = CORS_MAX_AGE;
      headers['Access-Control-Allow-Methods'] = CORS_ALLOW_METHODS;
      headers['Access-Control-Allow-Headers'] = CORS_ALLOW_HEADERS;
      return new Response(null, { status: 204, statusText: 'No Content', headers });
    },
  };
}

/**
 * Adds the common headers to a response built elsewhere, with the precedence hono's merge had:
 * they replace a header of the same name, and `Vary: Origin` is appended to any `Vary`.
 */
function addHeaders(c: { res: Response }, common: CommonHeaders): void {
  let res = c.res;
  const apply = (headers: Headers) => {
    for (const k in common) {
      if (k === 'Vary') headers.append(k, common[k]!);
      else headers.set(k, common[k]!);
    }
  };
  try {
    apply(res.headers);
  } catch {
    // Immutable headers (e.g. a Response from fetch()): copy it first, as hono did.
    res = new Response(res.body, res);
    apply(res.headers);
    c.res = res;
  }
}

/** Under --auth: admin tokens see every run, other tokens the runs they started. */
function canSeeOwnRuns(c: import('hono').Context, run: import('./compute/runs.ts').RunRecord): boolean {
  if (isAdminRequest(c)) return true;
  const me = principalOf(c)?.id;
  return !!me && run.tokenId === me;
}

/** Appends to `Vary` (copying an immutable response first). */
function appendVary(c: { res: Response }, value: string): void {
  try {
    c.res.headers.append('Vary', value);
  } catch {
    c.res = new Response(c.res.body, c.res);
    c.res.headers.append('Vary', value);
  }
}

/** The length of the path + query (+ fragment) of a request URL (see `pathAndQuery`). */
export function pathAndQueryLength(url: string): number {
  return pathAndQuery(url).length;
}
