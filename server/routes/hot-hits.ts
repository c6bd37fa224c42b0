/**
 * The cached-hit fast path: a repeated GET of a tile or file URL whose result sits in the
 * memory tier is answered from a table of URLs, without routing, middleware, `Request` /
 * `Response` objects or parsing the query again — what nginx does for a static file, and what
 * most tile traffic is (every map viewer asks for the same tiles).
 *
 * The full pipeline decides what may be answered here: `serveResult` calls `remember(url, …)`
 * only after it answered that URL with a cacheable result, for an anonymous GET (no token, not
 * private, not a share URL or a job, no `cache_reset` / `cache=false` / `cache_max_age`), so an
 * answer from the table is the one the pipeline would give, header for header (`resultHead`
 * builds both). The table never decides anything itself; it declines (the caller then runs the
 * full pipeline) whenever:
 * - the request is not a GET, or presents a token (`Authorization`): auth must see it;
 * - the UDF was reloaded, removed or replaced since (the registry returns another object);
 * - the entry left the memory tier (evicted, expired, purged) — a disk or Redis hit takes the
 *   full path, which copies it into memory, and the next request is fast again;
 * - a computation for the key is running here (a forced recomputation: the pipeline joins it).
 * Rate limits never apply to cached hits, and metrics and the access log see these requests
 * like any other (the observer gets the same record).
 */
import { addCommonHeaders, newRequestId, resultHead, type CommonHeaders, type ResultHead } from '../http/response.ts';
import { redactUrl } from '../auth/middleware.ts';
import { routeOf, type Observer, type RequestRecord } from '../operations.ts';
import { RunRegistry } from '../compute/runs.ts';
import type { CacheEntry, LoadedUdf } from '../types.ts';

/** What the fast path reads of a request. */
export interface HotHitRequest {
  method: string;
  /** Path and query exactly as received (`/udf/a/tiles/1/2/3.mvt?x=1`). */
  url: string;
  /** A request header (lower-case name), or undefined. */
  header(name: string): string | undefined;
}

/** What the full pipeline learned about a URL it answered from (or stored into) the cache. */
export interface HotHitInfo {
  udf: LoadedUdf;
  key: string;
  filename?: string;
}

export interface HotHitsOptions {
  registry: { get(name: string): LoadedUdf | undefined };
  /** The memory tier's synchronous lookup (`ResultCache.peek`); without one the table stays empty. */
  peek?(key: string): CacheEntry | undefined;
  /** Whether a computation for `key` is running (the pipeline's single-flight map). */
  busy(key: string): boolean;
  /** The request's common (CORS) headers for its `Origin`. */
  commonHeaders(origin: string | undefined): CommonHeaders;
  observe?: Observer;
  /** URLs remembered at most (oldest forgotten first). @default 8192 */
  maxUrls?: number;
}

export interface HotHits {
  /** Called by the pipeline after answering `url` (path + query) with a cacheable result it may repeat. */
  remember(url: string, info: HotHitInfo): void;
  /** The answer to `req` from the memory tier, or undefined: then run the full pipeline. */
  answer(req: HotHitRequest): ResultHead | undefined;
  /** URLs remembered now. */
  readonly size: number;
  /** Requests answered so far. */
  readonly answered: number;
}

/** The record of a fast-path hit (reused per URL; `url` is redacted only if read). */
class HitRecord implements RequestRecord {
  requestId = '';
  readonly method = 'GET';
  status = 200;
  durationMs = 0;
  readonly cache = 'HIT';
  tier: string | undefined = undefined;
  bytes = 0;
  constructor(
    private readonly rawUrl: string,
    readonly route: string,
    readonly udf: string,
  ) {}
  get url(): string {
    return redactUrl(this.rawUrl);
  }
}

const HIT_TIMINGS = { udf: 0, encode: 0 };
const HIT_TIMING = 'udf;dur=0.00, encode;dur=0.00, total;dur=';

/** Longest URL remembered: longer ones always take the full path (they are rarely repeated). */
const MAX_URL = 2048;

/**
 * Creates the fast-path table of an app (see the module comment).
 * @example
 * const hot = createHotHits({ registry, peek: (k) => cache.peek?.(k), busy: (k) => flights.has(k), commonHeaders: cors.headers });
 * const head = hot.answer({ method: 'GET', url: '/udf/a/tiles/1/0/0.mvt', header: () => undefined });
 */
export function createHotHits(o: HotHitsOptions): HotHits {
  const table = new Map<string, HotHitInfo & { udfName: string; record: HitRecord }>();
  const maxUrls = o.maxUrls ?? 8192;
  let answered = 0;
  return {
    get size() {
      return table.size;
    },
    get answered() {
      return answered;
    },
    remember(url, info) {
      // A URL with a token in it is for auth to judge every time (the token may become valid).
      if (!o.peek || url.length > MAX_URL || url.charCodeAt(0) !== 47 /* / */ || url.includes('token=')) return;
      if (table.has(url)) table.delete(url);
      else if (table.size >= maxUrls) table.delete(table.keys().next().value!);
      const q = url.indexOf('?');
      table.set(url, { ...info, udfName: info.udf.name, record: new HitRecord(url, routeOf(q < 0 ? url : url.slice(0, q)).route, info.udf.name) });
    },
    answer(req) {
      if (req.method !== 'GET') return undefined;
      const hot = table.get(req.url);
      if (!hot) return undefined;
      if (o.registry.get(hot.udfName) !== hot.udf) {
        table.delete(req.url);
        return undefined;
      }
      if (req.header('authorization') !== undefined) return undefined;
      const t0 = performance.now();
      const entry = o.peek!(hot.key);
      if (!entry || o.busy(hot.key)) return undefined;
      const requestId = newRequestId(req.header('x-request-id'));
      const head = resultHead(
        {
          entry,
          cacheStatus: 'HIT',
          cacheable: true,
          timings: HIT_TIMINGS,
          serverTiming: `${HIT_TIMING}${(performance.now() - t0).toFixed(2)}`,
          filename: hot.filename,
          tier: entry.tier,
          runId: entry.runId ?? RunRegistry.newId(),
        },
        { requestId, private: false, ifNoneMatch: req.header('if-none-match') },
      );
      addCommonHeaders(head.headers, o.commonHeaders(req.header('origin')));
      answered++;
      const observe = o.observe?.request;
      if (observe) {
        // One record object per URL, refilled: observers memoise per record (see Observer.request).
        const r = hot.record;
        r.requestId = requestId;
        r.status = head.status;
        r.durationMs = performance.now() - t0;
        r.tier = entry.tier;
        r.bytes = head.status === 200 ? entry.body.byteLength : 0;
        observe(r);
      }
      return head;
    },
  };
}
