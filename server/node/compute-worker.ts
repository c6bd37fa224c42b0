/**
 * The body of a compute thread (loaded by `worker.mjs`, run by piscina): runs TypeScript UDFs,
 * decodes Python results, normalises and encodes — everything whose cost grows with user code
 * or data, so the main thread only routes, looks up and writes.
 *
 * A UDF module is imported once per thread and kept while its code hash stays the same
 * (module state is per thread, as it is per Python worker). Each task's console output is
 * captured into that task's logs, never printed and never mixed with another task's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { format as formatLog } from 'node:util';
import { Piscina } from 'piscina';
import { crc32 } from '../cache/crc32.ts';
import { createDefaultEncoderRegistry } from '../encoders/index.ts';
import { UdfError, UdfLoadError } from '../errors.ts';
import { normalizeResult } from '../result/normalize.ts';
import { isUdfDefinition } from '../udf/define.ts';
import { importUdfModule } from '../udf/import-udf.ts';
import { anonymousRequest, reporters } from '../udf/run-context.ts';
import { FrameType, decodeResult } from '../udf/python/protocol.ts';
import type { UdfDefinition } from '../types.ts';
import { encodeNormalized, type ComputedResult } from '../compute/encode-result.ts';
import { looksLikeTilesmithError, toWire, type ComputeTask, type TaskAnswer } from '../compute/wire.ts';

const MAX_LOG_LINES = 200;
const encoders = createDefaultEncoderRegistry();
const logStore = new AsyncLocalStorage<string[]>();

for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
  console[method] = (...args: unknown[]) => {
    const lines = logStore.getStore();
    if (lines && lines.length < MAX_LOG_LINES) lines.push(formatLog(...args));
  };
}

/** Loaded modules of this thread, by file path; replaced when the code hash changes. */
const modules = new Map<string, { codeHash: string; def: Promise<UdfDefinition> }>();

async function loadDefinition(path: string, codeHash: string): Promise<UdfDefinition> {
  const known = modules.get(path);
  if (known && known.codeHash === codeHash) return known.def;
  const def = importUdfModule(path).then((mod) => {
    const d = (mod as any).default?.default && !isUdfDefinition((mod as any).default) ? (mod as any).default.default : (mod as any).default;
    if (!isUdfDefinition(d)) {
      throw new Error(`${path.split('/').pop()} does not default-export a UDF: write \`export default defineUdf({ run })\` with defineUdf imported from 'tilesmith'`);
    }
    return d;
  });
  modules.set(path, { codeHash, def });
  def.catch(() => {
    if (modules.get(path)?.def === def) modules.delete(path);
  });
  return def;
}

/** Plain data only: options and params cross to the main thread by structured clone. */
function plain(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value ?? {}, (_k, v) => (typeof v === 'function' || typeof v === 'symbol' ? undefined : v)));
}

async function finish(
  normalized: ReturnType<typeof normalizeResult>,
  task: Extract<ComputeTask, { op: 'ts' | 'frame' }>,
  logs: string[],
  udfMs: number,
): Promise<TaskAnswer> {
  const te = performance.now();
  if (!task.encode) return { ok: true, normalized, logs, timings: { udf: udfMs, encode: 0 } };
  const encoded = await encodeNormalized(normalized, task.encode, encoders);
  const result: ComputedResult = { ...encoded, logs, timings: { udf: udfMs, encode: performance.now() - te } };
  const body = standalone(result.body);
  result.body = body;
  // Checksummed here, not on the main thread, for the disk (and Redis) tier's file format.
  const bodyCrc32 = crc32(body);
  // Move the body instead of copying it back to the main thread.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return body.byteLength ? [body.buffer] : [];
    },
    get [Piscina.valueSymbol]() {
      return { ok: true, result, bodyCrc32 } satisfies TaskAnswer;
    },
  } as any) as unknown as TaskAnswer;
}

const RUNNING_IN_BUN = typeof process.versions.bun === 'string';

/** A Uint8Array that owns its whole ArrayBuffer (Buffer pool slices cannot be transferred). */
function standalone(body: Uint8Array): Uint8Array {
  // Bun marks native addons' buffers (sharp's output) untransferable: copy them there.
  if (!RUNNING_IN_BUN && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) return body;
  return new Uint8Array(body);
}

async function runTs(task: Extract<ComputeTask, { op: 'ts' }>): Promise<TaskAnswer> {
  const def = await loadDefinition(task.path, task.codeHash);
  const port = task.port;
  port?.postMessage('start');
  const logs: string[] = [];
  const tu = performance.now();
  let value: unknown;
  try {
    value = await logStore.run(logs, () =>
      def.run({
        ...task.call,
        // The thread is stopped on timeout or when every client left: this signal only
        // tells cooperative code that nobody waits any more.
        signal: new AbortController().signal,
        request: task.call.request ?? anonymousRequest(task.name, task.call),
        // Reports reach the main thread while the UDF still runs (the run registry).
        ...reporters(port ? (u) => port.postMessage(u) : undefined),
        log: (...args: unknown[]) => {
          if (logs.length < MAX_LOG_LINES) logs.push(formatLog(...args));
        },
      }),
    );
  } catch (err) {
    // A UDF's own 4xx (BadRequestError / HttpError from 'tilesmith') passes through.
    if (looksLikeTilesmithError(err) && err.status >= 400 && err.status < 500) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new UdfError(`UDF '${task.name}' failed: ${message}`, { logs, traceback: err instanceof Error ? err.stack : undefined });
  } finally {
    port?.close();
  }
  const udfMs = performance.now() - tu;
  let normalized;
  try {
    normalized = normalizeResult(value);
  } catch (err) {
    if (err instanceof UdfError) throw new UdfError(err.message, { ...err.details, logs });
    throw err;
  }
  return finish(normalized, task, logs, udfMs);
}

async function runFrame(task: Extract<ComputeTask, { op: 'frame' }>): Promise<TaskAnswer> {
  const logs = (task.header.logs as string[] | undefined) ?? [];
  const tu = performance.now();
  let value: unknown;
  try {
    value = decodeResult({ type: FrameType.result, header: task.header, payload: task.payload });
  } catch (e) {
    throw new UdfError(`UDF "${task.name}" returned a result tilesmith could not decode: ${(e as Error).message}`, { logs });
  }
  const normalized = normalizeResult(value);
  return finish(normalized, task, logs, performance.now() - tu);
}

/** The piscina task function. Errors are answered, not thrown, so they keep their code. */
export default async function compute(task: ComputeTask): Promise<TaskAnswer> {
  try {
    switch (task.op) {
      case 'ts':
        return await runTs(task);
      case 'frame':
        return await runFrame(task);
      case 'describe': {
        let def: UdfDefinition;
        try {
          def = await loadDefinition(task.path, task.codeHash);
        } catch (err) {
          // Import failures (syntax errors, a throwing top level) are the UDF's load error.
          throw new UdfLoadError(err instanceof Error ? err.message : String(err), { detail: err instanceof Error ? err.stack : undefined });
        }
        const { run: _run, params, ...options } = def;
        return { ok: true, describe: { params: plain(params), options: plain(options) } };
      }
    }
  } catch (err) {
    return { ok: false, error: toWire(err) };
  }
}
