/**
 * A pool of persistent Python worker processes (worker.py). All `workers` start on first use,
 * keep their imported UDF modules between calls, and are replaced when they crash, time out
 * or run out of memory. Requests queue while every worker is busy; the queue is bounded
 * (`maxQueue`, then `OverloadedError`) and a request's timeout counts from when it was queued.
 *
 * Each worker leads its own process group (`detached`), so killing a worker kills whatever a
 * UDF forked (os.fork, subprocess, multiprocessing) with it; the worker itself dies with this
 * process (PR_SET_PDEATHSIG, see worker.py).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OverloadedError, UdfTimeoutError, UdfUnavailableError, WorkerCrashedError } from '../../errors.ts';
import { FrameReader, FrameType, encodeFrame, type Frame } from './protocol.ts';
import { RESULT_FILE_MIN_BYTES, createResultDir, removeResultFile, resultBaseDir } from './result-files.ts';

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
  /** Most calls waiting for a worker; more are refused with `OverloadedError` (503). @default max(16, 8 × workers) */
  maxQueue?: number;
  /**
   * Where large result payloads travel (see result-files.ts): the folder in which this pool
   * makes its own, or null to keep every result on the socket.
   * @default resultBaseDir(cacheDir): TILESMITH_PY_RESULT_FILES, else /dev/shm, else <cacheDir>/_results
   */
  resultDir?: string | null;
  /** Smallest payload sent through a file. @default RESULT_FILE_MIN_BYTES (64 KiB) */
  resultFileMinBytes?: number;
  log?: (msg: string) => void;
}

/** One request to a worker. */
export interface PoolRequest {
  type: number;
  header: Record<string, unknown>;
  parts?: Uint8Array[];
  /** Aborting kills the worker running the request (Python code cannot be interrupted safely). */
  signal?: AbortSignal;
  /** Wall-clock limit, counted from when the request is queued: waiting for a worker uses it up too. */
  timeoutMs?: number;
  /** For messages, e.g. `UDF "parcels"`. */
  what: string;
  /** Receives the status frames ('S') the call sends while it runs. */
  onStatus?: (header: Record<string, any>) => void;
  /** Prefer a worker that already served this key (a UDF's name@codeHash: module already imported). */
  affinity?: string;
}

export interface PoolResponse {
  /**
   * The answer. A large payload is not in `frame.payload` yet but in the file named by
   * `frame.header.payloadFile` (`{path, length}`): `takePayload(frame)` (which `decodeResult`
   * calls) reads and removes it; a consumer that drops such a frame undecoded removes it with
   * `discardPayload(frame)`.
   */
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
  queuedAt: number;
  startedAt?: number;
  /** `Worker.stderrTotal` when the job was dispatched: what came after is this call's stderr. */
  stderrMark?: number;
}

interface Worker {
  proc: ChildProcess;
  pid: number;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  job?: Job;
  /** The last STDERR_TAIL characters the worker wrote to stderr (for the server log only). */
  stderr: string;
  /** Characters written to stderr since the worker started. */
  stderrTotal: number;
  affinity: Set<string>;
  helloTimer?: NodeJS.Timeout;
  /** The id of the last call or echo sent to it whose answer has not arrived: its result file, if any, is ours to remove. */
  unanswered?: number;
}

const STDERR_TAIL = 4000;
const HELLO_TIMEOUT_MS = 60_000;
/** Seconds a client is told to wait when the queue is full. */
const OVERLOADED_RETRY_AFTER_S = 2;

/**
 * The descendants of `pid` (Linux: /proc/<pid>/task/<tid>/children); empty elsewhere. Workers
 * are child subreapers, so processes a UDF detached (double fork + setsid, which leaves the
 * process group) are found here as the worker's children.
 */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length && out.length < 10_000) {
    const p = todo.pop()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      let kids: string;
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(' ')) {
        const n = Number(k);
        if (n > 0 && !out.includes(n)) {
          out.push(n);
          todo.push(n);
        }
      }
    }
  }
  return out;
}

/**
 * SIGKILLs a worker's whole process group (the worker and everything its UDFs forked that
 * stayed in the group) and any other descendant of it. ESRCH (nothing left) is fine.
 */
function killGroup(proc: ChildProcess): void {
  const pid = proc.pid;
  const kids = pid ? descendants(pid) : [];
  let grouped = false;
  if (pid) {
    try {
      process.kill(-pid, 'SIGKILL');
      grouped = true;
    } catch {
      // not a group leader (spawn failed half-way) or already gone
    }
  }
  if (!grouped) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const k of kids) {
    try {
      process.kill(k, 'SIGKILL');
    } catch {
      // gone with the group
    }
  }
}

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
  /** This pool's result folder: undefined until the first worker starts, null when results stay on the socket. */
  private resultDir: string | null | undefined;

  constructor(private readonly opts: WorkerPoolOptions) {}

  /** Process ids of the live workers (for tests and diagnostics). */
  get pids(): number[] {
    return this.workers.filter((w) => w.state !== 'dead').map((w) => w.pid);
  }

  /** Sends one request; resolves with the worker's answer ('R' or 'E' frame). */
  request(req: PoolRequest): Promise<PoolResponse> {
    if (this.closed) return Promise.reject(new UdfUnavailableError('the Python worker pool is closed'));
    if (req.signal?.aborted) return Promise.reject(abortError(req));
    const maxQueue = this.opts.maxQueue ?? Math.max(16, 8 * this.opts.workers);
    if (req.type === FrameType.call && !this.workers.some((w) => w.state === 'idle')) {
      let waiting = 0;
      for (const j of this.queue) if (j.req.type === FrameType.call) waiting++;
      if (waiting >= maxQueue) {
        return Promise.reject(
          new OverloadedError(
            `${req.what} was not started: all ${this.opts.workers} Python workers are busy and ${waiting} calls are already waiting; retry in a few seconds`,
            OVERLOADED_RETRY_AFTER_S,
          ),
        );
      }
    }
    return new Promise<PoolResponse>((resolve, reject) => {
      const job: Job = { id: this.nextId++, req, resolve, reject, queuedAt: Date.now() };
      if (req.timeoutMs && req.timeoutMs > 0) job.timer = setTimeout(() => this.expire(job), req.timeoutMs);
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

  /**
   * Ends every worker with everything its UDFs started. Workers hold no state worth a graceful
   * exit (`@cache` writes are atomic), and killing them while they live is the only moment
   * their detached descendants can still be found.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, new UdfUnavailableError('the Python worker pool was closed'));
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((done) => {
            if (w.proc.exitCode !== null || w.proc.signalCode !== null) {
              killGroup(w.proc); // whatever its UDFs left running
              return done();
            }
            // 'exit', not 'close': a detached grandchild may hold the pipes open.
            w.proc.once('exit', () => done());
            killGroup(w.proc);
          }),
      ),
    );
    this.workers = [];
    if (this.resultDir) {
      // Frames read from here but never decoded lose their payload: the pool is gone.
      rmSync(this.resultDir, { recursive: true, force: true });
      this.resultDir = null;
    }
  }

  /** The folder result files of this pool go to (made on first use), or null. */
  private results(): string | null {
    if (this.resultDir !== undefined) return this.resultDir;
    const base = this.opts.resultDir === undefined ? resultBaseDir(this.opts.cacheDir) : this.opts.resultDir;
    this.resultDir = null;
    if (base) {
      try {
        this.resultDir = createResultDir(base);
      } catch (e) {
        this.opts.log?.(`[python] results travel through the workers' pipes: cannot make a result folder in ${base} (${(e as Error).message})`);
      }
    }
    return this.resultDir;
  }

  /** The file a worker writes the payload of request `id` to (only this pool's folder, only numeric names). */
  private resultFile(id: number): string {
    return path.join(this.resultDir!, String(id));
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
    job.startedAt = Date.now();
    job.stderrMark = w.stderrTotal;
    if (this.resultDir && (job.req.type === FrameType.call || job.req.type === FrameType.echo)) w.unanswered = job.id;
    w.proc.stdin!.write(encodeFrame(job.req.type, { ...job.req.header, id: job.id }, job.req.parts));
  }

  /** The job's deadline passed: while queued it is dropped; while running its worker is killed. */
  private expire(job: Job): void {
    const limit = fmtMs(job.req.timeoutMs!);
    const what = job.req.what;
    if (job.worker && job.worker.job === job) {
      const waited = job.startedAt! - job.queuedAt;
      this.kill(job.worker);
      this.settle(job, new UdfTimeoutError(
        `${what} ran past its timeout of ${limit}; its worker was stopped` +
          (waited >= 100 ? ` (the call first waited ${fmtMs(roundMs(waited))} for a free Python worker)` : ''),
      ));
      return;
    }
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    const why = this.workers.some((w) => w.state === 'starting') ? 'the workers were still starting' : `all ${this.opts.workers} were busy`;
    this.settle(job, new UdfTimeoutError(
      `${what} waited ${fmtMs(roundMs(Date.now() - job.queuedAt))} for a free Python worker (${why}) and reached its timeout of ${limit} before it could start`,
    ));
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
    killGroup(w.proc);
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
      // The worker dies with this process: it checks it is still our child after PR_SET_PDEATHSIG.
      TILESMITH_PARENT_PID: String(process.pid),
      // Large results go through a file in this pool's folder (result-files.ts); empty: the pipe.
      TILESMITH_RESULT_DIR: this.closed ? '' : (this.results() ?? ''),
      TILESMITH_RESULT_FILE_MIN: String(this.opts.resultFileMinBytes ?? RESULT_FILE_MIN_BYTES),
    };
    // detached: the worker leads a new process group (and session), so a group kill takes
    // everything its UDFs forked, and Ctrl-C in the terminal does not reach it (Node decides).
    const proc = spawn(o.python, [WORKER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env, detached: true });
    const w: Worker = { proc, pid: proc.pid ?? -1, state: 'starting', stderr: '', stderrTotal: 0, affinity: new Set() };
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
      const text = chunk.toString('utf8');
      w.stderrTotal += text.length;
      w.stderr = (w.stderr + text).slice(-STDERR_TAIL);
    });
    proc.stdin!.on('error', () => {}); // EPIPE when it dies: reported through 'close'
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      this.onExit(w, code, signal, error);
    };
    proc.on('error', (err) => end(null, null, err));
    // 'close' waits for stdout/stderr to be drained, but a forked child holding the pipes
    // would delay it forever: on 'exit' kill the group (its children), then give the pipes a
    // moment to deliver the last output.
    proc.on('exit', (code, signal) => {
      killGroup(proc);
      setTimeout(() => end(code, signal), 1000).unref();
    });
    proc.on('close', (code, signal) => end(code, signal));
    w.helloTimer = setTimeout(() => {
      w.stderr += `\n[tilesmith] the worker did not start within ${HELLO_TIMEOUT_MS / 1000} s`;
      killGroup(proc);
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
    if (frame.type !== FrameType.status && frame.header.id === w.unanswered) {
      w.unanswered = undefined;
      if (frame.header.payloadFile !== undefined) {
        // The worker wrote the payload of exactly this request to its file: name it for the
        // consumer (never a path from the worker), or remove it when nobody waits for it.
        const length = frame.header.payloadFile;
        const file = this.resultFile(frame.header.id);
        if (!job || frame.header.id !== job.id || !Number.isSafeInteger(length) || length < 0) {
          removeResultFile(file);
          if (job && frame.header.id === job.id) {
            w.job = undefined;
            this.settle(job, new WorkerCrashedError(`the Python worker sent an unreadable answer to ${job.req.what} (a result file of ${JSON.stringify(length)} bytes)`, { pid: w.pid }));
            this.kill(w);
          }
          return;
        }
        frame.header.payloadFile = { path: file, length };
      }
    } else if (frame.header.payloadFile !== undefined) {
      frame.header.payloadFile = undefined; // not the answer this worker owes: no file to read
    }
    if (!job || frame.header.id !== job.id) return; // answer to a request already abandoned
    if (frame.type === FrameType.status) {
      // Mid-call report: the call goes on.
      try {
        job.req.onStatus?.(frame.header);
      } catch {
        // a listener's failure must not break the worker's protocol
      }
      return;
    }
    w.job = undefined;
    if (job.req.affinity) w.affinity.add(job.req.affinity);
    if (frame.type === FrameType.error && frame.header.kind === 'memory') {
      // A MemoryError can leave a process fragmented or half-initialised: start a fresh one.
      w.state = 'dead';
      this.workers = this.workers.filter((x) => x !== w);
      killGroup(w.proc);
      if (!this.closed) this.spawn();
    } else {
      w.state = 'idle';
    }
    this.settle(job, undefined, { frame, pid: w.pid });
    this.pump();
  }

  private onExit(w: Worker, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    clearTimeout(w.helloTimer);
    // Died (or was stopped) before answering: whatever it wrote of a result file goes. After
    // 'exit' it can write no more; its answer, if one was on the way, has been read by now.
    if (w.unanswered !== undefined && this.resultDir) removeResultFile(this.resultFile(w.unanswered));
    w.unanswered = undefined;
    const wasStarting = w.state === 'starting';
    const wasKilledByUs = w.state === 'dead';
    w.state = 'dead';
    this.workers = this.workers.filter((x) => x !== w);
    const how = error
      ? `could not be started: ${error.message}`
      : signal
        ? `crashed (signal ${signal}${signal === 'SIGKILL' ? ': killed by the out-of-memory killer or another process' : ''})`
        : `crashed (exit code ${code})`;
    // The stderr tail goes to the server log only: it may hold what earlier calls printed.
    // An error carries (in details, shown with --dev) just what was written during its call.
    const tail = w.stderr.trim() ? `\n--- last lines of its stderr ---\n${w.stderr.trim().split('\n').slice(-20).join('\n')}` : '';
    const job = w.job;
    w.job = undefined;
    if (job) {
      const since = w.stderrTotal - (job.stderrMark ?? w.stderrTotal);
      const own = since > 0 ? w.stderr.slice(-Math.min(since, w.stderr.length)) : '';
      this.settle(job, new WorkerCrashedError(`the Python worker ${how} while running ${job.req.what}`, {
        exitCode: code, signal, stderr: own, pid: w.pid,
      }));
    }
    if (wasStarting) {
      // A worker that cannot start will not start on retry either: fail what waits, retry on demand.
      const msg = `the Python worker (${this.opts.python}) ${how.replace(/^crashed/, 'exited at start-up')}`;
      this.opts.log?.(`[python] ${msg}${tail}`);
      if (!this.workers.some((x) => x.state !== 'dead')) {
        for (const j of this.queue.splice(0)) this.settle(j, new UdfUnavailableError(msg, { stderr: w.stderr }));
      }
      return;
    }
    if (!wasKilledByUs && !this.closed) {
      this.opts.log?.(`[python] worker ${w.pid} ${how}${job ? ` while running ${job.req.what}` : ''}; starting a replacement${tail}`);
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

/** Rounds a measured wait to something readable (tenths of a second). */
function roundMs(ms: number): number {
  return ms >= 1000 ? Math.round(ms / 100) * 100 : Math.round(ms);
}

function fmtMs(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
