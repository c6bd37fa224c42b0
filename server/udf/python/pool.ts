/**
 * A pool of persistent Python worker processes (worker.py). All `workers` start on first use,
 * keep their imported UDF modules between calls, and are replaced when they crash, time out
 * or run out of memory. Requests queue while every worker is busy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UdfLoadError, UdfTimeoutError, WorkerCrashedError } from '../../errors.ts';
import { FrameReader, FrameType, encodeFrame, type Frame } from './protocol.ts';

/** The worker script; its folder (holding the `tilesmith` and `fused` packages) becomes sys.path[0]. */
export const WORKER_SCRIPT = fileURLToPath(new URL('./worker.py', import.meta.url));

export interface WorkerPoolOptions {
  /** Interpreter to run worker.py with. */
  python: string;
  /** Most processes at once. */
  workers: number;
  /** Address-space cap per worker (RLIMIT_AS), in MB; 0 = none. */
  memoryMb: number;
  /** Directory for `@cache` results (TILESMITH_CACHE_DIR). */
  cacheDir: string;
  /** Extra environment variables for the workers. */
  env?: Record<string, string>;
  log?: (msg: string) => void;
}

/** One request to a worker. */
export interface PoolRequest {
  type: number;
  header: Record<string, unknown>;
  parts?: Uint8Array[];
  /** Aborting kills the worker running the request (Python code cannot be interrupted safely). */
  signal?: AbortSignal;
  /** Wall-clock limit once a worker runs the request. */
  timeoutMs?: number;
  /** For messages, e.g. `UDF "parcels"`. */
  what: string;
  /** Prefer a worker that already served this key (a UDF's name@codeHash: module already imported). */
  affinity?: string;
}

export interface PoolResponse {
  frame: Frame;
  /** The worker process that answered. */
  pid: number;
}

interface Job {
  id: number;
  req: PoolRequest;
  resolve: (r: PoolResponse) => void;
  reject: (e: unknown) => void;
  worker?: Worker;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

interface Worker {
  proc: ChildProcess;
  pid: number;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  job?: Job;
  stderr: string;
  affinity: Set<string>;
  helloTimer?: NodeJS.Timeout;
}

const STDERR_TAIL = 4000;
const HELLO_TIMEOUT_MS = 60_000;

/**
 * Runs requests on persistent Python workers.
 * @example
 * const pool = new WorkerPool({ python: '/usr/bin/python3', workers: 2, memoryMb: 2048, cacheDir });
 * const { frame } = await pool.request({ type: FrameType.call, header, what: 'UDF "x"' });
 */
export class WorkerPool {
  private workers: Worker[] = [];
  private queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private warmed = false;

  constructor(private readonly opts: WorkerPoolOptions) {}

  /** Process ids of the live workers (for tests and diagnostics). */
  get pids(): number[] {
    return this.workers.filter((w) => w.state !== 'dead').map((w) => w.pid);
  }

  /** Sends one request; resolves with the worker's answer ('R' or 'E' frame). */
  request(req: PoolRequest): Promise<PoolResponse> {
    if (this.closed) return Promise.reject(new UdfLoadError('the Python worker pool is closed', 503));
    if (req.signal?.aborted) return Promise.reject(abortError(req));
    return new Promise<PoolResponse>((resolve, reject) => {
      const job: Job = { id: this.nextId++, req, resolve, reject };
      if (req.signal) {
        job.onAbort = () => this.abort(job);
        req.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      if (!this.warmed) {
        // Start the whole pool on first use: a burst of tiles then really runs in parallel
        // instead of queueing behind the one worker that happened to be ready.
        this.warmed = true;
        for (let i = this.workers.length; i < this.opts.workers; i++) this.spawn();
      }
      this.pump();
    });
  }

  /** Ends every worker (stdin EOF, then SIGKILL after a grace period). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, new UdfLoadError('the Python worker pool was closed', 503));
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((done) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) return done();
            const t = setTimeout(() => w.proc.kill('SIGKILL'), 2000);
            w.proc.once('close', () => {
              clearTimeout(t);
              done();
            });
            if (w.job) w.proc.kill('SIGKILL');
            else w.proc.stdin?.end();
          }),
      ),
    );
    this.workers = [];
  }

  private pump(): void {
    while (this.queue.length) {
      const idle = this.workers.filter((w) => w.state === 'idle');
      if (!idle.length) break;
      const job = this.queue.shift()!;
      const w = idle.find((x) => job.req.affinity && x.affinity.has(job.req.affinity)) ?? idle[0];
      this.dispatch(w, job);
    }
    if (this.closed) return;
    const starting = this.workers.filter((w) => w.state === 'starting').length;
    const room = this.opts.workers - this.workers.length;
    for (let i = 0; i < Math.min(this.queue.length - starting, room); i++) this.spawn();
  }

  private dispatch(w: Worker, job: Job): void {
    w.state = 'busy';
    w.job = job;
    job.worker = w;
    if (job.req.timeoutMs && job.req.timeoutMs > 0) {
      job.timer = setTimeout(() => {
        this.kill(w);
        this.settle(job, new UdfTimeoutError(`${job.req.what} ran past its timeout of ${fmtMs(job.req.timeoutMs!)}; its worker was stopped`));
      }, job.req.timeoutMs);
    }
    w.proc.stdin!.write(encodeFrame(job.req.type, { ...job.req.header, id: job.id }, job.req.parts));
  }

  private abort(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    else if (job.worker && job.worker.job === job) this.kill(job.worker);
    this.settle(job, abortError(job.req));
  }

  /** Resolves or rejects a job exactly once and detaches its timer and abort listener. */
  private settle(job: Job, err: unknown, res?: PoolResponse): void {
    if (job.timer) clearTimeout(job.timer);
    if (job.onAbort) job.req.signal?.removeEventListener('abort', job.onAbort);
    job.timer = undefined;
    job.onAbort = undefined;
    const { resolve, reject } = job;
    job.resolve = job.reject = () => {};
    if (res) resolve(res);
    else reject(err);
  }

  /** SIGKILL a worker whose current job is being abandoned, and start its replacement. */
  private kill(w: Worker): void {
    if (w.state === 'dead') return;
    w.state = 'dead';
    w.job = undefined;
    w.proc.kill('SIGKILL');
    this.workers = this.workers.filter((x) => x !== w);
    if (!this.closed) this.spawn();
    this.pump();
  }

  private spawn(): void {
    const o = this.opts;
    const env: Record<string, string | undefined> = {
      ...process.env,
      // One process per core already: numeric libraries must not also spawn a thread per core.
      OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1',
      OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1',
      MKL_NUM_THREADS: process.env.MKL_NUM_THREADS ?? '1',
      // Keep __pycache__ folders out of users' UDF folders and the repository.
      PYTHONDONTWRITEBYTECODE: '1',
      ...o.env,
      TILESMITH_MEMORY_MB: String(o.memoryMb),
      TILESMITH_CACHE_DIR: o.cacheDir,
    };
    const proc = spawn(o.python, [WORKER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const w: Worker = { proc, pid: proc.pid ?? -1, state: 'starting', stderr: '', affinity: new Set() };
    this.workers.push(w);
    const reader = new FrameReader();
    proc.stdout!.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        w.stderr += `\n[tilesmith] unreadable frame from the worker: ${(e as Error).message}`;
        this.kill(w);
        return;
      }
      for (const f of frames) this.onFrame(w, f);
    });
    proc.stderr!.on('data', (chunk: Buffer) => {
      w.stderr = (w.stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    proc.stdin!.on('error', () => {}); // EPIPE when it dies: reported through 'close'
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      this.onExit(w, code, signal, error);
    };
    proc.on('error', (err) => end(null, null, err));
    proc.on('close', (code, signal) => end(code, signal));
    w.helloTimer = setTimeout(() => {
      w.stderr += `\n[tilesmith] the worker did not start within ${HELLO_TIMEOUT_MS / 1000} s`;
      proc.kill('SIGKILL');
    }, HELLO_TIMEOUT_MS);
  }

  private onFrame(w: Worker, frame: Frame): void {
    if (frame.type === FrameType.hello) {
      clearTimeout(w.helloTimer);
      if (w.state === 'starting') w.state = 'idle';
      this.pump();
      return;
    }
    const job = w.job;
    if (!job || frame.header.id !== job.id) return; // answer to a request already abandoned
    w.job = undefined;
    if (job.req.affinity) w.affinity.add(job.req.affinity);
    if (frame.type === FrameType.error && frame.header.kind === 'memory') {
      // A MemoryError can leave a process fragmented or half-initialised: start a fresh one.
      w.state = 'dead';
      this.workers = this.workers.filter((x) => x !== w);
      w.proc.stdin!.end();
      if (!this.closed) this.spawn();
    } else {
      w.state = 'idle';
    }
    this.settle(job, undefined, { frame, pid: w.pid });
    this.pump();
  }

  private onExit(w: Worker, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    clearTimeout(w.helloTimer);
    const wasStarting = w.state === 'starting';
    const wasKilledByUs = w.state === 'dead';
    w.state = 'dead';
    this.workers = this.workers.filter((x) => x !== w);
    const how = error
      ? `could not be started: ${error.message}`
      : signal
        ? `crashed (signal ${signal}${signal === 'SIGKILL' ? ': killed by the out-of-memory killer or another process' : ''})`
        : `crashed (exit code ${code})`;
    const tail = w.stderr.trim() ? `\n--- last lines of its stderr ---\n${w.stderr.trim().split('\n').slice(-20).join('\n')}` : '';
    const job = w.job;
    w.job = undefined;
    if (job) {
      this.settle(job, new WorkerCrashedError(`the Python worker ${how} while running ${job.req.what}${tail}`, {
        exitCode: code, signal, stderr: w.stderr, pid: w.pid,
      }));
    }
    if (wasStarting) {
      // A worker that cannot start will not start on retry either: fail what waits, retry on demand.
      const msg = `the Python worker (${this.opts.python}) ${how.replace(/^crashed/, 'exited at start-up')}${tail}`;
      this.opts.log?.(`[python] ${msg}`);
      if (!this.workers.some((x) => x.state !== 'dead')) {
        for (const j of this.queue.splice(0)) this.settle(j, new UdfLoadError(msg, 503, { stderr: w.stderr }));
      }
      return;
    }
    if (!wasKilledByUs && !this.closed) {
      this.opts.log?.(`[python] worker ${w.pid} ${how}; starting a replacement`);
      this.spawn();
    }
    this.pump();
  }
}

function abortError(req: PoolRequest): unknown {
  const reason = req.signal?.reason;
  const name = reason && typeof reason === 'object' ? (reason as { name?: string; code?: string }).name : undefined;
  if (name === 'TimeoutError' || (reason as { code?: string })?.code === 'udf_timeout') {
    return reason instanceof UdfTimeoutError ? reason : new UdfTimeoutError(`${req.what} ran past its timeout; its worker was stopped`);
  }
  return reason instanceof Error ? reason : new DOMException(`${req.what} was cancelled`, 'AbortError');
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
