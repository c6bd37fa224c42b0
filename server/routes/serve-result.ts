import type { Context } from 'hono';
import { cacheKey } from '../cache/key.ts';
import type { Admission } from '../compute/admission.ts';
import { computeUdf } from '../compute/encode-result.ts';
import type { EncoderRegistry } from '../encoders/registry.ts';
import { BadRequestError, NotFoundError, udfLoadFailure } from '../errors.ts';
import { resultResponse } from '../http/response.ts';
import { coerceParams, parseRequestOptions, type RequestOptions } from '../params/coerce.ts';
import { parseDuration } from '../params/duration.ts';
import { UDF_NAME } from '../udf/name.ts';
import { learn, type UdfInsight } from '../udf/kinds.ts';
import { isAdminRequest, principalOf } from '../auth/middleware.ts';
import type { ServeHooks } from '../operations.ts';
import { RunRegistry } from '../compute/runs.ts';
import { scrubMessage } from '../http/response.ts';
import { TilesmithError } from '../errors.ts';
import { isGrantedRequest, isPrivateResponse } from '../auth/middleware.ts';
import { pathAndQuery } from '../http/url.ts';
import type { HotHits } from './hot-hits.ts';
import type { Bounds, CacheEntry, LoadedUdf, ResultCache, TileCoord } from '../types.ts';


export interface ServeDeps {
  registry: { get(name: string): LoadedUdf | undefined };
  encoders: EncoderRegistry;
  cache: ResultCache;
  /** Default result lifetime in seconds (90 days). */
  defaultMaxAge: number;
  /** Remembers the kind of result each UDF version returned (for TileJSON/style.json). */
  insights: Map<string, UdfInsight>;
  log: (msg: string) => void;
  /** Caps concurrent computations; without it every miss computes at once. */
  admission?: Admission;
  /** A UDF's timeout when it declares none, ms. @default 120000 */
  defaultTimeoutMs?: number;
  /**
   * `honor`: clients may force recomputation (`cache_reset`, `cache=false`, `cache_max_age`),
   * through admission's small client-driven cap. `ignore`: those parameters are ignored.
   * @default 'honor'
   */
  clientCacheControl?: 'honor' | 'ignore';
  /** Encoded results larger than this are refused (500). @default 128 MB */
  maxResultBytes?: number;
  /** Computations in flight by cache key (see joinFlight). One map per app. */
  flights?: Map<string, Flight>;
  /** [issue 11] Rate limit + in-flight tracking before a computation; a UDF's prints after it. */
  hooks?: ServeHooks;
  /** Records every computation as a run (`GET /runs/{id}`); without it runs have ids only. */
  runs?: RunRegistry;
  /** The cached-hit fast path: told which URLs it may answer from the memory tier. */
  hot?: HotHits;
}

interface Flight {
  controller: AbortController;
  refs: number;
}

/** The default `maxResultBytes`: a 36 MB 1M-point tile fits, a runaway result does not. */
export const DEFAULT_MAX_RESULT_BYTES = 128 * 1024 * 1024;

/**
 * Identical concurrent requests share one UDF run (single-flight), so the run's signal
 * aborts only when every client waiting for it has disconnected, not the first one.
 */
function joinFlight(flights: Map<string, Flight>, key: string, clientSignal: AbortSignal): { signal: AbortSignal; leave(): void } {
  let flight = flights.get(key);
  if (!flight) {
    flight = { controller: new AbortController(), refs: 0 };
    flights.set(key, flight);
  }
  const f = flight;
  f.refs++;
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    clientSignal.removeEventListener('abort', onAbort);
    if (--f.refs === 0 && flights.get(key) === f) flights.delete(key);
  };
  const onAbort = () => {
    const last = f.refs === 1;
    leave();
    if (last) f.controller.abort(clientSignal.reason ?? new Error('client disconnected'));
  };
  if (clientSignal.aborted) queueMicrotask(onAbort);
  else clientSignal.addEventListener('abort', onAbort, { once: true });
  return { signal: f.controller.signal, leave };
}

/** Splits `?a=1&a=2&b=3` into `{ a: ['1','2'], b: ['3'] }`. */
export function queryOf(c: Context): Record<string, string[]> {
  return c.req.queries() as Record<string, string[]>;
}

/**
 * Finds a UDF by name or throws 404, or its load error (500/503, see `udfLoadFailure`) unless
 * `allowBroken` (pages that show the error).
 */
export function requireUdf(deps: Pick<ServeDeps, 'registry'>, name: string, allowBroken = false): LoadedUdf {
  if (!UDF_NAME.test(name)) {
    throw new NotFoundError(`Unknown UDF ${JSON.stringify(name.slice(0, 100))}: UDF names contain only letters, digits, _ and -. See GET /udfs for the catalog.`, 'unknown_udf');
  }
  const udf = deps.registry.get(name);
  if (!udf) throw new NotFoundError(`Unknown UDF '${name}'. See GET /udfs for the catalog.`, 'unknown_udf');
  if (!allowBroken && (udf.loadError || !udf.runtime)) throw udfLoadFailure(name, udf.loadError);
  return udf;
}



export interface ServeRequest {
  udf: LoadedUdf;
  mode: 'tile' | 'file';
  tile: TileCoord | null;
  bounds: Bounds | null;
  /** URL extension (`mvt`, `png`, …) if the path had one. */
  extension?: string;
  filename?: string;
  /** The id of the API token the request was made with (never the token), when auth knows it. */
  tokenId?: string | null;
}

/** A request's parsed options, typed parameters and cache key. */
interface PreparedRequest {
  opts: RequestOptions;
  params: Record<string, unknown>;
  ttl: number;
  useCache: boolean;
  rescale: [number, number] | undefined;
  colormap: string | string[] | undefined;
  key: string;
}

/** Parses and validates the query (400 on bad input) and computes the cache key. */
function prepareRequest(c: Context, deps: ServeDeps, req: ServeRequest): PreparedRequest {
  const { udf } = req;
  const query = queryOf(c);
  const opts = parseRequestOptions(query, req.extension);
  // Validate requested formats before running anything: unknown names are 400 now; a
  // format that does not fit the result kind can only be a 406 once the kind is known.
  for (const f of [opts.format, opts.formatVector, opts.formatRaster]) {
    if (f !== undefined && !deps.encoders.get(f)) {
      throw new BadRequestError(`Unknown format '${f.slice(0, 40)}'. Accepted formats: ${deps.encoders.names().join(', ')}.`);
    }
  }
  // Admin tokens may always force recomputation (to refresh a tile after a data change).
  if (deps.clientCacheControl === 'ignore' && !isAdminRequest(c)) {
    opts.bypass = false;
    opts.reset = false;
    opts.maxAge = undefined;
  }
  const params = coerceParams(udf.params, query);
  // The UDF decides how long its results live; a request's cache_max_age only says how old
  // a result it accepts (so it can shorten, never extend, what everyone else gets).
  const ttl = udf.options.cacheMaxAge !== undefined ? parseDuration(udf.options.cacheMaxAge, 'cacheMaxAge') : deps.defaultMaxAge;
  const useCache = !opts.bypass && ttl > 0;
  const canon = (f?: string) => (f ? deps.encoders.get(f)!.name : '');
  const rescale = opts.rescale ?? udf.options.rescale;
  const colormap = opts.colormap ?? udf.options.colormap;
  const key = cacheKey({
    udf: udf.name,
    codeHash: udf.codeHash,
    params: { ...params, '~rescale': rescale ?? null, '~colormap': colormap ?? null },
    tile: req.tile,
    bounds: req.tile ? null : req.bounds,
    format: `${canon(opts.format)}|${canon(opts.formatVector)}|${canon(opts.formatRaster)}`,
    tileSize: opts.tileSize,
  });
  return { opts, params, ttl, useCache, rescale, colormap, key };
}

/**
 * What the cache lookup of a repeated URL needs (hashing the key is the costliest step of a
 * cached hit), per deps and UDF version. Only the lookup uses it: a request that goes on to
 * compute prepares itself afresh. The key is a function of the UDF (name, code hash, params
 * specs, options: checked on recall, since a reload may replace them) and of the request's
 * path and query. Requests whose key depends on shared objects that could change (an object
 * default or a rescale/colormap from the UDF options) are not remembered.
 */
interface Remembered {
  codeHash: string;
  specs: LoadedUdf['params'];
  options: LoadedUdf['options'];
  prepared: Pick<PreparedRequest, 'key' | 'useCache'> & { opts: Pick<RequestOptions, 'reset' | 'maxAge'> };
}
const MEMO_ENTRIES = 256;
const MEMO_MAX_QUERY = 1024;
const memos = new WeakMap<ServeDeps, WeakMap<LoadedUdf, Map<string, Remembered>>>();

function requestMemoKey(c: Context, req: ServeRequest): string | undefined {
  const url = c.req.url;
  const q = url.indexOf('?');
  const query = q < 0 ? '' : url.slice(q);
  if (query.length > MEMO_MAX_QUERY) return undefined;
  const tile = req.tile ? `${req.tile.z}/${req.tile.x}/${req.tile.y}` : '';
  return `${req.mode}|${tile}|${req.bounds ?? ''}|${req.extension ?? ''}|${query}`;
}

function recall(deps: ServeDeps, udf: LoadedUdf, memoKey: string): PreparedRequest | undefined {
  const r = memos.get(deps)?.get(udf)?.get(memoKey);
  if (!r || r.codeHash !== udf.codeHash || r.specs !== udf.params || r.options !== udf.options) return undefined;
  return r.prepared as PreparedRequest;
}

function remember(deps: ServeDeps, udf: LoadedUdf, memoKey: string, p: PreparedRequest): void {
  for (const v of Object.values(p.params)) if (typeof v === 'object' && v !== null) return;
  if (p.opts.rescale === undefined && udf.options.rescale !== undefined) return;
  if (p.opts.colormap === undefined && typeof udf.options.colormap === 'object') return;
  let byUdf = memos.get(deps);
  if (!byUdf) memos.set(deps, (byUdf = new WeakMap()));
  let memo = byUdf.get(udf);
  if (!memo) byUdf.set(udf, (memo = new Map()));
  if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  memo.set(memoKey, {
    codeHash: udf.codeHash,
    specs: udf.params,
    options: udf.options,
    prepared: { key: p.key, useCache: p.useCache, opts: { reset: p.opts.reset, maxAge: p.opts.maxAge } },
  });
}

/**
 * The pipeline after routing: params + format → cache key → (cached | run UDF → normalise →
 * encode → store) → HTTP response. Tile and file routes differ only in how they get bounds.
 */
export async function serveResult(c: Context, deps: ServeDeps, req: ServeRequest): Promise<Response> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  // Fast path for a stored result: no flight, no client signal (creating one costs more than
  // the lookup), and for a URL seen before, no parsing or key hashing either. It answers only
  // when no request for this key is computing here, i.e. when getOrCompute would have
  // answered from storage too; anything else (miss, cache_max_age too old, a flight in
  // progress) takes the full path below, which prepares the request afresh.
  // An admin's cache overrides must not be answered from another client's memo (and vice versa).
  const memoKey = isAdminRequest(c) ? undefined : requestMemoKey(c, req);
  const seen = memoKey !== undefined ? recall(deps, req.udf, memoKey) : undefined;
  let prepared = seen ?? prepareRequest(c, deps, req);
  if (!seen && memoKey !== undefined) remember(deps, req.udf, memoKey, prepared);
  let reset = prepared.opts.reset;
  const flights = (deps.flights ??= new Map());
  if (prepared.useCache && !reset) {
    const { key, opts } = prepared;
    const cached = await deps.cache.get(key);
    // cache_max_age is the oldest result this request accepts (Fused semantics).
    if (cached && opts.maxAge !== undefined && Date.now() - cached.createdAt > opts.maxAge * 1000) reset = true;
    else if (cached && !flights.has(key)) {
      timings.udf = 0;
      timings.encode = 0;
      timings.total = performance.now() - t0;
      const jobId = deps.runs?.jobFor(c.req.raw);
      if (jobId) deps.runs!.completeJob(jobId, cached, req.filename, 'HIT');
      else if (opts.maxAge === undefined) rememberHot(c, deps, req, key);
      return resultResponse(c, { entry: forRequest(cached, opts.maxAge), cacheStatus: 'HIT', cacheable: true, timings, filename: req.filename, tier: cached.tier, runId: jobId ?? cached.runId ?? RunRegistry.newId() });
    }
  }
  if (seen) prepared = prepareRequest(c, deps, req);
  const { udf } = req;
  const { opts, params, ttl, useCache, rescale, colormap, key } = prepared;
  deps.hooks?.beforeCompute?.(c, req); // [issue 11] may throw 429 (rate limit); cached hits never get here
  // A recomputation the client forced goes through admission's small separate cap.
  const clientDriven = reset || opts.bypass;

  const flight = useCache ? joinFlight(flights, key, c.req.raw.signal) : { signal: c.req.raw.signal, leave() {} };
  const runs = deps.runs;
  const jobId = runs?.jobFor(c.req.raw);
  const tokenId = req.tokenId ?? principalOf(c)?.id ?? null;
  const format = opts.format ?? req.extension ?? null;
  /** The run id of the computation this request started (absent when it joined another's). */
  let ownRunId: string | undefined;
  const compute = async (): Promise<{ entry: CacheEntry; store: boolean }> => {
    const runId =
      jobId ??
      runs?.create({ udf: udf.name, mode: 'sync', tile: req.tile, bounds: req.bounds, params, format, tokenId }).id ??
      RunRegistry.newId();
    ownRunId = runId;
    try {
      return await computeRun(runId);
    } catch (err) {
      if (runs) {
        const e = err as { code?: string; message?: string; name?: string };
        if (e?.code === 'udf_timeout') runs.finish(runId, 'timed_out', { code: 'udf_timeout', message: scrubMessage(String(e.message)) });
        else if (flight.signal.aborted || e?.name === 'AbortError') runs.finish(runId, 'cancelled', { code: 'cancelled', message: 'The run was cancelled (DELETE /runs/{id}, or every client waiting for it left).' });
        else runs.finish(runId, 'failed', { code: e?.code ?? 'internal_error', message: scrubMessage(String(e?.message ?? err)) });
      }
      throw err;
    }
  };
  const computeRun = async (runId: string): Promise<{ entry: CacheEntry; store: boolean }> => {
    const timeoutMs = udf.timeoutMs ?? deps.defaultTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    const slot = deps.admission
      ? await deps.admission.acquire({
          udf: udf.name,
          udfConcurrency: udf.options.concurrency,
          tile: req.tile,
          bounds: req.bounds,
          clientDriven,
          signal: flight.signal,
          deadline,
          what: `UDF '${udf.name}'`,
        })
      : undefined;
    runs?.start(runId);
    try {
      const out = await computeUdf(
        udf,
        {
          bounds: req.bounds,
          tile: req.tile,
          tileSize: opts.tileSize,
          params,
          signal: flight.signal,
          timeoutMs: Math.max(1, timeoutMs - Math.round(slot?.waitedMs ?? 0)),
          request: runs?.request(runId) ?? { runId, udf: udf.name, tile: req.tile, bounds: req.bounds, params, format, attempt: 1, tokenId, instanceId: '' },
          onUpdate: runs ? (u) => runs.update(runId, u) : undefined,
        },
        {
          mode: req.mode,
          format: opts.format,
          formatVector: opts.formatVector,
          formatRaster: opts.formatRaster,
          maxResultBytes: deps.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
          ctx: {
            udfName: udf.name,
            tile: req.tile,
            bounds: req.bounds,
            tileSize: opts.tileSize,
            layerName: udf.name,
            extent: udf.options.extent ?? 4096,
            buffer: udf.options.buffer ?? 64,
            rescale,
            colormap,
          },
        },
        deps.encoders,
      );
      timings.udf = out.timings.udf;
      timings.encode = out.timings.encode;
      if (slot?.waitedMs) timings.queue = slot.waitedMs;
      if (out.logs.length) {
        // [issue 11] UDF prints, tagged with the request id
        if (deps.hooks?.udfLogs) deps.hooks.udfLogs(c, udf, out.logs);
        else deps.log(`[udf ${udf.name}] ${out.logs.join('\n[udf ' + udf.name + '] ')}`);
      }
      learn(deps.insights, udf, req.mode, out);
      const now = Date.now();
      const entry: CacheEntry = {
        status: out.status,
        body: out.body,
        mediaType: out.mediaType,
        etag: out.etag,
        createdAt: now,
        expiresAt: now + ttl * 1000,
        timings: { udf: timings.udf, encode: timings.encode },
        scope: { udf: udf.name, tile: req.tile, bounds: req.bounds },
        runId,
      };
      // A job ends when its result is stored (completeJob), so watchers see it downloadable.
      if (runId !== jobId) runs?.finish(runId, 'done');
      return { entry, store: useCache };
    } finally {
      slot?.release();
    }
  };

  let entry: CacheEntry;
  let status: 'HIT' | 'MISS' | 'BYPASS';
  try {
   try {
    if (!useCache) {
      entry = (await compute()).entry;
      status = 'BYPASS';
    } else {
      const got = await deps.cache.getOrCompute(key, compute, { reset, waitMs: udf.timeoutMs ?? deps.defaultTimeoutMs });
      entry = got.entry;
      status = got.hit ? 'HIT' : 'MISS';
      if (got.hit) {
        timings.udf = 0;
        timings.encode = 0;
      } else {
        timings.udf ??= entry.timings?.udf ?? 0;
        timings.encode ??= entry.timings?.encode ?? 0;
      }
    }
   } catch (err) {
      // Errors name the run too (GET /runs/{id} shows its last status).
      const runId = ownRunId ?? jobId;
      if (jobId && runs) runs.finish(jobId, 'failed', { code: (err as TilesmithError)?.code ?? 'internal_error', message: scrubMessage(String((err as Error)?.message ?? err)) });
      if (runId && err instanceof TilesmithError) err.runId = runId;
      throw err;
   }
  } finally {
    flight.leave();
  }
  timings.total = performance.now() - t0;
  if (jobId) runs!.completeJob(jobId, entry, req.filename, status);
  else if (status !== 'BYPASS' && !reset && opts.maxAge === undefined && memoKey !== undefined) rememberHot(c, deps, req, key);
  if (status === 'BYPASS') {
    // Do not let browsers or CDNs keep a result the user asked not to cache.
    entry = { ...entry, expiresAt: Date.now() };
  }
  return resultResponse(c, {
    entry: forRequest(entry, opts.maxAge),
    cacheStatus: status,
    cacheable: useCache,
    timings,
    filename: req.filename,
    tier: status === 'HIT' ? entry.tier : undefined,
    runId: jobId ?? entry.runId ?? ownRunId ?? RunRegistry.newId(),
  });
}

/**
 * Tells the cached-hit fast path (see hot-hits.ts) that this URL, asked again the same way,
 * may be answered from the memory tier: only an anonymous GET (no token: auth and private
 * responses stay on the full path; not a share URL's inner request), with a memo key (not an
 * admin's), that neither forced nor limited the cache (the callers check `cache_reset`,
 * `cache=false` and `cache_max_age`).
 */
function rememberHot(c: Context, deps: ServeDeps, req: ServeRequest, key: string): void {
  if (!deps.hot || c.req.method !== 'GET' || principalOf(c) || isPrivateResponse(c) || isGrantedRequest(c.req.raw)) return;
  deps.hot.remember(pathAndQuery(c.req.url), { udf: req.udf, key, filename: req.filename });
}

/**
 * The entry as this request may keep it: a request that accepts results at most
 * `cache_max_age` old may not be told to keep one longer than that (its `max-age` shrinks);
 * the stored entry, and what other requests get, are unchanged.
 */
function forRequest(entry: CacheEntry, maxAge: number | undefined): CacheEntry {
  if (maxAge === undefined) return entry;
  const until = entry.createdAt + maxAge * 1000;
  return until < entry.expiresAt ? { ...entry, expiresAt: until } : entry;
}
