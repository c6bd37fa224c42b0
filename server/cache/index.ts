import type { ResultCache } from '../types.ts';
import { createDiskCache, type DiskWriter } from './disk.ts';
import { createMemoryCache } from './memory.ts';
import { createRedisTier, withSharedCompute } from './redis.ts';
import { createTieredCache } from './tiered.ts';

export { cacheKey, etagFor, type CacheKeyParts } from './key.ts';
export { createMemoryCache, type MemoryCacheOptions } from './memory.ts';
export { createDiskCache, diskCachePath, type DiskCache, type DiskCacheOptions, type DiskCacheOp, type DiskWriter } from './disk.ts';
export { createTieredCache, type TieredCache } from './tiered.ts';
export { createRedisTier, withSharedCompute, type RedisTier, type RedisTierOptions, type SharedCacheOptions, type SharedCache } from './redis.ts';
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
  /** Who writes the disk tier's files (see `DiskCacheOptions.writer`). @default this thread */
  diskWriter?: DiskWriter;
  /** Disk I/O failures (reported once per kind). @default console.warn */
  onError?: (error: unknown, info: { op: string; path: string }) => void;
  /** Redis URL: adds a tier shared by every instance (between memory and disk) and compute-once across them. */
  redis?: string;
  /** Prefix of the Redis keys and channel. @default 'tilesmith' */
  redisPrefix?: string;
  /** Expiry of a compute lock whose holder stopped renewing it (crashed). @default 15000 */
  redisLockTtlMs?: number;
  /** Longest a request waits for another instance's compute (the request timeout). @default 120000 */
  waitTimeoutMs?: number;
  /** Redis warnings. @default console.warn */
  log?: (message: string) => void;
}

/**
 * The cache the server uses unless given another: memory in front of disk, or memory alone
 * with `disk: false`; with `redis`, memory → Redis → disk (or memory → Redis) and
 * compute-once and purges across every instance on that Redis. Call `close()` on shutdown so background disk writes finish.
 *
 * @example
 * const cache = createDefaultCache({ dir: '.tilesmith/cache', memoryBytes: 128 * 1024 * 1024 });
 */
export function createDefaultCache(opts: DefaultCacheOptions = {}): ResultCache {
  const memory = createMemoryCache({ maxBytes: opts.memoryBytes });
  const disk = opts.disk === false ? undefined : createDiskCache({ dir: opts.dir, maxBytes: opts.diskBytes, onError: opts.onError, writer: opts.diskWriter });
  if (!opts.redis) return disk ? createTieredCache([memory, disk]) : memory;
  const redis = createRedisTier({ url: opts.redis, prefix: opts.redisPrefix, lockTtlMs: opts.redisLockTtlMs, log: opts.log });
  const tiered = createTieredCache(disk ? [memory, redis, disk] : [memory, redis]);
  return withSharedCompute(tiered, redis, { waitTimeoutMs: opts.waitTimeoutMs, log: opts.log });
}
