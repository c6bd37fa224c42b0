/**
 * Disk failures that cannot be produced for real in a test (a full disk, a crash mid-write)
 * are simulated by wrapping node:fs/promises; everything else still hits the real file system.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDiskCache, diskCachePath } from './disk.ts';
import { createMemoryCache } from './memory.ts';
import { createTieredCache } from './tiered.ts';
import { makeEntry, text } from './test-helpers.ts';

const io = vi.hoisted(() => ({
  /** When set, writes through a file handle (writev) store half the bytes, then fail with ENOSPC. */
  diskFull: false,
  opens: [] as { path: string; flags: string }[],
  renames: [] as { from: string; to: string }[],
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof actual.open = async (path, flags, mode) => {
    const handle = await actual.open(path, flags, mode);
    io.opens.push({ path: String(path), flags: String(flags ?? 'r') });
    if (io.diskFull) {
      const writev = handle.writev.bind(handle);
      handle.writev = (async (buffers: readonly NodeJS.ArrayBufferView[]) => {
        const bytes = Buffer.concat(buffers.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
        await writev([bytes.subarray(0, bytes.length >> 1)]);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as typeof handle.writev;
    }
    return handle;
  };
  const rename: typeof actual.rename = async (from, to) => {
    io.renames.push({ from: String(from), to: String(to) });
    return actual.rename(from, to);
  };
  return { ...actual, open, rename, default: { ...actual, open, rename } };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tilesmith-diskfail-'));
  Object.assign(io, { diskFull: false, opens: [], renames: [] });
});
afterEach(async () => {
  io.diskFull = false;
  await rm(dir, { recursive: true, force: true });
});

async function allFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('disk cache under I/O failure', () => {
  it('writes only temp files and renames them into place', async () => {
    const cache = createDiskCache({ dir });
    await cache.set('k', makeEntry('v'));
    await cache.close();
    const final = diskCachePath(dir, 'k');
    const writes = io.opens.filter((o) => o.flags !== 'r');
    expect(writes).toHaveLength(1);
    expect(writes[0]!.path).toMatch(new RegExp(`^${final}\\.tmp-${process.pid}-[0-9a-f]+$`));
    expect(io.renames).toEqual([{ from: writes[0]!.path, to: final }]);
  });

  it('an interrupted write leaves neither a final file nor a temp file, and is reported once', async () => {
    const errors: { op: string; path: string }[] = [];
    const cache = createDiskCache({ dir, onError: (_e, info) => errors.push(info) });
    io.diskFull = true;
    await expect(cache.set('k', makeEntry('v', 10_000))).resolves.toBeUndefined();
    await expect(cache.set('k2', makeEntry('v', 10_000))).resolves.toBeUndefined();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
    expect(await allFiles(dir)).toEqual([]);
    expect(await cache.get('k')).toBeUndefined();
    expect(errors).toEqual([{ op: 'write', path: diskCachePath(dir, 'k') }]);
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0 });

    io.diskFull = false; // space freed: writes work again
    await cache.set('k', makeEntry('back'));
    expect(text((await cache.get('k'))!.body)).toBe('back');
    await cache.close();
  });

  it('a full disk does not fail the request: getOrCompute still answers, memory still caches', async () => {
    const errors: unknown[] = [];
    const cache = createTieredCache([createMemoryCache({}), createDiskCache({ dir, onError: (e) => errors.push(e) })]);
    io.diskFull = true;
    let runs = 0;
    const compute = async () => ({ entry: makeEntry(`run ${++runs}`), store: true });
    const first = await cache.getOrCompute('k', compute);
    expect(text(first.entry.body)).toBe('run 1');
    await cache.flush();
    const second = await cache.getOrCompute('k', compute);
    expect(second.hit).toBe(true);
    expect(runs).toBe(1);
    expect(errors).toHaveLength(1);
    expect(await allFiles(dir)).toEqual([]);
    await cache.close();
  });
});
