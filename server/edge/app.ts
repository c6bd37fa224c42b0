/**
 * The app of an edge bundle: `createApp()` with the bundled UDFs (static registry, in-process
 * runtime), the encoders that run without Node (PNG in pure JS; jpg/webp/gif listed but a
 * 406 naming why), the target's cache tier, and the origin proxy for UDFs the bundle lacks.
 */
import { createApp, type TilesmithApp } from '../app.ts';
import { pathAndQuery } from '../http/url.ts';
import { createMemoryCache } from '../cache/memory.ts';
import { arrowEncoder } from '../encoders/arrow.ts';
import { csvEncoder } from '../encoders/csv.ts';
import { excelEncoder } from '../encoders/excel.ts';
import { featherEncoder } from '../encoders/feather.ts';
import { geojsonEncoder } from '../encoders/geojson.ts';
import { htmlEncoder } from '../encoders/html.ts';
import { jsonEncoder } from '../encoders/json.ts';
import { mvtEncoder } from '../encoders/mvt.ts';
import { parquetEncoder } from '../encoders/parquet.ts';
import { portablePngEncoder, unavailableEncoder } from '../encoders/png-portable.ts';
import { createEncoderRegistry, type EncoderRegistry } from '../encoders/registry.ts';
import { tiffEncoder } from '../encoders/tiff.ts';
import { xmlEncoder } from '../encoders/xml.ts';
import type { ResultCache } from '../types.ts';
import { createCacheApiCache, type CacheLike } from './cache-api.ts';
import { createCacheApiResponseStore, createMemoryResponseStore, createOriginProxy, edgeError, VIA, type OriginProxy } from './origin.ts';
import { createStaticRegistry, type BundledUdf } from './registry.ts';

/** The runtimes `tilesmith build` targets. */
export type EdgeTarget = 'workers' | 'deno' | 'bun';

const TARGET_NAMES: Record<EdgeTarget, string> = { workers: 'Cloudflare Workers', deno: 'Deno', bun: 'Bun' };

/**
 * The formats of an edge bundle: every pure-JS encoder, PNG through fast-png, and the formats
 * that need sharp kept by name so asking for them is a 406 that says why (not an "unknown format").
 */
export function createEdgeEncoderRegistry(target: EdgeTarget): EncoderRegistry {
  const where = TARGET_NAMES[target];
  const needsSharp = 'it needs sharp, a native Node addon that does not load there';
  return createEncoderRegistry([
    mvtEncoder,
    geojsonEncoder,
    jsonEncoder,
    csvEncoder,
    parquetEncoder,
    arrowEncoder,
    featherEncoder,
    htmlEncoder,
    excelEncoder,
    xmlEncoder,
    portablePngEncoder,
    unavailableEncoder({ name: 'jpg', aliases: ['jpeg'], extension: 'jpg', mediaType: 'image/jpeg', accepts: ['raster', 'empty'] }, needsSharp, where),
    unavailableEncoder({ name: 'webp', aliases: [], extension: 'webp', mediaType: 'image/webp', accepts: ['raster', 'empty'] }, needsSharp, where),
    unavailableEncoder({ name: 'gif', aliases: [], extension: 'gif', mediaType: 'image/gif', accepts: ['raster', 'empty'] }, needsSharp, where),
    tiffEncoder,
  ]);
}

export interface EdgeAppOptions {
  target: EdgeTarget;
  udfs: BundledUdf[];
  /** Origin tilesmith (Node) for UDFs the bundle does not contain; on Workers `env.ORIGIN` is used when this is unset. */
  origin?: string;
  /** Result cache; default: the Cache API on Workers, memory on Deno and Bun. */
  cache?: ResultCache;
  /** Memory tier size on Deno/Bun. @default 64 MB */
  memoryCacheBytes?: number;
  /** UDFs found at build time that only the origin can run (Python): named in the 404 when no origin is set. */
  originUdfs?: string[];
  publicUrl?: string;
  /** Error bodies carry UDF logs/tracebacks. @default false */
  dev?: boolean;
  defaultTimeoutMs?: number;
  log?: (msg: string) => void;
}

/** A fetch handler in the shape every target takes (Workers passes `env` and `ctx`). */
export interface EdgeApp {
  fetch(request: Request, env?: Record<string, unknown>, ctx?: unknown): Promise<Response>;
  /** The Hono app, built on the first request (Workers' `caches` and `env` exist only then). */
  app(requestUrl?: string): TilesmithApp;
}

/**
 * Cache API keys live under the deployment's own host name (the first request's): Cloudflare's
 * cache is per zone, and a key on a foreign hostname is not guaranteed to be kept there.
 */
const keyOriginOf = (requestUrl: string) => `https://${new URL(requestUrl).hostname}/__tilesmith`;

function defaultCache(o: EdgeAppOptions, requestUrl: string): ResultCache {
  const g = globalThis as { caches?: { default?: CacheLike } };
  if (o.target === 'workers' && g.caches?.default) {
    return createCacheApiCache(g.caches.default, { keyOrigin: keyOriginOf(requestUrl), onError: (err) => (o.log ?? console.error)(`tilesmith edge: Cache API: ${err instanceof Error ? err.message : err}`) });
  }
  return createMemoryCache({ maxBytes: o.memoryCacheBytes ?? 64 * 1024 * 1024 });
}

/**
 * @example
 * import roads from './roads.ts';
 * export default createEdgeApp({ target: 'workers', udfs: [{ name: 'roads', source: 'roads.ts', codeHash, def: roads }] });
 */
export function createEdgeApp(options: EdgeAppOptions): EdgeApp {
  const registry = createStaticRegistry(options.udfs, options.defaultTimeoutMs);
  let hono: TilesmithApp | undefined;
  let proxy: OriginProxy | null | undefined;
  const log = options.log ?? ((m: string) => console.error(m));

  const app = (requestUrl = 'http://localhost/'): TilesmithApp =>
    (hono ??= createApp({
      registry,
      encoders: createEdgeEncoderRegistry(options.target),
      cache: options.cache ?? defaultCache(options, requestUrl),
      publicUrl: options.publicUrl,
      defaultTimeoutMs: options.defaultTimeoutMs,
      log,
      dev: options.dev,
    }));

  const originProxy = (request: Request, env?: Record<string, unknown>): OriginProxy | null => {
    if (proxy !== undefined) return proxy;
    const origin = options.origin ?? (typeof env?.ORIGIN === 'string' ? env.ORIGIN : undefined);
    if (!origin) return (proxy = null);
    const g = globalThis as { caches?: { default?: CacheLike } };
    const store = options.target === 'workers' && g.caches?.default ? createCacheApiResponseStore(g.caches.default, keyOriginOf(request.url)) : createMemoryResponseStore();
    return (proxy = createOriginProxy({ origin, store, log }));
  };

  return {
    app,
    async fetch(request, env, ctx) {
      // A repeated GET of a result in the memory tier (Deno, Bun): the app's fast path.
      if (hono && request.method === 'GET') {
        const head = hono.hotHits.answer({ method: 'GET', url: pathAndQuery(request.url), header: (n) => request.headers.get(n) ?? undefined });
        if (head) return new Response(head.body as BodyInit | null, { status: head.status, headers: head.headers });
      }
      // /udf/<name>/… for a UDF this bundle lacks goes to the origin when there is one.
      // (GET/HEAD only: CORS preflights are answered here by the app, as on Node.)
      const m = request.method === 'GET' || request.method === 'HEAD' ? /^\/udf\/([^/]+)\//.exec(new URL(request.url).pathname) : null;
      let name: string | undefined;
      try {
        name = m ? decodeURIComponent(m[1]!) : undefined;
      } catch {
        name = undefined; // malformed escape: the app answers it
      }
      if (name !== undefined && !registry.get(name) && !request.headers.has(VIA)) {
        const p = originProxy(request, env);
        if (p) return p(request);
        if (options.originUdfs?.includes(name)) {
          return edgeError(
            request,
            404,
            'unknown_udf',
            `UDF '${name}' is not in this ${TARGET_NAMES[options.target]} bundle (only TypeScript UDFs are): set ORIGIN (or build with --origin) to a Node tilesmith that serves it.`,
          );
        }
      }
      const res = await app(request.url).fetch(request, env, ctx as never);
      // Any other route that names a UDF the bundle lacks (OGC collections, client files, …):
      // the app's own `unknown_udf` 404 sends it to the origin too.
      if (res.status === 404 && (request.method === 'GET' || request.method === 'HEAD') && !request.headers.has(VIA)) {
        const p = originProxy(request, env);
        if (p && (res.headers.get('Content-Type') ?? '').includes('json')) {
          const code = await res
            .clone()
            .json()
            .then((b) => (b as { error?: unknown }).error, () => undefined);
          if (code === 'unknown_udf') {
            await res.body?.cancel();
            return p(request);
          }
        }
      }
      return res;
    },
  };
}
