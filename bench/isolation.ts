/**
 * Section: compute off the event loop. (a) Latency of cached hits while cold 10k-point tiles
 * are computed at concurrency 4, divided by the same hits' latency with nothing else running;
 * (b) cold 10k-point tile throughput at concurrency 4 divided by concurrency 1. Each cold
 * request asks for a tile nobody asked for before (a real miss, not `cache=false`, which goes
 * through the small cap for client-forced recomputation).
 */
import http from 'node:http';
import { BENCH_TILE } from './fixtures.ts';
import { fmt, get, interleave, quantile, ratios, spread } from './load.ts';
import type { ServersReady } from './servers.ts';

export interface IsolationOptions {
  servers: ServersReady;
  /** A warmed (cached) tile path. */
  hitPath: string;
  rounds: number;
  /** Milliseconds per measurement. */
  windowMs: number;
}

const COLD_N = 10_000;
let nextTile = 0;
/** A z16 tile inside the bench area that no request used before. */
function freshColdPath(): string {
  const i = nextTile++;
  const z = 16;
  const x = BENCH_TILE.x * 16 + (i % 512);
  const y = BENCH_TILE.y * 16 + Math.floor(i / 512);
  return `/udf/bench_points/tiles/${z}/${x}/${y}.mvt?n=${COLD_N}`;
}

/** Cold tiles at `concurrency` until `until` (or `stop()`); returns tiles per second. */
async function coldLoad(base: string, concurrency: number, windowMs: number, stop?: { done: boolean }): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const end = performance.now() + windowMs;
  let done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() < end && !stop?.done) {
      const r = await get(base + freshColdPath(), agent, { keepBody: false });
      if (r.status !== 200) throw new Error(`cold tile answered ${r.status}`);
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return done / ((performance.now() - t0) / 1000);
}

/** Sequential cached hits for `windowMs`; returns their latencies (ms), sorted. */
async function hits(url: string, windowMs: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ms: number[] = [];
  const end = performance.now() + windowMs;
  try {
    while (performance.now() < end) {
      const r = await get(url, agent, { keepBody: false });
      if (r.status !== 200 || !String(r.headers['x-cache']).startsWith('HIT')) throw new Error(`expected a cached hit, got ${r.status} ${r.headers['x-cache']}`);
      ms.push(r.ms);
    }
  } finally {
    agent.destroy();
  }
  return ms.sort((a, b) => a - b);
}

export async function benchIsolation(o: IsolationOptions): Promise<string> {
  const base = o.servers.tilesmith;
  const hitUrl = base + o.hitPath;
  // Warm-up: threads, JIT.
  await coldLoad(base, 4, 1000);
  await hits(hitUrl, 300);
  const r = await interleave(o.rounds, {
    hitsAlone: async () => quantile(await hits(hitUrl, o.windowMs), 0.99),
    hitsUnderLoad: async () => {
      const stop = { done: false };
      const load = coldLoad(base, 4, o.windowMs + 2000, stop);
      await new Promise((res) => setTimeout(res, 200));
      const p99 = quantile(await hits(hitUrl, o.windowMs), 0.99);
      stop.done = true;
      await load;
      return p99;
    },
    coldC1: () => coldLoad(base, 1, o.windowMs),
    coldC4: () => coldLoad(base, 4, o.windowMs),
  });
  const a = spread(ratios(r.hitsUnderLoad, r.hitsAlone));
  const b = spread(ratios(r.coldC4, r.coldC1));
  const med = (v: number[]) => spread(v).median;
  return [
    '## Compute off the event loop',
    '',
    `Cold ${fmt.int(COLD_N)}-point MVT tiles (each request a tile nobody asked for before) computed in the worker-thread pool, ` +
      `and sequential requests for one cached tile (\`${o.hitPath}\`). ${o.rounds} interleaved rounds, ${o.windowMs / 1000} s windows.`,
    '',
    '| ratio | goal | median | spread (min–max) | values (medians) |',
    '|---|---|---|---|---|',
    `| (a) cached-hit p99 while cold tiles compute at c=4 / cached-hit p99 alone | ≤ 2 | ${fmt.ratio(a)} | ${fmt.range(a)} | ${fmt.ms(med(r.hitsUnderLoad))} / ${fmt.ms(med(r.hitsAlone))} |`,
    `| (b) cold tiles/s at c=4 / at c=1 | ≥ 1.7 | ${fmt.ratio(b)} | ${fmt.range(b)} | ${med(r.coldC4).toFixed(0)} / ${med(r.coldC1).toFixed(0)} tiles/s |`,
    '',
    'Before the pool (one event loop) the same measurements were ≈ 130 for (a) and 1.02 for (b).',
  ].join('\n');
}
