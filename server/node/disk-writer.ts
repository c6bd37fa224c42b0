/**
 * A `DiskWriter` (server/cache/disk.ts) that writes cache files on a thread of its own.
 *
 * Why: a cold tile's disk write from the main thread is six libuv calls (mkdir, open, writev,
 * close, rename; the lookup before it an open) with a FileHandle and a promise chain each, and
 * every call wakes a libuv thread that competes with the main thread for a core. Measured on a
 * 2-core box serving cold 10k-point tiles at c=4 plus a client sending cached hits: with the
 * disk tier off, the main thread's CPU per cold tile fell by about a third and the cached-hit
 * p99 by ~20 %. Here the main thread spends one `postMessage` (the bytes are cloned into the
 * message: the body stays in the memory tier, so it cannot be transferred) and gets one reply:
 * ~110–140 µs of main-thread CPU per 328 KB write instead of ~300–340 µs (600 writes, 4 at a
 * time, several runs; copying into a buffer of its own and transferring that measured the same).
 * The thread runs at the compute threads' lower priority (nice +10, with the optional
 * `@napi-rs/nice`), so a burst of writes does not take a core from the main thread either.
 *
 * The thread is started on the first write and does not keep the process alive. If it dies, the
 * writes waiting for it fail (the disk cache reports them and stores nothing) and the next write
 * starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { DiskWriter } from '../cache/disk.ts';

const ENTRY = new URL('./disk-writer-worker.mjs', import.meta.url);

export interface ThreadDiskWriter extends DiskWriter {
  /** Waits for the writes sent so far, then stops the thread. */
  close(): Promise<void>;
}

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * @example
 * const writer = createThreadDiskWriter();
 * const disk = createDiskCache({ dir, writer });
 * await disk.close();
 * await writer.close();
 */
export function createThreadDiskWriter(): ThreadDiskWriter {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  /** Writes sent and not yet answered, for close(). */
  const inflight = new Set<Promise<void>>();

  function failAll(error: Error): void {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  }

  function start(): Worker {
    const w = new Worker(ENTRY);
    w.unref();
    w.on('message', (m: { id: number; error?: { message: string; code?: string } }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve();
      if (pending.size === 0) w.unref();
    });
    const gone = (error: Error) => {
      if (worker === w) worker = undefined;
      failAll(error);
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`the disk writer thread exited (code ${code})`)));
    return w;
  }

  return {
    write(temp, path, parts, fsync) {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      const done = new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Referenced while writes are in flight, so a process that is only waiting for them stays up.
        w.ref();
        w.postMessage({ id, temp, path, parts, fsync });
      });
      inflight.add(done);
      void done.then(
        () => inflight.delete(done),
        () => inflight.delete(done),
      );
      return done;
    },
    async close() {
      await Promise.allSettled([...inflight]);
      const w = worker;
      worker = undefined;
      await w?.terminate();
    },
  };
}
