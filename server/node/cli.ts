import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { startServer } from './serve.ts';
import { OPS_ARGS, OPS_HELP, opsServerOptions } from './cli-ops.ts';
import { TOKEN_HELP, tokenMain } from './token-cli.ts';

const HELP = `tilesmith — serve map UDFs as cached tiles, files and metadata

Usage:
  tilesmith serve DIR [options]
  tilesmith token create|list|revoke …   (see tilesmith token --help)

Options:
  --port N              port to listen on (default: $PORT or 8787)
  --host H              interface to bind (default: 127.0.0.1; 0.0.0.0 to accept other machines)
  --watch               reload UDFs when their files change
  --cache-dir D         cache folder (default: $TILESMITH_CACHE_DIR or .tilesmith/cache)
  --no-disk-cache       keep results in memory only
  --memory-cache MB     memory tier size (default 256)
  --disk-cache MB       disk tier size (default 2048)
  --cache-max-age T     default result lifetime, e.g. 1h, 90d (default 90d)
  --timeout T           default UDF timeout, e.g. 30s (default 120s)
  --python PATH         Python interpreter for Python UDFs (default: $TILESMITH_PYTHON or auto)
  --workers N           Python worker processes (default: one per core)
  --worker-memory MB    memory cap per Python worker (default 2048)
  --cors-origin O       Access-Control-Allow-Origin (default *; repeat for several)
  --max-zoom N          highest tile zoom accepted (default 30)
  --public-url URL      base URL written into TileJSON and pages (default: from the request)
  --dev                 error bodies carry the UDF's log lines and traceback (never in production)
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

/** Entry point of the `tilesmith` command. */
export async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'token') return argv.length === 1 ? void process.stdout.write(TOKEN_HELP) : tokenMain(argv.slice(1));
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
        timeout: { type: 'string' },
        python: { type: 'string' },
        workers: { type: 'string' },
        'worker-memory': { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        'max-zoom': { type: 'string' },
        'public-url': { type: 'string' },
        dev: { type: 'boolean' },
        ...OPS_ARGS,
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
  if (command !== 'serve') fail(`unknown command '${command}'`);
  if (!dir) fail('serve needs the folder of UDFs, e.g. tilesmith serve udfs');
  if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir} is not a folder`);
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
    timeout: v.timeout,
    python: v.python,
    pythonWorkers: int('workers', v.workers),
    pythonMemoryMb: int('worker-memory', v['worker-memory']),
    corsOrigin: v['cors-origin'],
    maxZoom: int('max-zoom', v['max-zoom']),
    publicUrl: v['public-url'],
    dev: v.dev,
  });
  server.logger.pino.info(
    { url: server.url, ...(server.adminUrl ? { adminUrl: server.adminUrl } : {}), udfs: server.registry.list().length, auth: ops.auth === true },
    `serving ${server.registry.list().length} UDFs from ${dir} at ${server.url}${server.adminUrl ? ` (admin: ${server.adminUrl})` : ''}`,
  );
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    server.logger.pino.info(`${signal}, shutting down`);
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
