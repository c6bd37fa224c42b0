/**
 * What crosses between the main thread and a compute thread: tasks, results and errors as
 * structured-cloneable values. Errors lose their class when cloned, so they travel as
 * `{ code, message, status, details }` and are rebuilt on the main thread.
 */
import { HttpError, STATUS, TilesmithError, type ErrorCode } from '../errors.ts';
import type { Bounds, RunRequest, TileCoord } from '../types.ts';
import type { ComputedResult, EncodeRequest } from './encode-result.ts';

/** A UDF call without its signal (threads are stopped instead of signalled). */
export interface WireCall {
  bounds: Bounds | null;
  tile: TileCoord | null;
  tileSize: number;
  params: Record<string, unknown>;
  /** The run's request info (what the UDF reads as `request`). */
  request?: RunRequest;
}

export type ComputeTask =
  /** Import a TypeScript UDF module and report its params and options. */
  | { op: 'describe'; path: string; name: string; codeHash: string }
  /** Run a TypeScript UDF; encode its result when `encode` is set, else return it normalised. */
  | {
      op: 'ts';
      path: string;
      name: string;
      codeHash: string;
      call: WireCall;
      encode: EncodeRequest | null;
      /**
       * Gets `'start'` when the UDF starts running (its module imported): the timeout counts
       * from then; then `{ status?, progress? }` objects as the UDF reports them.
       */
      port?: import('node:worker_threads').MessagePort;
    }
  /** Decode a Python worker's result frame, normalise and encode it. */
  | { op: 'frame'; name: string; header: Record<string, any>; payload: Uint8Array; encode: EncodeRequest | null };

export interface WireError {
  code: ErrorCode;
  message: string;
  status: number;
  details?: Record<string, unknown>;
}

export type TaskAnswer =
  /** `bodyCrc32`: the CRC-32 of `result.body`, computed in the thread for the disk tier. */
  | { ok: true; result: ComputedResult; bodyCrc32?: number }
  | { ok: true; normalized: unknown; logs: string[]; timings: { udf: number; encode: number } }
  | { ok: true; describe: { params: Record<string, unknown>; options: Record<string, unknown> } }
  | { ok: false; error: WireError };

/** A thrown value as a wire error (TilesmithErrors keep code, status and details). */
export function toWire(err: unknown): WireError {
  if (err instanceof TilesmithError || looksLikeTilesmithError(err)) {
    const e = err as TilesmithError;
    return { code: e.code, message: e.message, status: e.status, details: cloneable(e.details) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal_error', message: `Internal error: ${message}`, status: 500, details: err instanceof Error && err.stack ? { traceback: err.stack } : undefined };
}

/** Rebuilds a wire error as the error class the HTTP layer maps. */
export function fromWire(w: WireError): TilesmithError {
  if (w.code === 'udf_rejected') return new HttpError(w.status, w.message);
  return new TilesmithError(w.code in STATUS ? w.code : 'internal_error', w.message, w.details);
}

/**
 * A TilesmithError thrown by code that imported another copy of this package (a UDF module
 * loaded in its own namespace): same shape, different class identity.
 */
export function looksLikeTilesmithError(err: unknown): err is TilesmithError {
  const e = err as { code?: unknown; status?: unknown; message?: unknown } | null;
  return !!e && typeof e === 'object' && typeof e.code === 'string' && e.code in STATUS && typeof e.status === 'number' && typeof e.message === 'string';
}

function cloneable(details: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!details) return undefined;
  try {
    return structuredClone(details);
  } catch {
    return JSON.parse(JSON.stringify(details)) as Record<string, unknown>;
  }
}
