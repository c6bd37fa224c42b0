/**
 * Section 1: a cached tile (memory-tier hit) through tilesmith vs a bare `node:http` server
 * answering the same bytes with the same Content-Type. Throughput and latency under a fixed
 * concurrency, candidate and baseline interleaved round by round.
 */
import { fmt, interleave, ratios, runLoad, spread, type LoadResult } from './load.ts';
import type { ServersReady } from './servers.ts';

export interface CachedHitOptions {
  servers: ServersReady;
  tilePath: string;
  rounds: number;
  /** Requests per round per side… */
  requests: number;
  /** …or fewer when a side's round takes longer than this. */
  maxMsPerRound: number;
  concurrency: number;
}

export async function benchCachedHit(o: CachedHitOptions): Promise<string> {
  const load = (base: string) => () => runLoad(base + o.tilePath, { requests: o.requests, concurrency: o.concurrency, maxMs: o.maxMsPerRound });
  // Warm-up (JIT, sockets), not reported.
  await load(o.servers.tilesmith)();
  await load(o.servers.bare)();
  const r = await interleave<'tilesmith' | 'bare', LoadResult>(o.rounds, { tilesmith: load(o.servers.tilesmith), bare: load(o.servers.bare) });
  const pick = (k: 'tilesmith' | 'bare', f: keyof LoadResult) => r[k].map((x) => x[f]);
  const row = (label: string, f: 'rps' | 'p50' | 'p99', show: (v: number) => string) => {
    const ratio = spread(ratios(pick('tilesmith', f), pick('bare', f)));
    return `| ${label} | ${fmt.ratio(ratio)} | ${fmt.range(ratio)} | ${show(spread(pick('tilesmith', f)).median)} | ${show(spread(pick('bare', f)).median)} |`;
  };
  return [
    '## 1. Cached tile hit vs bare `node:http`',
    '',
    `One warmed tile (\`${o.tilePath}\`, ${fmt.int(o.servers.tileBytes)} bytes, \`${o.servers.contentType}\`) served from tilesmith's memory cache, ` +
      `vs a bare \`node:http\` server answering the same bytes with the same Content-Type and nothing else. ` +
      `${o.rounds} interleaved rounds × ${fmt.int(o.requests)} requests per side (fewer if a round passes ${o.maxMsPerRound / 1000} s), ${o.concurrency} in flight over keep-alive connections; ` +
      'both servers run in one child process, the load generator in the parent.',
    '',
    '| metric (tilesmith / bare) | median ratio | spread (min–max) | tilesmith median | bare median |',
    '|---|---|---|---|---|',
    row('throughput (req/s)', 'rps', fmt.int),
    row('latency p50', 'p50', fmt.ms),
    row('latency p99', 'p99', fmt.ms),
    '',
    'Throughput ratio below 1 and latency ratios above 1 are what tilesmith adds per request: routing, parameter parsing, cache key, ' +
      'cache lookup, ETag and headers, and the Web `Response` → `node:http` conversion.',
  ].join('\n');
}
