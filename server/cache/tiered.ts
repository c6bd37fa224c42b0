import type { CacheEntry, CachePurgeFilter, ResultCache } from '../types.ts';
import { checkPurgeFilter, type KeyedPurge } from './purge.ts';
import { withSingleFlight } from './single-flight.ts';

/** A tiered cache, with `flush()` to wait for the writes it runs in the background. */
export interface TieredCache extends ResultCache, KeyedPurge {
  /** Resolves when every background write and promotion started so far, and each tier's own flush, is done. */
  flush(): Promise<void>;
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
export function createTieredCache(tiers: ResultCache[]): TieredCache {
  if (tiers.length === 0) throw new TypeError('createTieredCache: at least one tier is required');
  const pending = new Set<Promise<unknown>>();

  function background(work: Promise<unknown>): void {
    const settled = work.catch(() => {});
    pending.add(settled);
    void settled.finally(() => pending.delete(settled));
  }

  /** Writes `tiers[0..]`; starts the slow ones first so that a later delete is ordered after them. */
  async function store(targets: ResultCache[], key: string, entry: CacheEntry): Promise<void> {
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
  async function purgeAll(filter: CachePurgeFilter): Promise<{ keys: string[]; uncounted: number }> {
    checkPurgeFilter(filter);
    while (pending.size > 0) await Promise.all([...pending]);
    const keys = new Set<string>();
    let uncounted = 0;
    await Promise.all(
      tiers.map(async (tier) => {
        const keyed = (tier as Partial<KeyedPurge>).purgeKeys;
        if (keyed) for (const key of await keyed(filter)) keys.add(key);
        else uncounted = Math.max(uncounted, await tier.purge(filter));
      }),
    );
    return { keys: [...keys], uncounted };
  }

  async function purgeKeys(filter: CachePurgeFilter): Promise<string[]> {
    return (await purgeAll(filter)).keys;
  }

  return withSingleFlight({
    async get(key: string): Promise<CacheEntry | undefined> {
      for (let i = 0; i < tiers.length; i++) {
        const entry = await tiers[i]!.get(key);
        if (entry) {
          await store(tiers.slice(0, i), key, entry);
          return entry;
        }
      }
      return undefined;
    },
    set: (key: string, entry: CacheEntry) => store(tiers, key, entry),
    async delete(key: string): Promise<void> {
      await Promise.all(tiers.map((tier) => tier.delete(key)));
    },
    purgeKeys,
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
