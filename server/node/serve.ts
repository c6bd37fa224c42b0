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
  corsOrigin?: string | string[];
  maxZoom?: number;
  publicUrl?: string;
  /** Default result lifetime, e.g. '90d'. */
  cacheMaxAge?: string;
  /** Error bodies and the catalog show UDF logs and tracebacks (never in production). @default false */
  dev?: boolean;
  /** Free-text log lines (default: the structured logger). */
  log?: (msg: string) => void;
}

export interface RunningServer extends NodeOperationsHandles {
  url: string;
  port: number;
  app: Hono;
  registry: UdfRegistry;
  cache: ResultCache;
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
  const cacheDir = resolve(options.cacheDir ?? '.tilesmith/cache');
  const ops = createNodeOperations(options, cacheDir); // [issue 11] logger, tokens, metrics
  const log = options.log ?? ops.logger.log;
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

  const app = createApp({
    // [issue 11] auth, share URLs, admin API, metrics, logs, rate limits
    operations: ops.appOptions(async () => {
      await registry.refresh();
      return registry.list().length;
    }),
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
  const server = await new Promise<ReturnType<typeof serve>>((resolvePromise, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 8787, hostname: host }, () => resolvePromise(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  const adminUrl = await ops.listenAdmin({ registry, cache, dev: options.dev ?? false }); // [issue 11] --admin-port
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    app,
    registry,
    cache,
    adminUrl,
    metrics: ops.metrics,
    logger: ops.logger,
    tokens: ops.tokens,
    close() {
      closed ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          (server as any).closeAllConnections?.();
        });
        await ops.close();
        await registry.close();
        await cache.close?.();
      })();
      return closed;
    },
  };
}
