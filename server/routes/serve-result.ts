import type { Context } from 'hono';
import { cacheKey, etagFor } from '../cache/key.ts';
import type { EncoderRegistry } from '../encoders/registry.ts';
import { BadRequestError, NotFoundError, UdfLoadError } from '../errors.ts';
import { resultResponse } from '../http/response.ts';
import { coerceParams, parseRequestOptions, type RequestOptions } from '../params/coerce.ts';
import { parseDuration } from '../params/duration.ts';
import { normalizeResult } from '../result/normalize.ts';
import { UDF_NAME } from '../udf/registry.ts';
import type { ServeHooks } from '../operations.ts';
import type { Bounds, CacheEntry, LoadedUdf, NormalizedResult, ResultCache, TileCoord } from '../types.ts';

/** What the app knows about each UDF from its runs (result kind and vector fields). */
export interface UdfInsight {
  kind: NormalizedResult['kind'];
  fields: Record<string, string>;
}

export interface ServeDeps {
  registry: { get(name: string): LoadedUdf | undefined };
  encoders: EncoderRegistry;
  cache: ResultCache;
  /** Default result lifetime in seconds (90 days). */
  defaultMaxAge: number;
  /** Remembers the kind of result each UDF version returned (for TileJSON/style.json). */
  insights: Map<string, UdfInsight>;
  log: (msg: string) => void;
  /** [issue 11] Rate limit + in-flight tracking before a computation; a UDF's prints after it. */
  hooks?: ServeHooks;
}

interface Flight {
  controller: AbortController;
  refs: number;
}
const flights = new Map<string, Flight>();

/**
 * Identical concurrent requests share one UDF run (single-flight), so the run's signal
 * aborts only when every client waiting for it has disconnected, not the first one.
 */
function joinFlight(key: string, clientSignal: AbortSignal): { signal: AbortSignal; leave(): void } {
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

/** Finds a UDF by name or throws 404 (or its load error). */
export function requireUdf(deps: Pick<ServeDeps, 'registry'>, name: string): LoadedUdf {
  if (!UDF_NAME.test(name)) {
    throw new NotFoundError(`Unknown UDF ${JSON.stringify(name.slice(0, 100))}: UDF names contain only letters, digits, _ and -. See GET /udfs for the catalog.`, 'unknown_udf');
  }
  const udf = deps.registry.get(name);
  if (!udf) throw new NotFoundError(`Unknown UDF '${name}'. See GET /udfs for the catalog.`, 'unknown_udf');
  if (udf.loadError || !udf.runtime) {
    throw new UdfLoadError(udf.loadError?.message ?? `UDF '${name}' has no runtime`, udf.loadError?.status ?? 500, {
      detail: udf.loadError?.detail,
    });
  }
  return udf;
}

export function insightKey(udf: LoadedUdf): string {
  return `${udf.name}@${udf.codeHash}`;
}

function learn(deps: ServeDeps, udf: LoadedUdf, result: NormalizedResult): void {
  if (result.kind === 'empty') return;
  const key = insightKey(udf);
  const known = deps.insights.get(key);
  const fields: Record<string, string> = known?.fields ?? {};
  if (result.kind === 'vector') {
    for (const f of result.features.slice(0, 50)) {
      for (const [k, v] of Object.entries(f.properties ?? {})) {
        if (!(k in fields)) fields[k] = typeof v === 'number' ? 'Number' : typeof v === 'boolean' ? 'Boolean' : 'String';
      }
    }
  }
  deps.insights.set(key, { kind: result.kind, fields });
}

export interface ServeRequest {
  udf: LoadedUdf;
  mode: 'tile' | 'file';
  tile: TileCoord | null;
  bounds: Bounds | null;
  /** URL extension (`mvt`, `png`, …) if the path had one. */
  extension?: string;
  filename?: string;
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
  const params = coerceParams(udf.params, query);
  const udfMaxAge = udf.options.cacheMaxAge !== undefined ? parseDuration(udf.options.cacheMaxAge, 'cacheMaxAge') : deps.defaultMaxAge;
  const ttl = opts.maxAge ?? udfMaxAge;
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
  const memoKey = requestMemoKey(c, req);
  const seen = memoKey !== undefined ? recall(deps, req.udf, memoKey) : undefined;
  let prepared = seen ?? prepareRequest(c, deps, req);
  if (!seen && memoKey !== undefined) remember(deps, req.udf, memoKey, prepared);
  let reset = prepared.opts.reset;
  if (prepared.useCache && !reset) {
    const { key, opts } = prepared;
    const cached = await deps.cache.get(key);
    // cache_max_age is the oldest result this request accepts (Fused semantics).
    if (cached && opts.maxAge !== undefined && Date.now() - cached.createdAt > opts.maxAge * 1000) reset = true;
    else if (cached && !flights.has(key)) {
      timings.udf = 0;
      timings.encode = 0;
      timings.total = performance.now() - t0;
      return resultResponse(c, { entry: cached, cacheStatus: 'HIT', cacheable: true, timings, filename: req.filename });
    }
  }
  if (seen) prepared = prepareRequest(c, deps, req);
  const { udf } = req;
  const { opts, params, ttl, useCache, rescale, colormap, key } = prepared;
  deps.hooks?.beforeCompute?.(c, req); // [issue 11] may throw 429 (rate limit); cached hits never get here

  const flight = useCache ? joinFlight(key, c.req.raw.signal) : { signal: c.req.raw.signal, leave() {} };
  const compute = async (): Promise<{ entry: CacheEntry; store: boolean }> => {
    const tu = performance.now();
    const output = await udf.runtime!.run({
      bounds: req.bounds,
      tile: req.tile,
      tileSize: opts.tileSize,
      params,
      signal: flight.signal,
    });
    if (output.logs.length) deps.hooks?.udfLogs?.(c, udf, output.logs); // [issue 11] UDF prints, tagged with the request id
    const result = normalizeResult(output.value);
    timings.udf = performance.now() - tu;
    learn(deps, udf, result);
    const te = performance.now();
    const requested =
      (result.kind === 'vector' || result.kind === 'table' ? opts.formatVector : undefined) ??
      (result.kind === 'raster' ? opts.formatRaster : undefined) ??
      opts.format;
    const encoder = deps.encoders.select(requested, result.kind, req.mode);
    const emptyTile =
      req.mode === 'tile' &&
      (result.kind === 'empty' || (result.kind === 'vector' && result.features.length === 0));
    const body = emptyTile
      ? new Uint8Array(0)
      : await encoder.encode(result, {
          udfName: udf.name,
          tile: req.tile,
          bounds: req.bounds,
          tileSize: opts.tileSize,
          layerName: udf.name,
          extent: udf.options.extent ?? 4096,
          buffer: udf.options.buffer ?? 64,
          rescale,
          colormap,
        });
    timings.encode = performance.now() - te;
    const now = Date.now();
    const entry: CacheEntry = {
      status: emptyTile ? 204 : 200,
      body,
      mediaType: encoder.mediaType,
      etag: etagFor(body),
      createdAt: now,
      expiresAt: now + ttl * 1000,
      timings: { udf: timings.udf, encode: timings.encode },
      scope: { udf: udf.name, tile: req.tile, bounds: req.bounds },
    };
    return { entry, store: useCache };
  };

  let entry: CacheEntry;
  let status: 'HIT' | 'MISS' | 'BYPASS';
  try {
    if (!useCache) {
      entry = (await compute()).entry;
      status = 'BYPASS';
    } else {
      const got = await deps.cache.getOrCompute(key, compute, { reset });
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
  } finally {
    flight.leave();
  }
  timings.total = performance.now() - t0;
  if (status === 'BYPASS') {
    // Do not let browsers or CDNs keep a result the user asked not to cache.
    entry = { ...entry, expiresAt: Date.now() };
  }
  return resultResponse(c, { entry, cacheStatus: status, cacheable: useCache, timings, filename: req.filename });
}
