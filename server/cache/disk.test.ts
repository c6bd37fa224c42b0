import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { crc32, crc32Combine, crc32Js, rememberCrc32 } from './crc32.ts';
import { createDiskCache, decodeEntry, diskCachePath, encodeEntry, type DiskCache, type DiskCacheOptions } from './disk.ts';
import { makeEntry, text } from './test-helpers.ts';
import { createThreadDiskWriter, type ThreadDiskWriter } from '../node/disk-writer.ts';

const dirs: string[] = [];
const caches: DiskCache[] = [];
/** The writer the current block's caches use (undefined: the cache's own, in this thread). */
let writer: ThreadDiskWriter | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(caches.splice(0).map((c) => c.close()));
  await writer?.close();
  writer = undefined;
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tilesmith-disk-'));
  dirs.push(dir);
  return dir;
}

function open(opts: DiskCacheOptions): DiskCache {
  const cache = createDiskCache(withWriter(opts));
  caches.push(cache);
  return cache;
}

function withWriter(opts: DiskCacheOptions): DiskCacheOptions {
  return writer ? { ...opts, writer } : opts;
}

/** Each block below runs with files written in this thread and by the Node server's writer thread. */
const WRITERS: [string, () => ThreadDiskWriter | undefined][] = [
  ['written in this thread', () => undefined],
  ['written by a writer thread', () => createThreadDiskWriter()],
];

/** Every file under `dir`, relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe.each(WRITERS)('createDiskCache, files %s', (_name, makeWriter) => {
  beforeEach(() => {
    writer = makeWriter();
  });

  it('round-trips every field through a sharded file', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    const entry = makeEntry('hello tile', undefined, { timings: { udf: 12.5, encode: 3 } });
    await cache.set('roads/3/1/2/abc', entry);
    expect(await cache.get('roads/3/1/2/abc')).toEqual(entry);
    const path = diskCachePath(dir, 'roads/3/1/2/abc');
    expect(relative(dir, path)).toMatch(/^([0-9a-f]{2})\/([0-9a-f]{2})\/\1\2[0-9a-f]{60}$/);
    expect(await listFiles(dir)).toEqual([relative(dir, path)]);
    expect(await cache.get('other')).toBeUndefined();
  });

  it('stores empty 204 bodies and never-expiring entries', async () => {
    const cache = open({ dir: await tempDir() });
    const empty = makeEntry('', undefined, { status: 204, expiresAt: Infinity });
    await cache.set('k', empty);
    expect(await cache.get('k')).toEqual(empty);
  });

  it('serves entries written by an earlier instance (restart)', async () => {
    const dir = await tempDir();
    const first = createDiskCache(withWriter({ dir }));
    const entry = makeEntry('survivor', 500, { timings: { udf: 1 } });
    await first.set('k', entry);
    await first.close();
    const second = open({ dir });
    expect(await second.get('k')).toEqual(entry);
    await second.flush();
    expect(second.stats()).toEqual({ entries: 1, bytes: (await stat(diskCachePath(dir, 'k'))).size });
  });

  it('deletes', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    await cache.set('k', makeEntry('x'));
    await cache.delete('k');
    expect(await cache.get('k')).toBeUndefined();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
  });

  it('treats an expired file as a miss and deletes it', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    const now = Date.now();
    await cache.set('k', makeEntry('x', undefined, { expiresAt: now + 1_000 }));
    vi.spyOn(Date, 'now').mockReturnValue(now + 2_000);
    expect(await cache.get('k')).toBeUndefined();
    expect(existsSync(diskCachePath(dir, 'k'))).toBe(false);
  });

  describe('a damaged file is a miss, is deleted, and is replaced by the next compute', () => {
    const damages: [string, (path: string, dir: string) => Promise<void>][] = [
      ['truncated body', async (path) => truncate(path, (await stat(path)).size - 10)],
      ['truncated to the preamble', async (path) => truncate(path, 6)],
      ['empty file', async (path) => truncate(path, 0)],
      [
        'one body byte flipped',
        async (path) => {
          const file = await readFile(path);
          file[file.length - 5]! ^= 0x01; // last body byte, just before the checksum
          await writeFile(path, file);
        },
      ],
      [
        'one header byte flipped',
        async (path) => {
          const file = await readFile(path);
          file[20]! ^= 0x20;
          await writeFile(path, file);
        },
      ],
      ['garbage', async (path) => writeFile(path, 'this is not a cache file at all, just some text')],
      [
        'wrong magic',
        async (path) => {
          const file = await readFile(path);
          file.write('XXXX', 0, 'latin1');
          await writeFile(path, file);
        },
      ],
      [
        'another key in the header (valid checksum)',
        async (path, dir) => {
          // A well-formed file for key 'other', placed where 'k' lives: what a hash collision looks like.
          const other = createDiskCache(withWriter({ dir }));
          await other.set('other', makeEntry('imposter'));
          await other.close();
          await writeFile(path, await readFile(diskCachePath(dir, 'other')));
        },
      ],
    ];

    it.each(damages)('%s', async (_name, damage) => {
      const dir = await tempDir();
      const errors: unknown[] = [];
      const cache = open({ dir, onError: (e) => errors.push(e) });
      const path = diskCachePath(dir, 'k');
      await cache.set('k', makeEntry('original', 1_000));
      await damage(path, dir);

      expect(await cache.get('k')).toBeUndefined();
      expect(existsSync(path)).toBe(false);

      const recomputed = await cache.getOrCompute('k', async () => ({ entry: makeEntry('recomputed'), store: true }));
      expect(recomputed.hit).toBe(false);
      expect(text(recomputed.entry.body)).toBe('recomputed');
      const reopened = open({ dir });
      expect(text((await reopened.get('k'))!.body)).toBe('recomputed');
      expect(errors).toEqual([]); // damage is expected wear, not an I/O failure
    });
  });

  it('leaves no temp files behind and only ever creates final files by rename', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    await Promise.all(Array.from({ length: 50 }, (_, i) => cache.set(`k${i % 10}`, makeEntry(`v${i}`, 2_000))));
    const files = await listFiles(dir);
    expect(files).toHaveLength(10);
    expect(files.every((f) => /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(f))).toBe(true);
    for (let k = 0; k < 10; k++) expect(text((await cache.get(`k${k}`))!.body)).toMatch(/^v\d+/);
  });

  it('keeps concurrent writes and deletes of one key in call order', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    const ops = [cache.set('k', makeEntry('a', 50_000)), cache.set('k', makeEntry('b', 10)), cache.delete('k'), cache.set('k', makeEntry('c', 10))];
    await Promise.all(ops);
    expect(text((await cache.get('k'))!.body)).toBe('c'.repeat(10));
    await cache.delete('k');
    await Promise.all([cache.set('k', makeEntry('d', 50_000)), cache.delete('k')]);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('evicts the least recently used files past maxBytes', async () => {
    const dir = await tempDir();
    // Each file is ~10.3 kB: three fit under 36 kB, a fourth triggers eviction down to ≤ 32.4 kB.
    const cache = open({ dir, maxBytes: 36_000 });
    await cache.flush(); // the startup scan of the empty dir
    for (const k of ['a', 'b', 'c']) await cache.set(k, makeEntry(k, 10_000));
    expect(await cache.get('a')).toBeDefined(); // a is now more recent than b
    await cache.set('d', makeEntry('d', 10_000));
    await cache.flush();
    expect(await cache.get('b')).toBeUndefined();
    expect(existsSync(diskCachePath(dir, 'b'))).toBe(false);
    for (const k of ['a', 'c', 'd']) expect(text((await cache.get(k))!.body)).toBe(k.repeat(10_000));
    expect(cache.stats().entries).toBe(3);
    expect(cache.stats().bytes).toBeLessThanOrEqual(36_000);
  });

  it('rebuilds LRU order from mtimes on restart and enforces a smaller cap', async () => {
    const dir = await tempDir();
    const first = createDiskCache(withWriter({ dir }));
    for (const k of ['a', 'b', 'c', 'd']) await first.set(k, makeEntry(k, 10_000));
    await first.close();
    // Last access: c oldest, then a, then d, then b.
    const order = ['c', 'a', 'd', 'b'];
    await Promise.all(order.map((k, i) => utimes(diskCachePath(dir, k), 1_000_000 + i * 1000, 1_000_000 + i * 1000)));

    const second = open({ dir, maxBytes: 25_000 }); // room for two: evicts down to ≤ 22.5 kB
    await second.flush();
    expect(second.stats().entries).toBe(2);
    expect(existsSync(diskCachePath(dir, 'c'))).toBe(false);
    expect(existsSync(diskCachePath(dir, 'a'))).toBe(false);
    expect(text((await second.get('d'))!.body)).toBe('d'.repeat(10_000));
    expect(text((await second.get('b'))!.body)).toBe('b'.repeat(10_000));
  });

  it('persists recency: a hit touches the file so the next scan keeps it', async () => {
    const dir = await tempDir();
    const first = createDiskCache(withWriter({ dir }));
    for (const k of ['a', 'b']) await first.set(k, makeEntry(k, 10_000));
    await Promise.all(['a', 'b'].map((k, i) => utimes(diskCachePath(dir, k), 1_000_000 + i, 1_000_000 + i)));
    await first.get('a'); // a was the oldest; now the newest
    await first.close();
    const second = open({ dir, maxBytes: 15_000 });
    await second.flush();
    expect(existsSync(diskCachePath(dir, 'a'))).toBe(true);
    expect(existsSync(diskCachePath(dir, 'b'))).toBe(false);
  });

  it('serves reads before the startup scan finishes', async () => {
    const dir = await tempDir();
    const first = createDiskCache(withWriter({ dir }));
    await first.set('k', makeEntry('early'));
    await first.close();
    const second = open({ dir });
    // No flush: the scan is still running (or has not started its I/O yet).
    expect(text((await second.get('k'))!.body)).toBe('early');
  });

  it('cleans temp files left by a crashed process at scan, and ignores foreign files', async () => {
    const dir = await tempDir();
    const first = createDiskCache(withWriter({ dir }));
    await first.set('k', makeEntry('kept'));
    await first.close();
    const shard = dirname(diskCachePath(dir, 'k'));
    const hash = diskCachePath(dir, 'k').slice(-64);
    const deadPid = join(shard, `${hash}.tmp-999999999-abcdef`); // no such process
    const ourPid = join(shard, `${hash}.tmp-${process.pid}-123456`); // this pid, but no writer owns it
    const livePid = join(shard, `${hash}.tmp-1-abcdef`); // pid 1 is alive: maybe another server
    const oldLivePid = join(shard, `${hash}.tmp-1-fedcba`); // …unless it has sat there for hours
    const foreign = join(shard, 'README');
    for (const f of [deadPid, ourPid, livePid, oldLivePid, foreign]) await writeFile(f, 'partial');
    await utimes(oldLivePid, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));

    const second = open({ dir });
    await second.flush();
    expect([deadPid, ourPid, livePid, oldLivePid, foreign].map((f) => existsSync(f))).toEqual([false, false, true, false, true]);
    expect(text((await second.get('k'))!.body)).toBe('kept');
    expect(second.stats().entries).toBe(1);
  });

  it('does not store an entry larger than the cap, nor an expired one', async () => {
    const dir = await tempDir();
    const cache = open({ dir, maxBytes: 5_000 });
    await cache.set('big', makeEntry('x', 6_000));
    await cache.set('old', makeEntry('x', 10, { expiresAt: Date.now() - 1 }));
    expect(await listFiles(dir)).toEqual([]);
  });

  it('a read error is a miss and is reported once, never thrown', async () => {
    const dir = await tempDir();
    const errors: { op: string }[] = [];
    const cache = open({ dir, onError: (_e, info) => errors.push(info) });
    // A directory where the file should be: readFile fails with EISDIR.
    await mkdir(diskCachePath(dir, 'k'), { recursive: true });
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.get('k')).toBeUndefined();
    expect(errors).toEqual([expect.objectContaining({ op: 'read' })]);
  });
});

describe('crc32', () => {
  it('matches the pure-JS fallback, also when continued across chunks', () => {
    const data = new TextEncoder().encode('The quick brown fox jumps over the lazy dog');
    expect(crc32Js(data)).toBe(0x414fa339);
    expect(crc32(data)).toBe(0x414fa339);
    expect(crc32Js(data.subarray(10), crc32Js(data.subarray(0, 10)))).toBe(0x414fa339);
  });
});

describe('crc32Combine and remembered body CRCs', () => {
  it('combines two CRCs into the CRC of the concatenation, for any lengths', () => {
    for (const [la, lb] of [[0, 0], [0, 5], [5, 0], [1, 1], [100, 328_120], [37, 1], [12_345, 70_000], [3, 2 ** 20 + 7]] as const) {
      const a = randomBytes(la);
      const b = randomBytes(lb);
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32Js(Buffer.concat([a, b])));
    }
  });

  it('a file written with a remembered body CRC is byte-identical to one without', async () => {
    const body = new Uint8Array(randomBytes(50_000));
    const plain = encodeEntry('k', { ...makeEntry('x'), body, createdAt: 1, expiresAt: 2 });
    const withCrc = new Uint8Array(body);
    rememberCrc32(withCrc, crc32(withCrc));
    expect(encodeEntry('k', { ...makeEntry('x'), body: withCrc, createdAt: 1, expiresAt: 2 }).equals(plain)).toBe(true);
    // A wrong remembered CRC makes a file that reads as corrupt (a miss), never as wrong data.
    const lying = new Uint8Array(body);
    rememberCrc32(lying, 12345);
    expect(decodeEntry('k', encodeEntry('k', { ...makeEntry('x'), body: lying, createdAt: 1, expiresAt: 2 }))).toBeUndefined();
    expect(decodeEntry('k', plain)?.body).toEqual(body);
  });
});

describe.each(WRITERS)('disk cache folders, files %s', (_name, makeWriter) => {
  beforeEach(() => {
    writer = makeWriter();
  });

  it('writes again after its folders were removed behind its back', async () => {
    const dir = await tempDir();
    const cache = open({ dir });
    await cache.set('a', makeEntry('one'));
    await rm(dir, { recursive: true, force: true });
    await cache.set('a', makeEntry('two'));
    await cache.set('b', makeEntry('three'));
    expect(text((await cache.get('a'))!.body)).toBe('two');
    expect(text((await cache.get('b'))!.body)).toBe('three');
  });
});

describe('the writer thread', () => {
  it('reports a failed write with its system error, stores nothing and leaves no temp file', async () => {
    const dir = await tempDir();
    writer = createThreadDiskWriter();
    const errors: { code?: string; op: string }[] = [];
    const cache = open({ dir, onError: (error, { op }) => errors.push({ code: (error as NodeJS.ErrnoException).code, op }) });
    // The entry's shard folder exists as a file: the thread cannot create its temp file there.
    const path = diskCachePath(dir, 'k');
    await mkdir(dirname(dirname(path)), { recursive: true });
    await writeFile(dirname(path), 'not a folder');
    await cache.set('k', makeEntry('v'));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.op).toBe('write');
    expect(['EEXIST', 'ENOTDIR']).toContain(errors[0]!.code); // mkdir -p over a file, or open under it
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.stats().entries).toBe(0);
    expect((await listFiles(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await cache.set('other', makeEntry('fine'));
    expect(text((await cache.get('other'))!.body)).toBe('fine');
  });

  it('fails the writes waiting for a thread that died, and starts a new one for the next write', async () => {
    const dir = await tempDir();
    writer = createThreadDiskWriter();
    const errors: string[] = [];
    const cache = open({ dir, onError: (error) => errors.push((error as Error).message) });
    await cache.set('a', makeEntry('one'));
    // The thread is the only one this writer started: stop it from outside while writes wait.
    const { Worker } = await import('node:worker_threads');
    const terminate = vi.spyOn(Worker.prototype, 'postMessage').mockImplementationOnce(function (this: InstanceType<typeof Worker>) {
      void this.terminate();
    });
    await cache.set('b', makeEntry('two'));
    terminate.mockRestore();
    expect(errors.some((m) => /disk writer thread exited/.test(m))).toBe(true);
    expect(await cache.get('b')).toBeUndefined();
    await cache.set('c', makeEntry('three'));
    expect(text((await cache.get('c'))!.body)).toBe('three');
    expect(text((await cache.get('a'))!.body)).toBe('one');
  });
});
