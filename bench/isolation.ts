/**
 * Section: compute off the event loop. (a) Latency of cached hits while cold 10k-point tiles
 * are computed at concurrency 4, divided by the same hits' latency with nothing else running;
 * (b) cold 10k-point tile throughput at concurrency 4 divided by concurrency 1. Each cold
 * request asks for a tile nobody asked for before (a real miss, not `cache=false`, which goes
 * through the small cap for client-forced recomputation).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
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
/** Idle time before each measurement, so none starts while the server still finishes the previous one's work. */
const SETTLE_MS = 300;

/**
 * The cold-tile load, generated in a worker thread (bench/cold-load-worker.mjs) so that the
 * cached hits, timed on this thread, do not wait behind the cold replies' parsing and GC.
 * Every request asks for a z16 tile inside the bench tile that no request used before.
 */
class ColdLoad {
  private readonly worker = new Worker(new URL('./cold-load-worker.mjs', import.meta.url));
  private next = 0;
  private running: Promise<number> | undefined;

  constructor(private readonly base: string) {
    this.worker.unref();
  }

  /** Cold tiles at `concurrency` for `windowMs` (null: until `stop()`); resolves to tiles per second. */
  run(concurrency: number, windowMs: number | null): Promise<number> {
    if (this.running) throw new Error('one cold load at a time');
    const z = BENCH_TILE.z + 4;
    const done = new Promise<number>((resolve, reject) => {
      const onMessage = (m: { type: string; tiles: number; seconds: number; next: number; message?: string }) => {
        this.worker.off('message', onMessage);
        this.worker.off('error', reject);
        this.running = undefined;
        if (m.type === 'error') return reject(new Error(`cold load: ${m.message}`));
        this.next = m.next;
        resolve(m.tiles / m.seconds);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
    this.running = done;
    this.worker.postMessage({ type: 'run', base: this.base, z, x0: BENCH_TILE.x * 16, y0: BENCH_TILE.y * 16, n: COLD_N, next: this.next, concurrency, windowMs });
    return done;
  }

  /** Ends a `run(…, null)` after its requests in flight; resolves to its tiles per second. */
  async stop(): Promise<number> {
    const running = this.running;
    if (!running) throw new Error('no cold load running');
    this.worker.postMessage('stop');
    return running;
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/**
 * How long a thread has run and waited, ready, for a core (ns; Linux `/proc/…/schedstat`), or
 * undefined where that is not available.
 */
function schedstat(pid: number, tid: number): [run: number, wait: number] | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return Number.isFinite(run) && Number.isFinite(wait) ? [run!, wait!] : undefined;
  } catch {
    return undefined;
  }
}

/** Share of a window (%) the server's main thread and this (the hit client's) thread spent waiting for a core. */
async function measuringWaits<T>(serverPid: number, into: { server: number[]; client: number[] }, work: () => Promise<T>): Promise<T> {
  const s0 = schedstat(serverPid, serverPid);
  const c0 = schedstat(process.pid, process.pid);
  const t0 = performance.now();
  const out = await work();
  const ms = performance.now() - t0;
  const s1 = schedstat(serverPid, serverPid);
  const c1 = schedstat(process.pid, process.pid);
  if (s0 && s1) into.server.push((s1[1] - s0[1]) / 1e4 / ms);
  if (c0 && c1) into.client.push((c1[1] - c0[1]) / 1e4 / ms);
  return out;
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

/** The scheduling waits as a sentence, or nothing where /proc schedstat was not readable. */
function waitText(w: { alone: { server: number[]; client: number[] }; loaded: { server: number[]; client: number[] } }): string {
  if (!w.loaded.server.length || !w.loaded.client.length || !w.alone.server.length) return '';
  const m = (v: number[]) => `${spread(v).median.toFixed(0)} %`;
  return (
    ` While hits were timed, the server's main thread waited, ready to run, for a core ${m(w.loaded.server)} of the time under load ` +
    `(${m(w.alone.server)} alone), and the hit client's thread ${m(w.loaded.client)} (${m(w.alone.client)} alone) (/proc schedstat).`
  );
}

export async function benchIsolation(o: IsolationOptions): Promise<string> {
  const base = o.servers.tilesmith;
  const hitUrl = base + o.hitPath;
  const cold = new ColdLoad(base);
  const p50s = { alone: [] as number[], loaded: [] as number[] };
  const waits = { alone: { server: [] as number[], client: [] as number[] }, loaded: { server: [] as number[], client: [] as number[] } };
  const pid = o.servers.pid;
  const settle = () => new Promise((res) => setTimeout(res, SETTLE_MS));
  let r;
  try {
    // Warm-up: threads, JIT.
    await cold.run(4, 1000);
    await hits(hitUrl, 300);
    r = await interleave(o.rounds, {
      hitsAlone: async () => {
        await settle();
        const ms = await measuringWaits(pid, waits.alone, () => hits(hitUrl, o.windowMs));
        p50s.alone.push(quantile(ms, 0.5));
        return quantile(ms, 0.99);
      },
      hitsUnderLoad: async () => {
        await settle();
        const load = cold.run(4, null);
        load.catch(() => {}); // awaited below; a failing load must not crash the bench meanwhile
        await new Promise((res) => setTimeout(res, 200));
        try {
          const ms = await measuringWaits(pid, waits.loaded, () => hits(hitUrl, o.windowMs));
          p50s.loaded.push(quantile(ms, 0.5));
          return quantile(ms, 0.99);
        } finally {
          await cold.stop();
          await load;
        }
      },
      coldC1: async () => {
        await settle();
        return cold.run(1, o.windowMs);
      },
      coldC4: async () => {
        await settle();
        return cold.run(4, o.windowMs);
      },
    });
  } finally {
    await cold.close();
  }
  const a = spread(ratios(r.hitsUnderLoad, r.hitsAlone));
  const b = spread(ratios(r.coldC4, r.coldC1));
  const med = (v: number[]) => spread(v).median;
  return [
    '## Compute off the event loop',
    '',
    `Cold ${fmt.int(COLD_N)}-point MVT tiles (each request a tile nobody asked for before) computed in the worker-thread pool, ` +
      `requested from a worker thread of the bench process, and sequential requests for one cached tile (\`${o.hitPath}\`) timed on its main thread. ` +
      `${o.rounds} interleaved rounds, ${o.windowMs / 1000} s windows, each after ${SETTLE_MS} ms idle.`,
    '',
    '| ratio | goal | median | spread (min–max) | values (medians) |',
    '|---|---|---|---|---|',
    `| (a) cached-hit p99 while cold tiles compute at c=4 / cached-hit p99 alone | ≤ 2 | ${fmt.ratio(a)} | ${fmt.range(a)} | ${fmt.ms(med(r.hitsUnderLoad))} / ${fmt.ms(med(r.hitsAlone))} |`,
    `| (b) cold tiles/s at c=4 / at c=1 | ≥ 1.7 | ${fmt.ratio(b)} | ${fmt.range(b)} | ${med(r.coldC4).toFixed(0)} / ${med(r.coldC1).toFixed(0)} tiles/s |`,
    '',
    '',
    `Cached-hit p50: ${fmt.ms(med(p50s.loaded))} under load, ${fmt.ms(med(p50s.alone))} alone. ` +
      'Before the pool (one event loop) the same measurements were ≈ 130 for (a) and 1.02 for (b).' +
      waitText(waits) +
      (a.median > 2
        ? ' What stands in the way of (a): a repeated hit is answered in the `node:http` listener without waiting for anything, so its ' +
          'latency is how soon the server\'s main thread, and then the client, get a core. On 2 cores this load wants more than two: the ' +
          'compute threads (at nice +10 they yield, but only after their time slice), the server\'s main thread (~40 % of a core: the hits and ' +
          '~1.5 ms of CPU per cold tile for HTTP, routing, admission, the run record, the memory tier and writing 328 KB), V8\'s GC helper ' +
          'threads and the disk writer, the cold-load generator, and the hit client itself (~45 % of a core for ~3,000 sequential requests a ' +
          'second). Both ends of a hit therefore wait for a core (the waits above), and a hit that lands in one of the main thread\'s ' +
          'mark-compacts (every ~120–300 ms, 2–13 ms; the tile bodies arriving as ArrayBuffers count as V8 external memory) waits for that ' +
          'too. Tried, each measured side by side: compute threads at nice 19 or SCHED_IDLE (p99 under load up to −24 %, but a computation then ' +
          'gets ~1.5 % of a core against a busy main thread, which starves misses on small machines: kept at 10); V8 ' +
          '`--heap-growing-percent=300` (about 5× fewer mark-compacts, p99 −10–20 %, but the flag is process-wide and lets every compute ' +
          'thread\'s heap grow to 4× its live size: not adopted); disk writes on a thread of their own (adopted: the main thread\'s CPU per ' +
          '328 KB write fell from ~300 to ~120 µs); EEVDF scheduling hints (Linux 6.18, `sched_setattr`: a 0.1 ms slice for the server\'s main ' +
          'thread so that it preempts compute on wake-up, 10 ms slices or SCHED_BATCH for the compute threads; one interleaved run, 4 rounds ' +
          'each: medians 10.9×, 9.6× and 7.4× against 9.5× with none, within the noise: not adopted); a raw-socket hit client instead of ' +
          '`node:http`\'s (~145 µs of client CPU per hit, as much as the server spends): p99 under load falls from ~3 to ~1.1 ms, but alone ' +
          'to ~0.2 ms, so the ratio stays 5–6× (kept the `node:http` client, which is what a browser-like client costs). Alone, a hit takes ~0.2 ms, so the p99 alone (the denominator) is decided by whatever ' +
          'else the shared machine runs, which is why (a) swings between runs.'
        : ''),
  ].join('\n');
}
