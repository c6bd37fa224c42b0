import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryCache } from './memory.ts';
import { makeEntry, text } from './test-helpers.ts';

afterEach(() => vi.restoreAllMocks());

describe('createMemoryCache', () => {
  it('round-trips an entry and deletes it', async () => {
    const cache = createMemoryCache({});
    const entry = makeEntry('tile');
    await cache.set('k', entry);
    expect(await cache.get('k')).toEqual(entry);
    await cache.delete('k');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('evicts the least recently used entry by bytes', async () => {
    // Three 10 kB bodies fit (overhead well under 2 kB each); a fourth does not.
    const cache = createMemoryCache({ maxBytes: 36_000 });
    await cache.set('a', makeEntry('a', 10_000));
    await cache.set('b', makeEntry('b', 10_000));
    await cache.set('c', makeEntry('c', 10_000));
    expect(await cache.get('a')).toBeDefined(); // a is now more recent than b
    await cache.set('d', makeEntry('d', 10_000));
    expect(await cache.get('b')).toBeUndefined();
    for (const k of ['a', 'c', 'd']) expect(text((await cache.get(k))!.body)).toBe(k.repeat(10_000));
  });

  it('counts bytes, not entries: many small entries fit where one large one would', async () => {
    const cache = createMemoryCache({ maxBytes: 50_000 });
    for (let i = 0; i < 100; i++) await cache.set(`small-${i}`, makeEntry('s', 10));
    for (let i = 0; i < 100; i++) expect(await cache.get(`small-${i}`)).toBeDefined();
    await cache.set('huge', makeEntry('h', 60_000)); // bigger than the whole budget: not stored
    expect(await cache.get('huge')).toBeUndefined();
    expect(await cache.get('small-0')).toBeDefined();
  });

  it('treats an expired entry as a miss and drops it', async () => {
    const cache = createMemoryCache({});
    const now = Date.now();
    await cache.set('k', makeEntry('x', undefined, { expiresAt: now + 1_000 }));
    expect(await cache.get('k')).toBeDefined();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now + 2_000);
    expect(await cache.get('k')).toBeUndefined();
    clock.mockReturnValue(now); // back before expiry: still gone, so it was dropped
    expect(await cache.get('k')).toBeUndefined();
  });

  it('does not store an entry that is already expired, and removes the old value', async () => {
    const cache = createMemoryCache({});
    await cache.set('k', makeEntry('old'));
    await cache.set('k', makeEntry('new', undefined, { expiresAt: Date.now() - 1 }));
    expect(await cache.get('k')).toBeUndefined();
  });
});
