import { LRUCache } from 'lru-cache';
import type { CacheEntry, CachePurgeFilter, ResultCache } from '../types.ts';
import { tagTier } from './tier-tag.ts';
import { checkPurgeFilter, matchesPurge, scopeOf, type KeyedPurge } from './purge.ts';
import { withSingleFlight } from './single-flight.ts';

export interface MemoryCacheOptions {
  /** Budget for bodies plus a per-entry overhead estimate. @default 256 MiB */
  maxBytes?: number;
}

/** Rough cost of an entry besides its body (object, strings, LRU bookkeeping). */
const ENTRY_OVERHEAD = 256;

/**
 * An in-process LRU result cache bounded by bytes, not by entry count, since tile bodies
 * range from a few bytes to megabytes. An entry past its `expiresAt` is a miss and is dropped
 * on the lookup that finds it; an entry larger than the whole budget is not stored.
 *
 * @example
 * const cache = createMemoryCache({ maxBytes: 64 * 1024 * 1024 });
 * const { entry, hit } = await cache.getOrCompute(key, compute);
 */
export function createMemoryCache(opts: MemoryCacheOptions = {}): ResultCache & KeyedPurge {
  const lru = new LRUCache<string, CacheEntry>({
    maxSize: opts.maxBytes ?? 256 * 1024 * 1024,
    sizeCalculation: (entry, key) => entry.body.byteLength + key.length + ENTRY_OVERHEAD,
  });
  const peek = (key: string): CacheEntry | undefined => {
    const entry = lru.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      lru.delete(key);
      return undefined;
    }
    return entry;
  };
  return withSingleFlight({
    async get(key: string) {
      return peek(key);
    },
    peek,
    async set(key: string, entry: CacheEntry) {
      // Storing an already-expired entry would only evict live ones; drop any older value too.
      if (entry.expiresAt <= Date.now()) lru.delete(key);
      // Tagged once on the way in, so a hit returns the stored object without copying it.
      else lru.set(key, entry.tier === 'memory' ? entry : tagTier({ ...entry }, 'memory'));
    },
    async delete(key: string) {
      lru.delete(key);
    },
    purgeKeys,
    async purge(filter: CachePurgeFilter) {
      return (await purgeKeys(filter)).length;
    },
    async close() {
      lru.clear();
    },
  });

  async function purgeKeys(filter: CachePurgeFilter): Promise<string[]> {
    checkPurgeFilter(filter);
    const gone: string[] = [];
    // Collect first: deleting while iterating an LRU would skip entries.
    for (const [key, entry] of lru.entries()) if (matchesPurge(filter, scopeOf(key, entry))) gone.push(key);
    for (const key of gone) lru.delete(key);
    return gone;
  }
}
