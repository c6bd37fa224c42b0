/**
 * Section 4: export throughput (z0–z10 of a 10k-point UDF) on all cores vs one thread, and a
 * Redis-tier cache hit vs a memory-tier hit. Ratios of cases run side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countTiles, exportTiles } from '../server/node/export.ts';
import { startServer } from '../server/node/serve.ts';
import { haveRedis, startRedis } from '../test/helpers/redis.ts';
import { EXPORT_BBOX } from './fixtures.ts';
import { fmt, interleave, ratios, runLoad, spread, type LoadResult } from './load.ts';

const UDFS = fileURLToPath(new URL('./udfs', import.meta.url));
const BIN = resolve(fileURLToPath(new URL('../bin/tilesmith.js', import.meta.url)));

export async function benchExportRedis(o: { rounds: number; hitRounds: number; requests: number }): Promise<string> {
  if (!(await haveRedis())) return '## 4. Export and Redis tier\n\nSkipped: `redis-server` is not installed (run `node scripts/setup-system.mjs`).';
  const cores = availableParallelism();
  const work = mkdtempSync(join(tmpdir(), 'tilesmith-bench-export-'));
  const redis = await startRedis({ policy: 'noeviction' });
  const workers: ChildProcess[] = [];
  const total = countTiles(EXPORT_BBOX, 0, 10);
  let n = 0;
  const job = (extra: Partial<Parameters<typeof exportTiles>[0]>) => async () => {
    const s = await exportTiles({ dir: UDFS, udf: 'bench_10k', bbox: EXPORT_BBOX, minzoom: 0, maxzoom: 10, out: join(work, `${n++}.pmtiles`), log: () => {}, ...extra });
    return s.tilesPerSecond;
  };
  try {
    for (let i = 0; i < cores; i++) {
      const w = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--redis-prefix', 'bench', '--concurrency', '2', UDFS], { stdio: ['ignore', 'ignore', 'pipe'] });
      workers.push(w);
      await new Promise<void>((ok, fail) => {
        let err = '';
        w.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('waiting for export jobs')) ok();
        });
        w.once('exit', (code) => fail(new Error(`bench worker exited ${code}: ${err}`)));
      });
    }
    const cases = {
      one: job({ concurrency: 1 }),
      inProcess: job({ concurrency: cores * 2 }),
      workers: job({ redis: redis.url, redisPrefix: 'bench', batchSize: 16 }),
    };
    await cases.one(); // warm-up: module loading, JIT
    const r = await interleave(o.rounds, cases);
    const inProc = spread(ratios(r.inProcess, r.one));
    const dist = spread(ratios(r.workers, r.one));

    // Redis-tier hit vs memory-tier hit: two servers on the same Redis; one has a memory tier
    // too small to hold the tile, so each of its hits is read from Redis.
    const mem = await startServer({ dir: UDFS, port: 0, host: '127.0.0.1', diskCache: false, redis: redis.url, redisPrefix: 'hit', log: () => {} });
    const red = await startServer({ dir: UDFS, port: 0, host: '127.0.0.1', diskCache: false, memoryCacheBytes: 1, redis: redis.url, redisPrefix: 'hit', log: () => {} });
    let hits: Record<'memory' | 'redis', LoadResult[]>;
    let tileBytes = 0;
    try {
      const path = '/udf/bench_10k/tiles/8/132/89.mvt';
      tileBytes = (await (await fetch(mem.url + path)).arrayBuffer()).byteLength;
      const tier = (await fetch(red.url + path)).headers.get('x-cache-tier');
      if (tier !== 'redis') throw new Error(`bench: expected Redis-tier hits, got ${tier}`);
      const load = (base: string) => () => runLoad(base + path, { requests: o.requests, concurrency: 8, maxMs: 3000 });
      await load(mem.url)();
      await load(red.url)();
      hits = await interleave(o.hitRounds, { memory: load(mem.url), redis: load(red.url) });
    } finally {
      await mem.close();
      await red.close();
    }
    const rps = spread(ratios(hits.redis.map((x) => x.rps), hits.memory.map((x) => x.rps)));
    const p50 = spread(ratios(hits.redis.map((x) => x.p50), hits.memory.map((x) => x.p50)));
    return [
      '## 4. Export on all cores, and the Redis tier',
      '',
      `\`tilesmith export\` of \`bench_10k\` (10,000 points, each tile gets the ones inside it) over z0–z10 of ${EXPORT_BBOX.join(',')} ` +
        `(${total} tiles) to PMTiles, ${o.rounds} interleaved rounds. Baseline: one tile at a time in one process. ` +
        `"In-process" renders ${cores * 2} tiles at once through the server's app (parallel once UDF compute runs off the main thread); ` +
        `"${cores} workers" distributes batches of 16 tiles over ${cores} \`tilesmith worker\` processes on a local Redis (BullMQ).`,
      '',
      '| case (tiles/s vs one at a time) | median ratio | spread (min–max) | case tiles/s | baseline tiles/s |',
      '|---|---|---|---|---|',
      `| in-process, ${cores * 2} at once | ${fmt.ratio(inProc)} | ${fmt.range(inProc)} | ${fmt.int(spread(r.inProcess).median)} | ${fmt.int(spread(r.one).median)} |`,
      `| ${cores} worker processes | ${fmt.ratio(dist)} | ${fmt.range(dist)} | ${fmt.int(spread(r.workers).median)} | ${fmt.int(spread(r.one).median)} |`,
      '',
      `A cached tile (${fmt.int(tileBytes)} bytes) hit in Redis (the instance's memory tier cannot hold it) vs hit in memory, over HTTP, 8 in flight, ${o.hitRounds} interleaved rounds × ${fmt.int(o.requests)} requests per side (fewer if a round passes 3 s); both servers and the load generator share one process:`,
      '',
      '| metric (Redis hit / memory hit) | median ratio | spread (min–max) |',
      '|---|---|---|',
      `| throughput (req/s) | ${fmt.ratio(rps)} | ${fmt.range(rps)} |`,
      `| latency p50 | ${fmt.ratio(p50)} | ${fmt.range(p50)} |`,
      '',
      'A Redis hit adds one round trip to Redis and a checksum over the body, then the entry is served like a memory hit.',
    ].join('\n');
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : undefined)));
    await redis.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
