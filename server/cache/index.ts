import type { ResultCache } from '../types.ts';
import { createDiskCache } from './disk.ts';
import { createMemoryCache } from './memory.ts';
import { createTieredCache } from './tiered.ts';

export { cacheKey, etagFor, type CacheKeyParts } from './key.ts';
export { createMemoryCache, type MemoryCacheOptions } from './memory.ts';
export { createDiskCache, diskCachePath, type DiskCache, type DiskCacheOptions, type DiskCacheOp } from './disk.ts';
export { createTieredCache, type TieredCache } from './tiered.ts';
export { withSingleFlight, type CacheStorage } from './single-flight.ts';
export { matchesPurge, scopeOf, type PurgeScope } from './purge.ts';

export interface DefaultCacheOptions {
  /** Disk cache directory. @default '.tilesmith/cache' */
  dir?: string;
  /** @default 256 MiB */
  memoryBytes?: number;
  /** @default 2 GiB */
  diskBytes?: number;
  /** Keep results on disk across restarts. @default true */
  disk?: boolean;
  /** Disk I/O failures (reported once per kind). @default console.warn */
  onError?: (error: unknown, info: { op: string; path: string }) => void;
}

/**
 * The cache the server uses unless given another: memory in front of disk, or memory alone
 * with `disk: false`. Call `close()` on shutdown so background disk writes finish.
 *
 * @example
 * const cache = createDefaultCache({ dir: '.tilesmith/cache', memoryBytes: 128 * 1024 * 1024 });
 */
export function createDefaultCache(opts: DefaultCacheOptions = {}): ResultCache {
  const memory = createMemoryCache({ maxBytes: opts.memoryBytes });
  if (opts.disk === false) return memory;
  return createTieredCache([memory, createDiskCache({ dir: opts.dir, maxBytes: opts.diskBytes, onError: opts.onError })]);
}
