import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Bounds } from '../types.ts';
import { exportTiles, runWorker, seedTiles, type ExportSummary } from './export.ts';

export const EXPORT_HELP = `tilesmith export / seed / worker — pre-render tiles

Usage:
  tilesmith export NAME --bbox W,S,E,N --zoom 0-12 [options] OUT.pmtiles|OUT.mbtiles
  tilesmith seed NAME --bbox W,S,E,N --zoom 0-12 [options]
  tilesmith worker --redis URL DIR

Options:
  --dir DIR             folder of UDFs (default: the current folder)
  --bbox W,S,E,N        area in degrees (west < east)
  --zoom A-B            zoom range, e.g. 0-12 (or one zoom, e.g. 5)
  --param K=V           UDF parameter, as in the tile URL's query (repeat)
  --format F            tile format: mvt (default), png, …
  --concurrency N       tiles rendered at once (default: 2 × cores)
  --restart             export: start over instead of resuming OUT.partial
  --redis URL           export: split the work into jobs on this Redis for \`tilesmith worker\`s;
                        seed: also fill the shared Redis tier
  --redis-prefix P      prefix of the Redis keys (default tilesmith)
  --batch N             export --redis: tiles per job (default 64)
  --cache-dir D         seed: the server's cache folder (default .tilesmith/cache)
  --no-progress         no progress bar (the summary is still printed)
  --python PATH, --timeout T   as for serve
`;

function fail(message: string): never {
  process.stderr.write(`tilesmith: ${message}\n\n${EXPORT_HELP}`);
  process.exit(2);
}

function parseBbox(v: string | undefined): Bounds {
  if (!v) fail('--bbox W,S,E,N is required');
  const parts = v.split(',').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) fail(`--bbox needs four numbers west,south,east,north, got ${JSON.stringify(v)}`);
  return parts as Bounds;
}

function parseZoom(v: string | undefined): [number, number] {
  if (!v) fail('--zoom A-B is required, e.g. --zoom 0-12');
  const m = /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(v);
  if (!m) fail(`--zoom needs a range like 0-12, got ${JSON.stringify(v)}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > b || b > 30) fail(`--zoom needs A ≤ B ≤ 30, got ${v}`);
  return [a, b];
}

function parseParams(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) fail(`--param needs K=V, got ${JSON.stringify(kv)}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} needs a whole number ≥ 1, got ${JSON.stringify(v)}`);
  return n;
}

function printSummary(what: string, s: ExportSummary, out?: string): void {
  const parts = [
    `${s.rendered} tiles rendered in ${s.seconds.toFixed(1)} s (${s.tilesPerSecond.toFixed(1)} tiles/s)`,
    s.resumed ? `${s.resumed} already done` : '',
    `${s.empty} empty (skipped)`,
    `${s.written} ${out ? `written to ${out}` : 'cached'}`,
  ].filter(Boolean);
  console.error(`tilesmith ${what}: ${parts.join(', ')}`);
  if (s.workers) for (const [w, n] of Object.entries(s.workers)) console.error(`  worker ${w}: ${n} tiles`);
}

/** `tilesmith export|seed|worker …` (argv after the command name). */
export async function runExportCommand(command: 'export' | 'seed' | 'worker', argv: string[]): Promise<void> {
  // `--bbox -180,-80,180,80` would read as an option: glue a negative value to its flag.
  const args = argv.flatMap((a, i) => (a === '--bbox' && /^-\d/.test(argv[i + 1] ?? '') ? [] : i > 0 && argv[i - 1] === '--bbox' && /^-\d/.test(a) ? [`--bbox=${a}`] : [a]));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        bbox: { type: 'string' },
        zoom: { type: 'string' },
        param: { type: 'string', multiple: true },
        format: { type: 'string' },
        concurrency: { type: 'string' },
        restart: { type: 'boolean' },
        redis: { type: 'string' },
        'redis-prefix': { type: 'string' },
        batch: { type: 'string' },
        'cache-dir': { type: 'string' },
        'no-progress': { type: 'boolean' },
        python: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(EXPORT_HELP);
    return;
  }
  const server = { python: v.python ?? process.env.TILESMITH_PYTHON, timeout: v.timeout };
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(130);
    console.error(`\ntilesmith ${command}: interrupted; finishing the tiles in progress (Ctrl-C again to quit now)`);
    controller.abort();
  });

  if (command === 'worker') {
    const [dir, ...rest] = positionals;
    if (!v.redis) fail('worker needs --redis URL (the coordinator\'s Redis)');
    if (!dir || rest.length) fail('worker needs exactly one folder of UDFs: tilesmith worker --redis URL DIR');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir} is not a folder`);
    const worker = await runWorker({ dir, redis: v.redis, redisPrefix: v['redis-prefix'], concurrency: int('concurrency', v.concurrency), server });
    console.error(`tilesmith worker ${worker.id}: waiting for export jobs on ${v.redis.replace(/\/\/[^@/]*@/, '//***@')}`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      controller.signal.addEventListener('abort', stop, { once: true });
      process.once('SIGTERM', stop);
    });
    await worker.close();
    console.error(`tilesmith worker ${worker.id}: stopped after ${worker.processed()} tiles`);
    return;
  }

  const [name, out, ...rest] = positionals;
  if (!name) fail(`${command} needs a UDF name`);
  const dir = v.dir ?? '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`--dir ${dir} is not a folder`);
  const bbox = parseBbox(v.bbox);
  const [minzoom, maxzoom] = parseZoom(v.zoom);
  const job = {
    dir,
    udf: name,
    bbox,
    minzoom,
    maxzoom,
    params: parseParams(v.param),
    format: v.format,
    concurrency: int('concurrency', v.concurrency),
    signal: controller.signal,
    progressBar: !v['no-progress'] && process.stderr.isTTY === true,
  };
  try {
    if (command === 'seed') {
      if (out || rest.length) fail('seed takes no output file (it fills the server\'s cache); did you mean export?');
      const summary = await seedTiles({
        ...job,
        server: { ...server, cacheDir: v['cache-dir'] ?? process.env.TILESMITH_CACHE_DIR, redis: v.redis, redisPrefix: v['redis-prefix'] },
      });
      printSummary('seed', summary);
      return;
    }
    if (!out || rest.length) fail('export needs one output file ending in .pmtiles or .mbtiles');
    const summary = await exportTiles({ ...job, out, server, redis: v.redis, redisPrefix: v['redis-prefix'], batchSize: int('batch', v.batch), restart: v.restart });
    printSummary('export', summary, summary.interrupted ? undefined : out);
    if (summary.interrupted) {
      console.error(`tilesmith export: stopped; ${out}.partial keeps the finished tiles: run the same command again to resume`);
      process.exitCode = 130;
    }
  } catch (error) {
    console.error(`tilesmith ${command}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
