/**
 * Section 1: a cached tile (memory-tier hit) through tilesmith vs a bare `node:http` server
 * answering the same bytes with the same Content-Type, and vs nginx serving the same bytes from
 * a file (the floor a static tile server reaches). Throughput and latency under a fixed
 * concurrency, all sides interleaved round by round.
 */
import { existsSync } from 'node:fs';
import { fmt, interleave, ratios, runLoad, runWrk, spread, WRK, type LoadResult } from './load.ts';
import { recordGoal } from './goals.ts';
import { startNginx, type Nginx } from './nginx.ts';
import type { ServersReady } from './servers.ts';

export interface CachedHitOptions {
  servers: ServersReady;
  /** The cached tile's bytes (nginx serves them from a file). */
  body: Uint8Array;
  tilePath: string;
  rounds: number;
  /** Seconds per round per side with wrk… */
  seconds: number;
  /** …or, without wrk, requests per round per side with the Node load loop… */
  requests: number;
  /** …or fewer when a round takes longer than this. */
  maxMsPerRound: number;
  concurrency: number;
}

export async function benchCachedHit(o: CachedHitOptions): Promise<string> {
  const useWrk = existsSync(WRK);
  let nginx: Nginx | null = null;
  let nginxSkip = '';
  try {
    nginx = await startNginx(o.body, o.servers.contentType);
  } catch (err) {
    nginxSkip = (err as Error).message;
    console.error(`\n${'!'.repeat(78)}\n!!! bench: nginx baseline SKIPPED: ${nginxSkip}\n${'!'.repeat(78)}\n`);
  }
  try {
    const load = (base: string) => () =>
      useWrk
        ? runWrk(base + o.tilePath, { seconds: o.seconds, connections: o.concurrency })
        : runLoad(base + o.tilePath, { requests: o.requests, concurrency: o.concurrency, maxMs: o.maxMsPerRound });
    const cases: Record<string, () => Promise<LoadResult>> = { tilesmith: load(o.servers.tilesmith), bare: load(o.servers.bare), bareHeaders: load(o.servers.bareHeaders) };
    if (nginx) cases.nginx = load(nginx.url);
    // Revalidation: the same tile with If-None-Match carrying its ETag, answered 304 (wrk only).
    const etag = (await fetch(o.servers.tilesmith + o.tilePath)).headers.get('etag');
    if (useWrk && etag) cases.revalidate = () => runWrk(o.servers.tilesmith + o.tilePath, { seconds: o.seconds, connections: o.concurrency, headers: { 'If-None-Match': etag } });
    // Warm-up (JIT, sockets), not reported.
    for (const k of Object.keys(cases)) await cases[k]();
    const r = await interleave<string, LoadResult>(o.rounds, cases);
    const pick = (k: string, f: keyof LoadResult) => r[k].map((x) => x[f]);
    const row = (label: string, f: 'rps' | 'p50' | 'p99', show: (v: number) => string) => {
      const vsBare = spread(ratios(pick('tilesmith', f), pick('bare', f)));
      const vsNginx = nginx ? spread(ratios(pick('tilesmith', f), pick('nginx', f))) : null;
      const bareVsNginx = nginx ? spread(ratios(pick('bare', f), pick('nginx', f))) : null;
      return (
        `| ${label} | ${fmt.ratio(vsBare)} | ${fmt.range(vsBare)} | ${vsNginx ? `${fmt.ratio(vsNginx)} | ${fmt.range(vsNginx)}` : 'skipped | –'} | ${bareVsNginx ? fmt.ratio(bareVsNginx) : '–'} | ` +
        `${show(spread(pick('tilesmith', f)).median)} | ${show(spread(pick('bare', f)).median)} | ${nginx ? show(spread(pick('nginx', f)).median) : '–'} |`
      );
    };
    const rps = spread(ratios(pick('tilesmith', 'rps'), pick('bare', 'rps')));
    const p99 = spread(ratios(pick('tilesmith', 'p99'), pick('bare', 'p99')));
    const rpsNginx = nginx ? spread(ratios(pick('tilesmith', 'rps'), pick('nginx', 'rps'))) : null;
    // How much of the gap is the headers themselves: bare node:http sending tilesmith's headers.
    const headersVsBare = spread(ratios(pick('bareHeaders', 'rps'), pick('bare', 'rps')));
    const vsHeaders = spread(ratios(pick('tilesmith', 'rps'), pick('bareHeaders', 'rps')));
    const p99VsHeaders = spread(ratios(pick('tilesmith', 'p99'), pick('bareHeaders', 'p99')));
    const cachedObstacle =
      `the baseline sends 2 headers, a tilesmith hit ${o.servers.headerCount} (ETag, Cache-Control, X-Cache, X-Cache-Tier, X-Request-Id, X-Run-Id, ` +
      `Server-Timing and the CORS headers browsers need to read them): the bare server sending those same headers with fixed values reaches ` +
      `${headersVsBare.median.toFixed(2)}× the bare throughput, and tilesmith ${vsHeaders.median.toFixed(2)}× that server's (its own work per hit — ` +
      `URL table and memory-tier lookups, a fresh request id, Cache-Control age, ETag comparison, metrics, with the header list prepared per ` +
      `cache entry — is ~0.5 µs in a loop, of ~25 µs of server CPU per hit). Repeated hits skip routing and middleware (the fast path in the ` +
      `node:http listener); what is left is node:http validating and writing a dozen headers, and the syscalls, which nginx does in C.`;
    recordGoal({
      goal: 'cached hit ≥ 0.9× bare node:http throughput (nginx ratio stated)',
      measured: `${rps.median.toFixed(2)}× bare${rpsNginx ? `, ${rpsNginx.median.toFixed(2)}× nginx` : ''}`,
      met: rps.median >= 0.9,
      obstacle: cachedObstacle,
    });
    recordGoal({ goal: 'cached hit p99 ≤ 1.5× bare', measured: `${p99.median.toFixed(2)}×`, met: p99.median <= 1.5, obstacle: cachedObstacle });
    const headersRow =
      `\n\nThe headers' share: a bare \`node:http\` server sending the same bytes with all ${o.servers.headerCount} headers of tilesmith's hit (fixed values) ` +
      `reaches **${headersVsBare.median.toFixed(2)}×** the bare throughput (spread ${fmt.range(headersVsBare)}); tilesmith reaches **${vsHeaders.median.toFixed(2)}×** ` +
      `that server's throughput (spread ${fmt.range(vsHeaders)}) and **${p99VsHeaders.median.toFixed(2)}×** its p99.`;
    let revalidateRow = '';
    if (r.revalidate) {
      const v = spread(ratios(pick('revalidate', 'rps'), pick('tilesmith', 'rps')));
      recordGoal({ goal: 'a 304 cheaper than a 200', measured: `304 throughput ${v.median.toFixed(2)}× the 200's`, met: v.median > 1, obstacle: cachedObstacle });
      revalidateRow =
        `\n\nRevalidation: the same request with \`If-None-Match: ${etag}\` (answered 304, no body), interleaved with the others: ` +
        `**${v.median.toFixed(2)}×** the 200's throughput (spread ${fmt.range(v)}), ${fmt.int(spread(pick('revalidate', 'rps')).median)} req/s, p50 ${fmt.ms(spread(pick('revalidate', 'p50')).median)}.`;
    }
    const how = useWrk
      ? `${o.rounds} interleaved rounds × ${o.seconds} s per side of \`wrk -t1 -c${o.concurrency} --latency\` (keep-alive)`
      : `${o.rounds} interleaved rounds × ${fmt.int(o.requests)} requests per side (fewer if a round passes ${o.maxMsPerRound / 1000} s), ${o.concurrency} in flight over keep-alive connections (wrk not installed: Node load loop)`;
    return [
      '## 1. Cached tile hit vs bare `node:http` and nginx',
      '',
      `One warmed tile (\`${o.tilePath}\`, ${fmt.int(o.servers.tileBytes)} bytes, \`${o.servers.contentType}\`) served from tilesmith's memory cache, ` +
        `vs a bare \`node:http\` server answering the same bytes with the same Content-Type and nothing else, ` +
        (nginx ? `and vs ${nginx.version} (one worker process, access log off) serving the same bytes from a file. ` : `and nginx: **SKIPPED (${nginxSkip})**. `) +
        `${how}. tilesmith and the bare server run in one child process; nginx is its own process; the load generator runs beside them on the same 2 cores.`,
      '',
      '| metric | tilesmith / bare | spread | tilesmith / nginx | spread | bare / nginx | tilesmith median | bare median | nginx median |',
      '|---|---|---|---|---|---|---|---|---|',
      row('throughput (req/s)', 'rps', fmt.int),
      row('latency p50', 'p50', fmt.ms),
      row('latency p99', 'p99', fmt.ms),
      '',
      'Throughput ratio below 1 and latency ratios above 1 are what tilesmith adds per request. A URL answered before is served by the ' +
        'cached-hit fast path (README, "The cached-hit fast path"): a table lookup and a memory-tier lookup in the `node:http` listener, then one ' +
        '`writeHead` + `end` with the same headers the full pipeline sends; routing, parameter parsing, the cache key and the Web `Response` ' +
        'conversion are skipped.' +
        headersRow +
        revalidateRow,
    ].join('\n');
  } finally {
    await nginx?.stop();
  }
}
