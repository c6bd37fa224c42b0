import type { Context } from 'hono';
import { TilesmithError, toTilesmithError } from '../errors.ts';
import type { CacheEntry } from '../types.ts';
import { isPrivateResponse } from '../auth/middleware.ts';

/**
 * Headers every response carries (CORS `Access-Control-Allow-Origin` / `-Expose-Headers`,
 * `Timing-Allow-Origin`, `Vary: Origin`), decided per request by the app's CORS middleware.
 *
 * They are put into the headers object a Response is constructed with rather than set on it
 * afterwards: @hono/node-server writes a Response built from a string / Uint8Array and a plain
 * headers object straight to `node:http`, but touching its body or replacing it (which
 * mutating headers after the handler does, in hono's `cors()` and `c.header()`) turns it into a
 * real undici Response streamed through web streams, several times slower for a cached tile.
 */
export type CommonHeaders = Readonly<Record<string, string>>;

const COMMON_HEADERS = 'tilesmith.commonHeaders';
/** Responses built with the request's common headers already in them. */
const withCommon = new WeakSet<Response>();

/** Stores the common headers of this request, for `resultResponse` / `errorResponse`. */
export function setCommonHeaders(c: Context, headers: CommonHeaders): void {
  c.set(COMMON_HEADERS, headers);
}

/** Whether `res` was built with the request's common headers (so they need not be added). */
export function hasCommonHeaders(res: Response): boolean {
  return withCommon.has(res);
}

/** Builds a Response whose headers are `headers` (a fresh object: extended in place) plus the request's common headers, if any. */
function respond(c: Context | undefined, body: BodyInit | null, status: number, headers: Record<string, string>): Response {
  const common = c?.get(COMMON_HEADERS) as CommonHeaders | undefined;
  if (!common) return new Response(body, { status, headers });
  addCommonHeaders(headers, common);
  const res = new Response(body, { status, headers });
  withCommon.add(res);
  return res;
}

/** `Server-Timing` value: `udf;dur=1.23, encode;dur=…`. */
function serverTiming(timings: Record<string, number>): string {
  let out = '';
  for (const k in timings) out += `${out ? ', ' : ''}${k};dur=${timings[k]!.toFixed(2)}`;
  return out;
}

/** Header values must be Latin-1 without line breaks: keep the short error header safe. */
function headerSafe(text: string, max = 200): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** Detail fields that are safe for any client (they describe the request, not the server). */
const PUBLIC_DETAILS = new Set(['accepted', 'parameter', 'limit', 'size', 'retryAfter']);
/** Detail fields shown only with `dev`: what the UDF printed and where it failed. */
const DEV_DETAILS = new Set(['logs', 'traceback', 'detail', 'stderr']);

const REQUEST_ID = 'tilesmith.requestId';
const BOOT = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
let requestCounter = 0;
const INCOMING_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The request id of this request: a proxy's `X-Request-Id` when it looks like one, else a
 * short id unique to this process (`<boot>-<counter>`). Cheap enough for every cached hit.
 */
export function requestId(c: Context): string {
  let id = c.get(REQUEST_ID) as string | undefined;
  if (id) return id;
  id = newRequestId(c.req.raw.headers.get('x-request-id') ?? undefined);
  c.set(REQUEST_ID, id);
  return id;
}

/** A request id: the incoming `X-Request-Id` when it looks like one, else `<boot>-<counter>`. */
export function newRequestId(incoming: string | undefined): string {
  return incoming && INCOMING_ID.test(incoming) ? incoming : `${BOOT}-${(++requestCounter).toString(36)}`;
}

/**
 * Removes what a message must not tell a client: absolute file paths (replaced by their last
 * segment), `file://` URLs and source excerpts that error messages of compilers quote.
 */
export function scrubMessage(text: string): string {
  return text
    .replace(/file:\/\/\/?[^\s'"`)]+/g, (m) => `…/${m.split('/').pop()}`)
    .replace(/(^|[\s'"`(=:])((?:\/[^\s/'"`():]+){2,}\/?)/g, (_m, pre: string, path: string) => `${pre}…/${path.replace(/\/$/, '').split('/').pop()}`)
    .replace(/\n\s*\d+\s*\|.*$/gms, '');
}

export interface ErrorResponseOptions {
  /** Include the UDF's log lines and traceback in the body (`--dev`). @default false */
  dev?: boolean;
}

/**
 * The one place errors become HTTP: JSON body `{ error, message, requestId }` (plus `logs` and
 * `traceback` with `dev`), a short `X-Tilesmith-Error` header (visible in devtools' network
 * tab), `X-Request-Id`, never cached. Everything else (traceback, stderr, paths) goes to the
 * log under the request id, never to the client.
 */
export function errorResponse(err: unknown, log?: (msg: string) => void, c?: Context, opts: ErrorResponseOptions = {}): Response {
  const e: TilesmithError = toTilesmithError(err);
  const id = c ? requestId(c) : undefined;
  const tag = id ? ` [req ${id}]` : '';
  if (e.status >= 500 && log) {
    log(`tilesmith: ${e.status} ${e.code}${tag}: ${e.message}`);
    const d = e.details ?? {};
    if (Array.isArray(d.logs) && d.logs.length) log(`tilesmith:${tag} UDF output:\n${(d.logs as string[]).join('\n')}`);
    for (const k of ['traceback', 'detail', 'stderr'] as const) {
      if (typeof d[k] === 'string' && d[k]) log(`tilesmith:${tag} ${k}:\n${d[k]}`);
    }
    if (e.code === 'internal_error' && err instanceof Error && err.stack) log(err.stack);
  }
  const message = opts.dev ? e.message : scrubMessage(e.message);
  const out: Record<string, unknown> = { error: e.code, message };
  for (const [k, v] of Object.entries(e.details ?? {})) {
    if (PUBLIC_DETAILS.has(k) || (opts.dev && DEV_DETAILS.has(k))) out[k] = v;
  }
  if (id) out.requestId = id;
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Tilesmith-Error': headerSafe(`${e.code}: ${message}`),
    ...(e.headers ?? {}),
  };
  if (id) headers['X-Request-Id'] = id;
  if (e.runId) headers['X-Run-Id'] = e.runId;
  return respond(c, JSON.stringify(out), e.status, headers);
}

export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** `If-None-Match` matches when any listed tag (or `*`) equals ours; weak prefixes are ignored. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

export interface ResultResponseOptions {
  entry: CacheEntry;
  cacheStatus: CacheStatus;
  /** Whether responses may be stored by browsers and CDNs. */
  cacheable: boolean;
  timings: Record<string, number>;
  /** `Server-Timing` as already formatted (instead of from `timings`). */
  serverTiming?: string;
  filename?: string;
  /** On a hit: the cache tier that answered (`X-Cache-Tier: memory|redis|disk`). */
  tier?: string;
  /** `X-Run-Id`: the run that computed the result (for a hit, the run that stored it). */
  runId?: string;
}

const RESULT_INFO = 'tilesmith.result';

/** [issue 11] What `resultResponse` answered this request with (metrics and logs read it instead of the headers). */
export function resultInfo(c: Context): ResultResponseOptions | undefined {
  return c.get(RESULT_INFO) as ResultResponseOptions | undefined;
}

/** What `resultHead` needs besides the result options: facts of the request. */
export interface ResultHeadRequest {
  /** `X-Request-Id`. */
  requestId: string;
  /** A token authorised the request: `Cache-Control: private` + `Vary: Authorization`. */
  private: boolean;
  /** The request's `If-None-Match`. */
  ifNoneMatch: string | undefined;
}

/** Status, headers and body of a result response, before the request's common (CORS) headers. */
export interface ResultHead {
  status: 200 | 204 | 304;
  /** A fresh object (callers may add to it). */
  headers: Record<string, string>;
  body: Uint8Array | null;
}

/** Seconds `entry` may still be served (its remaining lifetime, whole seconds, never negative). */
export function maxAgeOf(entry: CacheEntry, now = Date.now()): number {
  return Math.max(0, Math.floor((entry.expiresAt - now) / 1000));
}

/** The `Cache-Control` of a result with `maxAge` seconds left (`no-store` when not cacheable or expired). */
export function cacheControl(cacheable: boolean, isPrivate: boolean, maxAge: number): string {
  return cacheable && maxAge > 0 ? `${isPrivate ? 'private' : 'public'}, max-age=${maxAge}` : 'no-store';
}

/**
 * The status, headers and body of a computed or cached result: 200 / 204 / 304 with ETag,
 * Cache-Control (remaining lifetime of the entry), X-Cache and Server-Timing. A pure function
 * of the result and the request's facts, shared by `resultResponse` and the cached-hit fast
 * path (`createHotHits`), so both answer byte for byte alike.
 */
export function resultHead(o: ResultResponseOptions, r: ResultHeadRequest): ResultHead {
  const { entry } = o;
  const headers: Record<string, string> = {
    'Cache-Control': cacheControl(o.cacheable, r.private, maxAgeOf(entry)),
    ETag: entry.etag,
    'X-Cache': o.cacheStatus,
    'Server-Timing': o.serverTiming ?? serverTiming(o.timings),
    'X-Request-Id': r.requestId,
  };
  if (o.tier) headers['X-Cache-Tier'] = o.tier;
  if (o.runId) headers['X-Run-Id'] = o.runId;
  if (r.private) headers.Vary = 'Authorization';
  if (etagMatches(r.ifNoneMatch, entry.etag)) return { status: 304, headers, body: null };
  if (entry.status === 204) return { status: 204, headers, body: null };
  headers['Content-Type'] = entry.mediaType;
  headers['Content-Length'] = String(entry.body.byteLength);
  if (o.filename) headers['Content-Disposition'] = `inline; filename="${o.filename}"`;
  return { status: 200, headers, body: entry.body };
}

/**
 * Adds the request's common headers (CORS, see `CommonHeaders`) to `headers` in place: they
 * replace a header of the same name, and a `Vary` joins the one already there.
 */
export function addCommonHeaders(headers: Record<string, string>, common: CommonHeaders): Record<string, string> {
  for (const k in common) headers[k] = k === 'Vary' && headers.Vary ? `${headers.Vary}, ${common[k]}` : common[k]!;
  return headers;
}

/**
 * Builds the response for a computed or cached result (see `resultHead`).
 */
export function resultResponse(c: Context, o: ResultResponseOptions): Response {
  c.set(RESULT_INFO, o);
  // [issue 11] A result a token authorised is for that token's holder only: no shared caches.
  const head = resultHead(o, { requestId: requestId(c), private: isPrivateResponse(c), ifNoneMatch: c.req.header('If-None-Match') });
  return respond(c, head.body as BodyInit | null, head.status, head.headers);
}
