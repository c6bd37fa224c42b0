import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Hono } from 'hono';
import { createApp, type AppHelpers } from '../app.ts';
import { createDefaultCache } from '../cache/index.ts';
import { createDefaultEncoderRegistry } from '../encoders/index.ts';
import { parseDuration } from '../params/duration.ts';
import { createRegistry, type UdfRegistry } from '../udf/registry.ts';
import { createTsLoader } from '../udf/ts-runtime.ts';
import type { ResultCache, UdfLoader } from '../types.ts';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono as HonoApp } from 'hono';
import { createRateLimiter, parseRateLimit } from '../auth/rate-limit.ts';
import { createOpsApp, type Observer, type OperationsOptions } from '../operations.ts';
import { createRunsTracker, type RunsSource } from '../routes/admin.ts';
import { createLogger, type LogFormat, type TilesmithLogger } from './logger.ts';
import { createMetrics, type TilesmithMetrics } from './metrics.ts';
import { openTokenStore, type SqliteTokenStore } from './token-store.ts';
import type { LevelWithSilent } from 'pino';

export interface ServerOptions {
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
  corsOrigin?: string | string[];
  maxZoom?: number;
  publicUrl?: string;
  /** Default result lifetime, e.g. '90d'. */
  cacheMaxAge?: string;
  /** Error bodies and the catalog show UDF logs and tracebacks (never in production). @default false */
  dev?: boolean;
  /** Free-text log lines (default: the structured logger below). */
  log?: (msg: string) => void;
  /** `--auth`: every UDF is private unless it declares `public: true`. @default false */
  auth?: boolean;
  /** The token database. @default `<cacheDir>/tokens.db` */
  tokenDb?: string;
  /** Serve `/metrics` and `/admin/*` on this port instead of the main one (0 picks a free port). */
  adminPort?: number;
  /** Interface of the admin port. @default '127.0.0.1' */
  adminHost?: string;
  /** Limit computations per token / client address, e.g. `'60/m'`. Cached hits are not limited. */
  rateLimit?: string;
  /** @default 'json' */
  logFormat?: LogFormat;
  /** @default 'warn' here; the CLI's default is 'info' */
  logLevel?: LevelWithSilent;
  /** Where structured log lines go. @default stderr */
  logDestination?: NodeJS.WritableStream;
  /** In-flight computations for GET /admin/runs (the admission layer's); a request tracker otherwise. */
  runs?: RunsSource;
}

export interface RunningServer {
  url: string;
  port: number;
  app: Hono;
  registry: UdfRegistry;
  cache: ResultCache;
  /** The admin port's URL, with `adminPort`. */
  adminUrl?: string;
  /** Gauges and counters the compute pool reports into (see server/node/metrics.ts). */
  metrics: TilesmithMetrics;
  logger: TilesmithLogger;
  tokens: SqliteTokenStore;
  close(): Promise<void>;
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
  // Programmatic servers (tests, embedding) log warnings and worse unless told; the CLI passes its --log-level (info).
  const logger = createLogger({ format: options.logFormat, level: options.logLevel ?? 'warn', destination: options.logDestination });
  const log = options.log ?? logger.log;
  const cacheDir = resolve(options.cacheDir ?? '.tilesmith/cache');
  const timeoutMs = parseDuration(options.timeout ?? '120s', 'timeout') * 1000;
  const loaders: UdfLoader[] = [createTsLoader({ timeoutMs })];
  const createPythonLoader = await optional('../udf/python/loader.ts', (m) => m.createPythonLoader);
  if (createPythonLoader) {
    loaders.push(
      createPythonLoader({
        python: options.python ?? process.env.TILESMITH_PYTHON,
        workers: options.pythonWorkers,
        memoryMb: options.pythonMemoryMb,
        cacheDir: resolve(cacheDir, 'py'),
        timeoutMs,
        log,
      }),
    );
  }
  const registry = await createRegistry({ dir: resolve(options.dir), loaders, watch: options.watch, log });
  const cache = createDefaultCache({
    dir: resolve(cacheDir, 'results'),
    disk: options.diskCache ?? true,
    memoryBytes: options.memoryCacheBytes,
    diskBytes: options.diskCacheBytes,
  });
  const extraRoutes: Array<(h: AppHelpers) => Hono> = [];
  const createClientRoutes = await optional('../routes/clients.ts', (m) => m.createClientRoutes);
  if (createClientRoutes) extraRoutes.push((h) => createClientRoutes({ ...h, examplesDir: resolve(import.meta.dirname, '../../examples') }));

  // [issue 11] tokens, metrics, logs, rate limits, admin port.
  const tokens = openTokenStore(resolve(options.tokenDb ?? resolve(cacheDir, 'tokens.db')));
  const metrics = createMetrics();
  const runs = options.runs ?? createRunsTracker();
  metrics.watchRuns(runs);
  const observe: Observer = {
    request: (r) => {
      metrics.observer.request(r);
      logger.observer.request(r);
    },
    udfLogs: (info) => {
      metrics.observer.udfLogs(info);
      logger.observer.udfLogs(info);
    },
    authFailure: metrics.observer.authFailure,
    rateLimited: metrics.observer.rateLimited,
  };
  const operations: OperationsOptions = {
    auth: { store: tokens, required: options.auth ?? false, protectMetrics: options.auth === true && options.adminPort === undefined },
    observe,
    runs,
    metrics,
    adminOn: options.adminPort !== undefined ? 'separate' : 'main',
    reload: async () => {
      await registry.refresh();
      return registry.list().length;
    },
    ...(options.rateLimit
      ? {
          rateLimit: {
            limiter: createRateLimiter(parseRateLimit(options.rateLimit)),
            clientKey: (c) => {
              try {
                return getConnInfo(c).remote.address ?? 'unknown';
              } catch {
                return 'unknown';
              }
            },
          },
        }
      : {}),
  };

  const app = createApp({
    operations,
    registry,
    encoders: createDefaultEncoderRegistry(),
    cache,
    corsOrigin: options.corsOrigin,
    maxZoom: options.maxZoom,
    publicUrl: options.publicUrl,
    defaultMaxAge: options.cacheMaxAge ? parseDuration(options.cacheMaxAge, 'cache max age') : undefined,
    extraRoutes,
    log,
    dev: options.dev,
  });

  const host = options.host ?? '127.0.0.1';
  const listen = (fetch: Hono['fetch'], port: number, hostname: string) =>
    new Promise<ReturnType<typeof serve>>((resolvePromise, reject) => {
      const s = serve({ fetch, port, hostname }, () => resolvePromise(s));
      s.once('error', reject);
    });
  const server = await listen(app.fetch, options.port ?? 8787, host);
  const port = (server.address() as AddressInfo).port;
  const shown = (h: string) => (h === '0.0.0.0' || h === '::' ? 'localhost' : h.includes(':') ? `[${h}]` : h);
  const shownHost = shown(host);
  let adminServer: ReturnType<typeof serve> | undefined;
  let adminUrl: string | undefined;
  if (options.adminPort !== undefined) {
    const adminHost = options.adminHost ?? '127.0.0.1';
    const opsApp = createOpsApp(new HonoApp(), operations, { registry, cache, dev: options.dev ?? false });
    adminServer = await listen(opsApp.fetch, options.adminPort, adminHost);
    adminUrl = `http://${shown(adminHost)}:${(adminServer.address() as AddressInfo).port}`;
  }
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    app,
    registry,
    cache,
    adminUrl,
    metrics,
    logger,
    tokens,
    close() {
      closed ??= (async () => {
        for (const s of [server, adminServer]) {
          if (!s) continue;
          await new Promise<void>((r) => {
            s.close(() => r());
            (s as any).closeAllConnections?.();
          });
        }
        tokens.close();
        await registry.close();
        await cache.close?.();
      })();
      return closed;
    },
  };
}
