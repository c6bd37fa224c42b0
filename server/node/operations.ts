/**
 * The Node side of operations (issue 11), kept out of serve.ts so that file only calls it:
 * the structured logger, the SQLite token store, Prometheus metrics, the rate limiter's
 * client address, and the separate admin listener (`--admin-port`).
 */
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { LevelWithSilent } from 'pino';
import { createRateLimiter, parseRateLimit } from '../auth/rate-limit.ts';
import { createOpsApp, type Observer, type OperationsOptions } from '../operations.ts';
import { createRunsTracker, type RunsSource } from '../routes/admin.ts';
import type { LoadedUdf, ResultCache } from '../types.ts';
import { createLogger, type LogFormat, type TilesmithLogger } from './logger.ts';
import { createMetrics, type TilesmithMetrics } from './metrics.ts';
import { openTokenStore, type SqliteTokenStore } from './token-store.ts';

/** The `startServer` options of issue 11 (ServerOptions extends this). */
export interface NodeOperationsOptions {
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
  /** @default 'warn' for programmatic servers; the CLI's default is 'info' */
  logLevel?: LevelWithSilent;
  /** Where structured log lines go. @default stderr */
  logDestination?: NodeJS.WritableStream;
  /** In-flight computations for GET /admin/runs (the admission layer's); a request tracker otherwise. */
  runs?: RunsSource;
  /**
   * Behind a proxy that sets `X-Forwarded-For`: rate-limit by its first address instead of
   * the TCP peer (the proxy). Only with a proxy you trust: anyone else could pick their address.
   * @default false
   */
  trustProxy?: boolean;
  /** The address a client is rate-limited by. @default the TCP peer (or X-Forwarded-For with `trustProxy`) */
  clientAddress?: (c: Context) => string;
}

/** What `startServer` exposes of these parts (RunningServer extends this). */
export interface NodeOperationsHandles {
  /** The admin port's URL, with `adminPort`. */
  adminUrl?: string;
  /** Gauges and counters the compute pool reports into (see server/node/metrics.ts). */
  metrics: TilesmithMetrics;
  logger: TilesmithLogger;
  tokens: SqliteTokenStore;
}

/** The first `X-Forwarded-For` address, else the TCP peer's. */
function forwardedAddress(c: Context): string {
  const xff = c.req.raw.headers.get('x-forwarded-for')?.split(',')[0]?.trim();
  return xff || peerAddress(c);
}

/** The TCP peer's address (node-server), or 'unknown'. */
function peerAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Creates the logger, token store, metrics and runs tracker (call first: the logger is the
 * server's `log`). Then `appOptions()` for `createApp({ operations })`, `listenAdmin()` after
 * the main server listens, and `close()` on shutdown.
 */
export function createNodeOperations(o: NodeOperationsOptions, cacheDir: string) {
  const logger = createLogger({ format: o.logFormat, level: o.logLevel ?? 'warn', destination: o.logDestination });
  const tokens = openTokenStore(resolve(o.tokenDb ?? resolve(cacheDir, 'tokens.db')));
  const metrics = createMetrics();
  let runs: RunsSource = o.runs ?? createRunsTracker();
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
  let operations: OperationsOptions | undefined;
  let admin: ReturnType<typeof serve> | undefined;

  return {
    logger,
    tokens,
    metrics,
    /**
     * `createApp`'s `operations`. `admission` (the admission layer: `snapshot()`, optionally
     * `stats()`) replaces the fallback runs tracker and feeds `tilesmith_queue_depth`.
     */
    appOptions(reload: () => Promise<number>, admission?: RunsSource & { stats?(): { queued: number } }): OperationsOptions {
      if (admission) {
        runs = admission;
        metrics.watchRuns(admission);
        if (admission.stats) metrics.onCollect(() => metrics.setQueueDepth(admission.stats!().queued));
      }
      operations = {
        auth: { store: tokens, required: o.auth ?? false, protectMetrics: o.auth === true && o.adminPort === undefined },
        observe,
        runs,
        metrics,
        adminOn: o.adminPort !== undefined ? 'separate' : 'main',
        reload,
        ...(o.rateLimit ? { rateLimit: { limiter: createRateLimiter(parseRateLimit(o.rateLimit)), clientKey: o.clientAddress ?? (o.trustProxy ? forwardedAddress : peerAddress) } } : {}),
      };
      return operations;
    },
    /** Starts the admin listener when `adminPort` is set; resolves to its URL. */
    async listenAdmin(deps: { registry: { get(name: string): LoadedUdf | undefined }; cache: ResultCache; dev: boolean }): Promise<string | undefined> {
      if (o.adminPort === undefined || !operations) return undefined;
      const host = o.adminHost ?? '127.0.0.1';
      const app = createOpsApp(new Hono(), operations, deps);
      admin = await new Promise<ReturnType<typeof serve>>((resolvePromise, reject) => {
        const s = serve({ fetch: app.fetch, port: o.adminPort!, hostname: host }, () => resolvePromise(s));
        s.once('error', reject);
      });
      const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
      return `http://${shown}:${(admin.address() as AddressInfo).port}`;
    },
    /** Stops the admin listener and closes the token store. */
    async close(): Promise<void> {
      const s = admin;
      if (s) {
        await new Promise<void>((r) => {
          s.close(() => r());
          (s as any).closeAllConnections?.();
        });
      }
      tokens.close();
    },
  };
}
