import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheEntry, ResultCache } from '../types.ts';
import { createDiskCache } from './disk.ts';
import { createMemoryCache } from './memory.ts';
import { createTieredCache } from './tiered.ts';
import { makeEntry, text } from './test-helpers.ts';

const dirs: string[] = [];
const caches: ResultCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close?.()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tilesmith-sf-'));
  dirs.push(dir);
  return dir;
}

const factories: [string, () => Promise<ResultCache>][] = [
  ['memory', async () => createMemoryCache({})],
  ['disk', async () => createDiskCache({ dir: await tempDir() })],
  ['tiered', async () => createTieredCache([createMemoryCache({}), createDiskCache({ dir: await tempDir() })])],
];

/** A compute that counts its runs and resolves only when released, so callers pile up. */
function gatedCompute(body: string, store = true) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const state = {
    runs: 0,
    release,
    compute: async (): Promise<{ entry: CacheEntry; store: boolean }> => {
      state.runs++;
      await gate;
      return { entry: makeEntry(body), store };
    },
  };
  return state;
}

describe.each(factories)('getOrCompute on the %s cache', (_name, factory) => {
  async function open(): Promise<ResultCache> {
    const cache = await factory();
    caches.push(cache);
    return cache;
  }

  it('computes once for 20 concurrent callers of a cold key, then serves hits', async () => {
    const cache = await open();
    const c = gatedCompute('tile');
    const calls = Array.from({ length: 20 }, () => cache.getOrCompute('k', c.compute));
    await new Promise((r) => setTimeout(r, 20));
    c.release();
    const results = await Promise.all(calls);
    expect(c.runs).toBe(1);
    expect(results.every((r) => text(r.entry.body) === 'tile' && r.hit === false)).toBe(true);
    const again = await cache.getOrCompute('k', c.compute);
    expect(again.hit).toBe(true);
    expect(text(again.entry.body)).toBe('tile');
    expect(c.runs).toBe(1);
  });

  it('keeps different keys apart', async () => {
    const cache = await open();
    const [a, b] = await Promise.all([
      cache.getOrCompute('a', async () => ({ entry: makeEntry('A'), store: true })),
      cache.getOrCompute('b', async () => ({ entry: makeEntry('B'), store: true })),
    ]);
    expect([text(a.entry.body), text(b.entry.body)]).toEqual(['A', 'B']);
  });

  it('rejects every waiter on an error, stores nothing, and recomputes on the next call', async () => {
    const cache = await open();
    let runs = 0;
    const failing = async (): Promise<never> => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('boom');
    };
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => cache.getOrCompute('k', failing)));
    expect(runs).toBe(1);
    expect(settled.map((s) => s.status === 'rejected' && (s.reason as Error).message)).toEqual(Array(5).fill('boom'));
    expect(await cache.get('k')).toBeUndefined();
    const ok = await cache.getOrCompute('k', async () => ({ entry: makeEntry('fine'), store: true }));
    expect(ok.hit).toBe(false);
    expect(text(ok.entry.body)).toBe('fine');
    expect(text((await cache.get('k'))!.body)).toBe('fine');
  });

  it('does not store when compute says store: false', async () => {
    const cache = await open();
    let runs = 0;
    const compute = async () => ({ entry: makeEntry(`run ${++runs}`), store: false });
    expect(text((await cache.getOrCompute('k', compute)).entry.body)).toBe('run 1');
    expect(await cache.get('k')).toBeUndefined();
    const second = await cache.getOrCompute('k', compute);
    expect(second).toMatchObject({ hit: false });
    expect(text(second.entry.body)).toBe('run 2');
  });

  it('reset skips the lookup and replaces the stored entry', async () => {
    const cache = await open();
    await cache.getOrCompute('k', async () => ({ entry: makeEntry('old'), store: true }));
    const reset = await cache.getOrCompute('k', async () => ({ entry: makeEntry('new'), store: true }), { reset: true });
    expect(reset.hit).toBe(false);
    expect(text(reset.entry.body)).toBe('new');
    const next = await cache.getOrCompute('k', async () => ({ entry: makeEntry('unused'), store: true }));
    expect(next.hit).toBe(true);
    expect(text(next.entry.body)).toBe('new');
  });

  it('reset with store: false forgets the stored entry', async () => {
    const cache = await open();
    await cache.set('k', makeEntry('old'));
    await cache.getOrCompute('k', async () => ({ entry: makeEntry('new'), store: false }), { reset: true });
    expect(await cache.get('k')).toBeUndefined();
  });

  it('reset does not join a plain flight, and plain callers join a reset', async () => {
    const cache = await open();
    await cache.set('k', makeEntry('old'));
    const plain = gatedCompute('plain');
    const reset = gatedCompute('fresh');
    const first = cache.getOrCompute('k', plain.compute); // a lookup that will find 'old'
    const forced = cache.getOrCompute('k', reset.compute, { reset: true });
    const joiner = cache.getOrCompute('k', plain.compute); // arrives while the reset flies
    reset.release();
    plain.release();
    expect(text((await first).entry.body)).toBe('old');
    expect(text((await forced).entry.body)).toBe('fresh');
    expect(text((await joiner).entry.body)).toBe('fresh');
    expect(reset.runs).toBe(1);
    expect(plain.runs).toBe(0);
  });

  it('callers who join a lookup that hits are reported as hits', async () => {
    const cache = await open();
    await cache.set('k', makeEntry('stored'));
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 5 }, () => cache.getOrCompute('k', async () => ({ entry: makeEntry(`x${++runs}`), store: true }))),
    );
    expect(runs).toBe(0);
    expect(results.every((r) => r.hit && text(r.entry.body) === 'stored')).toBe(true);
  });
});
