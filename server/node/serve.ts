import { hostname } from 'node:os';
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { RunRegistry } from '../compute/runs.ts';
import { serve } from '@hono/node-server';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener } from 'node:http';
import type { HotHits } from '../routes/hot-hits.ts';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Hono } from 'hono';
import { availableParallelism } from 'node:os';
import { createApp, type AppHelpers, type TilesmithApp } from '../app.ts';
import { createAdmission } from '../compute/admission.ts';
import { ComputePool } from './compute-pool.ts';
import { createDefaultCache } from '../cache/index.ts';
import { createThreadDiskWriter } from './disk-writer.ts';
import { createDefaultEncoderRegistry } from '../encoders/index.ts';
import { parseDuration } from '../params/duration.ts';
import { createRegistry, type UdfRegistry } from '../udf/registry.ts';
import { createTsLoader } from '../udf/ts-runtime.ts';
import type { ResultCache, UdfLoader } from '../types.ts';
import { PACKAGE_ROOT } from './package-root.ts';
import { createNodeOperations, type NodeOperationsHandles, type NodeOperationsOptions } from './operations.ts';

/** Also takes the options of tokens, auth, metrics, logs, rate limits and the admin port (issue 11). */
export interface ServerOptions extends NodeOperationsOptions {
  /** Folder of UDF files. */
  dir: string;
  /** @default 8787; 0 picks a free port */
  port?: number;
  /**
   * Interface to bind. Loopback by default so a development server is not reachable from the
   * network by accident; give `0.0.0.0` (or `::`) in production, behind a proxy. @default '127.0.0.1'
   */
  host?: string;
  /** Reload UDFs when their files change. @default false */
  watch?: boolean;
  /** On-disk cache folder (also holds the Python in-UDF cache). @default '.tilesmith/cache' */
  cacheDir?: string;
  /** Keep the disk tier. @default true */
  diskCache?: boolean;
  /** Memory tier bound. @default 256 MB */
  memoryCacheBytes?: number;
  /** Disk tier bound. @default 2 GB */
  diskCacheBytes?: number;
  /** Default UDF timeout, e.g. '120s'. @default '120s' */
  timeout?: string;
  /** Python interpreter for Python UDFs. @default first of TILESMITH_PYTHON, /usr/bin/python3, python3 that imports numpy+pandas */
  python?: string;
  /** Python worker processes. @default one per core */
  pythonWorkers?: number;
  /** Memory cap per Python worker in MB. @default 2048 */
  pythonMemoryMb?: number;
  /** Python calls that may wait for a worker (per pool); more get 503 + Retry-After. @default max(16, 8 × workers) */
  pythonQueue?: number;
  /** Rest after 3 Python worker crashes in a row of one UDF (503 + Retry-After). @default 30000 */
  pythonCrashCooldownMs?: number;
  /** Share of `diskCacheBytes` for Python `@cache` files (the results get the rest). @default a quarter */
  pythonCacheBytes?: number;
  /** `close()` lets in-flight requests finish for this long, then drops the connections. @default 10000 */
  shutdownGraceMs?: number;
  corsOrigin?: string | string[];
  maxZoom?: number;
  publicUrl?: string;
  /** Redis URL: a cache tier shared by every instance, compute-once and purges across them. */
  redis?: string;
  /** Prefix of tilesmith's Redis keys and channel. @default 'tilesmith' */
  redisPrefix?: string;
  /** Expiry of a compute lock whose holder died, e.g. '15s'. @default '15s' */
  redisLockTtl?: string;
  /** Default result lifetime, e.g. '90d'. */
  cacheMaxAge?: string;
  /** Error bodies and the catalog show UDF logs and tracebacks (never in production). @default false */
  dev?: boolean;
  /** Compute threads (TypeScript UDFs, decoding, encoding). 0 runs them on the main thread (debugging only). @default one per core */
  threads?: number;
  /** V8 heap cap per compute thread in MB; a UDF's `memory` option overrides it. @default 2048 */
  udfMemoryMb?: number;
  /** Computations running at once, all UDFs together. @default threads + Python workers */
  maxConcurrency?: number;
  /** Computations waiting for a slot before new ones get 503. @default 100 */
  maxQueue?: number;
  /** Whether clients may force recomputation (`cache_reset`, `cache=false`, `cache_max_age`). @default 'honor' */
  clientCacheControl?: 'honor' | 'ignore';
  /** Build URLs from X-Forwarded-* headers (only behind a proxy that sets them). @default false */
  trustProxy?: boolean;
  /** Largest encoded result in bytes. @default 128 MB */
  maxResultBytes?: number;
  /** How long a finished job's result stays downloadable (`--job-ttl`), e.g. `'1h'`. @default '1h' */
  jobTtl?: string;
  /** Run records kept in memory (`--run-history`). @default 1000 */
  runHistory?: number;
  /** This server's id in run records and UDF contexts (`--instance-id`). @default host-pid */
  instanceId?: string;
  /** Folder of function environments (`--env-dir`, `TILESMITH_ENV_DIR`). @default '.tilesmith/envs' */
  envDir?: string;
  /**
   * More folders where Python UDFs' `fused.load("Name")` finds UDF folders, after `dir`
   * (which is always searched first). See README "Moving from Fused".
   */
  udfPath?: string[];
  /** Free-text log lines (default: the structured logger). */
  log?: (msg: string) => void;
}

export interface RunningServer extends NodeOperationsHandles {
  url: string;
  port: number;
  app: TilesmithApp;
  /** Running and queued computations. */
  admission: ReturnType<typeof createAdmission>;
  /** The compute threads (absent with `threads: 0`). */
  pool?: ComputePool;
  registry: UdfRegistry;
  cache: ResultCache;
  close(): Promise<void>;
}

type ServerOptionsOf = import('node:http').ServerOptions;

/**
 * A `node:http` request listener that answers what the app's cached-hit fast path can
 * (routes/hot-hits.ts) with one `writeHead` + `end`, and hands everything else to hono's
 * listener. This skips building a web `Request`, hono's router and middleware chain and the
 * `Response` → `node:http` conversion: ~3× the cached-hit throughput (see BENCHMARKS.md).
 */
export function withHotHits(hot: HotHits, listener: RequestListener): RequestListener {
  // One reusable view of the request (answerRaw() is synchronous): no closure per request.
  const view = new HotHitView();
  return (req, res) => {
    view.reset(req);
    const head = hot.answerRaw(view);
    view.reset(undefined);
    if (!head) return listener(req, res);
    // A flat header list, patched in place per hit: writeHead copies it into the head now.
    res.writeHead(head.status, head.headers);
    res.end(head.body ?? undefined);
  };
}

/**
 * The request as the fast path reads it. The four headers it asks for (`authorization`,
 * `x-request-id`, `if-none-match`, `origin`) are read from `rawHeaders` in one pass instead of
 * `req.headers`, which node:http builds on first access (an object and a lower-cased name per
 * header: a browser sends ten or more). Should one of the four appear twice, node's own
 * `req.headers` answers, with its rules for duplicates (`authorization`: the first; the others
 * joined with `, `).
 */
class HotHitView {
  method = 'GET';
  url = '';
  private req: IncomingMessage | undefined = undefined;
  private scanned = false;
  private duplicate = false;
  private authorization: string | undefined = undefined;
  private requestId: string | undefined = undefined;
  private ifNoneMatch: string | undefined = undefined;
  private origin: string | undefined = undefined;

  reset(req: IncomingMessage | undefined): void {
    this.req = req;
    this.method = req?.method ?? 'GET';
    this.url = req?.url ?? '';
    this.scanned = this.duplicate = false;
    this.authorization = this.requestId = this.ifNoneMatch = this.origin = undefined;
  }

  header(name: string): string | undefined {
    if (!this.scanned) this.scan();
    if (!this.duplicate) {
      switch (name) {
        case 'authorization':
          return this.authorization;
        case 'x-request-id':
          return this.requestId;
        case 'if-none-match':
          return this.ifNoneMatch;
        case 'origin':
          return this.origin;
      }
    }
    const v = this.req?.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  private scan(): void {
    this.scanned = true;
    const raw = this.req?.rawHeaders ?? [];
    for (let i = 0; i < raw.length && !this.duplicate; i += 2) {
      const n = raw[i]!;
      const len = n.length;
      if (len !== 6 && len !== 12 && len !== 13) continue;
      const lower = n.toLowerCase();
      const v = raw[i + 1]!;
      if (lower === 'origin') this.origin === undefined ? (this.origin = v) : (this.duplicate = true);
      else if (lower === 'authorization') this.authorization === undefined ? (this.authorization = v) : (this.duplicate = true);
      else if (lower === 'if-none-match') this.ifNoneMatch === undefined ? (this.ifNoneMatch = v) : (this.duplicate = true);
      else if (lower === 'x-request-id') this.requestId === undefined ? (this.requestId = v) : (this.duplicate = true);
    }
  }
}

/** Optional parts (Python runtime, client pages) are loaded if present in this build. */
async function optional<T>(path: string, pick: (mod: any) => T): Promise<T | undefined> {
  try {
    return pick(await import(path));
  } catch (err: any) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(path.replace(/^\.\.?\//, '').split('/').pop()!)) return undefined;
    throw err;
  }
}

/**
 * Starts a tilesmith server on Node: loads the UDF folder (TypeScript and Python), opens
 * the two-tier cache and listens. Used by the CLI and by the end-to-end tests.
 * @example const server = await startServer({ dir: 'udfs', port: 8787 });
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const cacheDir = resolve(options.cacheDir ?? '.tilesmith/cache');
  const ops = createNodeOperations(options, cacheDir); // [issue 11] logger, tokens, metrics
  const log = options.log ?? ops.logger.log;
  const timeoutMs = parseDuration(options.timeout ?? '120s', 'timeout') * 1000;
  const cores = availableParallelism();
  const threads = options.threads ?? cores;
  const pool = threads > 0 ? new ComputePool({ threads, memoryMb: options.udfMemoryMb, log }) : undefined;
  // One disk budget: Python @cache files get their share, results the rest.
  const diskTotal = options.diskCacheBytes ?? 2 * 1024 ** 3;
  const pyCacheBytes = Math.min(options.pythonCacheBytes ?? Math.floor(diskTotal / 4), diskTotal);
  const loaders: UdfLoader[] = [createTsLoader({ timeoutMs, pool })];
  const envDir = resolve(options.envDir ?? process.env.TILESMITH_ENV_DIR ?? '.tilesmith/envs');
  const createPythonLoader = await optional('../udf/python/loader.ts', (m) => m.createPythonLoader);
  if (createPythonLoader) {
    loaders.push(
      createPythonLoader({
        python: options.python ?? process.env.TILESMITH_PYTHON,
        workers: options.pythonWorkers,
        memoryMb: options.pythonMemoryMb,
        cacheDir: resolve(cacheDir, 'py'),
        timeoutMs,
        maxQueue: options.pythonQueue,
        crashCooldownMs: options.pythonCrashCooldownMs,
        cacheMaxBytes: pyCacheBytes,
        encodeFrame: pool
          ? (name: string, frame: { header: Record<string, any>; payload: Uint8Array }, encode: any, o: { signal?: AbortSignal; what: string }) =>
              pool.encodeFrame(name, frame, encode, { signal: o.signal, what: o.what, timeoutMs: timeoutMs })
          : undefined,
        udfPath: [resolve(options.dir), ...(options.udfPath ?? []).map((p) => resolve(p))],
        envDir,
        log,
        debug: process.env.TILESMITH_LOG_LEVEL === 'debug' ? log : undefined,
      }),
    );
  }
  const pythonWorkers = options.pythonWorkers ?? cores;
  const admission = createAdmission({
    maxConcurrency: options.maxConcurrency ?? Math.max(1, threads) + (createPythonLoader ? pythonWorkers : 0),
    maxQueue: options.maxQueue ?? 100,
    clientDrivenConcurrency: Math.max(1, Math.floor(Math.max(1, threads) / 2)),
    clientDrivenQueue: 4,
  });
  const registry = await createRegistry({ dir: resolve(options.dir), loaders, watch: options.watch, log });
  // With --watch, a change to a function environment (created, packages installed, removed)
  // rescans too: UDFs that name it reload (their stamp changed) and get fresh workers; the
  // others keep theirs (their signatures did not change).
  let envWatcher: FSWatcher | undefined;
  if (options.watch && createPythonLoader) {
    let pendingEnv: ReturnType<typeof setTimeout> | undefined;
    try {
      mkdirSync(envDir, { recursive: true });
      envWatcher = watch(envDir, { recursive: true }, () => {
        clearTimeout(pendingEnv);
        pendingEnv = setTimeout(() => void registry.refresh().catch((e) => log(`tilesmith: reload failed: ${e}`)), 300);
      });
      envWatcher.on('error', () => {});
    } catch (err) {
      log(`tilesmith: not watching ${envDir}: ${(err as Error).message}`);
    }
  }
  // Disk writes leave the main thread (see disk-writer.ts).
  const diskWriter = options.diskCache === false ? undefined : createThreadDiskWriter();
  const cache = createDefaultCache({
    dir: resolve(cacheDir, 'results'),
    disk: options.diskCache ?? true,
    diskWriter,
    memoryBytes: options.memoryCacheBytes,
    diskBytes: createPythonLoader ? Math.max(diskTotal - pyCacheBytes, 0) : diskTotal,
    redis: options.redis,
    redisPrefix: options.redisPrefix,
    redisLockTtlMs: options.redisLockTtl ? parseDuration(options.redisLockTtl, 'redis lock ttl') * 1000 : undefined,
    waitTimeoutMs: timeoutMs,
    log,
  });
  const extraRoutes: Array<(h: AppHelpers) => Hono> = [];
  const createClientRoutes = await optional('../routes/clients.ts', (m) => m.createClientRoutes);
  if (createPythonLoader) {
    const createEnvRoutes = await optional('../routes/envs.ts', (m) => m.createEnvRoutes);
    if (createEnvRoutes) extraRoutes.push(() => createEnvRoutes({ envDir }));
  }
  if (createClientRoutes) extraRoutes.push((h) => createClientRoutes({ ...h, examplesDir: resolve(PACKAGE_ROOT, 'examples') }));

  const app = createApp({
    // [issue 11] auth, share URLs, admin API, metrics, logs, rate limits
    operations: ops.appOptions(async () => {
      await registry.refresh();
      return registry.list().length;
    }, admission),
    registry,
    encoders: createDefaultEncoderRegistry(),
    cache,
    corsOrigin: options.corsOrigin,
    maxZoom: options.maxZoom,
    publicUrl: options.publicUrl,
    trustProxy: options.trustProxy,
    admission,
    defaultTimeoutMs: timeoutMs,
    clientCacheControl: options.clientCacheControl,
    maxResultBytes: options.maxResultBytes,
    runs: new RunRegistry({
      jobTtlSeconds: options.jobTtl !== undefined ? parseDuration(options.jobTtl, 'job ttl') : undefined,
      maxRuns: options.runHistory,
      instanceId: options.instanceId ?? `${hostname()}-${process.pid}`,
    }),
    defaultMaxAge: options.cacheMaxAge ? parseDuration(options.cacheMaxAge, 'cache max age') : undefined,
    extraRoutes,
    log,
    dev: options.dev,
  });

  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolvePromise, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        port: options.port ?? 8787,
        hostname: host,
        // Repeated cached hits are answered straight from node:http (see withHotHits).
        createServer: ((serverOptions: ServerOptionsOf, listener: RequestListener) => createHttpServer(serverOptions, withHotHits(app.hotHits, listener))) as never,
      },
      () => resolvePromise(s),
    );
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  // The compute pool's gauges, read at scrape time.
  let restartsSeen = 0;
  ops.metrics.onCollect(() => {
    const stats = admission.stats();
    ops.metrics.setQueueDepth(stats.queued);
    if (!pool) return;
    const p = pool.stats();
    ops.metrics.setBusyWorkers('compute', p.running);
    for (; restartsSeen < p.restarts; restartsSeen++) ops.metrics.workerRestarted('compute');
  });
  const adminUrl = await ops.listenAdmin({ registry, cache, dev: options.dev ?? false }); // [issue 11] --admin-port
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    app,
    admission,
    pool,
    registry,
    cache,
    adminUrl,
    metrics: ops.metrics,
    logger: ops.logger,
    tokens: ops.tokens,
    close() {
      closed ??= (async () => {
        // Drain: stop accepting, let in-flight requests finish (bounded), then drop the rest.
        await new Promise<void>((r) => {
          const force = setTimeout(() => (server as any).closeAllConnections?.(), options.shutdownGraceMs ?? 10_000);
          // Keep-alive sockets become idle as their last request ends: close them as they do.
          const idle = setInterval(() => (server as any).closeIdleConnections?.(), 100);
          server.close(() => {
            clearTimeout(force);
            clearInterval(idle);
            r();
          });
          (server as any).closeIdleConnections?.();
        });
        await ops.close();
        envWatcher?.close();
        await registry.close();
        await pool?.close();
        await cache.close?.();
        await diskWriter?.close();
      })();
      return closed;
    },
  };
}
