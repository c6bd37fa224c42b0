import { anonymousRequest, reporters } from './run-context.ts';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { format as formatLog } from 'node:util';
import { UdfError, UdfTimeoutError } from '../errors.ts';
import { parseTimeoutOption } from '../params/duration.ts';
import { looksLikeTilesmithError } from '../compute/wire.ts';
import type { ComputePool } from '../node/compute-pool.ts';
import type { LoadedUdf, NormalizedResult, ParamSpecs, UdfCall, UdfDefinition, UdfLoader, UdfOptions, UdfOutput, UdfRuntime } from '../types.ts';
import { isUdfDefinition, raster, table } from './define.ts';
import { importUdfModule } from './import-udf.ts';
import { validateParams } from './validate.ts';

const MAX_LOG_LINES = 200;

/**
 * console.* inside a UDF run is captured into that run's log (and still printed), so a
 * failing UDF's 500 carries what it logged. AsyncLocalStorage keeps concurrent runs apart.
 */
const logStore = new AsyncLocalStorage<string[]>();
/**
 * Runs in progress. AsyncLocalStorage keeps Node's promise hooks on from its first run() until
 * disable(), which would tax every promise of every request (cached tiles included) forever;
 * it is disabled whenever no run is in progress, and re-enabled by the next run().
 */
let activeRuns = 0;
let consolePatched = false;
function patchConsole(): void {
  if (consolePatched) return;
  consolePatched = true;
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const lines = logStore.getStore();
      if (lines && lines.length < MAX_LOG_LINES) lines.push(formatLog(...args));
      original(...args);
    };
  }
}

/** Runs a TypeScript UDF in-process with a deadline and an AbortSignal. */
export function createTsRuntime(name: string, def: UdfDefinition, timeoutMs: number): UdfRuntime {
  patchConsole();
  return {
    async run(call: UdfCall): Promise<UdfOutput> {
      const logs: string[] = [];
      const controller = new AbortController();
      const signal = AbortSignal.any([call.signal, controller.signal]);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        const ms = call.timeoutMs ?? timeoutMs;
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
      activeRuns++;
      try {
        const value = await Promise.race([
          logStore.run(logs, () =>
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
                  if (logs.length < MAX_LOG_LINES) logs.push(formatLog(...args));
                },
              }),
            ),
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
        throw new UdfError(`UDF '${name}' failed: ${message}`, {
          logs,
          traceback: err instanceof Error ? err.stack : undefined,
        });
      } finally {
        clearTimeout(timer);
        // The caller's signal may outlive this run (e.g. a client connection): do not leave
        // a listener (and this run's closure) on it.
        call.signal.removeEventListener('abort', onAbort!);
        deadline.catch(() => {});
        aborted.catch(() => {});
        if (--activeRuns === 0) logStore.disable();
      }
    },
  };
}

/**
 * The runtime of a TypeScript UDF in the compute pool: the UDF, normalisation and encoding
 * run in a worker thread; the main thread only waits.
 */
export function createPooledTsRuntime(o: { name: string; path: string; codeHash: string; timeoutMs: number; memoryMb?: number; pool: ComputePool }): UdfRuntime {
  const udf = { path: o.path, name: o.name, codeHash: o.codeHash };
  const what = `UDF '${o.name}'`;
  const wire = (call: UdfCall) => ({ bounds: call.bounds, tile: call.tile, tileSize: call.tileSize, params: call.params, request: call.request ?? anonymousRequest(o.name, call) });
  return {
    async run(call) {
      const { normalized, logs } = await o.pool.runUdfRaw(udf, wire(call), { signal: call.signal, timeoutMs: call.timeoutMs ?? o.timeoutMs, declaredTimeoutMs: o.timeoutMs, memoryMb: o.memoryMb, what });
      return { value: denormalize(normalized as NormalizedResult), logs };
    },
    compute(call, encode) {
      return o.pool.runUdf(udf, wire(call), encode, { signal: call.signal, timeoutMs: call.timeoutMs ?? o.timeoutMs, declaredTimeoutMs: o.timeoutMs, memoryMb: o.memoryMb, what, onUpdate: call.onUpdate });
    },
  };
}

/** A normalised result as the value a UDF could have returned (it normalises to itself). */
function denormalize(r: NormalizedResult): unknown {
  switch (r.kind) {
    case 'vector': {
      const fc = { type: 'FeatureCollection', features: r.features };
      // a prepareVector() layer stays prepared across the thread boundary (its data is plain typed arrays)
      if (r.prepared) Object.defineProperty(fc, Symbol.for('tilesmith.prepared'), { value: r.prepared, enumerable: false });
      return fc;
    }
    case 'raster':
      return raster(r.raster);
    case 'table':
      return table(r.table.rows, r.table.columns);
    case 'json':
      return r.value;
    default:
      return null;
  }
}

/** Longest a UDF module may take to import (top-level code) before it counts as a load error. */
const LOAD_TIMEOUT_MS = 60_000;

/**
 * Loads `*.ts`, `*.mts`, `*.js` and `*.mjs` files that default-export `defineUdf(...)`.
 * TypeScript is compiled on import by tsx, so no build step; each load imports a fresh
 * copy of the module, which is what makes `--watch` reloads work. With a compute pool the
 * module is imported only in the pool's threads: user code never runs on the main thread.
 */
export function createTsLoader(opts: { timeoutMs: number; pool?: ComputePool }): UdfLoader {
  return {
    match(entryPath, isDirectory) {
      if (isDirectory) return null;
      const ext = extname(entryPath);
      if (!['.ts', '.mts', '.js', '.mjs'].includes(ext) || entryPath.endsWith('.d.ts')) return null;
      const base = basename(entryPath, ext);
      if (base.startsWith('_') || base.startsWith('.') || base.endsWith('.test')) return null;
      return base;
    },
    async load(name, entryPath) {
      const base: LoadedUdf = { name, language: 'typescript', source: entryPath, codeHash: '', params: {}, options: {} };
      try {
        const code = await readFile(entryPath);
        base.codeHash = createHash('sha256').update(code).digest('hex').slice(0, 16);
        let params: unknown;
        let options: UdfOptions;
        let def: UdfDefinition | undefined;
        if (opts.pool) {
          const described = await opts.pool.describe(entryPath, name, base.codeHash, LOAD_TIMEOUT_MS);
          params = described.params;
          options = described.options as UdfOptions;
        } else {
          const mod = await importUdfModule(entryPath);
          const d = (mod.default as any)?.default && !isUdfDefinition(mod.default) ? (mod.default as any).default : mod.default;
          if (!isUdfDefinition(d)) {
            throw new Error(`${basename(entryPath)} does not default-export a UDF: write \`export default defineUdf({ run })\` with defineUdf imported from 'tilesmith'`);
          }
          const { run: _run, params: p, ...rest } = d;
          params = p;
          options = rest;
          def = d;
        }
        base.params = validateParams(params as ParamSpecs | undefined);
        base.options = options;
        const timeout = options.timeout !== undefined ? parseTimeoutOption(options.timeout) : opts.timeoutMs;
        base.timeoutMs = timeout;
        base.runtime = opts.pool
          ? createPooledTsRuntime({ name, path: entryPath, codeHash: base.codeHash, timeoutMs: timeout, memoryMb: options.memory, pool: opts.pool })
          : createTsRuntime(name, def!, timeout);
      } catch (err) {
        base.loadError = {
          message: `UDF '${name}' failed to load: ${err instanceof Error ? err.message : String(err)}`,
          detail: err instanceof Error ? err.stack : undefined,
        };
      }
      return base;
    },
  };
}

