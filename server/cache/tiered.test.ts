import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheEntry, ResultCache } from '../types.ts';
import { createDiskCache, diskCachePath } from './disk.ts';
import { createDefaultCache } from './index.ts';
import { createMemoryCache } from './memory.ts';
import { createTieredCache } from './tiered.ts';
import { makeEntry, text } from './test-helpers.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tilesmith-tiered-'));
  dirs.push(dir);
  return dir;
}

/** A memory tier that counts lookups, to see which tier answered. */
function countingMemory() {
  const inner = createMemoryCache({});
  const counts = { get: 0 };
  const tier: ResultCache = { ...inner, get: (key: string) => (counts.get++, inner.get(key)) };
  return { tier, counts, inner };
}

describe('createTieredCache', () => {
  it('flush() makes the disk write visible', async () => {
    const dir = await tempDir();
    const cache = createTieredCache([createMemoryCache({}), createDiskCache({ dir })]);
    await cache.set('k', makeEntry('x'));
    await cache.flush();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(true);
    await cache.close();
  });

  it('writes every tier; close() waits for the background disk write', async () => {
    const dir = await tempDir();
    const memory = createMemoryCache({});
    const cache = createTieredCache([memory, createDiskCache({ dir })]);
    const entry = makeEntry('both', 1_000);
    await cache.set('k', entry);
    expect(await memory.get('k')).toEqual(entry); // the first tier is written inline
    await cache.close();
    const reopened = createDiskCache({ dir });
    expect(await reopened.get('k')).toEqual(entry);
    await reopened.close();
  });

  it('promotes a disk hit into memory', async () => {
    const dir = await tempDir();
    const seed = createDiskCache({ dir });
    await seed.set('k', makeEntry('from disk'));
    await seed.close();

    const memory = countingMemory();
    const disk = createDiskCache({ dir });
    const cache = createTieredCache([memory.tier, disk]);
    expect(await memory.inner.get('k')).toBeUndefined();
    const hit = await cache.getOrCompute('k', async () => ({ entry: makeEntry('computed'), store: true }));
    expect(hit.hit).toBe(true);
    expect(text(hit.entry.body)).toBe('from disk');
    expect(text((await memory.inner.get('k'))!.body)).toBe('from disk');

    // With the disk copy gone, the memory copy still answers.
    await disk.delete('k');
    expect(text((await cache.get('k'))!.body)).toBe('from disk');
    await cache.close();
  });

  it('answers from memory without touching slower tiers', async () => {
    const slow: ResultCache = {
      get: async () => {
        throw new Error('slow tier consulted');
      },
      set: async () => {},
      delete: async () => {},
      purge: async () => 0,
      getOrCompute: async () => {
        throw new Error('unused');
      },
    };
    const cache = createTieredCache([createMemoryCache({}), slow]);
    await cache.set('k', makeEntry('fast'));
    expect(text((await cache.get('k'))!.body)).toBe('fast');
  });

  it('delete removes the entry from every tier, after a pending background write', async () => {
    const dir = await tempDir();
    const memory = createMemoryCache({});
    const disk = createDiskCache({ dir });
    const cache = createTieredCache([memory, disk]);
    await cache.set('k', makeEntry('x', 200_000));
    await cache.delete('k'); // the disk write may still be in flight
    await cache.flush();
    expect(await memory.get('k')).toBeUndefined();
    expect(await disk.get('k')).toBeUndefined();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
    await cache.close();
  });

  it('orders a delete after a set that was not awaited yet', async () => {
    const dir = await tempDir();
    const cache = createTieredCache([createMemoryCache({}), createDiskCache({ dir })]);
    const setting = cache.set('k', makeEntry('x', 200_000));
    await cache.delete('k');
    await setting;
    await cache.flush();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
    await cache.close();
  });

  it('reset replaces the entry in both tiers', async () => {
    const dir = await tempDir();
    const cache = createTieredCache([createMemoryCache({}), createDiskCache({ dir })]);
    await cache.getOrCompute('k', async () => ({ entry: makeEntry('old'), store: true }));
    await cache.getOrCompute('k', async () => ({ entry: makeEntry('new'), store: true }), { reset: true });
    await cache.close();
    const reopened = createDiskCache({ dir });
    expect(text((await reopened.get('k'))!.body)).toBe('new');
    await reopened.close();
  });

  it('refuses an empty tier list', () => {
    expect(() => createTieredCache([])).toThrow(TypeError);
  });
});

describe('createDefaultCache', () => {
  it('persists to disk by default', async () => {
    const dir = await tempDir();
    const cache = createDefaultCache({ dir });
    const entry: CacheEntry = makeEntry('default');
    await cache.getOrCompute('k', async () => ({ entry, store: true }));
    await cache.close?.();
    const next = createDefaultCache({ dir });
    expect(await next.getOrCompute('k', async () => ({ entry: makeEntry('recomputed'), store: true }))).toMatchObject({ hit: true });
    await next.close?.();
  });

  it('stays in memory with disk: false', async () => {
    const dir = await tempDir();
    const cache = createDefaultCache({ dir, disk: false });
    await cache.set('k', makeEntry('mem'));
    expect(text((await cache.get('k'))!.body)).toBe('mem');
    await cache.close?.();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
  });
});
