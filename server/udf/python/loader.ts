/**
 * The UdfLoader for Python UDFs: single files (`name.py`), Fused folders (`Name/Name.py` +
 * meta.json + utils.py), folders with `main.py`, and `name.zip` packages. Each UDF is
 * introspected in a worker of the pool that will run it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import type { LoadedUdf, ParamSpecs, UdfLoader, UdfOptions } from '../../types.ts';
import { createPyCacheSweeper } from './cache-sweeper.ts';
import { findPython, type ProbeResult } from './interpreter.ts';
import { WorkerPool } from './pool.ts';
import { FrameType } from './protocol.ts';
import { createPythonRuntime, type CrashLedger, type PythonRuntimeOptions, type UdfSpec } from './runtime.ts';
import { validateParams } from '../validate.ts';
import { parseTimeoutOption } from '../../params/duration.ts';
import { DEFAULT_ENV_DIR, EnvUsage, STAMP, envPython } from './envs.ts';

export interface PythonLoaderOptions {
  /** Interpreter for all workers (`--python`); otherwise probed, see `findPython`. */
  python?: string;
  /** Worker processes per interpreter. @default os.cpus().length */
  workers?: number;
  /** Address-space cap per worker in MB. @default 2048 */
  memoryMb?: number;
  /** Where `@cache` results and extracted zips live, e.g. `.tilesmith/cache/py`. */
  cacheDir: string;
  /** Limit for one run when the UDF sets none. @default 120000 */
  timeoutMs?: number;
  /** Environment variables for every worker. */
  env?: Record<string, string>;
  /** Calls that may wait for a worker, per pool; more get 503 + Retry-After. @default max(16, 8 × workers) */
  maxQueue?: number;
  /** How long a UDF rests (503 + Retry-After) after 3 worker crashes in a row. @default 30000 */
  crashCooldownMs?: number;
  /** Cap on the `@cache` files under `cacheDir` (least recently used go first); 0 = none. @default 512 MB */
  cacheMaxBytes?: number;
  /** How often the `@cache` folder is measured against `cacheMaxBytes`. @default 60000 */
  cacheSweepMs?: number;
  log?: (msg: string) => void;
  /**
   * Decodes, normalises and encodes results off the main thread (the Node compute pool).
   * Without it results are decoded in-process.
   */
  encodeFrame?: PythonRuntimeOptions['encodeFrame'];
  /**
   * Folders where `fused.load("Name")` looks for UDF folders (TILESMITH_UDF_PATH in workers),
   * in order; the CLI puts the served folder first, then each `--udf-path`.
   */
  udfPath?: string[];
  /** Folder of function environments (`--env-dir`) that `"environment": "NAME"` selects from. @default .tilesmith/envs */
  envDir?: string;
  /** Debug-level messages (skipped canvas notes and widgets). @default dropped */
  debug?: (msg: string) => void;
  /**
   * Folder in which each worker pool makes its private folder for large result payloads, or
   * null to send every result through the workers' pipes (see result-files.ts).
   * @default TILESMITH_PY_RESULT_FILES, else /dev/shm, else <cacheDir>/_results
   */
  resultDir?: string | null;
}

/**
 * Per-UDF settings, from `name.tilesmith.json` next to the UDF (or inside its folder), or the
 * `tilesmith` key of a Fused folder's meta.json. Relative paths are relative to that file.
 */
export interface PythonUdfConfig {
  /** An interpreter, or a venv folder (its `bin/python` is used). */
  python?: string;
  /** A function environment by name (`tilesmith env create NAME`); wins over `python`. */
  environment?: string;
  env?: Record<string, string>;
  /** e.g. `'30s'`, or seconds. */
  timeout?: string | number;
  memory_mb?: number;
  /** Worker processes for this UDF's own pool (only with its own python/env/memory_mb). */
  workers?: number;
  /** Under `--auth`, anyone may run this UDF without a token (like `@udf(public=True)`). */
  public?: boolean;
}

interface Entry {
  kind: 'file' | 'fused' | 'folder' | 'zip';
  /** The .py file to import (unknown for zips until extracted). */
  entry?: string;
  /** Files whose bytes make up the code hash. */
  files: string[];
  config: PythonUdfConfig;
  configDir: string;
  meta?: Record<string, any>;
}

const UDF_TEXT = /@(\w+\.)?udf\b|^def\s+udf\s*\(/m;
/** Fused canvas nodes that are not UDFs: markdown notes and JSON widgets. */
const NOT_UDF_NODES = new Set(['textbox', 'json_ui', 'markdown', 'note', 'widget']);

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A Fused folder's meta.json, or undefined when there is none (or it is not JSON). */
function readMeta(dir: string): Record<string, any> | undefined {
  try {
    const m = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    return m && typeof m === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The UDF step of a meta.json (`job_config.steps[0].udf`), or the object itself. */
function metaStep(meta: Record<string, any> | undefined): Record<string, any> {
  const step = meta?.job_config?.steps?.[0]?.udf ?? meta ?? {};
  return step && typeof step === 'object' ? step : {};
}

/** The canvas node type (`nodeTemplateType`, possibly as `fused:nodeTemplateType` in metadata). */
function nodeType(meta: Record<string, any> | undefined): string | undefined {
  const step = metaStep(meta);
  for (const o of [meta, step, step.metadata, meta?.metadata]) {
    if (!o || typeof o !== 'object') continue;
    for (const k of ['nodeTemplateType', 'fused:nodeTemplateType']) if (typeof o[k] === 'string') return o[k];
  }
  return undefined;
}

/** The file meta.json names as the UDF's source (`source`, e.g. `eiffel_tower_point.py`), if it exists. */
function metaSource(dir: string, meta: Record<string, any> | undefined): string | undefined {
  const src = metaStep(meta).source;
  if (typeof src !== 'string' || !src.endsWith('.py')) return undefined;
  const p = path.join(dir, path.basename(src));
  return existsSync(p) ? p : undefined;
}
const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Creates the loader; hand it to the UDF registry next to the TypeScript loader.
 * @example
 * const python = createPythonLoader({ cacheDir: '.tilesmith/cache/py', log: console.log });
 * const registry = await createRegistry({ dir: 'udfs', loaders: [tsLoader, python] });
 * // on shutdown: await python.close();
 */
export function createPythonLoader(opts: PythonLoaderOptions): UdfLoader & { close(): Promise<void> } {
  const cacheDir = path.resolve(opts.cacheDir);
  const workers = Math.max(1, opts.workers ?? cpus().length);
  const memoryMb = opts.memoryMb ?? 2048;
  const log = opts.log ?? (() => {});
  const debug = opts.debug ?? (() => {});
  const udfPathEnv: Record<string, string> = opts.udfPath?.length ? { TILESMITH_UDF_PATH: opts.udfPath.map((p) => path.resolve(p)).join(path.delimiter) } : {};
  const pools = new Map<string, WorkerPool>();
  const crashes: CrashLedger = new Map();
  const sweeper = createPyCacheSweeper({ dir: cacheDir, maxBytes: opts.cacheMaxBytes ?? 512 * 2 ** 20, intervalMs: opts.cacheSweepMs, log });
  let probe: Promise<ProbeResult> | undefined;

  const defaultPython = () =>
    (probe ??= findPython({ python: opts.python }).then((r) => {
      for (const t of r.tried) log(`[python] skipped ${t}`);
      if (r.python) {
        const p = r.python;
        log(`[python] using ${p.executable} (Python ${p.version}, numpy ${p.numpy}, pandas ${p.pandas}, ${p.geopandas ? `geopandas ${p.geopandas}` : 'no geopandas'})`);
      }
      return r;
    }));

  const envDir = path.resolve(opts.envDir ?? DEFAULT_ENV_DIR);
  const envUsage = new EnvUsage(envDir);
  const poolFor = (python: string, mem: number, env: Record<string, string>, n: number, stamp = '') => {
    const prefix = JSON.stringify([python, mem, Object.entries(env).sort(), n]);
    const key = `${prefix}|${stamp}`;
    let pool = pools.get(key);
    if (!pool) {
      // The environment changed (env install): the workers that imported its old packages go;
      // pools of other interpreters and environments are untouched.
      for (const [k, old] of pools) {
        if (k.startsWith(`${prefix}|`) && k !== key && stamp) {
          pools.delete(k);
          void old.close();
        }
      }
      pools.set(key, (pool = new WorkerPool({ python, workers: n, memoryMb: mem, cacheDir, env, log, maxQueue: opts.maxQueue, resultDir: opts.resultDir })));
    }
    return pool;
  };

  return {
    match(entryPath, isDirectory) {
      const base = path.basename(entryPath);
      if (base.startsWith('.') || base.startsWith('_')) return null;
      if (isDirectory) {
        if (base === 'node_modules' || base === '__pycache__') return null;
        const meta = existsSync(path.join(entryPath, 'meta.json')) ? readMeta(entryPath) : undefined;
        const node = nodeType(meta);
        if (node && NOT_UDF_NODES.has(node)) {
          debug(`[python] skipping ${entryPath}: a Fused canvas ${node === 'json_ui' ? 'widget' : 'note'} (nodeTemplateType ${node}), not a UDF`);
          return null;
        }
        const entry = [metaSource(entryPath, meta), path.join(entryPath, `${base}.py`), path.join(entryPath, 'main.py')].find((p) => p && existsSync(p));
        // A meta.json that names a missing source is a UDF whose entry file is missing: a load
        // error that names the file (fail fast), not a folder silently skipped.
        if (!entry) return typeof metaStep(meta).source === 'string' && String(metaStep(meta).source).endsWith('.py') ? base : null;
        // A Fused canvas export whose body is markdown or JSON rather than Python (older notes
        // carry no nodeTemplateType): no function can be served from a file without `def`.
        if (meta && !/\bdef\s|\blambda\b/.test(readText(entry))) {
          debug(`[python] skipping ${entryPath}: ${path.basename(entry)} defines no function (a Fused canvas note or widget?)`);
          return null;
        }
        return base;
      }
      if (base.endsWith('.zip')) return base.slice(0, -4);
      if (!base.endsWith('.py')) return null;
      const dir = path.dirname(entryPath);
      const dirName = path.basename(dir);
      // A helper inside a UDF folder is part of that UDF, not a UDF of its own.
      if (existsSync(path.join(dir, `${dirName}.py`)) || existsSync(path.join(dir, 'main.py')) || existsSync(path.join(dir, 'meta.json'))) {
        if (base !== `${dirName}.py` && base !== 'main.py') return null;
      }
      // Helper modules next to single-file UDFs (no @udf, no `def udf`) are not served.
      try {
        if (!UDF_TEXT.test(readFileSync(entryPath, 'utf8'))) return null;
      } catch {
        return null;
      }
      return base.slice(0, -3);
    },

    watchPaths(entryPath) {
      try {
        const e = resolveEntry(entryPath);
        const envStamp = typeof e.config.environment === 'string' && !envPython(envDir, e.config.environment).hasOwnProperty('error') ? [path.join(envDir, e.config.environment, STAMP)] : [];
        return [...new Set([...(e.kind === 'zip' ? [path.resolve(entryPath)] : e.files), ...configFiles(entryPath).filter(existsSync), ...envStamp])];
      } catch {
        return [entryPath];
      }
    },

    async load(name, entryPath): Promise<LoadedUdf> {
      const base: LoadedUdf = { name, language: 'python', source: entryPath, codeHash: '', params: {}, options: {} };
      let e: Entry;
      try {
        e = resolveEntry(entryPath);
        base.codeHash = hashFiles(e.files);
      } catch (err) {
        return { ...base, loadError: { message: `Python UDF "${name}" could not be read: ${(err as Error).message}` } };
      }
      let python: string;
      /** Changes when the environment's packages change: its UDFs get fresh workers. */
      let envStamp = '';
      envUsage.set(name, undefined);
      if (e.config.environment !== undefined) {
        // Fail fast: a missing environment is this UDF's load error, at start and on --watch.
        const found = typeof e.config.environment === 'string' ? envPython(envDir, e.config.environment) : { error: '"environment" must be a name (a string)' };
        if ('error' in found) return { ...base, loadError: { message: `Python UDF "${name}" cannot run: ${found.error}`, unavailable: true } };
        python = found.python;
        envUsage.set(name, e.config.environment);
        try {
          envStamp = String(statSync(path.join(envDir, e.config.environment, STAMP)).mtimeMs);
        } catch {
          // made by hand, without a stamp
        }
      } else if (e.config.python) {
        const p = path.resolve(e.configDir, e.config.python);
        python = existsSync(p) && statSync(p).isDirectory() ? path.join(p, 'bin', 'python') : p;
        if (!existsSync(python)) {
          const shown = path.isAbsolute(e.config.python) ? e.config.python : `${e.config.python} (relative to its config file)`;
          return { ...base, loadError: { message: `Python UDF "${name}" cannot run: its interpreter ${shown} does not exist`, unavailable: true } };
        }
      } else {
        const r = await defaultPython();
        if (!r.python) {
          return {
            ...base,
            loadError: {
              message: `Python UDF "${name}" cannot run: no Python interpreter that can import numpy and pandas was found. Set TILESMITH_PYTHON or --python (tried: ${r.tried.join('; ')})`,
              unavailable: true,
            },
          };
        }
        python = r.python.executable;
      }
      const mem = e.config.memory_mb ?? memoryMb;
      const env = { ...udfPathEnv, ...opts.env, ...e.config.env };
      const own = e.config.python || e.config.environment || e.config.env || e.config.memory_mb;
      const pool = poolFor(python, mem, env, own ? Math.max(1, e.config.workers ?? workers) : workers, envStamp);

      const step = metaStep(e.meta);
      const spec: UdfSpec = {
        name,
        codeHash: base.codeHash,
        ...(e.entry ? { entry: e.entry } : {}),
        ...(e.kind === 'zip' ? { zip: { path: path.resolve(entryPath), dir: path.join(cacheDir, '_zips', `${name}-${base.codeHash}`) } } : {}),
        ...(step.parameters && typeof step.parameters === 'object' ? { defaults: step.parameters } : {}),
        ...(typeof step.entrypoint === 'string' ? { entrypoint: step.entrypoint } : {}),
      };

      let frame;
      try {
        ({ frame } = await pool.request({
          type: FrameType.load,
          header: { udf: spec },
          what: `loading UDF "${name}"`,
          timeoutMs: Math.max(60_000, opts.timeoutMs ?? 0),
          affinity: `${name}@${base.codeHash}`,
        }));
      } catch (err) {
        const x = err as Error & { details?: Record<string, unknown>; code?: string };
        return {
          ...base,
          loadError: { message: `Python UDF "${name}" failed to load: ${x.message}`, detail: x.details?.stderr as string | undefined, unavailable: x.code === 'udf_unavailable' },
        };
      }
      const h = frame.header;
      if (frame.type === FrameType.error) {
        return { ...base, loadError: { message: `Python UDF "${name}" failed to load: ${h.message}`, detail: h.traceback } };
      }
      for (const line of h.logs ?? []) log(`[${name}] ${line}`);

      let params: ParamSpecs = {};
      for (const [k, p] of Object.entries(h.params as Record<string, any>)) {
        params[k] = { type: p.type, ...(p.default !== undefined ? { default: p.default } : {}), ...(p.required ? { required: true } : {}) };
      }
      try {
        params = validateParams(params); // the same rules (and sentence) as TypeScript UDFs
      } catch (err) {
        return { ...base, loadError: { message: `UDF '${name}' failed to load: ${(err as Error).message}` } };
      }
      const options: UdfOptions = { ...h.options };
      if (e.config.timeout !== undefined) options.timeout = e.config.timeout;
      if (typeof e.config.public === 'boolean') options.public = e.config.public;
      let timeoutMs: number;
      try {
        timeoutMs = options.timeout !== undefined ? parseTimeoutOption(options.timeout) : (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      } catch (err) {
        return { ...base, params, options, loadError: { message: `Python UDF "${name}": ${(err as Error).message}` } };
      }
      return {
        ...base,
        params,
        options,
        timeoutMs,
        runtime: createPythonRuntime({ spec, params, pool, timeoutMs, memoryMb: mem, crashes, crashCooldownMs: opts.crashCooldownMs, encodeFrame: opts.encodeFrame }),
      };
    },

    async close() {
      envUsage.release();
      await sweeper.stop();
      await Promise.all([...pools.values()].map((p) => p.close()));
      pools.clear();
    },
  };
}

/** Config file candidates, in order of precedence. */
function configFiles(entryPath: string): string[] {
  const base = path.basename(entryPath).replace(/\.(py|zip)$/, '');
  const out = [path.join(path.dirname(entryPath), `${base}.tilesmith.json`)];
  if (isDir(entryPath)) out.unshift(path.join(entryPath, 'tilesmith.json'), path.join(entryPath, `${base}.tilesmith.json`));
  return out;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function resolveEntry(entryPath: string): Entry {
  const base = path.basename(entryPath).replace(/\.(py|zip)$/, '');
  let kind: Entry['kind'];
  let entry: string | undefined;
  let files: string[];
  let meta: Record<string, any> | undefined;
  if (isDir(entryPath)) {
    const metaPath = path.join(entryPath, 'meta.json');
    if (existsSync(metaPath)) meta = JSON.parse(readFileSync(metaPath, 'utf8'));
    // meta.json's `source` names the file when it differs from the folder (Eiffel_Tower_Point/eiffel_tower_point.py).
    const source = metaSource(entryPath, meta);
    const fused = source ?? path.join(entryPath, `${base}.py`);
    kind = existsSync(fused) ? 'fused' : 'folder';
    entry = kind === 'fused' ? fused : path.join(entryPath, 'main.py');
    if (!existsSync(entry)) {
      // Fail fast, naming the file that is missing (at start and on every --watch reload).
      const named = metaStep(meta).source;
      throw new Error(
        typeof named === 'string' && named.endsWith('.py')
          ? `its entry file is missing: meta.json names ${path.basename(named)} as the source, and the folder has neither that file nor ${base}.py nor main.py`
          : `its entry file is missing: the folder has neither ${base}.py nor main.py (nor a meta.json source file)`,
      );
    }
    files = listSources(entryPath);
  } else {
    kind = entryPath.endsWith('.zip') ? 'zip' : 'file';
    entry = kind === 'file' ? path.resolve(entryPath) : undefined;
    files = [path.resolve(entryPath)];
  }
  let config: PythonUdfConfig = {};
  let configDir = path.dirname(path.resolve(entryPath));
  const sidecar = configFiles(entryPath).find(existsSync);
  if (sidecar) {
    config = JSON.parse(readFileSync(sidecar, 'utf8'));
    configDir = path.dirname(sidecar);
    files.push(sidecar);
  } else if (meta?.tilesmith) {
    config = meta.tilesmith;
    configDir = path.resolve(entryPath);
  }
  return { kind, entry: entry && path.resolve(entry), files, config, configDir, meta };
}

/** All .py files and meta.json under a UDF folder, sorted (skips __pycache__ and dot folders). */
function listSources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      if (ent.name.startsWith('.') || ent.name === '__pycache__' || ent.name === 'node_modules') continue;
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.endsWith('.py') || ent.name === 'meta.json' || ent.name.endsWith('.tilesmith.json') || ent.name === 'tilesmith.json') out.push(path.resolve(p));
    }
  };
  walk(dir);
  return out.sort();
}

function hashFiles(files: string[]): string {
  const h = createHash('sha256');
  for (const f of [...new Set(files)].sort()) {
    h.update(path.basename(f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

