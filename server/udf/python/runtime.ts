/**
 * The UdfRuntime of one loaded Python UDF: sends calls to the worker pool, turns answers into
 * values and errors, and rests a UDF that keeps crashing its workers for a cool-down.
 */
import { HttpError, UdfCoolingDownError, UdfError, UdfLoadError, WorkerCrashedError } from '../../errors.ts';
import type { ComputedResult, EncodeRequest, ParamSpecs, UdfCall, UdfOutput, UdfRuntime } from '../../types.ts';
import type { WorkerPool } from './pool.ts';
import { FrameType, decodeResult, discardPayload, type Frame } from './protocol.ts';

/** What a worker needs to find and (re)load a UDF; sent with every call. */
export interface UdfSpec {
  name: string;
  codeHash: string;
  /** The entry .py file (for zips: resolved by the worker after extraction). */
  entry?: string;
  zip?: { path: string; dir: string };
  /** Parameter defaults that override the signature's (Fused meta.json). */
  defaults?: Record<string, unknown>;
  /** Function to serve when none is decorated (Fused meta.json `entrypoint`). */
  entrypoint?: string;
}

/**
 * Consecutive worker crashes per `name@codeHash`, shared by all runtimes of a loader.
 * `until`: end of the current cool-down (ms since the epoch), 0 when none.
 */
export type CrashLedger = Map<string, { count: number; last: string; until: number; probing?: boolean }>;

/** After this many crashes in a row a UDF rests for a cool-down (503 + Retry-After). */
export const MAX_CONSECUTIVE_CRASHES = 3;
/** Default cool-down after MAX_CONSECUTIVE_CRASHES crashes in a row. */
export const DEFAULT_CRASH_COOLDOWN_MS = 30_000;

export interface PythonRuntimeOptions {
  spec: UdfSpec;
  params: ParamSpecs;
  pool: WorkerPool;
  timeoutMs: number;
  memoryMb: number;
  crashes: CrashLedger;
  /**
   * Decodes, normalises and encodes a result frame elsewhere (the Node compute pool's
   * threads); gives the runtime its `compute()`.
   */
  encodeFrame?: (
    name: string,
    frame: { header: Record<string, any>; payload: Uint8Array },
    encode: EncodeRequest,
    o: { signal?: AbortSignal; what: string },
  ) => Promise<ComputedResult>;
  /** How long a UDF rests after MAX_CONSECUTIVE_CRASHES crashes in a row. @default 30000 */
  crashCooldownMs?: number;
}

/** Maps a worker's error frame onto the server's error classes. */
export function frameError(name: string, frame: Frame, memoryMb: number): Error {
  const h = frame.header;
  const details = { logs: h.logs ?? [], traceback: h.traceback };
  switch (h.kind) {
    case 'memory':
      return new UdfError(
        `UDF "${name}" exceeded the worker memory limit of ${memoryMb} MB (MemoryError); use less memory or raise memory_mb in its tilesmith config`,
        details,
      );
    case 'load':
      return new UdfLoadError(`UDF "${name}" failed to load: ${h.message}`, details);
    case 'unsupported':
      return new UdfError(`UDF "${name}": ${h.message}`, details);
    case 'http': {
      // tilesmith.BadRequest / HttpError or fastapi.HTTPException with a 4xx status: the UDF's answer.
      const status = Number(h.status);
      if (Number.isInteger(status) && status >= 400 && status <= 499) return new HttpError(status, String(h.message ?? ''));
      return new UdfError(`UDF "${name}" raised an HTTP error with status ${h.status}: ${h.message}`, details);
    }
    default:
      return new UdfError(`UDF "${name}" raised ${h.message}`, details);
  }
}

/**
 * Creates the runtime the registry stores in `LoadedUdf.runtime`.
 * @example const out = await createPythonRuntime(opts).run({ bounds, tile, tileSize: 256, params: {}, signal });
 */
export function createPythonRuntime(o: PythonRuntimeOptions): UdfRuntime {
  const { spec, pool, crashes } = o;
  const key = `${spec.name}@${spec.codeHash}`;
  const what = `UDF "${spec.name}"`;
  /** Sends the call to a worker; resolves with its result frame (error frames become errors). */
  async function callFrame(call: UdfCall): Promise<Frame> {
    const crash = crashes.get(key);
    const now = Date.now();
    if (crash && crash.until > now) {
      // Resting: no client can keep a crashing UDF busy (or down for good); after the
      // cool-down one call may try again, and another crash starts a new cool-down.
      const secs = Math.max(1, Math.ceil((crash.until - now) / 1000));
      throw new UdfCoolingDownError(
        `${what} crashed its Python worker ${crash.count} times in a row and is resting; it will be tried again in ${secs} s (last crash: ${crash.last})`,
        secs,
      );
    }
    let probe = false;
    if (crash && crash.count >= MAX_CONSECUTIVE_CRASHES) {
      // Cool-down over: one call tries the UDF; the others wait for its outcome.
      if (crash.probing) {
        throw new UdfCoolingDownError(`${what} crashed its Python worker ${crash.count} times in a row and is being tried again; retry in a moment`, 1);
      }
      crash.probing = probe = true;
    }
    const params: Record<string, unknown> = { ...call.params };
    for (const [k, p] of Object.entries(o.params)) {
      if (params[k] === undefined && p.default !== undefined) params[k] = p.default;
    }
    let frame: Frame;
    try {
      ({ frame } = await pool.request({
        type: FrameType.call,
        header: { udf: spec, bounds: call.bounds, tile: call.tile, tileSize: call.tileSize, params, request: call.request ?? null },
        signal: call.signal,
        onStatus: call.onUpdate
          ? (h) => {
              const u: { status?: string; progress?: number } = {};
              if (typeof h.status === 'string') u.status = h.status;
              if (typeof h.progress === 'number') u.progress = h.progress;
              call.onUpdate!(u);
            }
          : undefined,
        timeoutMs: call.timeoutMs ?? o.timeoutMs,
        what,
        affinity: key,
      }));
    } catch (err) {
      if (err instanceof WorkerCrashedError) {
        const count = (crashes.get(key)?.count ?? 0) + 1;
        const cooldown = o.crashCooldownMs ?? DEFAULT_CRASH_COOLDOWN_MS;
        const until = count >= MAX_CONSECUTIVE_CRASHES ? Date.now() + cooldown : 0;
        crashes.set(key, { count, last: err.message.split('\n')[0], until });
      } else if (probe) {
        const c = crashes.get(key);
        if (c) c.probing = false; // timed out or cancelled: neither a crash nor a success
      }
      throw err;
    }
    crashes.delete(key);
    if (frame.type === FrameType.error) throw frameError(spec.name, frame, o.memoryMb);
    return frame;
  }

  const runtime: UdfRuntime = {
    async run(call: UdfCall): Promise<UdfOutput> {
      const frame = await callFrame(call);
      let value: unknown;
      try {
        value = decodeResult(frame);
      } catch (e) {
        throw new UdfError(`${what} returned a result tilesmith could not decode: ${(e as Error).message}`, { logs: frame.header.logs ?? [] });
      }
      return { value, logs: frame.header.logs ?? [] };
    },
  };
  const encodeFrame = o.encodeFrame;
  if (encodeFrame) {
    runtime.compute = async (call, encode) => {
      const t0 = performance.now();
      const frame = await callFrame(call);
      const udfMs = performance.now() - t0;
      let out: ComputedResult;
      try {
        // A large payload is still in its result file: the thread reads (and removes) it.
        out = await encodeFrame(spec.name, frame, encode, { signal: call.signal, what });
      } catch (err) {
        discardPayload(frame); // e.g. cancelled before a thread took it
        throw err;
      }
      // The thread timed the decoding; the UDF's own time is the worker round trip.
      return { ...out, timings: { udf: udfMs, encode: out.timings.udf + out.timings.encode } };
    };
  }
  return runtime;
}
