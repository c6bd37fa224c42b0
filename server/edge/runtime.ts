/**
 * The in-process TypeScript UDF runtime of the edge bundles (Workers, Deno, Bun): no worker
 * threads, no node:async_hooks or node:util. A run gets a deadline and an AbortSignal like the
 * Node runtime; its log is what the UDF passes to `log()` (console output goes to the host's
 * console only: without AsyncLocalStorage concurrent runs could not be told apart).
 *
 * A timeout rejects the request at the deadline and aborts `signal`, but JavaScript cannot be
 * pre-empted: a UDF that computes synchronously past its timeout holds the isolate until it
 * returns (on Workers the platform's CPU limit ends it). UDFs that await stop at their next
 * `signal` check.
 */
import { anonymousRequest, reporters } from '../udf/run-context.ts';
import { looksLikeTilesmithError } from '../compute/wire.ts';
import { UdfError, UdfTimeoutError } from '../errors.ts';
import type { UdfCall, UdfDefinition, UdfOutput, UdfRuntime } from '../types.ts';

const MAX_LOG_LINES = 200;

function formatArgs(args: unknown[]): string {
  return args
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return a.stack ?? a.message;
      try {
        return JSON.stringify(a);
      } catch {
        return String(a);
      }
    })
    .join(' ');
}

/**
 * Runs a UDF definition in-process with a deadline and an AbortSignal.
 * @example createEdgeTsRuntime('roads', roadsDef, 30_000).run(call)
 */
export function createEdgeTsRuntime(name: string, def: UdfDefinition, timeoutMs: number): UdfRuntime {
  return {
    async run(call: UdfCall): Promise<UdfOutput> {
      const logs: string[] = [];
      const controller = new AbortController();
      const signal = AbortSignal.any([call.signal, controller.signal]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ms = call.timeoutMs ?? timeoutMs;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new UdfTimeoutError(`UDF '${name}' ran longer than its timeout of ${ms / 1000} s and was aborted.`, { logs });
          controller.abort(err);
          reject(err);
        }, ms);
      });
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(call.signal.reason ?? new Error('aborted'));
        if (call.signal.aborted) onAbort();
        else call.signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const value = await Promise.race([
          Promise.resolve().then(() =>
            def.run({
              bounds: call.bounds,
              tile: call.tile,
              tileSize: call.tileSize,
              params: call.params,
              signal,
              request: call.request ?? anonymousRequest(name, call),
              ...reporters(call.onUpdate),
              log: (...args: unknown[]) => {
                if (logs.length < MAX_LOG_LINES) logs.push(formatArgs(args));
              },
            }),
          ),
          deadline,
          aborted,
        ]);
        return { value, logs };
      } catch (err) {
        if (err instanceof UdfTimeoutError || signal.aborted) throw err;
        // A UDF's own 4xx (BadRequestError / HttpError from 'tilesmith') passes through.
        if (looksLikeTilesmithError(err) && err.status >= 400 && err.status < 500) throw err;
        const message = err instanceof Error ? err.message : String(err);
        throw new UdfError(`UDF '${name}' failed: ${message}`, { logs, traceback: err instanceof Error ? err.stack : undefined });
      } finally {
        clearTimeout(timer);
        call.signal.removeEventListener('abort', onAbort!);
        deadline.catch(() => {});
        aborted.catch(() => {});
      }
    },
  };
}

export { parseTimeoutOption } from '../params/duration.ts';
