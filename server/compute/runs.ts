/**
 * The run registry: every UDF computation the server starts gets a run id and a record
 * (state, timings, last status, progress, error) that `GET /runs/{id}` shows and
 * `GET /runs/{id}/events` streams. Runtime-neutral (no Node API): records live in memory,
 * bounded (`maxRuns`, oldest finished records go first), per server instance.
 *
 * Kinetica's rules: a UDF's last status survives a kill (timeout, cancel); a failed run's
 * record keeps both the error and the last status the UDF reported.
 */
import type { Bounds, CacheEntry, RunRequest, RunUpdate, TileCoord } from '../types.ts';

export type RunState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'timed_out';

export type { RunRequest, RunUpdate };

/** A run as `GET /runs/{id}` shows it. */
export interface RunRecord {
  id: string;
  udf: string;
  state: RunState;
  /** `sync` for an HTTP request waiting for its result, `job` for `POST /udf/{name}/jobs`. */
  mode: 'sync' | 'job';
  tile: TileCoord | null;
  bounds: Bounds | null;
  params: Record<string, unknown>;
  format: string | null;
  tokenId: string | null;
  instanceId: string;
  /** ISO timestamps. */
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Milliseconds: waiting for a slot, running, in total. */
  timings: { queue?: number; run?: number; total?: number };
  /** The last `status()` the UDF reported (kept after a kill or failure). */
  status: string | null;
  /** The last `progress()` fraction (0–1), 1 when done. */
  progress: number | null;
  error: { code: string; message: string } | null;
  /** A job whose result can be downloaded from `GET /runs/{id}/result`. */
  resultAvailable?: boolean;
  /** `HIT` when a job was answered from the result cache. */
  cache?: 'HIT' | 'MISS' | 'BYPASS';
}

export const TERMINAL: ReadonlySet<RunState> = new Set(['done', 'failed', 'cancelled', 'timed_out']);

interface Run {
  record: RunRecord;
  listeners: Set<(r: RunRecord) => void>;
  /** Cancels the run (jobs): aborts the signal its computation runs with. */
  cancel?: () => void;
  /** A job's stored result and when it stops being served (epoch ms). */
  result?: { entry: CacheEntry; filename?: string; until: number };
}

export interface RunRegistryOptions {
  /** Most run records kept (finished ones are dropped oldest first). @default 1000 */
  maxRuns?: number;
  /** How long a job's result stays downloadable, seconds (`--job-ttl`). @default 3600 */
  jobTtlSeconds?: number;
  /** Most bytes of job results kept at once; older results are dropped first. @default 512 MB */
  maxResultBytes?: number;
  /** This server's id in run records and contexts. @default a random one */
  instanceId?: string;
}

function randomId(bytes = 12): string {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

const RUN_ID = /^[0-9a-f]{24}$/;

/**
 * Holds the runs of one server.
 * @example
 * const runs = new RunRegistry({ jobTtlSeconds: 600 });
 * const r = runs.create({ udf: 'points', mode: 'sync', tile: null, bounds: null, params: {}, format: null });
 * runs.start(r.id); runs.update(r.id, { progress: 0.5 }); runs.finish(r.id, 'done');
 */
export class RunRegistry {
  readonly instanceId: string;
  readonly jobTtlSeconds: number;
  private readonly runs = new Map<string, Run>();
  private readonly maxRuns: number;
  private readonly maxResultBytes: number;
  private resultBytes = 0;

  constructor(o: RunRegistryOptions = {}) {
    this.instanceId = o.instanceId ?? `tilesmith-${randomId(4)}`;
    this.jobTtlSeconds = o.jobTtlSeconds ?? 3600;
    this.maxRuns = Math.max(1, o.maxRuns ?? 1000);
    this.maxResultBytes = o.maxResultBytes ?? 512 * 1024 * 1024;
  }

  /** A fresh run id (24 hex digits). */
  static newId(): string {
    return randomId();
  }

  private readonly jobs = new WeakMap<Request, string>();

  /** Marks an internal request as the computation of job `id` (see routes/runs.ts). */
  bindJob(req: Request, id: string): void {
    this.jobs.set(req, id);
  }

  /** The job a request computes, if it is one of ours (clients cannot forge this: it is keyed by the Request object). */
  jobFor(req: Request): string | undefined {
    return this.jobs.get(req);
  }

  /** A job's result arrived (computed or from the cache): store it and end the run as done. */
  completeJob(id: string, entry: CacheEntry, filename: string | undefined, cache: RunRecord['cache']): void {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state)) return;
    this.storeResult(id, entry, filename, cache);
    this.finish(id, 'done');
  }

  /** True if `id` looks like a run id (for 400 vs 404). */
  static isRunId(id: string): boolean {
    return RUN_ID.test(id);
  }

  /** Registers a new run in state `queued`. */
  create(o: Pick<RunRecord, 'udf' | 'mode' | 'tile' | 'bounds' | 'params' | 'format'> & { tokenId?: string | null; cancel?: () => void }): RunRecord {
    const id = RunRegistry.newId();
    const record: RunRecord = {
      id,
      udf: o.udf,
      state: 'queued',
      mode: o.mode,
      tile: o.tile,
      bounds: o.bounds,
      params: o.params,
      format: o.format,
      tokenId: o.tokenId ?? null,
      instanceId: this.instanceId,
      createdAt: new Date().toISOString(),
      startedAt: null,
      endedAt: null,
      timings: {},
      status: null,
      progress: null,
      error: null,
    };
    this.runs.set(id, { record, listeners: new Set(), cancel: o.cancel });
    this.evict();
    return record;
  }

  /** The request info a UDF sees for this run. */
  request(id: string): RunRequest | undefined {
    const r = this.runs.get(id)?.record;
    if (!r) return undefined;
    return { runId: r.id, udf: r.udf, tile: r.tile, bounds: r.bounds, params: r.params, format: r.format, attempt: 1, tokenId: r.tokenId, instanceId: r.instanceId };
  }

  get(id: string): RunRecord | undefined {
    this.expire(id);
    return this.runs.get(id)?.record;
  }

  /** Recent runs, newest first, optionally of one UDF. */
  list(o: { udf?: string; limit?: number } = {}): RunRecord[] {
    const out: RunRecord[] = [];
    const all = [...this.runs.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (o.limit ?? 100); i--) {
      const r = all[i]!.record;
      if (!o.udf || r.udf === o.udf) out.push(r);
    }
    return out;
  }

  /** The run got its slot and its UDF starts. */
  start(id: string): void {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state)) return;
    const now = Date.now();
    run.record.state = 'running';
    run.record.startedAt = new Date(now).toISOString();
    run.record.timings.queue = now - Date.parse(run.record.createdAt);
    this.emit(run);
  }

  /** A status or progress report from the UDF. */
  update(id: string, u: RunUpdate): void {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state)) return;
    if (typeof u.status === 'string') run.record.status = u.status.slice(0, 1000);
    if (typeof u.progress === 'number' && Number.isFinite(u.progress)) run.record.progress = Math.min(1, Math.max(0, u.progress));
    this.emit(run);
  }

  /** Ends a run. The last status stays; a failure adds its error. */
  finish(id: string, state: Exclude<RunState, 'queued' | 'running'>, error?: { code: string; message: string }): void {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state)) return;
    const now = Date.now();
    const r = run.record;
    r.state = state;
    r.endedAt = new Date(now).toISOString();
    r.timings.total = now - Date.parse(r.createdAt);
    if (r.startedAt) r.timings.run = now - Date.parse(r.startedAt);
    if (state === 'done') r.progress = 1;
    if (error) r.error = error;
    run.cancel = undefined;
    this.emit(run);
    run.listeners.clear();
  }

  /** Keeps a finished job's result for `jobTtlSeconds` (never longer than the entry's own lifetime allows plus that). */
  storeResult(id: string, entry: CacheEntry, filename: string | undefined, cache: RunRecord['cache']): void {
    const run = this.runs.get(id);
    if (!run) return;
    const size = entry.body.byteLength;
    if (size > this.maxResultBytes) return;
    if (run.result) this.resultBytes -= run.result.entry.body.byteLength;
    run.result = { entry, filename, until: Date.now() + this.jobTtlSeconds * 1000 };
    run.record.resultAvailable = true;
    run.record.cache = cache;
    this.resultBytes += size;
    // Oldest results go first when the byte budget is exceeded.
    for (const other of this.runs.values()) {
      if (this.resultBytes <= this.maxResultBytes) break;
      if (other !== run) this.dropResult(other);
    }
  }

  /** A job's stored result, unless it expired. */
  result(id: string): { entry: CacheEntry; filename?: string } | undefined {
    this.expire(id);
    return this.runs.get(id)?.result;
  }

  /** Cancels a queued or running job; false when it cannot be (finished, or not a job). */
  cancel(id: string): boolean {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state) || !run.cancel) return false;
    run.cancel();
    return true;
  }

  /** Calls `fn` with the record on every change until the run ends; returns the unsubscriber. */
  subscribe(id: string, fn: (r: RunRecord) => void): () => void {
    const run = this.runs.get(id);
    if (!run || TERMINAL.has(run.record.state)) return () => {};
    run.listeners.add(fn);
    return () => run.listeners.delete(fn);
  }

  private emit(run: Run): void {
    for (const fn of [...run.listeners]) {
      try {
        fn(run.record);
      } catch {
        // a listener's failure (a closed stream) must not stop the run
      }
    }
  }

  private dropResult(run: Run): void {
    if (!run.result) return;
    this.resultBytes -= run.result.entry.body.byteLength;
    run.result = undefined;
    run.record.resultAvailable = false;
  }

  private expire(id: string): void {
    const run = this.runs.get(id);
    if (run?.result && run.result.until <= Date.now()) this.dropResult(run);
  }

  private evict(): void {
    if (this.runs.size <= this.maxRuns) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.maxRuns) break;
      if (!TERMINAL.has(run.record.state)) continue; // a live run keeps its record
      this.dropResult(run);
      this.runs.delete(id);
    }
  }
}
