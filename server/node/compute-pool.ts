/**
 * The compute pool: worker threads (piscina) that run TypeScript UDFs, decode Python results,
 * normalise and encode, each thread under a V8 heap cap. A task past its deadline, or whose
 * every client left, has its thread stopped (so even a synchronous loop ends) and replaced.
 *
 * piscina rather than a hand-written pool: it gives exactly the semantics needed here —
 * aborting a running task terminates its thread, `resourceLimits` per thread with a clean
 * `ERR_WORKER_OUT_OF_MEMORY` rejection, transferable results, a replacement thread after a
 * crash — and is maintained by the Node.js team's ecosystem.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { rememberCrc32 } from '../cache/crc32.ts';
import { UdfError, UdfTimeoutError, WorkerCrashedError } from '../errors.ts';
import type { ComputedResult, EncodeRequest } from '../compute/encode-result.ts';
import type { RunUpdate } from '../types.ts';
import { fromWire, type ComputeTask, type TaskAnswer, type WireCall } from '../compute/wire.ts';

const WORKER = new URL('./compute-worker.mjs', import.meta.url).href;
/** Longest a task may wait for a thread and its UDF module's import before its timeout starts. */
const STARTUP_MS = 30_000;
/** Scheduling priority of compute threads relative to the main thread (Unix nice). */
const NICE = 10;

/** A compute thread's heap cap when neither `--udf-memory` nor the UDF's `memory` option sets one (MB). */
export const DEFAULT_MEMORY_MB = 2048;

/**
 * The heap limits of a compute thread whose UDFs may use `memoryMb`: that old generation, and a
 * young generation of 1/16 of it, 16–128 MB. A tile's whole working set (a 10k-feature result
 * and its encoding, ~20–30 MB; a decoded Python result) then dies young instead of being copied
 * out of a full nursery: 128 rather than 64 MB took whole-process CPU per cold 10k-point tile
 * from 6.7–8.8 to 6.4–6.8 ms (600 tiles per run, 3 runs each, in a thread like these). The
 * bench's Python section runs in a thread with these limits too (bench/python-thread.mjs).
 */
export function computeThreadLimits(memoryMb: number): { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number } {
  return { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: Math.min(128, Math.max(16, memoryMb / 16)) };
}

export interface ComputePoolOptions {
  /** Threads per pool. @default os.availableParallelism() */
  threads?: number;
  /** V8 heap cap per thread, MB (`--udf-memory`). @default 2048 */
  memoryMb?: number;
  log?: (msg: string) => void;
}

export interface PoolRunOptions {
  /** Stops the task (and its thread) when aborted, e.g. every client left. */
  signal?: AbortSignal;
  /** Wall-clock limit; past it the thread is stopped and the call answers 504. */
  timeoutMs?: number;
  /** The UDF's own timeout, for messages (`timeoutMs` may be what is left of it after queueing). */
  declaredTimeoutMs?: number;
  /** Heap cap for this UDF, MB (its `memory` option); other caps get a pool of their own. */
  memoryMb?: number;
  /** For messages: `UDF 'points'`. */
  what: string;
  /** Receives the UDF's status/progress reports while it runs (TypeScript tasks). */
  onUpdate?: (u: RunUpdate) => void;
}

/** Counters for /metrics and tests. */
export interface ComputePoolStats {
  threads: number;
  /** Tasks running now. */
  running: number;
  /** Tasks waiting for a thread. */
  queued: number;
  /** Threads stopped and replaced (timeout, cancel, out of memory, crash). */
  restarts: number;
}

/**
 * Runs compute tasks on worker threads.
 * @example
 * const pool = new ComputePool({ threads: 2 });
 * const result = await pool.runUdf({ path, name, codeHash }, call, encode, { what: "UDF 'x'", timeoutMs: 30_000 });
 */
export class ComputePool {
  readonly threads: number;
  readonly memoryMb: number;
  private readonly pools = new Map<number, Piscina>();
  private restarts = 0;
  private running = 0;
  private closed = false;

  constructor(private readonly opts: ComputePoolOptions = {}) {
    this.threads = Math.max(1, opts.threads ?? availableParallelism());
    this.memoryMb = opts.memoryMb ?? DEFAULT_MEMORY_MB;
    this.pool(this.memoryMb); // start the default threads now: the first tile should not pay for it
  }

  private pool(memoryMb: number): Piscina {
    let p = this.pools.get(memoryMb);
    if (!p) {
      const isDefault = memoryMb === this.memoryMb;
      p = new Piscina({
        filename: WORKER,
        minThreads: isDefault ? this.threads : 0,
        maxThreads: this.threads,
        // Threads keep their imported UDF modules: never retire the default ones.
        idleTimeout: isDefault ? Infinity : 60_000,
        // UDFs may keep timers or sockets open between tasks: no synchronous Atomics wait.
        atomics: 'disabled',
        resourceLimits: computeThreadLimits(memoryMb),
        recordTiming: false,
        // Compute yields the CPU to the main thread (routing, cache hits) when both want it:
        // a cached tile must not wait behind an encoder on a busy box. Needs the optional
        // @napi-rs/nice; without it threads run at normal priority.
        niceIncrement: NICE,
      });
      p.on('error', (err) => this.opts.log?.(`tilesmith: compute thread error: ${err instanceof Error ? err.message : err}`));
      this.pools.set(memoryMb, p);
    }
    return p;
  }

  stats(): ComputePoolStats {
    let queued = 0;
    for (const p of this.pools.values()) queued += p.queueSize;
    return { threads: this.threads, running: this.running, queued, restarts: this.restarts };
  }

  /** Imports a TypeScript UDF in a thread and returns its params and options (user code never runs on the main thread). */
  async describe(path: string, name: string, codeHash: string, timeoutMs: number): Promise<{ params: Record<string, unknown>; options: Record<string, unknown> }> {
    const answer = await this.run({ op: 'describe', path, name, codeHash }, { what: `loading UDF '${name}'`, timeoutMs });
    if (!answer.ok) throw fromWire(answer.error);
    if (!('describe' in answer)) throw new Error('unexpected answer to describe');
    return answer.describe;
  }

  /** Runs a TypeScript UDF and encodes its result in a thread. */
  async runUdf(udf: { path: string; name: string; codeHash: string }, call: WireCall, encode: EncodeRequest, o: PoolRunOptions): Promise<ComputedResult> {
    return this.result(await this.run({ op: 'ts', ...udf, call, encode }, o));
  }

  /** Runs a TypeScript UDF in a thread and returns its normalised result (no encoding). */
  async runUdfRaw(udf: { path: string; name: string; codeHash: string }, call: WireCall, o: PoolRunOptions): Promise<{ normalized: unknown; logs: string[] }> {
    const answer = await this.run({ op: 'ts', ...udf, call, encode: null }, o);
    if (!answer.ok) throw fromWire(answer.error);
    if (!('normalized' in answer)) throw new Error('unexpected answer');
    return { normalized: answer.normalized, logs: answer.logs };
  }

  /** Decodes a Python worker's result frame, normalises and encodes it in a thread. */
  async encodeFrame(name: string, frame: { header: Record<string, any>; payload: Uint8Array }, encode: EncodeRequest, o: PoolRunOptions): Promise<ComputedResult> {
    return this.result(await this.run({ op: 'frame', name, header: frame.header, payload: frame.payload, encode }, o));
  }

  private result(answer: TaskAnswer): ComputedResult {
    if (!answer.ok) throw fromWire(answer.error);
    if (!('result' in answer)) throw new Error('unexpected answer');
    if (answer.bodyCrc32 !== undefined) rememberCrc32(answer.result.body, answer.bodyCrc32);
    return answer.result;
  }

  private async run(task: ComputeTask, o: PoolRunOptions): Promise<TaskAnswer> {
    if (this.closed) throw new WorkerCrashedError('the compute pool is closed (the server is shutting down)');
    const memoryMb = o.memoryMb ?? this.memoryMb;
    const limited = o.timeoutMs !== undefined && Number.isFinite(o.timeoutMs);
    // The timeout counts from when the UDF starts running, not while a fresh thread boots or
    // imports the module (a replaced thread must not eat a short timeout); the wait for a
    // thread and the import are bounded separately.
    const timeout = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let channel: MessageChannel | undefined;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => timeout.abort(new Error('timeout')), Math.max(1, ms));
    };
    if (task.op === 'ts' && (limited || o.onUpdate)) {
      channel = new MessageChannel();
      task.port = channel.port2;
      channel.port1.on('message', (m: unknown) => {
        if (m === 'start') {
          if (limited) arm(o.timeoutMs!);
        } else if (m && typeof m === 'object') o.onUpdate?.(m as RunUpdate);
      });
      channel.port1.unref();
      if (limited) arm(Math.max(o.timeoutMs!, STARTUP_MS));
    } else if (limited) {
      arm(o.timeoutMs!);
    }
    const signal = limited && o.signal ? AbortSignal.any([o.signal, timeout.signal]) : limited ? timeout.signal : o.signal;
    const transferList: Transferable[] = [];
    if (task.op === 'frame' && task.payload.byteLength) transferList.push(ownBuffer(task));
    if (channel) transferList.push(channel.port2 as unknown as Transferable);
    this.running++;
    try {
      return (await this.pool(memoryMb).run(task, { signal, transferList: transferList as any })) as TaskAnswer;
    } catch (err) {
      const e = err as Error & { code?: string };
      this.restarts++;
      if (timeout.signal.aborted) {
        const declared = o.declaredTimeoutMs ?? o.timeoutMs!;
        const waited = declared - o.timeoutMs! > 50 ? ` (${fmtMs(declared - o.timeoutMs!)} of it spent waiting for a slot)` : '';
        throw new UdfTimeoutError(`${o.what} ran longer than its timeout of ${fmtMs(declared)}${waited}; its thread was stopped.`);
      }
      if (o.signal?.aborted) {
        throw o.signal.reason instanceof Error ? o.signal.reason : new DOMException(`${o.what} was cancelled`, 'AbortError');
      }
      if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new UdfError(`${o.what} ran out of memory: it went over the limit of ${memoryMb} MB per thread (--udf-memory, or the UDF's memory option). Its thread was replaced.`);
      }
      throw new WorkerCrashedError(`${o.what} stopped its compute thread (${e?.message ?? String(err)}); the thread was replaced.`);
    } finally {
      clearTimeout(timer);
      channel?.port1.close();
      this.running--;
    }
  }

  /** Stops every thread (running tasks are abandoned). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => {})));
    this.pools.clear();
  }
}

/** The frame payload as a buffer of its own, so it can be transferred rather than copied. */
function ownBuffer(task: Extract<ComputeTask, { op: 'frame' }>): ArrayBuffer {
  const p = task.payload;
  if (!(p.byteOffset === 0 && p.byteLength === p.buffer.byteLength && p.buffer instanceof ArrayBuffer)) task.payload = new Uint8Array(p);
  return task.payload.buffer as ArrayBuffer;
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${Math.round(ms)} ms`;
}
