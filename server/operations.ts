/**
 * Operations wiring (issue 11), runtime-neutral: the auth middleware, share URLs, the admin
 * API, `/metrics`, per-request observation (metrics, access log) and the rate limit, put into
 * an app by `installOperations`. Node supplies the parts that need Node (SQLite token store,
 * prom-client, pino) through `OperationsOptions`.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { createAuthMiddleware, isGrantedRequest, principalOf, redactUrl, type AuthOptions } from './auth/middleware.ts';
import type { RateLimiter } from './auth/rate-limit.ts';
import { errorResponse, requestId, resultInfo } from './http/response.ts';
import { createAdminRoutes, createRunsTracker, type RunsSource } from './routes/admin.ts';
import { createShareRoutes } from './routes/share.ts';
import type { ServeRequest } from './routes/serve-result.ts';
import type { LoadedUdf, ResultCache } from './types.ts';

/** What one answered request was, for metrics and the access log (no token in it). */
export interface RequestRecord {
  requestId: string;
  method: string;
  /** Path and query with any token replaced by `[redacted]`. */
  url: string;
  /** Low-cardinality route template, e.g. `/udf/{name}/tiles`. */
  route: string;
  status: number;
  /** The UDF (only names the registry knows, so labels stay bounded). */
  udf?: string;
  durationMs: number;
  /** `X-Cache` of results: HIT, MISS or BYPASS. */
  cache?: string;
  /** `X-Cache-Tier` of hits, when the cache reports it. */
  tier?: string;
  bytes: number;
  /** UDF and encode milliseconds of computed results (from Server-Timing). */
  udfMs?: number;
  encodeMs?: number;
  /** Id (never the secret) of the token that authorised the request. */
  tokenId?: string;
}

/** Receives what the server observes. All optional. */
export interface Observer {
  /**
   * One answered request. The record is valid during the call only: the cached-hit fast path
   * reuses one record object per URL (so observers may memoise per record object, as the
   * metrics do, but must copy what they keep).
   */
  request?(r: RequestRecord): void;
  /** Lines a UDF printed during a successful run, tagged with its run's request id. */
  udfLogs?(info: { requestId: string; udf: string; lines: string[] }): void;
  authFailure?(reason: 'missing' | 'invalid' | 'forbidden'): void;
  rateLimited?(): void;
}

/** Hooks the serve pipeline calls (see `ServeDeps.hooks`). */
export interface ServeHooks {
  /** The request missed the cache and is about to compute: rate limit and in-flight tracking. Throws to refuse. */
  beforeCompute?(c: Context, req: ServeRequest): void;
  /** What a UDF printed during a successful run. */
  udfLogs?(c: Context, udf: LoadedUdf, lines: string[]): void;
}

export interface OperationsOptions {
  /** Tokens and private UDFs. */
  auth?: AuthOptions;
  observe?: Observer;
  /** Limit computations per token id / client address. */
  rateLimit?: { limiter: RateLimiter; clientKey(c: Context): string };
  /** In-flight computations for `GET /admin/runs` (the admission layer's); a request tracker otherwise. */
  runs?: RunsSource;
  /** `GET /metrics` body. */
  metrics?: { contentType: string; render(): Promise<string> | string };
  /** `POST /admin/reload`. */
  reload?(): Promise<number>;
  /**
   * Where `/admin/*` and `/metrics` are served: `'main'` (this app) or `'separate'` (an admin
   * app built by `createOpsApp`, bound to `--admin-port`). @default 'main'
   */
  adminOn?: 'main' | 'separate';
}

const RUN_DONE = 'tilesmith.runDone';

/** Route template of a path, for metric labels (never the raw path: unbounded). */
export function routeOf(path: string): { route: string; udf?: string } {
  let m = /^\/udf\/([^/]+)(?:\/(run\/)?(tiles|file|tilejson\.json|style\.json|qgis\.xml)\b)?/.exec(path);
  if (m) return { route: m[3] ? `/udf/{name}/${m[3]}` : '/udf/{name}', udf: m[1] };
  m = /^\/server\/v1\/realtime-shared\/[^/]+\/run\/(tiles|file)/.exec(path);
  if (m) return { route: `/server/v1/realtime-shared/{token}/run/${m[1]}` };
  if (path === '/admin/cache' || path === '/admin/runs' || path === '/admin/reload') return { route: path };
  if (['/', '/udfs', '/healthz', '/metrics'].includes(path)) return { route: path };
  return { route: 'other' };
}

function timingOf(header: string | null, name: string): number | undefined {
  if (!header) return undefined;
  const m = new RegExp(`(?:^|,\\s*)${name};dur=([0-9.]+)`).exec(header);
  return m ? Number(m[1]) : undefined;
}

/** Per-request observation: times every request, reports it, ends tracked runs. Reads headers only (keeps responses on the fast path). */
function observeMiddleware(observe: Observer | undefined, known: (name: string) => boolean): MiddlewareHandler {
  return async (c, next) => {
    if (isGrantedRequest(c.req.raw)) {
      // The outer share request reports it; the run still ends here.
      try {
        return await next();
      } finally {
        (c.get(RUN_DONE) as (() => void) | undefined)?.();
      }
    }
    const t0 = performance.now();
    try {
      await next();
    } finally {
      (c.get(RUN_DONE) as (() => void) | undefined)?.();
    }
    if (!observe?.request) return;
    const res = c.res;
    const { route, udf: pathUdf } = routeOf(c.req.path);
    const principal = principalOf(c);
    // Share URLs name no UDF in the path: their token's one UDF is it.
    const udf = pathUdf ?? (route.startsWith('/server/') && Array.isArray(principal?.udfs) ? principal.udfs[0] : undefined);
    // A result's facts come from resultResponse; reading the headers of a lightweight response costs more.
    const info = resultInfo(c);
    let cache: string | undefined;
    let tier: string | undefined;
    let bytes: number;
    let udfMs: number | undefined;
    let encodeMs: number | undefined;
    if (info) {
      cache = info.cacheStatus;
      tier = info.entry.tier;
      bytes = res.status === 200 ? info.entry.body.byteLength : 0;
      if (cache !== 'HIT') {
        udfMs = info.timings.udf;
        encodeMs = info.timings.encode;
      }
    } else {
      const h = res.headers;
      cache = h.get('x-cache') ?? undefined;
      tier = h.get('x-cache-tier') ?? undefined;
      bytes = Number(h.get('content-length') ?? 0) || 0;
      const timing = cache && cache !== 'HIT' ? h.get('server-timing') : null;
      udfMs = timingOf(timing, 'udf');
      encodeMs = timingOf(timing, 'encode');
    }
    const full = c.req.url;
    observe.request({
      requestId: requestId(c),
      method: c.req.method,
      // Redacted only if someone reads it (the access log skips cached hits).
      get url() {
        const slash = full.indexOf('/', full.indexOf('://') + 3);
        return redactUrl(slash < 0 ? '/' : full.slice(slash));
      },
      route,
      status: res.status,
      udf: udf && known(udf) ? udf : undefined,
      durationMs: performance.now() - t0,
      cache,
      tier,
      bytes,
      udfMs,
      encodeMs,
      tokenId: principal?.id,
    });
  };
}

/**
 * Adds the operations middleware and routes to `app` (call after the CORS middleware, before
 * the UDF routes) and returns the hooks for the serve pipeline.
 */
export function installOperations(
  app: Hono,
  o: OperationsOptions,
  deps: { registry: { get(name: string): LoadedUdf | undefined; refresh?(): Promise<void> }; cache: ResultCache; dev: boolean },
): ServeHooks {
  const observe = o.observe;
  // A tracker passed as `runs` (or made here) is fed by beforeCompute; an admission layer's snapshot needs no feeding.
  const runs: RunsSource = o.runs ?? createRunsTracker();
  const tracker = 'start' in runs ? (runs as ReturnType<typeof createRunsTracker>) : undefined;
  app.use('*', observeMiddleware(observe, (n) => deps.registry.get(n) !== undefined));
  const auth: AuthOptions = {
    ...o.auth,
    onFailure: (reason) => {
      o.auth?.onFailure?.(reason);
      observe?.authFailure?.(reason);
    },
  };
  app.use('*', createAuthMiddleware(deps.registry, auth, deps.dev));
  app.route('/', createShareRoutes({ store: o.auth?.store, dispatch: (req) => app.fetch(req), onFailure: auth.onFailure, dev: deps.dev }));
  if ((o.adminOn ?? 'main') === 'main') mountOps(app, o, deps.cache, runs);

  const limiter = o.rateLimit;
  return {
    beforeCompute(c, req) {
      const principal = principalOf(c);
      if (limiter && principal?.scope !== 'admin') {
        try {
          limiter.limiter.take(principal ? `token:${principal.id}` : `ip:${limiter.clientKey(c)}`);
        } catch (err) {
          observe?.rateLimited?.();
          throw err;
        }
      }
      if (tracker) c.set(RUN_DONE, tracker.start({ udf: req.udf.name, tile: req.tile, bounds: req.bounds }));
    },
    udfLogs(c, udf, lines) {
      observe?.udfLogs?.({ requestId: requestId(c), udf: udf.name, lines });
    },
  };
}

/** Mounts `/admin/*` and `/metrics` on `app`. */
function mountOps(app: Hono, o: OperationsOptions, cache: ResultCache, runs: RunsSource): void {
  app.route('/', createAdminRoutes({ cache, runs, reload: o.reload }));
  if (o.metrics) {
    const metrics = o.metrics;
    app.get('/metrics', async () => new Response(await metrics.render(), { headers: { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' } }));
  }
}

/**
 * The app for `--admin-port`: `/metrics` (open: bind the port to a private interface) and
 * `/admin/*` (admin tokens). The main app then serves neither.
 */
export function createOpsApp(app: Hono, o: OperationsOptions, deps: { registry: { get(name: string): LoadedUdf | undefined }; cache: ResultCache; dev: boolean }): Hono {
  app.use('*', createAuthMiddleware(deps.registry, { store: o.auth?.store, onFailure: (r) => o.observe?.authFailure?.(r) }, deps.dev));
  mountOps(app, o, deps.cache, o.runs ?? createRunsTracker());
  app.notFound((c) => c.json({ error: 'not_found', message: 'The admin port serves GET /metrics, DELETE /admin/cache, GET /admin/runs and POST /admin/reload.' }, 404));
  app.onError((err, c) => errorResponse(err, undefined, c, { dev: deps.dev }));
  return app;
}
