/**
 * Large result payloads through files (result-files.ts) with real /usr/bin/python3 workers:
 * the same values as through the pipe for large and small frames, private folders and files,
 * each file read once and removed, and nothing left behind when a worker dies while writing,
 * is killed with SIGKILL, times out, when a consumer drops a frame, when the pool closes, or
 * when a server died without closing it (swept by the next pool).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureCollection } from 'geojson';
import { WorkerCrashedError } from '../../errors.ts';
import { startServer } from '../../node/serve.ts';
import type { LoadedUdf, RasterData, UdfCall, UdfLoader } from '../../types.ts';
import { cannotRun } from '../../../test/helpers/skip.ts';
import { findPython } from './interpreter.ts';
import { createPythonLoader } from './loader.ts';
import { WorkerPool } from './pool.ts';
import { FrameType, decodeResult, takePayload } from './protocol.ts';
import { createResultDir, resultBaseDir, sweepResultDirs } from './result-files.ts';

const probe = await findPython();
const python = probe.python?.executable ?? '';
let why = probe.python ? '' : `no Python that can import numpy and pandas was found (tried: ${probe.tried.join(' | ')})`;
if (python && spawnSync(python, ['-c', 'import geopandas'], { stdio: 'pipe' }).status !== 0) why = `${python} cannot import geopandas (Debian: python3-geopandas)`;
if (why) cannotRun('the Python result-file tests', `${why}. Install the packages of scripts/setup-system.mjs or set TILESMITH_PYTHON.`);

/** n points with an int, a text and a float column (~42 bytes a row on the wire). */
const POINTS = `
import os, time
import numpy as np
import geopandas as gpd
from tilesmith import udf


@udf
def udf(n: int = 10, die: str = "", raster: bool = False):
    if die:
        import __main__ as worker  # the worker module: stop it exactly where the test says
        write_file = worker._write_result_file
        if die == "mid_file":  # half of the payload written, then the process is gone
            def half(file_id, parts, total):
                fd = os.open(os.path.join(worker._RESULT_DIR, str(file_id)), os.O_WRONLY | os.O_CREAT, 0o600)
                os.write(fd, bytes(parts[0])[: max(1, parts[0].nbytes // 2)])
                os._exit(9)
            worker._write_result_file = half
        elif die == "after_file":  # the file complete, the frame never sent
            def then_exit(file_id, parts, total):
                write_file(file_id, parts, total)
                os._exit(9)
            worker._write_result_file = then_exit
        elif die == "hang":  # the file complete, then the worker hangs before sending the frame
            def then_hang(file_id, parts, total):
                write_file(file_id, parts, total)
                with open(os.path.join(os.path.dirname(__file__), "hang.pid"), "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(60)
            worker._write_result_file = then_hang
    if raster:
        return np.arange(256 * 256, dtype=np.float32).reshape(256, 256)
    rng = np.random.default_rng(n)
    return gpd.GeoDataFrame(
        {"id": np.arange(n), "name": [f"f-{i}" for i in range(n)], "value": np.round(rng.random(n) * 1000) / 10},
        geometry=gpd.points_from_xy(rng.random(n), rng.random(n)),
        crs="EPSG:4326",
    )
`;

const call = (params: Record<string, unknown>, extra: Partial<UdfCall> = {}): UdfCall => ({
  bounds: [0, 0, 1, 1],
  tile: null,
  tileSize: 256,
  params,
  signal: new AbortController().signal,
  ...extra,
});

/** The files in a pool's result folder (the only folder under `base`). */
function filesUnder(base: string): string[] {
  if (!existsSync(base)) return [];
  return readdirSync(base).flatMap((d) => readdirSync(path.join(base, d)).map((f) => path.join(d, f)));
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

describe.skipIf(!!why)('Python results through files', () => {
  let dir: string;
  let base: string;
  let loader: UdfLoader & { close(): Promise<void> };
  let piped: UdfLoader & { close(): Promise<void> };
  let udf: LoadedUdf;
  let pipedUdf: LoadedUdf;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-resfiles-'));
    base = path.join(dir, 'results');
    writeFileSync(path.join(dir, 'points.py'), POINTS);
    loader = createPythonLoader({ python, cacheDir: path.join(dir, 'cache'), workers: 1, resultDir: base, log: (m) => logs.push(m) });
    piped = createPythonLoader({ python, cacheDir: path.join(dir, 'cache'), workers: 1, resultDir: null });
    udf = await loader.load('points', path.join(dir, 'points.py'));
    pipedUdf = await piped.load('points', path.join(dir, 'points.py'));
    expect(udf.loadError).toBeUndefined();
  });
  afterAll(async () => {
    await Promise.all([loader?.close(), piped?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes large results read from a file and small ones from the pipe to the same values as the pipe alone, leaving no file', async () => {
    for (const n of [10_000, 3, 0]) {
      const [viaFile, viaPipe] = await Promise.all([udf.runtime!.run(call({ n })), pipedUdf.runtime!.run(call({ n }))]);
      expect(viaFile.value).toEqual(viaPipe.value);
      if (n === 10_000) {
        const fc = viaFile.value as FeatureCollection;
        expect(fc.features).toHaveLength(10_000);
        expect(fc.features[9_999]).toMatchObject({ type: 'Feature', geometry: { type: 'Point' }, properties: { id: 9_999, name: 'f-9999' } });
      }
    }
    const [r1, r2] = await Promise.all([udf.runtime!.run(call({ raster: true })), pipedUdf.runtime!.run(call({ raster: true }))]);
    const a = r1.value as RasterData;
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(a.data.byteLength).toBe(a.data.buffer.byteLength); // the raster owns exactly its pixels
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from((r2.value as RasterData).data as Float32Array));
    expect(filesUnder(base)).toEqual([]);
  });

  it('keeps the folder (0700) and each file (0600) private, names files by request id, and reads each once', async () => {
    const pool = new WorkerPool({ python, workers: 1, memoryMb: 1024, cacheDir: path.join(dir, 'cache'), resultDir: base });
    try {
      const big = new Uint8Array(200_000).map((_, i) => i % 251);
      const { frame } = await pool.request({ type: FrameType.echo, header: {}, parts: [big], what: 'echo' });
      const file = frame.header.payloadFile as { path: string; length: number };
      expect(file.length).toBe(200_000);
      expect(frame.payload.byteLength).toBe(0); // nothing of it came through the pipe
      expect(path.basename(file.path)).toMatch(/^\d+$/);
      expect(statSync(file.path).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(file.path)).mode & 0o777).toBe(0o700);
      expect(path.dirname(path.dirname(file.path))).toBe(base);
      expect(Buffer.from(decodeResult(frame) as Uint8Array).equals(Buffer.from(big))).toBe(true);
      expect(existsSync(file.path)).toBe(false);
      expect(() => takePayload(frame)).toThrow(/read already/);

      const small = await pool.request({ type: FrameType.echo, header: {}, parts: [big.subarray(0, 1000)], what: 'echo' });
      expect(small.frame.header.payloadFile).toBeUndefined();
      expect(Buffer.from(decodeResult(small.frame) as Uint8Array).equals(Buffer.from(big.subarray(0, 1000)))).toBe(true);

      // A frame nobody decodes keeps its file until the pool closes, which removes the folder.
      const dropped = await pool.request({ type: FrameType.echo, header: {}, parts: [big], what: 'echo' });
      expect(existsSync(dropped.frame.header.payloadFile.path)).toBe(true);
      const folder = path.dirname(dropped.frame.header.payloadFile.path);
      await pool.close();
      expect(existsSync(folder)).toBe(false);
    } finally {
      await pool.close();
    }
  });

  it('removes what a worker wrote when it dies half-way through the file or before sending the frame, and serves the next call', async () => {
    for (const die of ['mid_file', 'after_file']) {
      await expect(udf.runtime!.run(call({ n: 5_000, die }))).rejects.toBeInstanceOf(WorkerCrashedError);
      await until(() => filesUnder(base).length === 0);
      expect(filesUnder(base), die).toEqual([]);
    }
    const again = await udf.runtime!.run(call({ n: 5_000 }));
    expect((again.value as FeatureCollection).features).toHaveLength(5_000);
    expect(filesUnder(base)).toEqual([]);
  });

  it('removes the file of a worker killed with SIGKILL (or stopped at its timeout) after writing it, once the pool has replaced it', async () => {
    const pidFile = path.join(dir, 'hang.pid');
    rmSync(pidFile, { force: true });
    const pending = udf.runtime!.run(call({ n: 5_000, die: 'hang' }));
    await until(() => existsSync(pidFile));
    expect(filesUnder(base)).toHaveLength(1); // written, its frame not sent
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    await expect(pending).rejects.toBeInstanceOf(WorkerCrashedError);
    await until(() => filesUnder(base).length === 0);
    expect(filesUnder(base)).toEqual([]);
    const next = await udf.runtime!.run(call({ n: 5_000 }));
    expect((next.value as FeatureCollection).features).toHaveLength(5_000);

    await expect(udf.runtime!.run(call({ n: 5_000, die: 'hang' }, { timeoutMs: 1500 }))).rejects.toThrow(/timeout/);
    await until(() => filesUnder(base).length === 0);
    expect(filesUnder(base)).toEqual([]);
  });

  it('removes the file when the consumer fails before decoding (the compute pool path)', async () => {
    let seen = '';
    const failing = createPythonLoader({
      python,
      cacheDir: path.join(dir, 'cache'),
      workers: 1,
      resultDir: base,
      encodeFrame: async (_name, frame) => {
        seen = frame.header.payloadFile?.path ?? '';
        throw new Error('no thread took it');
      },
    });
    try {
      const u = await failing.load('points', path.join(dir, 'points.py'));
      await expect(u.runtime!.compute!(call({ n: 5_000 }), { format: 'geojson' } as never)).rejects.toThrow(/no thread took it/);
      expect(seen).not.toBe('');
      expect(existsSync(seen)).toBe(false);
    } finally {
      await failing.close();
    }
  });

  it('falls back to the pipe when the folder cannot be made or disappears', async () => {
    const notDir = path.join(dir, 'a-file');
    writeFileSync(notDir, '');
    const said: string[] = [];
    const l = createPythonLoader({ python, cacheDir: path.join(dir, 'cache'), workers: 1, resultDir: notDir, log: (m) => said.push(m) });
    try {
      const u = await l.load('points', path.join(dir, 'points.py'));
      const out = await u.runtime!.run(call({ n: 5_000 }));
      expect((out.value as FeatureCollection).features).toHaveLength(5_000);
      expect(said.join('\n')).toMatch(/results travel through the workers' pipes/);
    } finally {
      await l.close();
    }
    // The folder removed under a running pool: the worker cannot write its file and uses the pipe.
    const own = path.join(dir, 'gone');
    const pool = new WorkerPool({ python, workers: 1, memoryMb: 1024, cacheDir: path.join(dir, 'cache'), resultDir: own });
    try {
      await pool.request({ type: FrameType.echo, header: {}, parts: [], what: 'start' });
      rmSync(own, { recursive: true, force: true });
      const { frame } = await pool.request({ type: FrameType.echo, header: {}, parts: [new Uint8Array(100_000).fill(3)], what: 'echo' });
      expect(frame.header.payloadFile).toBeUndefined();
      expect((decodeResult(frame) as Uint8Array).byteLength).toBe(100_000);
    } finally {
      await pool.close();
    }
  });

  it('removes the folder of a server killed with SIGKILL (its workers notice and remove it)', async () => {
    const own = path.join(dir, 'killed');
    const script = path.join(dir, 'server.mts');
    writeFileSync(
      script,
      `import { WorkerPool } from ${JSON.stringify(path.join(import.meta.dirname, 'pool.ts'))};
import { FrameType } from ${JSON.stringify(path.join(import.meta.dirname, 'protocol.ts'))};
const pool = new WorkerPool({ python: ${JSON.stringify(python)}, workers: 1, memoryMb: 1024, cacheDir: ${JSON.stringify(path.join(dir, 'cache'))}, resultDir: ${JSON.stringify(own)} });
const { frame } = await pool.request({ type: FrameType.echo, header: {}, parts: [new Uint8Array(100_000)], what: 'echo' });
console.log(frame.header.payloadFile.path);
setInterval(() => {}, 1000);
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve(import.meta.dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const file = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (c) => {
          out += c;
          if (out.includes('\n')) resolve(out.trim());
        });
        child.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
      });
      expect(existsSync(file)).toBe(true); // a result nobody read
      child.kill('SIGKILL');
      await until(() => !existsSync(path.dirname(file)), 10_000);
      expect(existsSync(path.dirname(file))).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serves a large result through the server (decoded in a compute thread) like the runtime does, leaving no file', async () => {
    const own = path.join(dir, 'server-results');
    const udfs = path.join(dir, 'udfs');
    mkdirSync(udfs, { recursive: true });
    writeFileSync(path.join(udfs, 'points.py'), POINTS);
    const before = process.env.TILESMITH_PY_RESULT_FILES;
    process.env.TILESMITH_PY_RESULT_FILES = own;
    const server = await startServer({ dir: udfs, port: 0, host: '127.0.0.1', cacheDir: path.join(dir, 'server-cache'), pythonWorkers: 1, log: () => {} });
    try {
      const res = await fetch(`${server.url}/udf/points/file.geojson?bounds=0,0,1,1&n=5000&cache=false`);
      expect(res.status).toBe(200);
      const served = (await res.json()) as FeatureCollection;
      const direct = (await pipedUdf.runtime!.run(call({ n: 5_000 }))).value as FeatureCollection;
      expect(served.features).toHaveLength(5_000);
      expect(served.features.map((f) => f.properties)).toEqual(direct.features.map((f) => f.properties));
      expect(served.features.map((f) => f.geometry)).toEqual(direct.features.map((f) => f.geometry));
      expect(readdirSync(own)).toHaveLength(1); // this server's pool folder…
      expect(filesUnder(own)).toEqual([]); // …with the file read and removed
    } finally {
      await server.close();
      if (before === undefined) delete process.env.TILESMITH_PY_RESULT_FILES;
      else process.env.TILESMITH_PY_RESULT_FILES = before;
    }
    expect(readdirSync(own)).toEqual([]); // closed: its folder is gone
  });

  it('sweeps the folders of server processes that no longer run, and only those', () => {
    const sweep = path.join(dir, 'sweep');
    mkdirSync(sweep);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadDir = path.join(sweep, `tilesmith-py-${dead.stdout}-12345-abcdef`);
    mkdirSync(deadDir);
    writeFileSync(path.join(deadDir, '7'), 'left by a killed server');
    const mine = createResultDir(sweep); // sweeps first
    const other = path.join(sweep, 'not-ours');
    mkdirSync(other);
    expect(existsSync(deadDir)).toBe(false);
    expect(existsSync(mine)).toBe(true);
    expect(path.basename(mine)).toMatch(new RegExp(`^tilesmith-py-${process.pid}-\\d+-`));
    expect(sweepResultDirs(sweep)).toEqual([]); // this process runs: its folder stays
    expect(existsSync(other)).toBe(true);
  });

  it('chooses /dev/shm by default, the cache folder without it, and nothing when turned off', () => {
    expect(resultBaseDir('/c', '0')).toBeNull();
    expect(resultBaseDir('/c', 'off')).toBeNull();
    expect(resultBaseDir('/c', '/some/where')).toBe('/some/where');
    const auto = resultBaseDir('/c', undefined);
    expect(auto === '/dev/shm' || auto === '/c/_results').toBe(true);
    if (existsSync('/dev/shm') && statSync('/dev/shm').isDirectory()) expect(auto).toBe('/dev/shm');
  });
});
