import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CacheEntry, CachePurgeFilter, ResultCache } from '../types.ts';
import { bodyCrc32, crc32, crc32Combine } from './crc32.ts';
import { tagTier } from './tier-tag.ts';
import { checkPurgeFilter, matchesPurge, scopeOf, type KeyedPurge } from './purge.ts';
import { withSingleFlight } from './single-flight.ts';

export type DiskCacheOp = 'read' | 'write' | 'delete' | 'scan' | 'purge';

export interface DiskCacheOptions {
  /** Cache directory; created on first write. @default '.tilesmith/cache' */
  dir?: string;
  /** Total size of the cache files; least recently used files go first. @default 2 GiB */
  maxBytes?: number;
  /** fsync each file before it is renamed into place: survives power loss, costs latency. @default false */
  fsync?: boolean;
  /**
   * Told about I/O failures, once per operation and error code (a full disk would otherwise
   * report every write). The cache keeps answering: failed reads are misses, failed writes
   * are not stored. @default console.warn
   */
  onError?: (error: unknown, info: { op: DiskCacheOp; path: string }) => void;
  /**
   * Who writes the files. Default: this thread, through libuv's file system calls. The Node
   * server passes a writer thread (`createThreadDiskWriter` in server/node/disk-writer.ts), so
   * the main thread, which answers cached hits, spends one message on a write instead of six
   * file system calls and their promises.
   */
  writer?: DiskWriter;
}

/**
 * Writes one cache file: `parts` in order to `temp` (created exclusively, its folder made if
 * missing), fsync'd when asked, closed, then renamed to `path`. On failure it removes `temp`
 * and rejects with the system error (its `code` kept), and `path` is untouched.
 */
export interface DiskWriter {
  write(temp: string, path: string, parts: Uint8Array[], fsync: boolean): Promise<void>;
}

/** A disk cache, with the extras tests and shutdown need. */
export interface DiskCache extends ResultCache, KeyedPurge {
  /** Resolves when the startup scan and every write, delete and eviction started so far are done. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** What the in-memory index knows (complete once the startup scan is done). */
  stats(): { entries: number; bytes: number };
}

/*
 * File format, version 1 (all integers big-endian):
 *   0  4  magic "TSMC"
 *   4  1  version (1)
 *   5  3  reserved (0)
 *   8  4  header length H
 *  12  H  header: UTF-8 JSON { key, status, mediaType, etag, createdAt, expiresAt (null = never),
 *         timings?, scope?, bodyLength }
 *
 * `scope` ({ udf, tile, bounds }) was added without a version bump: readers ignore unknown
 * header fields, and a file without it is purged by what its key says (`udf/z/x/y/…` gives the
 * UDF, zoom and tile area; a file result's area is then unknown, so any bbox purge of its UDF
 * removes it).
 *  12+H   body (bodyLength bytes)
 *  end-4  CRC-32 of every byte before it
 */
const MAGIC = Buffer.from('TSMC', 'latin1');
const VERSION = 1;
const PREAMBLE = 12;
const TRAILER = 4;
/** Eviction goes below the cap, so that a full cache does not evict on every write. */
const EVICT_TO = 0.9;
const HASH_NAME = /^[0-9a-f]{64}$/;
const SHARD_NAME = /^[0-9a-f]{2}$/;
const TEMP_NAME = /^[0-9a-f]{64}\.tmp-(\d+)-[0-9a-f]+$/;
/** Past this age a temp file is abandoned whoever owns it (its pid may have been reused). */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Temp file names: `<final>.tmp-<pid>-<random prefix of this process><counter>` (hex). A counter
 * rather than fresh random bytes per write (those cost more than the rest of the name).
 */
const tempPrefix = randomBytes(4).toString('hex');
let tempCounter = 0;

/** Temp files being written by any disk cache of this process: the startup scan must spare them. */
const ownTemps = new Set<string>();

interface Header {
  key: string;
  status: 200 | 204;
  mediaType: string;
  etag: string;
  createdAt: number;
  expiresAt: number | null;
  timings?: Record<string, number>;
  scope?: CacheEntry['scope'];
  bodyLength: number;
}

/** Where the entry for `key` lives: `dir/ab/cd/<sha256 of key>`. Keys are hashed, so any key is a safe file name. */
export function diskCachePath(dir: string, key: string): string {
  return pathOf(dir, hashKey(key));
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function pathOf(dir: string, hash: string): string {
  return join(dir, hash.slice(0, 2), hash.slice(2, 4), hash);
}

/**
 * The self-checking binary form of an entry (magic, version, JSON header, body, CRC-32), as
 * stored in disk files and Redis values.
 */
export function encodeEntry(key: string, entry: CacheEntry): Buffer {
  return encodeFile(key, entry);
}

/** The entry, or undefined for anything but an intact encoding made for this very `key`. */
export function decodeEntry(key: string, bytes: Buffer): CacheEntry | undefined {
  return decodeFile(key, bytes);
}

/**
 * An entry as the parts of its file: magic, version and JSON header; the body itself (not
 * copied); the CRC-32 trailer. The CRC covers header and body; the body's own CRC usually
 * comes from the compute thread that encoded it (`rememberCrc32`), so the main thread only
 * checksums the header and combines the two.
 */
function fileParts(key: string, entry: CacheEntry): { parts: [Buffer, Uint8Array, Buffer]; size: number } {
  const header: Header = {
    key,
    status: entry.status,
    mediaType: entry.mediaType,
    etag: entry.etag,
    createdAt: entry.createdAt,
    // JSON has no Infinity; null means "never expires".
    expiresAt: Number.isFinite(entry.expiresAt) ? entry.expiresAt : null,
    timings: entry.timings,
    scope: entry.scope,
    bodyLength: entry.body.byteLength,
  };
  const json = JSON.stringify(header);
  const jsonLength = Buffer.byteLength(json, 'utf8');
  const head = Buffer.allocUnsafe(PREAMBLE + jsonLength);
  MAGIC.copy(head, 0);
  head.fill(0, 4, 8);
  head[4] = VERSION;
  head.writeUInt32BE(jsonLength, 8);
  head.write(json, PREAMBLE, 'utf8');
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32BE(crc32Combine(crc32(head), bodyCrc32(entry.body), entry.body.byteLength), 0);
  return { parts: [head, entry.body, trailer], size: head.length + entry.body.byteLength + TRAILER };
}

function encodeFile(key: string, entry: CacheEntry): Buffer {
  const { parts, size } = fileParts(key, entry);
  return Buffer.concat(parts, size);
}

/** The entry, or undefined for anything but an intact version-1 file written for this very key. */
function decodeFile(key: string, file: Buffer): CacheEntry | undefined {
  if (file.length < PREAMBLE + TRAILER || !MAGIC.equals(file.subarray(0, 4)) || file[4] !== VERSION) return undefined;
  const bodyStart = PREAMBLE + file.readUInt32BE(8);
  if (bodyStart + TRAILER > file.length) return undefined;
  if (crc32(file.subarray(0, file.length - TRAILER)) !== file.readUInt32BE(file.length - TRAILER)) return undefined;
  let h: Header;
  try {
    h = JSON.parse(file.toString('utf8', PREAMBLE, bodyStart)) as Header;
  } catch {
    return undefined;
  }
  const valid =
    h !== null &&
    typeof h === 'object' &&
    h.key === key && // a different key means a sha256 collision or a file copied by hand
    (h.status === 200 || h.status === 204) &&
    typeof h.mediaType === 'string' &&
    typeof h.etag === 'string' &&
    typeof h.createdAt === 'number' &&
    (typeof h.expiresAt === 'number' || h.expiresAt === null) &&
    h.bodyLength === file.length - TRAILER - bodyStart;
  if (!valid) return undefined;
  const entry: CacheEntry = {
    status: h.status,
    // A view, not a Buffer: callers compare and re-encode plain Uint8Arrays.
    body: new Uint8Array(file.buffer, file.byteOffset + bodyStart, h.bodyLength),
    mediaType: h.mediaType,
    etag: h.etag,
    createdAt: h.createdAt,
    expiresAt: h.expiresAt ?? Infinity,
  };
  if (h.timings) entry.timings = h.timings;
  if (h.scope && typeof h.scope === 'object' && typeof h.scope.udf === 'string') entry.scope = h.scope;
  return entry;
}

/** Just the header of a cache file (no checksum check: a purge only needs to know what it is). */
async function readHeader(path: string): Promise<Header | undefined> {
  const handle = await open(path, 'r');
  try {
    const pre = Buffer.alloc(PREAMBLE);
    const { bytesRead } = await handle.read(pre, 0, PREAMBLE, 0);
    if (bytesRead < PREAMBLE || !MAGIC.equals(pre.subarray(0, 4)) || pre[4] !== VERSION) return undefined;
    const length = pre.readUInt32BE(8);
    if (length > 1024 * 1024) return undefined;
    const json = Buffer.alloc(length);
    const read = await handle.read(json, 0, length, PREAMBLE);
    if (read.bytesRead < length) return undefined;
    const h = JSON.parse(json.toString('utf8')) as Header;
    return h && typeof h === 'object' && typeof h.key === 'string' ? h : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/** Writes every byte of `parts` in order (writev may write less than asked, e.g. on a full disk). */
async function writeAll(handle: FileHandle, parts: Uint8Array[]): Promise<void> {
  let rest = parts.filter((p) => p.byteLength > 0);
  while (rest.length) {
    let { bytesWritten } = await handle.writev(rest);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    const left: Uint8Array[] = [];
    for (const p of rest) {
      if (bytesWritten >= p.byteLength) bytesWritten -= p.byteLength;
      else {
        left.push(bytesWritten ? p.subarray(bytesWritten) : p);
        bytesWritten = 0;
      }
    }
    rest = left;
  }
}

/** The default `DiskWriter`: libuv's file system calls from the calling thread. */
function createLocalWriter(): DiskWriter {
  /** Shard folders known to exist (created once; forgotten if an open finds one gone). */
  const madeDirs = new Set<string>();

  async function openTemp(temp: string): Promise<FileHandle> {
    const folder = dirname(temp);
    if (!madeDirs.has(folder)) {
      await mkdir(folder, { recursive: true });
      madeDirs.add(folder);
    }
    try {
      return await open(temp, 'wx');
    } catch (error) {
      // Removed behind our back (e.g. the cache folder was cleared by hand): make it again.
      if (errorCode(error) !== 'ENOENT') throw error;
      madeDirs.delete(folder);
      await mkdir(folder, { recursive: true });
      madeDirs.add(folder);
      return open(temp, 'wx');
    }
  }

  return {
    async write(temp, path, parts, fsync) {
      try {
        const handle = await openTemp(temp);
        try {
          // Header, body and trailer in one system call, without copying the body into a file buffer.
          await writeAll(handle, parts);
          if (fsync) await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, path);
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * A persistent result cache: one checksummed file per entry under `dir/ab/cd/<sha256>`,
 * bounded by `maxBytes` with least-recently-used eviction, and served again after a restart.
 *
 * Writes go to a temp file that is renamed into place, so a crash never leaves a partial file
 * under a final name. A file that is truncated, corrupt, written for another key or expired is
 * a miss and is deleted; no read or write error ever reaches the caller (see `onError`).
 * On open, a background scan indexes the existing files (oldest mtime = least recently used)
 * and removes temp files left by a crash; lookups do not wait for it.
 *
 * @example
 * const cache = createDiskCache({ dir: '.tilesmith/cache', maxBytes: 512 * 1024 * 1024 });
 * const { entry } = await cache.getOrCompute(key, compute);
 * await cache.close(); // waits for pending writes
 */
export function createDiskCache(opts: DiskCacheOptions = {}): DiskCache {
  const dir = opts.dir ?? '.tilesmith/cache';
  const maxBytes = opts.maxBytes ?? 2 * 1024 * 1024 * 1024;
  const onError = opts.onError ?? ((error, { op, path }) => console.warn(`tilesmith cache: ${op} failed for ${path}:`, error));

  /** hash → file size, in access order: the first key is the least recently used. */
  const index = new Map<string, number>();
  let bytes = 0;
  /** Per-key chains that keep writes and deletes of one key in call order. */
  const queues = new Map<string, Promise<void>>();
  /** Fire-and-forget work (mtime touches, evictions) that flush() must still wait for. */
  const pending = new Set<Promise<unknown>>();
  const reported = new Set<string>();

  function report(op: DiskCacheOp, path: string, error: unknown): void {
    const id = `${op}:${errorCode(error) ?? 'unknown'}`;
    if (reported.has(id)) return;
    reported.add(id);
    try {
      onError(error, { op, path });
    } catch {
      // A throwing logger must not turn a cache problem into a failed request.
    }
  }

  function track(hash: string, size: number): void {
    untrack(hash);
    index.set(hash, size);
    bytes += size;
  }

  function untrack(hash: string): void {
    const size = index.get(hash);
    if (size === undefined) return;
    index.delete(hash);
    bytes -= size;
  }

  function background(work: Promise<unknown>): void {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }

  function serial(hash: string, op: () => Promise<void>): Promise<void> {
    const run = (queues.get(hash) ?? Promise.resolve()).then(op, op);
    queues.set(hash, run);
    void run.finally(() => {
      if (queues.get(hash) === run) queues.delete(hash);
    });
    return run;
  }

  async function remove(hash: string): Promise<void> {
    const path = pathOf(dir, hash);
    untrack(hash);
    try {
      await unlink(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') report('delete', path, error);
    }
  }

  const writer = opts.writer ?? createLocalWriter();

  async function write(hash: string, parts: Uint8Array[], size: number): Promise<void> {
    const path = pathOf(dir, hash);
    const temp = `${path}.tmp-${process.pid}-${tempPrefix}${(tempCounter++).toString(16)}`;
    ownTemps.add(temp);
    try {
      await writer.write(temp, path, parts, !!opts.fsync);
      track(hash, size);
    } catch (error) {
      report('write', path, error);
      // The writer removes its temp file on failure; this covers a writer an embedding passed that does not.
      await unlink(temp).catch(() => {});
    } finally {
      ownTemps.delete(temp);
    }
  }

  async function evict(): Promise<void> {
    if (bytes <= maxBytes) return;
    const victims: string[] = [];
    // Unindex synchronously so concurrent evictions do not pick the same victims.
    for (const [hash, size] of index) {
      if (bytes <= maxBytes * EVICT_TO) break;
      index.delete(hash);
      bytes -= size;
      victims.push(hash);
    }
    await Promise.all(
      victims.map((hash) =>
        serial(hash, async () => {
          // Re-indexed means a write queued before the eviction just stored a fresh copy.
          if (!index.has(hash)) await remove(hash);
        }),
      ),
    );
  }

  async function listDir(path: string): Promise<string[]> {
    try {
      return await readdir(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') report('scan', path, error);
      return [];
    }
  }

  async function scanFile(shardDir: string, name: string, found: { hash: string; size: number; mtime: number }[]): Promise<void> {
    const path = join(shardDir, name);
    const temp = TEMP_NAME.exec(name);
    if (!HASH_NAME.test(name) && !temp) return; // not ours: leave it alone
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return;
    if (!temp) {
      // A file in the wrong shard would never be looked up; don't count it.
      if (join(dir, name.slice(0, 2), name.slice(2, 4)) === shardDir) found.push({ hash: name, size: info.size, mtime: info.mtimeMs });
      return;
    }
    const pid = Number(temp[1]);
    const abandoned =
      Date.now() - info.mtimeMs > TEMP_MAX_AGE_MS || (pid === process.pid ? !ownTemps.has(path) : !processAlive(pid));
    if (abandoned) await unlink(path).catch(() => {});
  }

  async function scan(): Promise<void> {
    const found: { hash: string; size: number; mtime: number }[] = [];
    for (const a of (await listDir(dir)).filter((n) => SHARD_NAME.test(n))) {
      for (const b of (await listDir(join(dir, a))).filter((n) => SHARD_NAME.test(n))) {
        const shardDir = join(dir, a, b);
        await Promise.all((await listDir(shardDir)).map((name) => scanFile(shardDir, name, found)));
      }
    }
    found.sort((x, y) => x.mtime - y.mtime);
    // Entries used while the scan ran are the most recent of all: keep them at the end.
    const recent = [...index];
    const seen = new Set(index.keys());
    index.clear();
    bytes = 0;
    for (const { hash, size } of found) if (!seen.has(hash)) track(hash, size);
    for (const [hash, size] of recent) track(hash, size);
    await evict();
  }

  const scanned = scan();
  background(scanned);

  async function flush(): Promise<void> {
    while (pending.size > 0 || queues.size > 0) {
      await Promise.allSettled([...pending, ...queues.values()]);
    }
  }

  const storage = {
    async get(key: string): Promise<CacheEntry | undefined> {
      const hash = hashKey(key);
      const path = pathOf(dir, hash);
      let file: Buffer;
      try {
        file = await readFile(path);
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') report('read', path, error);
        untrack(hash);
        return undefined;
      }
      const entry = decodeFile(key, file);
      if (entry) tagTier(entry, 'disk');
      if (!entry || entry.expiresAt <= Date.now()) {
        // Not through the key's queue: a write queued meanwhile would otherwise be deleted.
        // A rename racing this unlink can still lose a fresh file, which is only a miss.
        await remove(hash);
        return undefined;
      }
      track(hash, file.length); // moves it to the most recently used end
      // Persist recency for the next startup scan; a failure here only blurs the LRU order.
      const now = new Date();
      background(utimes(path, now, now).catch(() => {}));
      return entry;
    },

    async set(key: string, entry: CacheEntry): Promise<void> {
      const hash = hashKey(key);
      if (entry.expiresAt <= Date.now()) return serial(hash, () => remove(hash));
      const { parts, size } = fileParts(key, entry);
      // It could never fit: storing it would only evict everything else, itself included.
      if (size > maxBytes * EVICT_TO) return serial(hash, () => remove(hash));
      await serial(hash, () => write(hash, parts, size));
      await evict();
    },

    async delete(key: string): Promise<void> {
      const hash = hashKey(key);
      return serial(hash, () => remove(hash));
    },

    purgeKeys,
    async purge(filter: CachePurgeFilter): Promise<number> {
      return (await purgeKeys(filter)).length;
    },
    flush,
    close: flush,
    stats: () => ({ entries: index.size, bytes }),
  };

  /**
   * Reads the header of every indexed file (after the startup scan, so files from before a
   * restart are included) and deletes the matching ones, each in its key's queue so a write
   * queued before the purge is not resurrected after it.
   */
  async function purgeKeys(filter: CachePurgeFilter): Promise<string[]> {
    checkPurgeFilter(filter);
    await scanned;
    const gone: string[] = [];
    const hashes = [...index.keys()];
    // A few files at a time: enough to overlap I/O, not enough to run out of descriptors.
    let next = 0;
    const workers = Array.from({ length: Math.min(16, hashes.length) }, async () => {
      while (next < hashes.length) {
        const hash = hashes[next++]!;
        await serial(hash, async () => {
          const path = pathOf(dir, hash);
          let header: Header | undefined;
          try {
            header = await readHeader(path);
          } catch (error) {
            if (errorCode(error) !== 'ENOENT') report('purge', path, error);
            return;
          }
          if (header && matchesPurge(filter, scopeOf(header.key, header))) {
            await remove(hash);
            gone.push(header.key);
          }
        });
      }
    });
    await Promise.all(workers);
    return gone;
  }
  return withSingleFlight(storage);
}
