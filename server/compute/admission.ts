/**
 * Admission control: how many computations run at once (globally, per UDF, and for
 * recomputations a client forced), and a bounded queue for the rest. A request that cannot
 * even queue is answered 503 with `Retry-After` at once; a queued one that reaches its
 * deadline is answered 504. Cached hits, 304s, metadata and /healthz never come here.
 */
import { OverloadedError, UdfTimeoutError } from '../errors.ts';
import type { Bounds, TileCoord } from '../types.ts';

export interface AdmissionOptions {
  /** Computations running at once, all UDFs together (`--max-concurrency`). */
  maxConcurrency: number;
  /** Computations waiting for a slot (`--max-queue`). */
  maxQueue: number;
  /**
   * Recomputations forced by a client (`cache_reset`, `cache=false`, a `cache_max_age` older
   * results fail): at most this many run at once… @default 1
   */
  clientDrivenConcurrency?: number;
  /** …and at most this many wait. @default 4 */
  clientDrivenQueue?: number;
}

/** One computation, running or waiting (for `GET /admin/runs`). */
export interface RunInfo {
  udf: string;
  tile: TileCoord | null;
  bounds: Bounds | null;
  state: 'queued' | 'running';
  /** Epoch ms when it was admitted or queued. */
  since: number;
  /** Place in the queue (1 = next), for queued ones. */
  position?: number;
  clientDriven: boolean;
}

export interface AdmitRequest {
  udf: string;
  /** The UDF's own cap (its `concurrency` option). */
  udfConcurrency?: number;
  tile?: TileCoord | null;
  bounds?: Bounds | null;
  clientDriven?: boolean;
  /** Aborts the wait (the client left). */
  signal?: AbortSignal;
  /** Epoch ms after which waiting is pointless (the UDF's timeout counted from the request). */
  deadline: number;
  /** For messages: `UDF 'points'`. */
  what: string;
}

interface Ticket {
  req: AdmitRequest;
  since: number;
  state: 'queued' | 'running';
  grant?: () => void;
  fail?: (err: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
}

/** A running computation's slot: call `release()` exactly once when it ends. */
export interface Slot {
  release(): void;
  /** Milliseconds the request waited for its slot. */
  waitedMs: number;
}

/**
 * Creates the admission controller.
 * @example
 * const admission = createAdmission({ maxConcurrency: 4, maxQueue: 64 });
 * const slot = await admission.acquire({ udf: 'points', deadline: Date.now() + 30_000, what: "UDF 'points'" });
 * try { await compute(); } finally { slot.release(); }
 */
export function createAdmission(opts: AdmissionOptions) {
  const max = Math.max(1, opts.maxConcurrency);
  const maxQueue = Math.max(0, opts.maxQueue);
  const cdMax = Math.max(1, opts.clientDrivenConcurrency ?? 1);
  const cdQueue = Math.max(0, opts.clientDrivenQueue ?? 4);
  const running = new Set<Ticket>();
  const queue: Ticket[] = [];
  const perUdf = new Map<string, number>();
  let cdRunning = 0;
  /** Recent run time (ms), smoothed: how long a queue takes to move, for Retry-After. */
  let avgRunMs = 1000;

  const udfRunning = (udf: string) => perUdf.get(udf) ?? 0;
  const fits = (r: AdmitRequest) =>
    running.size < max && udfRunning(r.udf) < (r.udfConcurrency ?? Infinity) && (!r.clientDriven || cdRunning < cdMax);

  function start(t: Ticket): void {
    t.state = 'running';
    t.since = Date.now();
    running.add(t);
    perUdf.set(t.req.udf, udfRunning(t.req.udf) + 1);
    if (t.req.clientDriven) cdRunning++;
  }

  function pump(): void {
    for (let i = 0; i < queue.length && running.size < max; ) {
      const t = queue[i]!;
      if (fits(t.req)) {
        queue.splice(i, 1);
        detach(t);
        start(t);
        t.grant!();
      } else i++;
    }
  }

  function detach(t: Ticket): void {
    if (t.timer) clearTimeout(t.timer);
    if (t.onAbort) t.req.signal?.removeEventListener('abort', t.onAbort);
  }

  function retryAfter(): number {
    return Math.min(60, Math.max(1, Math.ceil(((queue.length + 1) * avgRunMs) / max / 1000)));
  }

  function slotFor(t: Ticket, waitedMs: number): Slot {
    let released = false;
    return {
      waitedMs,
      release() {
        if (released) return;
        released = true;
        running.delete(t);
        const n = udfRunning(t.req.udf) - 1;
        if (n > 0) perUdf.set(t.req.udf, n);
        else perUdf.delete(t.req.udf);
        if (t.req.clientDriven) cdRunning--;
        avgRunMs = avgRunMs * 0.8 + (Date.now() - t.since) * 0.2;
        pump();
      },
    };
  }

  return {
    /**
     * Waits for a slot. Rejects with `OverloadedError` (503 + Retry-After) when the queue is
     * full, `UdfTimeoutError` (504) when the deadline passes while waiting, or the signal's
     * reason when the client leaves.
     */
    acquire(req: AdmitRequest): Promise<Slot> {
      const t: Ticket = { req, since: Date.now(), state: 'queued' };
      if (queue.length === 0 && fits(req)) {
        start(t);
        return Promise.resolve(slotFor(t, 0));
      }
      const cdQueued = req.clientDriven ? queue.filter((q) => q.req.clientDriven).length : 0;
      if (queue.length >= maxQueue || (req.clientDriven && cdQueued >= cdQueue)) {
        const which = req.clientDriven ? 'recomputations requested by clients (cache_reset, cache=false, cache_max_age)' : 'computations';
        return Promise.reject(
          new OverloadedError(
            `The server is busy: too many ${which} are running or waiting. ${req.clientDriven ? 'Use the cached result (drop cache_reset / cache=false), or retry' : 'Retry'} after the time in Retry-After.`,
            retryAfter(),
          ),
        );
      }
      if (req.signal?.aborted) return Promise.reject(req.signal.reason);
      return new Promise<Slot>((resolve, reject) => {
        const queuedAt = Date.now();
        t.grant = () => resolve(slotFor(t, Date.now() - queuedAt));
        t.fail = (err) => {
          const i = queue.indexOf(t);
          if (i >= 0) queue.splice(i, 1);
          detach(t);
          reject(err);
          pump();
        };
        const wait = req.deadline - Date.now();
        t.timer = setTimeout(
          () => t.fail!(new UdfTimeoutError(`${req.what} waited ${((Date.now() - queuedAt) / 1000).toFixed(1)} s for a free slot, past its timeout; the server is busy. Retry later.`)),
          Math.max(0, wait),
        );
        if (req.signal) {
          t.onAbort = () => t.fail!(req.signal!.reason ?? new DOMException('cancelled', 'AbortError'));
          req.signal.addEventListener('abort', t.onAbort, { once: true });
        }
        queue.push(t);
      });
    },

    /** Running and queued computations, oldest first. */
    snapshot(): RunInfo[] {
      const info = (t: Ticket, position?: number): RunInfo => ({
        udf: t.req.udf,
        tile: t.req.tile ?? null,
        bounds: t.req.bounds ?? null,
        state: t.state,
        since: t.since,
        ...(position !== undefined ? { position } : {}),
        clientDriven: !!t.req.clientDriven,
      });
      return [...[...running].map((t) => info(t)), ...queue.map((t, i) => info(t, i + 1))];
    },

    /** Counts for metrics: running, queued, and per UDF running. */
    stats(): { running: number; queued: number; clientDrivenRunning: number } {
      return { running: running.size, queued: queue.length, clientDrivenRunning: cdRunning };
    },
  };
}

export type Admission = ReturnType<typeof createAdmission>;
