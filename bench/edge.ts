/**
 * Edge sections: (a) the portable PNG encoder (fast-png, pure JS) vs sharp (libvips) on the
 * same rasters, in-process; (b) cached-hit throughput of the edge bundles — the Workers bundle
 * in workerd (miniflare) and the Bun bundle — each against a Node tilesmith serving the same
 * tile from its memory cache, interleaved round by round.
 * Run alone: `node --import tsx bench/edge.ts [--quick]`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pngEncoder } from '../server/encoders/image.ts';
import { portablePngEncoder } from '../server/encoders/png-portable.ts';
import { buildEdge } from '../server/node/build.ts';
import { startServer } from '../server/node/serve.ts';
import type { EncodeContext, NormalizedResult } from '../server/types.ts';
import { fmt, interleave, median, ratios, runLoad, spread, timeCalls, type LoadResult } from './load.ts';
import { freePort } from '../test/helpers/free-port.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = path.join(ROOT, 'test/fixtures/edge');
const TILE = '/udf/pin/tiles/10/550/335.mvt';

function ctx(colormap?: string): EncodeContext {
  return { udfName: 'bench', tile: { z: 3, x: 4, y: 2 }, bounds: null, tileSize: 256, layerName: 'bench', extent: 4096, buffer: 64, rescale: colormap ? [0, 1] : undefined, colormap };
}

/** A 256×256 raster: a smooth float field through a colormap, or noisy-ish uint8 RGB. */
function raster(kind: 'float' | 'rgb'): NormalizedResult {
  const n = 256 * 256;
  if (kind === 'float') {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (Math.sin((i % 256) / 20) * Math.cos(i / 256 / 15) + 1) / 2;
    return { kind: 'raster', raster: { width: 256, height: 256, bands: 1, data } };
  }
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n * 3; i++) data[i] = (i * 2654435761) >>> 24 & 0x3f | ((i / 768) & 0xc0);
  return { kind: 'raster', raster: { width: 256, height: 256, bands: 3, data } };
}

export async function benchPortablePng(o: { rounds: number; perRound: number }): Promise<string> {
  const rows: string[] = [];
  for (const [label, result, c] of [
    ['float 256² through viridis', raster('float'), ctx('viridis')],
    ['uint8 RGB 256²', raster('rgb'), ctx()],
  ] as const) {
    const time = (enc: typeof pngEncoder) => async () => median(await timeCalls(() => enc.encode(result, c), { count: o.perRound, maxMs: 2000 }));
    await time(pngEncoder)();
    await time(portablePngEncoder)();
    const r = await interleave(o.rounds, { portable: time(portablePngEncoder), sharp: time(pngEncoder) });
    const ratio = spread(ratios(r.portable, r.sharp));
    const bytesP = (await portablePngEncoder.encode(result, c)).byteLength;
    const bytesS = (await pngEncoder.encode(result, c)).byteLength;
    rows.push(`| ${label} | ${fmt.ratio(ratio)} | ${fmt.range(ratio)} | ${fmt.ms(spread(r.portable).median)} | ${fmt.ms(spread(r.sharp).median)} | ${(bytesP / bytesS).toFixed(2)} (${fmt.int(bytesP)} / ${fmt.int(bytesS)} B) |`);
  }
  return [
    '## Edge: portable PNG (fast-png) vs sharp',
    '',
    `The PNG encoder of the edge bundles (fast-png over fflate, pure JS, zlib level 4) vs the Node encoder (sharp/libvips, compression level 4, no adaptive filtering), ` +
      `same raster and colormap, in one process; ${o.rounds} interleaved rounds, median of ${o.perRound} encodes per side per round. Time ratio above 1 = the portable encoder is slower.`,
    '',
    '| raster | time ratio (portable / sharp) | spread | portable median | sharp median | size ratio (bytes) |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}


export async function benchEdgeHits(o: { rounds: number; requests: number; concurrency: number; maxMsPerRound: number }): Promise<string> {
  const work = mkdtempSync(path.join(tmpdir(), 'tilesmith-bench-edge-'));
  const node = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: path.join(work, 'cache'), diskCache: false, pythonWorkers: 1, log: () => {} });
  const workers = await buildEdge({ dir: FIXTURES, target: 'workers', out: path.join(work, 'workers'), minify: true });
  const bun = await buildEdge({ dir: FIXTURES, target: 'bun', out: path.join(work, 'bun'), minify: true });
  const { Miniflare } = await import('miniflare');
  const mf = new Miniflare({ modules: true, scriptPath: workers.file, modulesRoot: path.dirname(workers.file), compatibilityDate: '2025-09-01', host: '127.0.0.1', port: await freePort() });
  const workerdUrl = (await mf.ready).origin;
  const bunPort = await freePort();
  const bunChild = spawn(path.join(ROOT, 'node_modules/.bin/bun'), [bun.file], { env: { ...process.env, PORT: String(bunPort), HOST: '127.0.0.1' }, stdio: 'ignore' });
  const bunUrl = `http://127.0.0.1:${bunPort}`;
  try {
    for (let i = 0; i < 100; i++) {
      if (await fetch(`${bunUrl}/healthz`).then((r) => r.ok, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const load = (base: string) => () => runLoad(base + TILE, { requests: o.requests, concurrency: o.concurrency, maxMs: o.maxMsPerRound });
    for (const base of [node.url.replace('localhost', '127.0.0.1'), workerdUrl, bunUrl]) await load(base)(); // warm: fills each cache
    const nodeUrl = node.url.replace('localhost', '127.0.0.1');
    const r = await interleave<'workerd' | 'bun' | 'node', LoadResult>(o.rounds, { workerd: load(workerdUrl), bun: load(bunUrl), node: load(nodeUrl) });
    const row = (k: 'workerd' | 'bun', label: string) => {
      const rps = spread(ratios(r[k].map((x) => x.rps), r.node.map((x) => x.rps)));
      const p50 = spread(ratios(r[k].map((x) => x.p50), r.node.map((x) => x.p50)));
      return `| ${label} | ${fmt.ratio(rps)} | ${fmt.range(rps)} | ${fmt.ratio(p50)} | ${fmt.int(spread(r[k].map((x) => x.rps)).median)} | ${fmt.int(spread(r.node.map((x) => x.rps)).median)} |`;
    };
    return [
      '## Edge: cached-hit throughput, Workers bundle in workerd and Bun bundle vs Node',
      '',
      `One warmed MVT tile (\`${TILE}\`) answered from each server's cache: the Workers bundle in workerd via miniflare (Cache API tier; miniflare adds its own entry worker in front), ` +
        `the Bun bundle (memory tier) and \`tilesmith serve\` on Node (memory tier), all with the same UDF. ${o.rounds} interleaved rounds × ${fmt.int(o.requests)} requests per side ` +
        `(fewer if a round passes ${o.maxMsPerRound / 1000} s), ${o.concurrency} in flight. Bundles: ${(workers.gzipBytes / 1024).toFixed(0)} KiB gzipped (Workers, minified).`,
      '',
      '| runtime (vs Node) | throughput ratio | spread | p50 latency ratio | runtime req/s | Node req/s |',
      '|---|---|---|---|---|---|',
      row('workerd', 'workerd (miniflare), Cache API'),
      row('bun', 'Bun, memory'),
    ].join('\n');
  } finally {
    bunChild.kill();
    await mf.dispose();
    await node.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/edge.ts')) {
  const quick = process.argv.includes('--quick');
  const out = [
    await benchPortablePng({ rounds: quick ? 2 : 7, perRound: quick ? 5 : 20 }),
    await benchEdgeHits({ rounds: quick ? 2 : 5, requests: quick ? 300 : 2000, concurrency: 8, maxMsPerRound: 3000 }),
  ];
  console.log(out.join('\n\n'));
  process.exit(0);
}
