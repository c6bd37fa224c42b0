/**
 * `tilesmith export`: archives read back with independent readers (the `pmtiles` npm reader,
 * GDAL's ogrinfo, SQLite, QGIS), compared byte for byte with what the server serves; resume
 * after an interruption; a distributed export over two `tilesmith worker` processes and a
 * real redis-server equals a single-machine one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { PMTiles, type Source } from 'pmtiles';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTiles, exportTiles, seedTiles, tilesOf } from '../server/node/export.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import type { Bounds } from '../server/types.ts';
import { haveRedis, startRedis, type TestRedis } from './helpers/redis.ts';
import { cannotRun } from './helpers/skip.ts';

const UDFS = resolve(import.meta.dirname, 'fixtures/shared-udfs');
const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
const BIN = resolve(import.meta.dirname, '../bin/tilesmith.js');
const run = promisify(execFile);
const BBOX: Bounds = [-10, 35, 30, 60];
const PARAMS = { tag: 'export', ms: '0', sparse: 'true' };

let work: string;
let server: RunningServer;
let runlog: string;

/** A pmtiles Source over a local file. */
function fileSource(path: string): Source {
  const buf = readFileSync(path);
  return {
    getKey: () => path,
    getBytes: async (offset: number, length: number) => ({ data: buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + length) as ArrayBuffer }),
  };
}

async function served(z: number, x: number, y: number): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${server.url}/udf/runlog/tiles/${z}/${x}/${y}.mvt?${new URLSearchParams(PARAMS)}`);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

function runs(tag: string): string[] {
  return readFileSync(runlog, 'utf8').split('\n').filter((l) => l.endsWith(` ${tag}`));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tilesmith-export-'));
  runlog = join(work, 'runs.log');
  writeFileSync(runlog, '');
  process.env.TILESMITH_TEST_RUNLOG = runlog;
  server = await startServer({ dir: UDFS, port: 0, host: '127.0.0.1', cacheDir: join(work, 'server-cache'), log: () => {} });
});
afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('export to PMTiles and MBTiles', () => {
  let pmtilesPath: string;
  let mbtilesPath: string;

  it('writes a PMTiles v3 archive: every non-empty tile, bytes equal to the server\'s, header right', async () => {
    pmtilesPath = join(work, 'out.pmtiles');
    const summary = await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 6, params: PARAMS, out: pmtilesPath, log: () => {} });
    const total = countTiles(BBOX, 0, 6);
    expect(summary).toMatchObject({ total, rendered: total, resumed: 0, interrupted: false });
    expect(summary.empty).toBeGreaterThan(0);
    expect(summary.written + summary.empty).toBe(total);
    expect(existsSync(`${pmtilesPath}.partial`)).toBe(false);

    const archive = new PMTiles(fileSource(pmtilesPath));
    const header = await archive.getHeader();
    expect(header).toMatchObject({ specVersion: 3, clustered: true, minZoom: 0, maxZoom: 6, tileType: 1, tileCompression: 2, numAddressedTiles: summary.written });
    expect([header.minLon, header.minLat, header.maxLon, header.maxLat].map((v) => Math.round(v * 1e6) / 1e6)).toEqual(BBOX);
    const meta = (await archive.getMetadata()) as { vector_layers: { id: string }[]; format: string };
    expect(meta.format).toBe('pbf');
    expect(meta.vector_layers[0]!.id).toBe('runlog');
    let checked = 0;
    for (const [z, x, y] of tilesOf(BBOX, 0, 6)) {
      const want = await served(z, x, y);
      const got = await archive.getZxy(z, x, y);
      if (want.status === 204) expect(got).toBeUndefined();
      else {
        expect(want.status).toBe(200);
        expect(got, `tile ${z}/${x}/${y}`).toBeDefined();
        expect(Buffer.from(got!.data).equals(want.body)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(summary.written);
  });

  it('writes MBTiles that GDAL opens, with the same tiles (TMS rows)', async () => {
    mbtilesPath = join(work, 'out.mbtiles');
    const summary = await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 6, params: PARAMS, out: mbtilesPath, log: () => {} });
    const { stdout } = await run('ogrinfo', ['-ro', '-so', mbtilesPath, 'runlog']);
    expect(stdout).toContain('using driver `MBTiles\' successful');
    expect(stdout).toContain('Layer name: runlog');
    expect(stdout).toMatch(/minzoom=0/);
    expect(stdout).toMatch(/maxzoom=6/);
    const db = new Database(mbtilesPath, { readonly: true });
    const rows = db.prepare('SELECT zoom_level z, tile_column x, tile_row r, tile_data d FROM tiles').all() as { z: number; x: number; r: number; d: Buffer }[];
    db.close();
    expect(rows).toHaveLength(summary.written);
    const archive = new PMTiles(fileSource(pmtilesPath));
    for (const row of rows) {
      const y = 2 ** row.z - 1 - row.r;
      const got = await archive.getZxy(row.z, row.x, y);
      expect(Buffer.from(got!.data).equals(gunzipSync(row.d))).toBe(true);
    }
  });

  it('resumes an interrupted export without rendering finished tiles again', async () => {
    const out = join(work, 'resume.pmtiles');
    const params = { ...PARAMS, tag: 'resume' };
    const total = countTiles(BBOX, 0, 6);
    const controller = new AbortController();
    const first = await exportTiles({
      dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 6, params, out, concurrency: 2, log: () => {},
      signal: controller.signal,
      onTile: (done) => {
        if (done === 25) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(true);
    const afterFirst = runs('resume').length;
    expect(afterFirst).toBeGreaterThanOrEqual(25);
    expect(afterFirst).toBeLessThan(total);
    const second = await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 6, params, out, log: () => {} });
    expect(second.interrupted).toBe(false);
    expect(second.resumed).toBe(first.rendered);
    expect(second.rendered).toBe(total - first.rendered);
    // Every tile ran exactly once over both runs.
    const lines = runs('resume');
    expect(lines).toHaveLength(total);
    expect(new Set(lines.map((l) => l.split(' ')[2])).size).toBe(total);
    // The resumed archive equals an uninterrupted one.
    const archive = new PMTiles(fileSource(out));
    const reference = new PMTiles(fileSource(pmtilesPath));
    for (const [z, x, y] of tilesOf(BBOX, 0, 6)) {
      const a = await archive.getZxy(z, x, y);
      const b = await reference.getZxy(z, x, y);
      expect(a === undefined).toBe(b === undefined);
    }
  });

  it('Ctrl-C on the CLI stops with exit code 130, and the same command resumes', async () => {
    const out = join(work, 'sigint.mbtiles');
    const args = [BIN, 'export', 'runlog', '--dir', UDFS, '--bbox', BBOX.join(','), '--zoom', '0-6', '--param', 'ms=30', '--param', 'tag=sigint', '--concurrency', '2', out];
    const env = { ...process.env, TILESMITH_TEST_RUNLOG: runlog };
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 20_000;
    while (runs('sigint').length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    expect(stderr).toMatch(/run the same command again to resume/);
    expect(existsSync(out)).toBe(false);
    const staged = new Database(`${out}.partial`, { readonly: true });
    const done = (staged.prepare('SELECT count(*) AS n FROM done').get() as { n: number }).n;
    staged.close();
    expect(done).toBe(runs('sigint').length); // every tile that started was recorded
    const again = await run(process.execPath, args, { env });
    expect(again.stderr).toMatch(new RegExp(`resuming, ${done} of ${countTiles(BBOX, 0, 6)} tiles already done`));
    expect(runs('sigint')).toHaveLength(countTiles(BBOX, 0, 6));
    expect(existsSync(out)).toBe(true);
    expect(existsSync(`${out}.partial`)).toBe(false);
  }, 60_000);

  it('refuses to resume a staging file of another export', async () => {
    const out = join(work, 'other.pmtiles');
    const controller = new AbortController();
    controller.abort();
    await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 2, params: PARAMS, out, signal: controller.signal, log: () => {} });
    await expect(exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 3, params: PARAMS, out, log: () => {} })).rejects.toThrow(/another export.*--restart/);
    const fresh = await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 3, params: PARAMS, out, restart: true, log: () => {} });
    expect(fresh.interrupted).toBe(false);
  });

  it('the CLI prints a summary and rejects bad arguments with a sentence', async () => {
    const out = join(work, 'cli.mbtiles');
    const { stderr } = await run(process.execPath, [BIN, 'export', 'runlog', '--dir', UDFS, '--bbox', '0,40,10,50', '--zoom', '0-3', '--param', 'ms=0', out], { env: { ...process.env, TILESMITH_TEST_RUNLOG: runlog } });
    expect(stderr).toMatch(/tilesmith export: \d+ tiles rendered in [\d.]+ s \([\d.]+ tiles\/s\), 0 empty \(skipped\), \d+ written to /);
    expect(existsSync(out)).toBe(true);
    const bad = await run(process.execPath, [BIN, 'export', 'runlog', '--dir', UDFS, '--bbox', '10,40,0,50', '--zoom', '0-3', out]).catch((e: { stderr: string; code: number }) => e);
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toMatch(/--bbox must be west,south,east,north.*west < east/);
  });
});

describe('seed', () => {
  it('fills the server\'s disk cache: a server started on it answers every tile as a disk hit', async () => {
    const cacheDir = join(work, 'seeded');
    const params = { ...PARAMS, tag: 'seed' };
    const summary = await seedTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 3, params, server: { cacheDir }, log: () => {} });
    const total = countTiles(BBOX, 0, 3);
    expect(summary.rendered).toBe(total);
    expect(runs('seed')).toHaveLength(total);
    const warm = await startServer({ dir: UDFS, port: 0, host: '127.0.0.1', cacheDir, log: () => {} });
    try {
      for (const [z, x, y] of tilesOf(BBOX, 0, 3)) {
        const res = await fetch(`${warm.url}/udf/runlog/tiles/${z}/${x}/${y}.mvt?${new URLSearchParams(params)}`);
        await res.arrayBuffer();
        expect(res.headers.get('x-cache')).toBe('HIT');
        expect(res.headers.get('x-cache-tier')).toBe('disk');
      }
    } finally {
      await warm.close();
    }
    expect(runs('seed')).toHaveLength(total);
  });
});

const QGIS_PY = '/usr/lib/python3/dist-packages/qgis/core/__init__.py';
if (!existsSync(QGIS_PY)) cannotRun('QGIS opening an exported MBTiles', 'python3-qgis is missing (scripts/setup-system.mjs installs it)');

describe.skipIf(!existsSync(QGIS_PY))('QGIS opens an exported MBTiles', () => {
  it('loads and draws the countries example exported to MBTiles', async () => {
    const out = join(work, 'countries.mbtiles');
    await exportTiles({ dir: EXAMPLES, udf: 'countries', bbox: [-180, -80, 180, 80], minzoom: 0, maxzoom: 2, out, log: () => {} });
    const spec = { out: work, xml: [], layers: [{ name: 'countries-mbtiles', kind: 'vector', uri: `type=mbtiles&url=${out}` }] };
    const specFile = join(work, 'qgis-spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const { stdout } = await run('/usr/bin/python3', [resolve(import.meta.dirname, 'qgis/render.py'), specFile], {
      env: { ...process.env, HOME: join(work, 'home'), QT_QPA_PLATFORM: 'offscreen', XDG_RUNTIME_DIR: join(work, 'xdg') },
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { layers: Record<string, { valid: boolean; drawn_fraction?: number; errors?: string[] }> };
    const layer = result.layers['countries-mbtiles']!;
    expect(layer.valid).toBe(true);
    expect(layer.errors ?? []).toEqual([]);
    expect(layer.drawn_fraction).toBeGreaterThan(0.05);
  }, 180_000);
});

const redisAvailable = await haveRedis();
if (!redisAvailable) console.warn('!!! redis-server is not installed: skipping the distributed export test (run scripts/setup-system.mjs)');

describe.skipIf(!redisAvailable)('distributed export over a Redis queue', () => {
  let redis: TestRedis;
  const workers: ChildProcess[] = [];
  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? new Promise((r) => w.once('exit', r)) : undefined)));
    await redis?.stop();
  });

  it('two tilesmith workers produce the same archive as one machine', async () => {
    redis = await startRedis({ policy: 'noeviction' });
    for (let i = 0; i < 2; i++) {
      const w = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--redis-prefix', 'dist', '--concurrency', '1', UDFS], {
        env: { ...process.env, TILESMITH_TEST_RUNLOG: runlog },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      workers.push(w);
      await new Promise<void>((ok, fail) => {
        let err = '';
        w.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('waiting for export jobs')) ok();
        });
        w.once('exit', (code) => fail(new Error(`worker exited ${code}: ${err}`)));
      });
    }
    const params = { ...PARAMS, tag: 'dist', ms: '20' };
    const single = join(work, 'single.pmtiles');
    const distributed = join(work, 'distributed.pmtiles');
    await exportTiles({ dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 5, params, out: single, log: () => {} });
    const summary = await exportTiles({
      dir: UDFS, udf: 'runlog', bbox: BBOX, minzoom: 0, maxzoom: 5, params, out: distributed,
      redis: redis.url, redisPrefix: 'dist', batchSize: 4, log: () => {},
    });
    expect(summary.rendered).toBe(countTiles(BBOX, 0, 5));
    expect(Object.keys(summary.workers ?? {})).toHaveLength(2);
    for (const n of Object.values(summary.workers!)) expect(n).toBeGreaterThan(0);
    expect(readFileSync(distributed).equals(readFileSync(single))).toBe(true);
    // The work ran in the workers' processes, not here.
    const pids = new Set(runs('dist').map((l) => l.split(' ')[0]));
    for (const w of workers) expect(pids.has(String(w.pid))).toBe(true);
  }, 60_000);
});
