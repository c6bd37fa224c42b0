import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { startServer } from './serve.ts';
import { OPS_ARGS, OPS_HELP, opsServerOptions } from './cli-ops.ts';
import { TOKEN_HELP, tokenMain } from './token-cli.ts';

/** Commands kept in their own files (export.ts, …); `serve` is parsed here. */
const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  export: async (argv) => (await import('./export-cli.ts')).runExportCommand('export', argv),
  seed: async (argv) => (await import('./export-cli.ts')).runExportCommand('seed', argv),
  worker: async (argv) => (await import('./export-cli.ts')).runExportCommand('worker', argv),
};

const HELP = `tilesmith — serve map UDFs as cached tiles, files and metadata

Usage:
  tilesmith serve DIR [options]
  tilesmith build DIR --target workers|deno|bun [--out DIST] [--origin URL]
                                           bundle the TypeScript UDFs for an edge runtime
                                           (tilesmith build --help for the rest)
  tilesmith doctor [DIR] [--python PATH]   list, per Python UDF, the modules the interpreter
                                           cannot import and the Debian/pip package for each
                                           (exit code 1 when any is missing)
  tilesmith export NAME --bbox W,S,E,N --zoom 0-12 [--param K=V] OUT.pmtiles|OUT.mbtiles
  tilesmith seed NAME --bbox W,S,E,N --zoom 0-12 [--param K=V]
  tilesmith worker --redis URL DIR
  (tilesmith export --help for their options)
  tilesmith token create|list|revoke …   (see tilesmith token --help)
  tilesmith env create|install|list|remove …  function environments (tilesmith env --help)

Options:
  --port N              port to listen on (default: $PORT or 8787)
  --host H              interface to bind (default: 127.0.0.1; 0.0.0.0 to accept other machines)
  --watch               reload UDFs when their files change
  --cache-dir D         cache folder (default: $TILESMITH_CACHE_DIR or .tilesmith/cache)
  --no-disk-cache       keep results in memory only
  --memory-cache MB     memory tier size (default 256)
  --disk-cache MB       disk cap: result tier + Python @cache files (default 2048)
  --redis URL           share the cache with every instance on this Redis (redis://host:6379)
  --redis-prefix P      prefix of the Redis keys, to share one Redis between deployments (default tilesmith)
  --redis-lock-ttl T    expiry of a compute lock whose holder died, e.g. 15s (default 15s)
  --cache-max-age T     default result lifetime, e.g. 1h, 90d (default 90d)
  --timeout T           default UDF timeout, e.g. 30s (default 120s)
  --python PATH         Python interpreter for Python UDFs (default: $TILESMITH_PYTHON or auto)
  --udf-path DIR        another folder where fused.load("Name") finds UDF folders (repeatable;
                        the served DIR is always searched first)
  --workers N           Python worker processes (default: one per core)
  --worker-memory MB    memory cap per Python worker (default 2048)
  --python-queue N      Python calls that may wait for a worker; more get 503 (default max(16, 8 x workers))
  --python-cache MB     part of --disk-cache for Python @cache files (default a quarter)
  --cors-origin O       Access-Control-Allow-Origin (default *; repeat for several)
  --max-zoom N          highest tile zoom accepted (default 30)
  --public-url URL      base URL written into TileJSON and pages (default: from the request)
  --dev                 error bodies carry the UDF's log lines and traceback (never in production)
  --threads N           compute threads for TypeScript UDFs and encoders (default: one per core)
  --udf-memory MB       V8 heap cap per compute thread (default 2048)
  --max-concurrency N   computations running at once (default: threads + Python workers)
  --max-queue N         computations waiting before new ones get 503 (default 100)
  --client-cache-control honor|ignore
                        whether clients may force recomputation (default honor)
  --trust-proxy         build URLs from X-Forwarded-Host/-Proto (only behind a proxy)
  --max-result-bytes N  largest encoded tile or file, bytes (default 134217728 = 128 MB)
  --job-ttl D           how long a finished job's result stays downloadable (default 1h)
  --run-history N       run records kept in memory for GET /runs (default 1000)
  --instance-id ID      this server's id in run records and UDF contexts (default host-pid)
  --env-dir DIR         function environments (tilesmith env …; default $TILESMITH_ENV_DIR or .tilesmith/envs)
${OPS_HELP}  -h, --help            show this help
`;

function fail(message: string): never {
  process.stderr.write(`tilesmith: ${message}\n\n${HELP}`);
  process.exit(2);
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} needs a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function positive(name: string, v: string | undefined): number | undefined {
  const n = int(name, v);
  if (n === 0) fail(`--${name} needs a number above 0`);
  return n;
}

function choice<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) fail(`--${name} takes ${allowed.join(' or ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** Entry point of the `tilesmith` command. */
export async function main(argv: string[]): Promise<void> {
  const other = argv[0] !== undefined ? COMMANDS[argv[0]] : undefined;
  if (other) return other(argv.slice(1));
  if (argv[0] === 'token') return argv.length === 1 ? void process.stdout.write(TOKEN_HELP) : tokenMain(argv.slice(1));
  if (argv[0] === 'build') {
    const { runBuildCli } = await import('./build.ts');
    process.exitCode = await runBuildCli(argv.slice(1));
    return;
  }
  if (argv[0] === 'env') {
    // Its own options (see env-cli.ts); the serve options do not apply.
    const { runEnvCommand } = await import('./env-cli.ts');
    process.exitCode = await runEnvCommand(argv.slice(1));
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        watch: { type: 'boolean' },
        'cache-dir': { type: 'string' },
        'no-disk-cache': { type: 'boolean' },
        'memory-cache': { type: 'string' },
        'disk-cache': { type: 'string' },
        'cache-max-age': { type: 'string' },
        redis: { type: 'string' },
        'redis-prefix': { type: 'string' },
        'redis-lock-ttl': { type: 'string' },
        timeout: { type: 'string' },
        python: { type: 'string' },
        'udf-path': { type: 'string', multiple: true },
        workers: { type: 'string' },
        'worker-memory': { type: 'string' },
        'python-queue': { type: 'string' },
        'python-cache': { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        'max-zoom': { type: 'string' },
        'public-url': { type: 'string' },
        dev: { type: 'boolean' },
        threads: { type: 'string' },
        'udf-memory': { type: 'string' },
        'max-concurrency': { type: 'string' },
        'max-queue': { type: 'string' },
        'client-cache-control': { type: 'string' },
        'trust-proxy': { type: 'boolean' },
        'max-result-bytes': { type: 'string' },
        ...OPS_ARGS,
        'job-ttl': { type: 'string' },
        'run-history': { type: 'string' },
        'instance-id': { type: 'string' },
        'env-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const { values: v, positionals } = parsed;
  if (v.help || positionals.length === 0) {
    process.stdout.write(HELP);
    return;
  }
  const [command, dir, ...rest] = positionals;
  if (command === 'doctor') {
    const target = dir ?? '.';
    if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`);
    if (!existsSync(target) || !statSync(target).isDirectory()) fail(`${target} is not a folder`);
    const { runDoctor, formatDoctorReport } = await import('./doctor.ts');
    try {
      const { text, ok } = formatDoctorReport(await runDoctor(target, { python: v.python }));
      process.stdout.write(text);
      process.exitCode = ok ? 0 : 1;
    } catch (err) {
      process.stderr.write(`tilesmith doctor: ${(err as Error).message}\n`);
      process.exitCode = 2;
    }
    return;
  }
  if (command !== 'serve') fail(`unknown command '${command}'`);
  if (!dir) fail('serve needs the folder of UDFs, e.g. tilesmith serve udfs');
  if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir} is not a folder`);
  for (const p of v['udf-path'] ?? []) if (!existsSync(p) || !statSync(p).isDirectory()) fail(`--udf-path ${p} is not a folder`);
  const mb = (name: string, value: string | undefined) => {
    const n = int(name, value);
    return n === undefined ? undefined : n * 1024 * 1024;
  };
  const ops = opsServerOptions(v, fail); // [issue 11] auth, tokens, admin port, rate limit, logs
  const server = await startServer({
    ...ops,
    dir,
    port: int('port', v.port ?? process.env.PORT) ?? 8787,
    host: v.host ?? process.env.HOST,
    watch: v.watch,
    cacheDir: v['cache-dir'] ?? process.env.TILESMITH_CACHE_DIR,
    diskCache: !v['no-disk-cache'],
    memoryCacheBytes: mb('memory-cache', v['memory-cache']),
    diskCacheBytes: mb('disk-cache', v['disk-cache']),
    cacheMaxAge: v['cache-max-age'],
    redis: v.redis ?? process.env.TILESMITH_REDIS_URL,
    redisPrefix: v['redis-prefix'],
    redisLockTtl: v['redis-lock-ttl'],
    timeout: v.timeout,
    python: v.python,
    udfPath: v['udf-path'],
    pythonWorkers: int('workers', v.workers),
    pythonMemoryMb: int('worker-memory', v['worker-memory']),
    pythonQueue: int('python-queue', v['python-queue']),
    pythonCacheBytes: mb('python-cache', v['python-cache']),
    corsOrigin: v['cors-origin'],
    maxZoom: int('max-zoom', v['max-zoom']),
    publicUrl: v['public-url'],
    dev: v.dev,
    threads: int('threads', v.threads),
    udfMemoryMb: int('udf-memory', v['udf-memory']),
    maxConcurrency: positive('max-concurrency', v['max-concurrency']),
    maxQueue: int('max-queue', v['max-queue']),
    clientCacheControl: choice('client-cache-control', v['client-cache-control'], ['honor', 'ignore'] as const),
    trustProxy: v['trust-proxy'],
    maxResultBytes: positive('max-result-bytes', v['max-result-bytes']),
    jobTtl: v['job-ttl'],
    runHistory: positive('run-history', v['run-history']),
    instanceId: v['instance-id'],
    envDir: v['env-dir'],
  });
  server.logger.pino.info(
    { url: server.url, ...(server.adminUrl ? { adminUrl: server.adminUrl } : {}), udfs: server.registry.list().length, auth: ops.auth === true },
    `serving ${server.registry.list().length} UDFs from ${dir} at ${server.url}${server.adminUrl ? ` (admin: ${server.adminUrl})` : ''}`,
  );
  let stopping = false;
  // close() drains in-flight requests (10 s at most), then stops the Python workers.
  const stop = async (why: string) => {
    if (stopping) process.exit(1); // a second Ctrl-C: stop now
    stopping = true;
    server.logger.pino.info(`${why}, shutting down`);
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // Started by a launcher (npx, npm, a shell script) that was killed, even with SIGKILL: we are
  // re-parented, so stop rather than run on (with our Python workers) unseen.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopping) void stop(`parent process ${parent} exited`);
  }, 500).unref();
}
