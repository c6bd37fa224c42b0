/**
 * The origin proxy of the edge bundles: a request for a UDF the bundle does not contain (every
 * Python UDF) is fetched from a Node tilesmith with the same path and query. Responses are
 * passed through unchanged (status, body, headers: errors included) and cached at the edge as
 * the origin's Cache-Control allows, so a tile the origin computed once is served from the
 * edge until it expires. `Authorization` is forwarded; a response to a request that carried
 * one is cached only when the origin marks it `public` (RFC 9111 §3.5), and is then keyed
 * per credential as well, so one user's token never answers another's request.
 */
import type { CacheLike } from './cache-api.ts';

/** Where proxied responses are kept at the edge. */
export interface ResponseStore {
  get(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

export interface OriginProxyOptions {
  /** Base URL of the origin tilesmith, e.g. `https://tiles.example.com` (a path prefix is kept). */
  origin: string;
  /** Edge store for proxied responses; none = nothing cached. */
  store?: ResponseStore;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  log?: (msg: string) => void;
}

/** Request headers forwarded to the origin (the rest describe the edge hop, not the client). */
const FORWARD = ['authorization', 'accept', 'accept-language', 'if-none-match', 'user-agent', 'x-request-id'];
const EXPIRES = 'X-Tilesmith-Edge-Expires';
/** Request header an edge sets on requests to its origin. */
export const VIA = 'X-Tilesmith-Via';

function directives(cacheControl: string | null): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (const part of (cacheControl ?? '').split(',')) {
    const [k, v] = part.trim().split('=', 2) as [string, string | undefined];
    if (k) out.set(k.toLowerCase(), v === undefined ? true : v.replace(/^"|"$/g, ''));
  }
  return out;
}

/** Seconds the edge may keep this response, or 0. */
function edgeLifetime(res: Response, withAuth: boolean): number {
  if (res.status !== 200) return 0;
  const cc = directives(res.headers.get('Cache-Control'));
  if (cc.has('no-store') || cc.has('private') || cc.has('no-cache')) return 0;
  if (withAuth && !cc.has('public') && !cc.has('s-maxage')) return 0;
  const age = Number(cc.get('s-maxage') ?? cc.get('max-age') ?? 0);
  return Number.isFinite(age) && age > 0 ? Math.floor(age) : 0;
}

/**
 * An error answered by the edge itself, shaped like tilesmith's (`{error, message, requestId}`),
 * readable cross-origin like every tilesmith response.
 */
export function edgeError(request: Request, status: number, error: string, message: string): Response {
  const incoming = request.headers.get('x-request-id');
  const requestId = incoming && /^[\w.:-]{1,64}$/.test(incoming) ? incoming : `edge-${crypto.randomUUID().slice(0, 8)}`;
  return Response.json(
    { error, message, requestId },
    { status, headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'X-Request-Id', 'X-Request-Id': requestId, 'Cache-Control': 'no-store' } },
  );
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A memory store for proxied responses (Deno, Bun): at most `maxEntries`, oldest first out.
 * @example createOriginProxy({ origin, store: createMemoryResponseStore() })
 */
export function createMemoryResponseStore(maxEntries = 5000): ResponseStore {
  const map = new Map<string, { status: number; headers: [string, string][]; body: Uint8Array }>();
  return {
    async get(key) {
      const hit = map.get(key);
      if (!hit) return undefined;
      return new Response(hit.body.slice(), { status: hit.status, headers: hit.headers });
    },
    async put(key, res) {
      const body = new Uint8Array(await res.arrayBuffer());
      map.delete(key);
      map.set(key, { status: res.status, headers: [...res.headers], body });
      while (map.size > maxEntries) map.delete(map.keys().next().value!);
    },
  };
}

/**
 * A Cache API store for proxied responses (Workers: `caches.default`).
 * @example createCacheApiResponseStore(caches.default)
 */
export function createCacheApiResponseStore(cache: CacheLike, keyOrigin = 'https://tilesmith.cache'): ResponseStore {
  const url = (key: string) => `${keyOrigin}/o/${encodeURIComponent(key)}`;
  return {
    get: (key) => cache.match(url(key)),
    put: (key, res) => cache.put(url(key), res),
  };
}

/** A `fetch`-style handler that proxies to the origin. */
export type OriginProxy = (request: Request) => Promise<Response>;

/**
 * @example
 * const proxy = createOriginProxy({ origin: 'https://tiles.example.com', store: createMemoryResponseStore() });
 * const res = await proxy(new Request('https://edge.example/udf/population/tiles/3/4/2.png'));
 */
export function createOriginProxy(options: OriginProxyOptions): OriginProxy {
  const base = new URL(options.origin);
  const prefix = base.pathname.replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const log = options.log ?? (() => {});

  return async (request) => {
    const incoming = new URL(request.url);
    const target = new URL(base.origin + prefix + incoming.pathname + incoming.search);
    const auth = request.headers.get('Authorization');
    const cacheable = options.store && (request.method === 'GET' || request.method === 'HEAD');
    const key = cacheable ? target.href + (auth ? `#auth=${await sha256Hex(auth)}` : '') : '';

    if (cacheable) {
      const hit = await options.store!.get(key).catch(() => undefined);
      const expires = Number(hit?.headers.get(EXPIRES));
      if (hit && expires > Date.now()) {
        const headers = new Headers(hit.headers);
        headers.delete(EXPIRES);
        // What is left of the origin's lifetime, not the lifetime it had when stored.
        const cc = headers.get('Cache-Control');
        const remaining = Math.max(0, Math.floor((expires - Date.now()) / 1000));
        if (cc) headers.set('Cache-Control', cc.replace(/(s-maxage|max-age)=\d+/g, `$1=${remaining}`));
        headers.set('X-Edge-Cache', 'HIT');
        const etag = headers.get('ETag');
        const inm = request.headers.get('If-None-Match');
        if (etag && inm && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
          await hit.body?.cancel();
          for (const h of ['Content-Type', 'Content-Length', 'Content-Encoding']) headers.delete(h);
          return new Response(null, { status: 304, headers });
        }
        return new Response(request.method === 'HEAD' ? null : hit.body, { status: hit.status, headers });
      }
      await hit?.body?.cancel();
    }

    const headers = new Headers();
    for (const name of FORWARD) {
      const value = request.headers.get(name);
      // The edge keeps the full body: it asks for it and answers conditionals itself.
      if (value !== null && !(cacheable && name === 'if-none-match')) headers.set(name, value);
    }
    // Marks the hop: an edge that receives it does not proxy again (an ORIGIN pointing at an edge would loop).
    headers.set(VIA, 'edge');
    headers.set('X-Forwarded-Host', incoming.host);
    headers.set('X-Forwarded-Proto', incoming.protocol.replace(':', ''));
    let res: Response;
    try {
      res = await doFetch(target.href, { method: request.method === 'HEAD' ? 'HEAD' : 'GET', headers, redirect: 'manual' });
    } catch (err) {
      const res = edgeError(request, 502, 'origin_unreachable', 'This UDF is served by the origin tilesmith, which could not be reached. Try again later.');
      log(`tilesmith edge: 502 [req ${res.headers.get('X-Request-Id')}]: origin ${base.origin} unreachable for ${incoming.pathname}: ${err instanceof Error ? err.message : err}`);
      return res;
    }
    const lifetime = cacheable ? edgeLifetime(res, auth !== null) : 0;
    const out = new Headers(res.headers);
    // fetch() has already decoded the body: its encoding and length no longer describe it.
    out.delete('Content-Encoding');
    out.delete('Content-Length');
    out.set('X-Edge-Cache', cacheable ? 'MISS' : 'BYPASS');
    if (lifetime > 0 && request.method === 'GET') {
      const body = new Uint8Array(await res.arrayBuffer());
      const stored = new Headers(out);
      stored.set(EXPIRES, String(Date.now() + lifetime * 1000));
      try {
        await options.store!.put(key, new Response(body.slice(), { status: res.status, headers: stored }));
      } catch (err) {
        log(`tilesmith edge: could not cache ${target.pathname}: ${err instanceof Error ? err.message : err}`);
      }
      const inm = request.headers.get('If-None-Match');
      const etag = out.get('ETag');
      if (etag && inm && inm.split(',').some((t) => t.trim() === etag)) {
        for (const h of ['Content-Type', 'Content-Length', 'Content-Encoding']) out.delete(h);
        return new Response(null, { status: 304, headers: out });
      }
      return new Response(body, { status: res.status, headers: out });
    }
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  };
}
