/**
 * The request info and status/progress reporters a TypeScript UDF's `run` receives, built the
 * same way in-process and in a compute thread.
 */
import type { RunRequest, RunUpdate, UdfCall } from '../types.ts';

/** Request info for a call that has no run record (direct runtime use, probes, tests). */
export function anonymousRequest(name: string, call: Pick<UdfCall, 'bounds' | 'tile' | 'params'>): RunRequest {
  return { runId: '', udf: name, tile: call.tile, bounds: call.bounds, params: call.params, format: null, attempt: 1, tokenId: null, instanceId: '' };
}

/**
 * `status()` / `progress()` for a UDF. Bad values are the UDF's mistake: a TypeError that
 * says what is accepted (the run then fails with it, like any other exception).
 */
export function reporters(send: ((u: RunUpdate) => void) | undefined): { status: (m: string) => void; progress: (f: number) => void } {
  return {
    status(message: string) {
      send?.({ status: String(message) });
    },
    progress(fraction: number) {
      if (typeof fraction !== 'number' || !Number.isFinite(fraction)) {
        throw new TypeError(`progress() takes a number from 0 to 1, got ${String(fraction).slice(0, 40)}`);
      }
      send?.({ progress: Math.min(1, Math.max(0, fraction)) });
    },
  };
}
