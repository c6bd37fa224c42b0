import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, haveRedis, startRedis, type TestRedis } from '../../test/helpers/redis.ts';
import type { CacheEntry } from '../types.ts';
import { createDefaultCache } from './index.ts';
import { createMemoryCache } from './memory.ts';
import { createRedisTier, withSharedCompute, type SharedCache } from './redis.ts';
import { createTieredCache } from './tiered.ts';
import { makeEntry } from './test-helpers.ts';
import { cannotRun } from '../../test/helpers/skip.ts';

const available = await haveRedis();
if (!available) cannotRun('server/cache/redis.test.ts', 'redis-server is not installed (run scripts/setup-system.mjs)');

let redis: TestRedis;
const opened: SharedCache[] = [];
let n = 0;

function shared(prefix: string, log: (m: string) => void = () => {}): SharedCache {
  const cache = createDefaultCache({ disk: false, redis: redis.url, redisPrefix: prefix, log }) as SharedCache;
  opened.push(cache);
  return cache;
}

describe.skipIf(!available)('Redis tier', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await redis?.stop();
  });

  it('stores binary bodies byte for byte, with metadata, scope and TTL = remaining lifetime', async () => {
    const prefix = `bin${n++}`;
    const a = shared(prefix);
    const b = shared(prefix);
    await Promise.all([a.whenRedisReady(), b.whenRedisReady()]);
    const body = Uint8Array.from({ length: 70_000 }, (_, i) => i % 256);
    const entry = makeEntry('x', undefined, {
      body,
      expiresAt: Date.now() + 60_000,
      timings: { udf: 3, encode: 1 },
      scope: { udf: 'u', tile: { z: 1, x: 0, y: 1 }, bounds: [-180, -85, 0, 0] },
    });
    await a.set('u/1/0/1/' + 'a'.repeat(64), entry);
    await a.flush();
    const got = await b.get('u/1/0/1/' + 'a'.repeat(64));
    expect(got?.tier).toBe('redis');
    expect(got).toEqual({ ...entry, body: expect.any(Uint8Array) });
    expect(Buffer.from(got!.body).equals(Buffer.from(body))).toBe(true);
    const ttl = await redis.client().pttl(`${prefix}:r:u/1/0/1/${'a'.repeat(64)}`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('keeps deployments with different prefixes apart', async () => {
    const a = shared(`pa${n++}`);
    const b = shared(`pb${n++}`);
    await Promise.all([a.whenRedisReady(), b.whenRedisReady()]);
    await a.set('k', makeEntry('a'));
    await a.flush();
    expect(await b.get('k')).toBeUndefined();
  });

  it('a waiter past its deadline computes itself instead of waiting for a slow holder', async () => {
    const prefix = `wait${n++}`;
    const a = shared(prefix);
    const b = shared(prefix);
    await Promise.all([a.whenRedisReady(), b.whenRedisReady()]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runs: string[] = [];
    const compute = (who: string) => async () => {
      runs.push(who);
      if (who === 'a') await gate;
      return { entry: makeEntry(who), store: true };
    };
    const holder = a.getOrCompute('slow', compute('a'));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const waiter = await b.getOrCompute('slow', compute('b'), { waitMs: 400 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(new TextDecoder().decode(waiter.entry.body)).toBe('b');
    expect(runs).toEqual(['a', 'b']);
    release();
    await holder;
  });

  it('a purge on one instance clears the others\' memory tiers through pub/sub', async () => {
    const prefix = `purge${n++}`;
    const a = shared(prefix);
    const b = shared(prefix);
    await Promise.all([a.whenRedisReady(), b.whenRedisReady()]);
    const key = `roads/3/4/2/${'b'.repeat(64)}`;
    const entry: CacheEntry = makeEntry('r', undefined, { scope: { udf: 'roads', tile: { z: 3, x: 4, y: 2 }, bounds: null } });
    await b.getOrCompute(key, async () => ({ entry, store: true }));
    await b.flush();
    expect((await a.get(key))?.tier).toBe('redis');
    expect((await a.get(key))?.tier).toBe('memory');
    expect(await b.purge({ udf: 'roads', minzoom: 3 })).toBe(1);
    for (let i = 0; i < 100 && (await a.get(key)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await a.get(key)).toBeUndefined();
  });

  it('a compute running on another instance when a purge comes is returned but stored nowhere', async () => {
    const prefix = `fence${n++}`;
    const a = shared(prefix);
    const b = shared(prefix);
    await Promise.all([a.whenRedisReady(), b.whenRedisReady()]);
    const key = `roads/2/1/1/${'c'.repeat(64)}`;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = b.getOrCompute(key, async () => {
      await gate;
      return { entry: makeEntry('before the purge', undefined, { scope: { udf: 'roads', tile: { z: 2, x: 1, y: 1 }, bounds: null } }), store: true };
    });
    await new Promise((r) => setTimeout(r, 100));
    await a.purge({ udf: 'roads' });
    await new Promise((r) => setTimeout(r, 200)); // the announcement reaches b
    release();
    expect((await running).hit).toBe(false);
    await b.flush();
    expect(await b.get(key)).toBeUndefined();
    expect(await a.get(key)).toBeUndefined();
    expect(await redis.client().exists(`${prefix}:r:${key}`)).toBe(0);
  });
});

describe('Redis unreachable', () => {
  it('warns once, answers from the local tiers and never fails a request', async () => {
    const port = await freePort(); // nothing listens there
    const warnings: string[] = [];
    const redisTier = createRedisTier({ url: `redis://127.0.0.1:${port}`, log: (m) => warnings.push(m) });
    const memory = createMemoryCache({});
    const cache = withSharedCompute(createTieredCache([memory, redisTier]), redisTier, { log: (m) => warnings.push(m) });
    let runs = 0;
    const compute = async () => (runs++, { entry: makeEntry('local'), store: true });
    const first = await cache.getOrCompute('k', compute);
    const second = await cache.getOrCompute('k', compute);
    expect(first.hit).toBe(false);
    expect(second.hit).toBe(true);
    expect(second.entry.tier).toBe('memory');
    expect(runs).toBe(1);
    expect(await cache.purge({ udf: 'x' })).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings.filter((w) => w.includes('unavailable'))).toHaveLength(1);
    expect(warnings[0]).toMatch(/Redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable .*using the local tiers/);
    await cache.close();
  });
});
