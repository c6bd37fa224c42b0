import { AsyncLocalStorage } from 'node:async_hooks';
import Module, { register } from 'node:module';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format as formatLog } from 'node:util';
import { UdfError, UdfTimeoutError } from '../errors.ts';
import { RESERVED_PARAMS } from '../params/coerce.ts';
import type { LoadedUdf, ParamSpecs, UdfCall, UdfDefinition, UdfLoader, UdfOutput, UdfRuntime } from '../types.ts';
import { isUdfDefinition } from './define.ts';
import { PACKAGE_ROOT } from '../node/package-root.ts';

const PARAM_TYPES = new Set(['int', 'float', 'bool', 'str', 'list', 'dict', 'json', 'geojson', 'bounds']);
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

let resolveHookRegistered = false;
/** Lets UDF files import 'tilesmith' even when their folder has no node_modules with it. */
function registerResolveHook(): void {
  if (resolveHookRegistered) return;
  resolveHookRegistered = true;
  register(new URL('../node/resolve-hook.mjs', import.meta.url));
  // A .ts file in a folder without "type": "module" is compiled to CommonJS by tsx, and
  // require() does not go through ESM hooks: give it the same fallback.
  const M = Module as unknown as { _resolveFilename: (req: string, parent: unknown, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  const selfParent = { id: 'tilesmith', filename: join(PACKAGE_ROOT, 'package.json'), paths: [] as string[] };
  selfParent.paths = (Module as any)._nodeModulePaths(PACKAGE_ROOT);
  M._resolveFilename = function (request, parent, ...rest) {
    try {
      return original.call(this, request, parent, ...rest);
    } catch (err) {
      if (request === 'tilesmith' || request.startsWith('tilesmith/')) return original.call(this, request, selfParent, ...rest);
      throw err;
    }
  };
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
        timer = setTimeout(() => {
          const err = new UdfTimeoutError(`UDF '${name}' ran longer than its timeout of ${timeoutMs / 1000} s and was aborted.`, { logs });
          controller.abort(err);
          reject(err);
        }, timeoutMs);
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

function validateParams(name: string, params: ParamSpecs | undefined): ParamSpecs {
  const out: ParamSpecs = {};
  for (const [key, spec] of Object.entries(params ?? {})) {
    if (RESERVED_PARAMS.has(key)) {
      throw new Error(`parameter '${key}' uses a name the server reserves (${[...RESERVED_PARAMS].join(', ')}); rename it`);
    }
    if (!spec || !PARAM_TYPES.has(spec.type)) {
      throw new Error(`parameter '${key}' has type ${JSON.stringify(spec?.type)}; accepted types are ${[...PARAM_TYPES].join(', ')}`);
    }
    out[key] = spec;
  }
  return out;
}

/**
 * Loads `*.ts`, `*.mts`, `*.js` and `*.mjs` files that default-export `defineUdf(...)`.
 * TypeScript is compiled on import by tsx, so no build step; each load imports a fresh
 * copy of the module, which is what makes `--watch` reloads work.
 */
export function createTsLoader(opts: { timeoutMs: number }): UdfLoader {
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
        registerResolveHook();
        const { tsImport } = await import('tsx/esm/api');
        const mod = await tsImport(pathToFileURL(entryPath).href, import.meta.url);
        const def = mod.default?.default && !isUdfDefinition(mod.default) ? mod.default.default : mod.default;
        if (!isUdfDefinition(def)) {
          throw new Error(`${basename(entryPath)} does not default-export a UDF: write \`export default defineUdf({ run })\` with defineUdf imported from 'tilesmith'`);
        }
        const { run: _run, params, ...options } = def;
        base.params = validateParams(name, params);
        base.options = options;
        const timeout = options.timeout !== undefined ? parseTimeout(options.timeout) : opts.timeoutMs;
        base.runtime = createTsRuntime(name, def, timeout);
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

function parseTimeout(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new Error(`timeout ${JSON.stringify(value)} should look like 500ms, 30s or 2m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
