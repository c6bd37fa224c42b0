import type { CacheEntry, CachePurgeFilter, ResultCache } from '../types.ts';
import { checkPurgeFilter, type KeyedPurge } from './purge.ts';
import { withSingleFlight, type CacheStorage, type Fenced } from './single-flight.ts';

/** A tiered cache, with `flush()` to wait for the writes it runs in the background. */
export interface TieredCache extends ResultCache, KeyedPurge, Fenced {
  /** Resolves when every background write and promotion started so far, and each tier's own flush, is done. */
  flush(): Promise<void>;
  /** Purges only the tiers `include` accepts (e.g. the local ones, when another instance purged the shared one). */
  purgeTiers(filter: CachePurgeFilter, include: (tier: CacheStorage) => boolean): Promise<number>;
  /** Flushes, then closes every tier. */
  close(): Promise<void>;
}

/**
 * Stacks caches, fastest first (typically memory, then disk). A lookup tries each tier in
 * order and copies a hit into the faster tiers above it. A store writes every tier, but only
 * the first is awaited: slower tiers are written in the background so a request is not held
 * up by disk I/O; `flush()` and `close()` wait for them. Tiers report their own write errors
 * (e.g. the disk cache's `onError`), so background failures are not surfaced here.
 *
 * @example
 * const cache = createTieredCache([createMemoryCache({}), createDiskCache({ dir })]);
 * await cache.getOrCompute(key, compute);
 * await cache.close();
 */
export function createTieredCache(tiers: CacheStorage[]): TieredCache {
  if (tiers.length === 0) throw new TypeError('createTieredCache: at least one tier is required');
  const pending = new Set<Promise<unknown>>();

  function background(work: Promise<unknown>): void {
    const settled = work.catch(() => {});
    pending.add(settled);
    void settled.finally(() => pending.delete(settled));
  }

  /** Writes `tiers[0..]`; starts the slow ones first so that a later delete is ordered after them. */
  async function store(targets: CacheStorage[], key: string, entry: CacheEntry): Promise<void> {
    for (const tier of targets.slice(1)) background(tier.set(key, entry));
    await targets[0]?.set(key, entry);
  }

  async function flush(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
    for (const tier of tiers) await (tier as Partial<TieredCache>).flush?.();
  }

  /**
   * Purges every tier after the background writes started so far (so none lands after the
   * purge) and counts each removed key once, however many tiers held it. A tier without
   * `purgeKeys` contributes its count only when no other tier says which keys went.
   */
  /** Purges running now, and a counter bumped when one starts or ends (see `get`). */
  let purging = 0;
  let purgeEpoch = 0;

  async function purgeAll(filter: CachePurgeFilter, include: (tier: CacheStorage) => boolean = () => true): Promise<{ keys: string[]; uncounted: number }> {
    checkPurgeFilter(filter);
    purging++;
    purgeEpoch++;
    try {
      while (pending.size > 0) await Promise.all([...pending]);
      const keys = new Set<string>();
      let uncounted = 0;
      await Promise.all(
        tiers.filter(include).map(async (tier) => {
          const keyed = (tier as Partial<KeyedPurge>).purgeKeys;
          if (keyed) for (const key of await keyed(filter)) keys.add(key);
          else uncounted = Math.max(uncounted, await tier.purge(filter));
        }),
      );
      return { keys: [...keys], uncounted };
    } finally {
      purging--;
      purgeEpoch++;
    }
  }

  async function purgeKeys(filter: CachePurgeFilter): Promise<string[]> {
    return (await purgeAll(filter)).keys;
  }

  return withSingleFlight({
    async get(key: string): Promise<CacheEntry | undefined> {
      const epoch = purgeEpoch;
      for (let i = 0; i < tiers.length; i++) {
        const entry = await tiers[i]!.get(key);
        if (entry) {
          // No copying up while a purge runs or if one ran meanwhile: the copy could land after
          // the purge passed the faster tiers and bring the entry back.
          if (purging === 0 && epoch === purgeEpoch) await store(tiers.slice(0, i), key, entry);
          return entry;
        }
      }
      return undefined;
    },
    // Only the first tier can answer synchronously (memory); a hit there is what `get` returns too.
    ...(tiers[0]!.peek ? { peek: tiers[0]!.peek } : {}),
    set: (key: string, entry: CacheEntry) => store(tiers, key, entry),
    async delete(key: string): Promise<void> {
      await Promise.all(tiers.map((tier) => tier.delete(key)));
    },
    purgeKeys,
    async purgeTiers(filter: CachePurgeFilter, include: (tier: CacheStorage) => boolean): Promise<number> {
      const { keys, uncounted } = await purgeAll(filter, include);
      return Math.max(keys.length, uncounted);
    },
    async purge(filter: CachePurgeFilter): Promise<number> {
      const { keys, uncounted } = await purgeAll(filter);
      return Math.max(keys.length, uncounted);
    },
    flush,
    async close(): Promise<void> {
      await flush();
      for (const tier of tiers) await tier.close?.();
    },
  });
}
