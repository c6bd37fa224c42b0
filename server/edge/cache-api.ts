/**
 * The result cache tier of the Workers bundle: the Cache API (`caches.default`), which is
 * per data centre and survives isolates. Entries are keyed by a URL derived from tilesmith's
 * own cache key (so UDF version, parameters and format all take part, as on Node), stored as
 * responses whose `Cache-Control: max-age` is the entry's remaining lifetime, and carry their
 * ETag and times in headers, so a hit is served with the same ETag and Cache-Control as from
 * any other tier. Single-flight within the isolate comes from `withSingleFlight`.
 */
import type { CacheEntry, ResultCache } from '../types.ts';
import { withSingleFlight } from '../cache/single-flight.ts';

/** The part of the Cache API this tier uses (a `Cache` from `caches.default` / `caches.open`). */
export interface CacheLike {
  match(request: Request | string): Promise<Response | undefined>;
  put(request: Request | string, response: Response): Promise<void>;
  delete(request: Request | string): Promise<boolean>;
}

export interface CacheApiOptions {
  /** Origin and path prefix of the synthetic key URLs (never fetched). @default 'https://tilesmith.cache' */
  keyOrigin?: string;
  /** Called when a read or write fails; the request is then served as a miss. */
  onError?: (err: unknown) => void;
}

const H = { status: 'X-Tilesmith-Status', etag: 'X-Tilesmith-ETag', created: 'X-Tilesmith-Created', expires: 'X-Tilesmith-Expires', timings: 'X-Tilesmith-Timings', scope: 'X-Tilesmith-Scope' };

/**
 * A `ResultCache` over a Cache API cache.
 * @example const cache = createCacheApiCache(caches.default);
 */
export function createCacheApiCache(cache: CacheLike, options: CacheApiOptions = {}): ResultCache {
  const origin = options.keyOrigin ?? 'https://tilesmith.cache';
  const onError = options.onError ?? (() => {});
  const url = (key: string) => `${origin}/r/${encodeURIComponent(key)}`;

  return withSingleFlight({
    async get(key: string): Promise<CacheEntry | undefined> {
      let res: Response | undefined;
      try {
        res = await cache.match(url(key));
      } catch (err) {
        onError(err);
        return undefined;
      }
      if (!res) return undefined;
      const h = res.headers;
      const expiresAt = Number(h.get(H.expires));
      const etag = h.get(H.etag);
      if (!etag || !(expiresAt > Date.now())) {
        await res.body?.cancel();
        return undefined;
      }
      const timings = h.get(H.timings);
      const scope = h.get(H.scope);
      return {
        status: h.get(H.status) === '204' ? 204 : 200,
        body: new Uint8Array(await res.arrayBuffer()),
        mediaType: h.get('Content-Type') ?? 'application/octet-stream',
        etag,
        createdAt: Number(h.get(H.created)),
        expiresAt,
        ...(timings ? { timings: JSON.parse(timings) as Record<string, number> } : {}),
        ...(scope ? { scope: JSON.parse(scope) as CacheEntry['scope'] } : {}),
      };
    },
    async set(key: string, entry: CacheEntry): Promise<void> {
      const maxAge = Math.floor((entry.expiresAt - Date.now()) / 1000);
      if (maxAge <= 0) return;
      const headers = new Headers({
        'Content-Type': entry.mediaType,
        'Cache-Control': `public, max-age=${maxAge}`,
        [H.status]: String(entry.status),
        [H.etag]: entry.etag,
        [H.created]: String(entry.createdAt),
        [H.expires]: String(entry.expiresAt),
      });
      if (entry.timings) headers.set(H.timings, JSON.stringify(entry.timings));
      if (entry.scope) headers.set(H.scope, JSON.stringify(entry.scope));
      // Stored as a 200 whatever the result's status: the Cache API keeps only full responses.
      try {
        await cache.put(url(key), new Response(entry.body.slice(), { status: 200, headers }));
      } catch (err) {
        onError(err);
      }
    },
    async delete(key: string): Promise<void> {
      try {
        await cache.delete(url(key));
      } catch (err) {
        onError(err);
      }
    },
    /**
     * The Cache API cannot list its keys, so entries cannot be selected by UDF or area: a
     * purge at the edge removes nothing here (answers 0). Purge the origin (`DELETE
     * /admin/cache`) and the zone's cache (Cloudflare's purge API); a code change makes new
     * keys anyway, since the code hash is in every key.
     */
    async purge(): Promise<number> {
      return 0;
    },
  });
}
