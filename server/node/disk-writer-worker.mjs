// The disk tier's writer thread (started by createThreadDiskWriter in disk-writer.ts). Plain
// JavaScript with node:fs only, so it starts without TypeScript support.
//
// Message in: { id, temp, path, parts: Uint8Array[], fsync }. Out: { id } when `path` holds the
// new file, or { id, error: { message, code } } after removing `temp`. Synchronous calls are
// fine here: this thread does nothing else, and one message costs the main thread far less
// than the six asynchronous calls (and their promises) the same write takes there.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort } from 'node:worker_threads';

// Writes yield the CPU to the main thread, like the compute threads (optional dependency).
try {
  (await import('@napi-rs/nice')).nice(10);
} catch {
  // not installed or not supported here: normal priority
}

/** Shard folders known to exist (created once; forgotten if an open finds one gone). */
const madeDirs = new Set();

function openTemp(temp) {
  const folder = dirname(temp);
  if (!madeDirs.has(folder)) {
    mkdirSync(folder, { recursive: true });
    madeDirs.add(folder);
  }
  try {
    return openSync(temp, 'wx');
  } catch (error) {
    // Removed behind our back (e.g. the cache folder was cleared by hand): make it again.
    if (error?.code !== 'ENOENT') throw error;
    mkdirSync(folder, { recursive: true });
    return openSync(temp, 'wx');
  }
}

function write({ temp, path, parts, fsync }) {
  const fd = openTemp(temp);
  try {
    let rest = parts.filter((p) => p.byteLength > 0);
    // writev may write less than asked (e.g. on a full disk): go on from where it stopped.
    while (rest.length) {
      let n = writevSync(fd, rest);
      if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      const left = [];
      for (const p of rest) {
        if (n >= p.byteLength) n -= p.byteLength;
        else {
          left.push(n ? p.subarray(n) : p);
          n = 0;
        }
      }
      rest = left;
    }
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

parentPort.on('message', (m) => {
  try {
    write(m);
    parentPort.postMessage({ id: m.id });
  } catch (error) {
    try {
      unlinkSync(m.temp);
    } catch {
      // never created, or already gone
    }
    parentPort.postMessage({ id: m.id, error: { message: String(error?.message ?? error), code: error?.code } });
  }
});
