/**
 * Section 2: a cold MVT tile of 10,000 points and of 10,000 small polygons through tilesmith
 * (`cache=false`: every request runs the UDF and encodes) vs geojson-vt + vt-pbf called
 * directly, in the same server process, on the same features, same tile, same options. The
 * UDF returns a precomputed FeatureCollection, so the difference is the server path, not data.
 */
import http from 'node:http';
import { BUFFER, EXTENT, TOLERANCE, sha1 } from './direct.ts';
import { BENCH_TILE, COLD_N, type Shape } from './fixtures.ts';
import { fmt, get, interleave, median, parseServerTiming, ratios, spread, timeCalls } from './load.ts';
import type { Servers } from './servers.ts';

export interface ColdMvtOptions {
  servers: Servers;
  rounds: number;
  /** Tiles per round per side (sequential: one request in flight)… */
  perRound: number;
  /** …or fewer when a side's round takes longer than this (at least 3). */
  maxMsPerRound: number;
}

interface CaseResult {
  label: string;
  ratio: ReturnType<typeof spread>;
  server: number;
  direct: number;
  identical: boolean;
  bytes: number;
  /** Means per tile. */
  timing: { client: number; udf: number; encode: number; total: number };
  stages: { index: number; getTile: number; pbf: number };
}

async function benchCase(o: ColdMvtOptions, shape: Shape, agent: http.Agent): Promise<CaseResult> {
  const udf = shape === 'points' ? 'bench_points' : 'bench_polygons';
  const { z, x, y } = BENCH_TILE;
  const url = `${o.servers.ready.tilesmith}/udf/${udf}/tiles/${z}/${x}/${y}.mvt?n=${COLD_N}&cache=false`;

  const sums = { client: 0, udf: 0, encode: 0, total: 0, n: 0 };
  const stages = { index: 0, getTile: 0, pbf: 0, n: 0 };
  let served: Buffer = Buffer.alloc(0);
  let directSha1 = '';
  const viaServer = async () =>
    median(
      await timeCalls(
        async () => {
          const r = await get(url, agent);
          if (r.status !== 200 || r.headers['x-cache'] !== 'BYPASS') throw new Error(`${url}: expected 200 BYPASS, got ${r.status} ${r.headers['x-cache']}`);
          const t = parseServerTiming(r.headers['server-timing']);
          sums.client += r.ms;
          sums.udf += t.udf ?? 0;
          sums.encode += t.encode ?? 0;
          sums.total += t.total ?? 0;
          sums.n++;
          served = r.body;
        },
        { count: o.perRound, maxMs: o.maxMsPerRound },
      ),
    );
  const direct = async () => {
    const d = await o.servers.direct({ shape, layer: udf, count: o.perRound, maxMs: o.maxMsPerRound });
    stages.index += d.stages.index;
    stages.getTile += d.stages.getTile;
    stages.pbf += d.stages.pbf;
    stages.n += d.ms.length;
    directSha1 = d.sha1;
    return median(d.ms);
  };

  // Warm-up (JIT on both sides, the UDF's first load), not reported.
  await viaServer();
  await direct();
  sums.client = sums.udf = sums.encode = sums.total = sums.n = 0;
  stages.index = stages.getTile = stages.pbf = stages.n = 0;

  const r = await interleave(o.rounds, { tilesmith: viaServer, direct });
  return {
    label: `${fmt.int(COLD_N)} ${shape}`,
    ratio: spread(ratios(r.tilesmith, r.direct)),
    server: median(r.tilesmith),
    direct: median(r.direct),
    identical: sha1(served) === directSha1,
    bytes: served.byteLength,
    timing: { client: sums.client / sums.n, udf: sums.udf / sums.n, encode: sums.encode / sums.n, total: sums.total / sums.n },
    stages: { index: stages.index / stages.n, getTile: stages.getTile / stages.n, pbf: stages.pbf / stages.n },
  };
}

export async function benchColdMvt(o: ColdMvtOptions): Promise<string> {
  // A connection per tile: idle keep-alive sockets can be closed by the server while the
  // direct side runs, and one TCP connect is noise next to a cold 10k-feature tile.
  const agent = new http.Agent({ keepAlive: false, maxSockets: 1 });
  const cases: CaseResult[] = [];
  try {
    for (const shape of ['points', 'polygons'] as const) cases.push(await benchCase(o, shape, agent));
  } finally {
    agent.destroy();
  }
  const { z, x, y } = BENCH_TILE;
  const share = (v: number, c: CaseResult) => `${fmt.ms(v)} (${fmt.pct(v / c.timing.client)})`;
  return [
    '## 2. Cold MVT tile vs geojson-vt + vt-pbf in-process',
    '',
    `Tile ${z}/${x}/${y}, ${fmt.int(COLD_N)} precomputed features, requested with \`cache=false\` so every request runs the UDF and encodes. ` +
      `Baseline: \`new GeoJSONVT(fc, { maxZoom: ${z}, indexMaxZoom: 0, extent: ${EXTENT}, buffer: ${BUFFER}, tolerance: ${TOLERANCE} }).getTile()\` + ` +
      '`vtpbf.fromGeojsonVt()` — the reference implementation whose rules tilesmith\'s single-pass cutter and MVT writer follow, ' +
      'with the same extent, buffer and tolerance — on the same features, timed inside the tilesmith server process (same heap, same JIT). ' +
      'The last column compares the tiles byte for byte; the fixtures lie well inside the tile, so no clipping or simplification differs; ' +
      'on clipped or dense geometry the two are equivalent (tested), not byte-identical. ' +
      `${o.rounds} interleaved rounds × up to ${o.perRound} tiles per side (fewer if a side's round passes ${o.maxMsPerRound / 1000} s), ` +
      'one request in flight, a new connection per tile; the per-round value is the median tile time (client-observed for tilesmith).',
    '',
    '| case (tilesmith / direct) | median ratio | spread (min–max) | tilesmith median | direct median | tile bytes | same bytes as direct |',
    '|---|---|---|---|---|---|---|',
    ...cases.map((c) => `| ${c.label} | ${fmt.ratio(c.ratio)} | ${fmt.range(c.ratio)} | ${fmt.ms(c.server)} | ${fmt.ms(c.direct)} | ${fmt.int(c.bytes)} | ${c.identical ? 'yes' : '**no**'} |`),
    '',
    'Where a cold tile\'s time goes: mean per tile over the measured requests, from tilesmith\'s `Server-Timing` header ' +
      '(`udf` = UDF run + result normalisation, `encode` = mvt encoder, `total` = whole handler), as a share of the client-observed time. ' +
      'The last column splits the direct baseline into its stages (index = geojson-vt conversion + the root tile; ' +
      'getTile = drilling down from zoom 0 to the tile; vt-pbf = protobuf encoding).',
    '',
    '| case | client-observed | server total | udf | encode | outside the handler (HTTP, client) | direct: index / getTile / vt-pbf |',
    '|---|---|---|---|---|---|---|',
    ...cases.map((c) => {
      const t = c.timing;
      const s = c.stages;
      return `| ${c.label} | ${fmt.ms(t.client)} | ${share(t.total, c)} | ${share(t.udf, c)} | ${share(t.encode, c)} | ${share(t.client - t.total, c)} | ${fmt.ms(s.index)} / ${fmt.ms(s.getTile)} / ${fmt.ms(s.pbf)} |`;
    }),
  ].join('\n');
}
