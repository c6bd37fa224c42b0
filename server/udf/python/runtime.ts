/**
 * The UdfRuntime of one loaded Python UDF: sends calls to the worker pool, turns answers into
 * values and errors, and disables a UDF that keeps crashing its workers.
 */
import { UdfError, UdfLoadError, WorkerCrashedError } from '../../errors.ts';
import type { ComputedResult, EncodeRequest, ParamSpecs, UdfCall, UdfOutput, UdfRuntime } from '../../types.ts';
import type { WorkerPool } from './pool.ts';
import { FrameType, decodeResult, type Frame } from './protocol.ts';

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

/** Consecutive worker crashes per `name@codeHash`, shared by all runtimes of a loader. */
export type CrashLedger = Map<string, { count: number; last: string }>;

/** After this many crashes in a row a UDF answers 503 until its code changes. */
export const MAX_CONSECUTIVE_CRASHES = 3;

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
      return new UdfLoadError(`UDF "${name}" failed to load: ${h.message}`, 500, details);
    case 'unsupported':
      return new UdfError(`UDF "${name}": ${h.message}`, details);
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
    if (crash && crash.count >= MAX_CONSECUTIVE_CRASHES) {
      throw new UdfLoadError(
        `${what} crashed its Python worker ${crash.count} times in a row and is disabled until its code changes. Last crash: ${crash.last}`,
        503,
      );
    }
    const params: Record<string, unknown> = { ...call.params };
    for (const [k, p] of Object.entries(o.params)) {
      if (params[k] === undefined && p.default !== undefined) params[k] = p.default;
    }
    let frame: Frame;
    try {
      ({ frame } = await pool.request({
        type: FrameType.call,
        header: { udf: spec, bounds: call.bounds, tile: call.tile, tileSize: call.tileSize, params },
        signal: call.signal,
        timeoutMs: call.timeoutMs ?? o.timeoutMs,
        what,
        affinity: key,
      }));
    } catch (err) {
      if (err instanceof WorkerCrashedError) {
        const prev = crashes.get(key)?.count ?? 0;
        crashes.set(key, { count: prev + 1, last: err.message.split('\n')[0] });
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
      const out = await encodeFrame(spec.name, frame, encode, { signal: call.signal, what });
      // The thread timed the decoding; the UDF's own time is the worker round trip.
      return { ...out, timings: { udf: udfMs, encode: out.timings.udf + out.timings.encode } };
    };
  }
  return runtime;
}
