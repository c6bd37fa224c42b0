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
import { addCommonHeaders, cacheControl, etagMatches, maxAgeOf, newRequestId, resultHead, type CommonHeaders, type ResultHead } from '../http/response.ts';
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

/**
 * A fast-path answer as node:http's `writeHead(status, headers)` takes it: `headers` is a flat
 * `[name, value, name, value, …]` list, the same headers in the same order as `ResultHead`
 * plus the common (CORS) headers. The list is the table's own, patched per request: use it
 * before the next `answerRaw` call (`writeHead` copies it into the response head at once).
 */
export interface RawHead {
  status: 200 | 204 | 304;
  headers: string[];
  body: Uint8Array | null;
}

export interface HotHits {
  /** Called by the pipeline after answering `url` (path + query) with a cacheable result it may repeat. */
  remember(url: string, info: HotHitInfo): void;
  /** The answer to `req` from the memory tier, or undefined: then run the full pipeline. */
  answer(req: HotHitRequest): ResultHead | undefined;
  /** `answer` for node:http: the same answer with its headers as a reused flat list (see `RawHead`). */
  answerRaw(req: HotHitRequest): RawHead | undefined;
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
/** `Server-Timing` of hits that took under 1 ms, by hundredths (`…total;dur=0.07`): no string built per hit. */
const HIT_TIMING_FAST = Array.from({ length: 100 }, (_, i) => `${HIT_TIMING}${(i / 100).toFixed(2)}`);

/**
 * `Server-Timing` of a hit that took `ms`, two decimals as `resultHead` writes it. Under 1 ms
 * (nearly every hit) the string comes from a table, rounded with Math.round instead of
 * toFixed (they differ only on exact binary ties, which a measured duration does not hit).
 */
function hitTiming(ms: number): string {
  const i = Math.round(ms * 100);
  return i >= 0 && i < 100 ? HIT_TIMING_FAST[i]! : `${HIT_TIMING}${ms.toFixed(2)}`;
}

/** Placeholders of the per-request values while an entry's header list is built. */
const SLOT_TIMING = '\u0000timing';
const SLOT_ID = '\u0000id';
const SLOT_RUN = '\u0000run';

/**
 * An entry's answer prepared once (per entry, filename and common headers): the header lists
 * of its 200/204 and of its 304, and where in them the values that change per request go.
 */
interface Prepared {
  common: CommonHeaders;
  filename: string | undefined;
  status: 200 | 204;
  /** The 200's body (the entry's bytes, as a Buffer view where Buffer exists: node:http would wrap a plain Uint8Array per write). */
  body: Uint8Array | null;
  full: string[];
  notModified: string[];
  /** Value indexes in `full` / `notModified`: Cache-Control, Server-Timing, X-Request-Id, X-Run-Id (-1: the entry's own, fixed). */
  slots: { cc: number; timing: number; id: number; run: number };
  slots304: { cc: number; timing: number; id: number; run: number };
  /** The Cache-Control value for `maxAge` (rebuilt when the remaining lifetime ticks down). */
  maxAge: number;
  cacheControl: string;
}

function flat(headers: Record<string, string>): string[] {
  const out: string[] = [];
  for (const k in headers) out.push(k, headers[k]!);
  return out;
}

function slotsOf(list: string[]): Prepared['slots'] {
  const at = (pred: (i: number) => boolean) => {
    for (let i = 0; i < list.length; i += 2) if (pred(i)) return i + 1;
    return -1;
  };
  return { cc: at((i) => list[i] === 'Cache-Control'), timing: at((i) => list[i + 1] === SLOT_TIMING), id: at((i) => list[i + 1] === SLOT_ID), run: at((i) => list[i + 1] === SLOT_RUN) };
}

/** Builds an entry's prepared answer with `resultHead` itself, so it is the pipeline's, header for header. */
function prepare(entry: CacheEntry, common: CommonHeaders, filename: string | undefined): Prepared {
  const options = { entry, cacheStatus: 'HIT' as const, cacheable: true, timings: HIT_TIMINGS, serverTiming: SLOT_TIMING, filename, tier: entry.tier, runId: entry.runId ?? SLOT_RUN };
  const ok = resultHead(options, { requestId: SLOT_ID, private: false, ifNoneMatch: undefined });
  const nm = resultHead(options, { requestId: SLOT_ID, private: false, ifNoneMatch: entry.etag });
  const full = flat(addCommonHeaders(ok.headers, common));
  const notModified = flat(addCommonHeaders(nm.headers, common));
  const body = ok.body && typeof Buffer !== 'undefined' && !Buffer.isBuffer(ok.body) ? Buffer.from(ok.body.buffer, ok.body.byteOffset, ok.body.byteLength) : ok.body;
  return { common, filename, status: ok.status as 200 | 204, body, full, notModified, slots: slotsOf(full), slots304: slotsOf(notModified), maxAge: -1, cacheControl: '' };
}

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
  // Per entry object (the memory tier returns the stored object on every hit); weak, so an
  // evicted entry's body is not kept alive by the table.
  const prepared = new WeakMap<CacheEntry, Prepared>();
  const maxUrls = o.maxUrls ?? 8192;
  const raw: RawHead = { status: 200, headers: [], body: null };
  let answered = 0;
  const answerRaw = (req: HotHitRequest): RawHead | undefined => {
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
    const common = o.commonHeaders(req.header('origin'));
    let p = prepared.get(entry);
    if (!p || p.common !== common || p.filename !== hot.filename) prepared.set(entry, (p = prepare(entry, common, hot.filename)));
    const ifNoneMatch = req.header('if-none-match');
    const notModified = ifNoneMatch !== undefined && (ifNoneMatch === entry.etag || etagMatches(ifNoneMatch, entry.etag));
    const headers = notModified ? p.notModified : p.full;
    const slots = notModified ? p.slots304 : p.slots;
    const maxAge = maxAgeOf(entry);
    if (maxAge !== p.maxAge) {
      p.maxAge = maxAge;
      p.cacheControl = cacheControl(true, false, maxAge);
    }
    headers[slots.cc] = p.cacheControl;
    headers[slots.id] = requestId;
    if (slots.run >= 0) headers[slots.run] = RunRegistry.newId();
    headers[slots.timing] = hitTiming(performance.now() - t0);
    raw.status = notModified ? 304 : p.status;
    raw.headers = headers;
    raw.body = raw.status === 200 ? p.body : null;
    answered++;
    const observe = o.observe?.request;
    if (observe) {
      // One record object per URL, refilled: observers memoise per record (see Observer.request).
      const r = hot.record;
      r.requestId = requestId;
      r.status = raw.status;
      r.durationMs = performance.now() - t0;
      r.tier = entry.tier;
      r.bytes = raw.status === 200 ? entry.body.byteLength : 0;
      observe(r);
    }
    return raw;
  };
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
    answerRaw,
    answer(req) {
      const head = answerRaw(req);
      if (!head) return undefined;
      const headers: Record<string, string> = {};
      for (let i = 0; i < head.headers.length; i += 2) headers[head.headers[i]!] = head.headers[i + 1]!;
      return { status: head.status, headers, body: head.body };
    },
  };
}
