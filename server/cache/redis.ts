import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { CacheEntry, CachePurgeFilter, ResultCache } from '../types.ts';
import { decodeEntry, encodeEntry } from './disk.ts';
import { checkPurgeFilter, matchesPurge, scopeOf, type KeyedPurge } from './purge.ts';
import { tagTier } from './tier-tag.ts';
import type { TieredCache } from './tiered.ts';

export interface RedisTierOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://` for TLS). */
  url: string;
  /** Prefix of every key and channel, so several deployments can share one Redis. @default 'tilesmith' */
  prefix?: string;
  /** How long a compute lock lives without being renewed (its holder renews it while alive). @default 15000 */
  lockTtlMs?: number;
  /** How long one Redis command may take before it counts as a failure (and the tier is skipped). @default 1000 */
  commandTimeoutMs?: number;
  /** Warnings: Redis lost or back, corrupt entries. @default console.warn */
  log?: (message: string) => void;
}

/** Events instances send each other on `<prefix>:events`. */
type CacheEvent =
  | { type: 'done'; key: string; from: string }
  | { type: 'purge'; filter: CachePurgeFilter; from: string };

/** The Redis tier: a storage tier plus the cross-instance lock and events. */
export interface RedisTier extends Omit<ResultCache, 'getOrCompute'>, KeyedPurge {
  /** True while connected; every operation is a quiet no-op (a miss) otherwise. */
  readonly ready: boolean;
  readonly instanceId: string;
  /** Takes the compute lock of `key`; resolves to a release function, or undefined if another instance holds it (or Redis is down). */
  lock(key: string): Promise<(() => Promise<void>) | undefined>;
  /** Whether some instance holds the lock of `key` (false when Redis is down). */
  locked(key: string): Promise<boolean>;
  /** Resolves when `done` is announced for `key` or after `ms`, whichever comes first. */
  waitDone(key: string, ms: number): Promise<void>;
  /** Tells every instance that `key` was computed (or failed), so their waiters look again. */
  announceDone(key: string): Promise<void>;
  /** Tells every other instance to purge `filter` from its local tiers. */
  announcePurge(filter: CachePurgeFilter): Promise<void>;
  /** Called with purges announced by other instances. */
  onPurge(listener: (filter: CachePurgeFilter) => void): void;
  /** Resolves once connected (or rejects after `ms`): for tests and `seed`. */
  whenReady(ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Escapes Redis glob characters, so a prefix with `*`, `?` or `[` matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Deletes the lock only if it is still ours (it may have expired and been taken by another instance). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** Extends the lock only if it is still ours. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * A Redis tier shared by every tilesmith instance pointed at the same Redis and prefix.
 *
 * Values are the same checksummed encoding as disk files (header with key, metadata and
 * scope; body; CRC-32), so a truncated or corrupted value is detected, deleted and treated as
 * a miss, never served. Each value's Redis TTL is the entry's remaining lifetime. Redis is
 * expected to evict by itself (`maxmemory` + `allkeys-lru`).
 *
 * Redis being down is never an error: the client reconnects with backoff, commands fail fast
 * (no offline queue, a short command timeout), and every operation then answers "miss" or
 * does nothing. One warning is logged when Redis goes away and one when it is back.
 */
export function createRedisTier(opts: RedisTierOptions): RedisTier {
  const prefix = opts.prefix ?? 'tilesmith';
  const lockTtl = opts.lockTtlMs ?? 15_000;
  const log = opts.log ?? ((m: string) => console.warn(m));
  const instanceId = randomBytes(8).toString('hex');
  const channel = `${prefix}:events`;
  const dataKey = (key: string) => `${prefix}:r:${key}`;
  const lockKey = (key: string) => `${prefix}:l:${key}`;
  const shownUrl = opts.url.replace(/\/\/[^@/]*@/, '//***@');

  const common = {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs ?? 1000,
    connectTimeout: 2000,
    // Backoff: 100 ms, 200 ms, … up to 5 s between attempts, forever.
    retryStrategy: (times: number) => Math.min(times * 100, 5000),
  };
  const client = new Redis(opts.url, common);
  // The subscriber needs its offline queue for the SUBSCRIBE issued before it is connected.
  const subscriber = new Redis(opts.url, { ...common, enableOfflineQueue: true, commandTimeout: undefined });

  let closing = false;
  let warnedDown = false;
  let everReady = false;
  let lastCommandWarning = 0;
  const onError = (error: Error) => {
    if (closing) return;
    if (client.status === 'ready') {
      // Connected but a command failed (e.g. timed out): a miss now, a warning at most once a minute.
      if (Date.now() - lastCommandWarning < 60_000) return;
      lastCommandWarning = Date.now();
      log(`tilesmith cache: a Redis command failed (${error.message}); answered from the local tiers`);
      return;
    }
    if (warnedDown) return;
    warnedDown = true;
    log(`tilesmith cache: Redis at ${shownUrl} is unavailable (${error.message}); using the local tiers and reconnecting in the background`);
  };
  client.on('error', onError);
  subscriber.on('error', () => {}); // the client reports for both
  client.on('ready', () => {
    if (warnedDown || everReady) log(`tilesmith cache: Redis at ${shownUrl} is ${everReady ? 'back' : 'connected'}; sharing the cache again`);
    warnedDown = false;
    everReady = true;
  });

  const waiters = new Map<string, Set<() => void>>();
  const purgeListeners: Array<(filter: CachePurgeFilter) => void> = [];
  void subscriber.subscribe(channel).catch(() => {});
  subscriber.on('message', (_channel: string, message: string) => {
    let event: CacheEvent;
    try {
      event = JSON.parse(message) as CacheEvent;
    } catch {
      return;
    }
    if (event.type === 'done') {
      const set = waiters.get(event.key);
      if (set) for (const wake of set) wake();
    } else if (event.type === 'purge' && event.from !== instanceId) {
      for (const listener of purgeListeners) {
        try {
          listener(event.filter);
        } catch {
          // a failing listener must not stop the others
        }
      }
    }
  });

  const ready = () => client.status === 'ready';

  /** Runs a Redis operation; any failure (down, timeout) gives `fallback`. */
  async function attempt<T>(fallback: T, op: () => Promise<T>): Promise<T> {
    if (!ready()) return fallback;
    try {
      return await op();
    } catch (error) {
      onError(error as Error);
      return fallback;
    }
  }

  /** Entries this instance just wrote or read, so the tiered cache's copy-back does not send the same bytes again. */
  const known = new WeakSet<CacheEntry>();

  const tier: RedisTier = {
    get ready() {
      return ready();
    },
    instanceId,

    get: (key) =>
      attempt(undefined, async () => {
        const bytes = await client.getBuffer(dataKey(key));
        if (!bytes) return undefined;
        const entry = decodeEntry(key, bytes);
        if (!entry) {
          log(`tilesmith cache: Redis value for ${key} is corrupt or truncated (${bytes.length} bytes); deleting it and computing again`);
          await client.del(dataKey(key));
          return undefined;
        }
        if (entry.expiresAt <= Date.now()) return undefined;
        known.add(entry);
        return tagTier(entry, 'redis');
      }),

    set: (key, entry) =>
      attempt(undefined, async () => {
        if (known.has(entry)) return;
        const ttl = entry.expiresAt - Date.now();
        if (ttl <= 0) {
          await client.del(dataKey(key));
          return;
        }
        const bytes = encodeEntry(key, entry);
        if (Number.isFinite(ttl)) await client.set(dataKey(key), bytes, 'PX', Math.ceil(ttl));
        else await client.set(dataKey(key), bytes);
        known.add(entry);
      }),

    delete: (key) =>
      attempt(undefined, async () => {
        await client.del(dataKey(key));
      }),

    async purgeKeys(filter: CachePurgeFilter): Promise<string[]> {
      checkPurgeFilter(filter);
      return attempt<string[]>([], async () => {
        const gone: string[] = [];
        const start = dataKey('').length;
        let cursor = '0';
        do {
          // Keys start with the UDF name (`udf/…`), so the match pattern narrows the scan.
          const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscape(dataKey(filter.udf))}/*`, 'COUNT', 1000);
          cursor = next;
          const victims: string[] = [];
          for (const full of keys) {
            const key = full.slice(start);
            let scope = scopeOf(key);
            // A file result's area is only in its value's header.
            if (scope && !scope.tile && filter.bbox) {
              const bytes = await client.getBuffer(full);
              const entry = bytes ? decodeEntry(key, bytes) : undefined;
              if (entry) scope = scopeOf(key, entry);
            }
            if (matchesPurge(filter, scope)) victims.push(full);
          }
          if (victims.length > 0) {
            const deleted = await client.del(...victims);
            if (deleted > 0) gone.push(...victims.map((v) => v.slice(start)));
          }
        } while (cursor !== '0');
        return gone;
      });
    },

    async purge(filter: CachePurgeFilter): Promise<number> {
      return (await tier.purgeKeys(filter)).length;
    },

    async lock(key) {
      return attempt(undefined, async () => {
        const token = `${instanceId}:${randomBytes(6).toString('hex')}`;
        const got = await client.set(lockKey(key), token, 'PX', lockTtl, 'NX');
        if (got !== 'OK') return undefined;
        // Renew while we compute, so a long UDF run keeps the lock and a crashed holder loses it fast.
        const renew = setInterval(() => {
          void attempt(0, () => client.eval(RENEW, 1, lockKey(key), token, String(lockTtl)) as Promise<number>);
        }, Math.max(50, Math.floor(lockTtl / 3)));
        renew.unref();
        return async () => {
          clearInterval(renew);
          await attempt(0, () => client.eval(RELEASE, 1, lockKey(key), token) as Promise<number>);
        };
      });
    },

    locked: (key) => attempt(false, async () => (await client.exists(lockKey(key))) === 1),

    waitDone(key, ms) {
      return new Promise<void>((resolve) => {
        let set = waiters.get(key);
        if (!set) waiters.set(key, (set = new Set()));
        const s = set;
        const wake = () => {
          clearTimeout(timer);
          s.delete(wake);
          if (s.size === 0 && waiters.get(key) === s) waiters.delete(key);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        s.add(wake);
      });
    },

    announceDone: (key) =>
      attempt(undefined, async () => {
        await client.publish(channel, JSON.stringify({ type: 'done', key, from: instanceId } satisfies CacheEvent));
      }),

    announcePurge: (filter) =>
      attempt(undefined, async () => {
        await client.publish(channel, JSON.stringify({ type: 'purge', filter, from: instanceId } satisfies CacheEvent));
      }),

    onPurge(listener) {
      purgeListeners.push(listener);
    },

    whenReady(ms = 5000) {
      if (ready()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          reject(new Error(`Redis at ${shownUrl} not reachable within ${ms} ms`));
        }, ms);
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        client.once('ready', onReady);
      });
    },

    async close() {
      closing = true;
      for (const set of waiters.values()) for (const wake of set) wake();
      client.disconnect();
      subscriber.disconnect();
    },
  };
  return tier;
}

export interface SharedCacheOptions {
  /** Longest a request waits for another instance's compute before computing itself. @default 120000 */
  waitTimeoutMs?: number;
  /** How often a waiter looks again without a notification (lost message, crashed holder). @default 250 */
  pollMs?: number;
  log?: (message: string) => void;
}

/**
 * Makes a tiered cache that contains a Redis tier compute each key once across instances,
 * and purge on every instance.
 *
 * On a miss in every tier, `getOrCompute` takes the key's Redis lock. The holder looks in
 * Redis once more (the previous holder may have just finished), computes, writes the entry to
 * Redis, releases the lock and announces it; the other instances' requests wait for that
 * announcement (or poll, in case it was lost), then read the entry from Redis. If the holder
 * dies, its lock expires (it is renewed only while the holder lives) and a waiter takes it
 * over. A waiter that reaches `waitTimeoutMs`, or finds Redis gone, computes itself: Redis
 * trouble makes work repeat, never requests fail.
 *
 * `purge` purges every tier here, then tells the other instances to purge their local tiers.
 */
export interface SharedCache extends TieredCache {
  /** Resolves once Redis is connected (rejects after `ms`). Requests never wait for it. */
  whenRedisReady(ms?: number): Promise<void>;
}

export function withSharedCompute(tiered: TieredCache, redis: RedisTier, opts: SharedCacheOptions = {}): SharedCache {
  const waitTimeout = opts.waitTimeoutMs ?? 120_000;
  const pollMs = opts.pollMs ?? 250;
  const log = opts.log ?? ((m: string) => console.warn(m));

  /** Bumped by every purge, here or announced: a compute that spans one must not store its result. */
  let purges = 0;
  redis.onPurge((filter) => {
    purges++;
    tiered.fence();
    void tiered.purgeTiers(filter, (tier) => tier !== redis).catch((error) => log(`tilesmith cache: purge from another instance failed here: ${String(error)}`));
  });

  async function computeAsHolder(
    key: string,
    release: () => Promise<void>,
    compute: () => Promise<{ entry: CacheEntry; store: boolean }>,
  ): Promise<{ entry: CacheEntry; store: boolean }> {
    try {
      const again = await redis.get(key);
      if (again) return { entry: again, store: true };
      const before = purges;
      const result = await compute();
      if (purges !== before) return { entry: result.entry, store: false };
      if (result.store) await redis.set(key, result.entry);
      return result;
    } finally {
      await release();
      await redis.announceDone(key);
    }
  }

  async function shared(
    key: string,
    compute: () => Promise<{ entry: CacheEntry; store: boolean }>,
    waitMs: number,
  ): Promise<{ entry: CacheEntry; store: boolean }> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!redis.ready) return compute();
      const release = await redis.lock(key);
      if (release) return computeAsHolder(key, release, compute);
      if (!redis.ready) return compute();
      // Someone else computes: wait for their announcement, then read what they stored.
      await redis.waitDone(key, Math.min(pollMs, Math.max(0, deadline - Date.now())));
      const entry = await redis.get(key);
      if (entry) return { entry, store: true };
      if (Date.now() >= deadline) {
        log(`tilesmith cache: waited ${waitMs} ms for another instance to compute ${key}; computing here`);
        return compute();
      }
    }
  }

  return {
    ...tiered,
    getOrCompute(key, compute, options) {
      // A reset asks for a fresh run: it neither waits for nor blocks anyone.
      if (options?.reset) return tiered.getOrCompute(key, compute, options);
      return tiered.getOrCompute(key, () => shared(key, compute, options?.waitMs ?? waitTimeout), options);
    },
    async purge(filter) {
      purges++;
      const count = await tiered.purge(filter);
      await redis.announcePurge(filter);
      return count;
    },
    async purgeKeys(filter) {
      purges++;
      tiered.fence();
      const keys = await tiered.purgeKeys(filter);
      await redis.announcePurge(filter);
      return keys;
    },
    whenRedisReady: (ms) => redis.whenReady(ms),
    async close() {
      await tiered.close();
      await redis.close();
    },
  };
}
