/**
 * Python UDFs under abuse, through the real HTTP server and the real CLI: unservable numpy
 * results, 4xx answers from Python, forked children, a busy pool, output of one call in another
 * call's error, the @cache disk cap, and processes left behind when the server is stopped or its
 * launcher is killed. Real /usr/bin/python3 workers, real processes checked through /proc.
 */
import { cannotRun } from './helpers/skip.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { findPython } from '../server/udf/python/interpreter.ts';
import { createPythonLoader } from '../server/udf/python/loader.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const probe = await findPython();
if (!probe.python) {
  cannotRun('the Python lifecycle tests', `no Python that can import numpy and pandas (tried: ${probe.tried.join(' | ')})`);
}

/** Whether a process runs (a zombie has finished: only its exit status is left). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function gone(pids: number[], withinMs: number): Promise<number[]> {
  const end = Date.now() + withinMs;
  for (;;) {
    const left = pids.filter(alive);
    if (!left.length || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A UDF whose calls fork children that sleep, and report every pid involved. */
const FORKER = `
import multiprocessing, os, subprocess, time
from tilesmith import udf
@udf(timeout="2s", cache_max_age="0s")
def udf(bounds=None, hold: float = 0, out: str = ""):
    kids = []
    pid = os.fork()
    if pid == 0:  # a bare fork: sleeps, never returns to the worker loop
        time.sleep(120)
        os._exit(0)
    kids.append(pid)
    kids.append(subprocess.Popen(["sleep", "121"]).pid)
    p = multiprocessing.get_context("fork").Process(target=time.sleep, args=(122,), daemon=True)
    p.start()
    kids.append(p.pid)
    r, w = os.pipe()
    if os.fork() == 0:  # a daemon: double fork + setsid, so it leaves the worker's process group
        os.setsid()
        g = os.fork()
        if g == 0:
            time.sleep(123)
            os._exit(0)
        os.write(w, str(g).encode())
        os._exit(0)
    os.close(w)
    kids.append(int(os.read(r, 32)))
    os.close(r)
    if out:
        with open(out, "w") as f:
            f.write(" ".join(map(str, [os.getpid()] + kids)))
    time.sleep(hold)
    return {"worker": os.getpid(), "kids": kids}
`;

describe.skipIf(!probe.python)('Python UDFs under abuse (HTTP)', () => {
  let server: RunningServer;
  let dir: string;
  let udfs: string;
  const get = (p: string, init?: RequestInit) => fetch(`${server.url}${p}`, init);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pylife-'));
    udfs = path.join(dir, 'udfs');
    mkdirSync(udfs);
    writeFileSync(path.join(udfs, 'arrays.py'), `
import os
import numpy as np
from tilesmith import udf
@udf(cache_max_age="0s")
def udf(bounds=None, t: str = "pid"):
    return {
        "pid": lambda: {"pid": os.getpid()},
        "emptyarr": lambda: np.array([]),
        "empty2d": lambda: np.zeros((0, 256)),
        "empty3d": lambda: np.zeros((0, 256, 3), dtype=np.uint8),
        "object": lambda: np.array([[1, "a"], [None, 2]], dtype=object),
        "object1d": lambda: np.array([object(), object()], dtype=object),
        "zerod": lambda: np.array(5),
        "fourd": lambda: np.zeros((2, 2, 2, 2)),
        "complex": lambda: np.zeros((4, 4), dtype=complex),
        "complex1d": lambda: np.zeros(4, dtype=complex),
        "bands": lambda: np.zeros((6, 6, 6)),
        "deep": lambda: {"a": [1, {"b": object()}]},
        "list1d": lambda: np.array([1.5, np.nan, 3]),
    }[t]()
`);
    writeFileSync(path.join(udfs, 'rejects.py'), `
import tilesmith
from tilesmith import udf
from fastapi import HTTPException
@udf(cache_max_age="1h")
def udf(bounds=None, how: str = "bad", count: str = ""):
    if count:
        with open(count, "a") as f:
            f.write("run\\n")
    if how == "bad":
        raise tilesmith.BadRequest("min_area must be a positive number of square metres.")
    if how == "gone":
        raise tilesmith.HttpError(410, "This layer was retired; use parcels_v2.")
    if how == "fastapi":
        raise HTTPException(status_code=404, detail="No parcel with id 42.")
    if how == "fastapi500":
        raise HTTPException(status_code=500, detail="database down")
    return {"ok": True}
`);
    writeFileSync(path.join(udfs, 'forker.py'), FORKER);
    writeFileSync(path.join(udfs, 'loop.py'), `
import time
from tilesmith import udf
@udf(timeout="60s", cache_max_age="0s")
def udf(bounds=None, i: int = 0):
    time.sleep(30)
    return {"i": i}
`);
    writeFileSync(path.join(udfs, 'quick.py'), `
from tilesmith import udf
@udf(timeout="2s", cache_max_age="0s")
def udf(bounds=None):
    return {"quick": True}
`);
    writeFileSync(path.join(udfs, 'talk.py'), `
import os
from tilesmith import udf
@udf(cache_max_age="0s")
def udf(bounds=None, say: str = "", die: bool = False):
    print(say)
    if die:
        os._exit(5)
    return {"said": say}
`);
    server = await startServer({
      dir: udfs, port: 0, host: '127.0.0.1', cacheDir: path.join(dir, 'cache'),
      pythonWorkers: 1, dev: true, shutdownGraceMs: 500, log: () => {},
      // The server-wide admission layer would hold these calls before the Python pool sees
      // them (test/compute.test.ts covers it): open it wide to test the pool's own guard.
      maxConcurrency: 1000,
      maxQueue: 1000,
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers unservable numpy results with a clear 500, empty arrays as empty (204), and the worker survives', async () => {
    const pid = ((await (await get('/udf/arrays/file.json?t=pid')).json()) as any).pid;
    for (const t of ['emptyarr', 'empty2d', 'empty3d']) {
      const tile = await get(`/udf/arrays/tiles/3/1/1?t=${t}`);
      expect(tile.status, t).toBe(204);
    }
    const cases: Record<string, RegExp> = {
      object: /raster of dtype object cannot be served/,
      object1d: /1-D numpy array of objects that are not JSON values/,
      zerod: /0-dimensional numpy array/,
      fourd: /4-D numpy array of shape \(2, 2, 2, 2\)/,
      complex: /dtype complex128 cannot be served \(complex numbers have no pixel value\)/,
      complex1d: /1-D numpy array of dtype complex128/,
      bands: /a raster needs 1 to 4 bands, got an array of shape \(6, 6, 6\)/,
      deep: /result could not be sent|cannot be returned as JSON/,
    };
    for (const [t, re] of Object.entries(cases)) {
      for (const route of [`tiles/3/1/1?t=${t}`, `file.json?t=${t}`]) {
        const res = await get(`/udf/arrays/${route}`);
        const body = (await res.json()) as any;
        expect(res.status, `${t} ${route}`).toBe(500);
        expect(body.error).toBe('udf_error');
        expect(body.message).toMatch(re);
        // Every numpy error says what is accepted.
        if (t !== 'deep') expect(body.message).toMatch(/numpy arrays are served as rasters when 2-D .* or 3-D with 1 to 4 bands/);
      }
    }
    expect(await (await get('/udf/arrays/file.json?t=list1d')).json()).toEqual([1.5, null, 3]);
    // The same worker answered all of it: none of these crashed it.
    expect(((await (await get('/udf/arrays/file.json?t=pid')).json()) as any).pid).toBe(pid);
  });

  it('lets a Python UDF answer 4xx: tilesmith.BadRequest, tilesmith.HttpError and fastapi.HTTPException (never cached)', async () => {
    const bad = await get('/udf/rejects/file.json?how=bad');
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as any;
    expect(body).toMatchObject({ error: 'udf_rejected', message: 'min_area must be a positive number of square metres.' });
    expect(bad.headers.get('cache-control')).toBe('no-store');
    const gone410 = await get('/udf/rejects/tiles/1/0/0.mvt?how=gone');
    expect(gone410.status).toBe(410);
    expect(((await gone410.json()) as any).message).toBe('This layer was retired; use parcels_v2.');
    const fa = await get('/udf/rejects/file.json?how=fastapi');
    expect(fa.status).toBe(404);
    expect(((await fa.json()) as any).message).toBe('No parcel with id 42.');
    // A 5xx HTTPException is the UDF failing: a 500 like any exception.
    const five = await get('/udf/rejects/file.json?how=fastapi500');
    expect(five.status).toBe(500);
    expect(((await five.json()) as any).error).toBe('udf_error');
    // Not cached (the UDF declares 1 h): asking again runs the UDF again.
    const count = path.join(dir, 'rejects-runs.txt');
    for (let i = 0; i < 2; i++) expect((await get(`/udf/rejects/file.json?how=bad&count=${encodeURIComponent(count)}`)).status).toBe(400);
    expect(readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(2);
    expect((await get('/udf/rejects/file.json?how=ok')).status).toBe(200);
  });

  it('kills what a UDF forked when its worker is stopped for running past its timeout', async () => {
    const out = path.join(dir, 'forker-pids.txt');
    const res = await get(`/udf/forker/file.json?hold=30&out=${encodeURIComponent(out)}`);
    expect(res.status).toBe(504);
    const [worker, ...kids] = readFileSync(out, 'utf8').trim().split(' ').map(Number);
    expect(kids).toHaveLength(4);
    expect(await gone([worker, ...kids], 5000)).toEqual([]);
    // The replacement worker serves, and a normal call's children are its own business until the worker ends.
    const ok = (await (await get('/udf/forker/file.json?hold=0')).json()) as any;
    expect(ok.worker).not.toBe(worker);
  });

  it('counts the wait for a busy pool toward the timeout (504 naming the wait) and refuses calls past the queue bound (503 + Retry-After)', async () => {
    const ac = new AbortController();
    const loops = Array.from({ length: 12 }, (_, i) => get(`/udf/loop/file.json?i=${i}`, { signal: ac.signal }).catch(() => null));
    await sleep(300);
    try {
      // 1 worker busy, 11 calls waiting: the quick UDF's 2 s deadline passes while it waits.
      const t0 = Date.now();
      const quick = await get('/udf/quick/file.json');
      const took = Date.now() - t0;
      const body = (await quick.json()) as any;
      expect(quick.status).toBe(504);
      expect(body.message).toMatch(/UDF "quick" waited \d+(\.\d)? s for a free Python worker \(all 1 were busy\) and reached its timeout of 2 s/);
      expect(took).toBeLessThan(6000); // not the 30 s of the loops ahead of it
      // Fill the queue (default max(16, 8 × workers) = 16 waiting): the next call is refused at once.
      const more = Array.from({ length: 10 }, (_, i) => get(`/udf/loop/file.json?i=${100 + i}`, { signal: ac.signal }).catch(() => null));
      await sleep(500);
      const t1 = Date.now();
      const full = await get('/udf/quick/file.json');
      expect(full.status).toBe(503);
      expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await full.json()) as any).message).toMatch(/all 1 Python workers are busy and 16 calls are already waiting/);
      expect(Date.now() - t1).toBeLessThan(2000);
      loops.push(...more);
    } finally {
      ac.abort();
      await Promise.all(loops);
    }
    // The aborted calls are dropped and their worker replaced: the pool serves again.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await get('/udf/quick/file.json')).status;
      if (status !== 200) await sleep(200);
    }
    expect(status).toBe(200);
  });

  it("never puts one call's output into another call's error body (even with --dev)", async () => {
    expect((await get('/udf/talk/file.json?say=SECRET-OF-ANOTHER-USER')).status).toBe(200);
    const res = await get('/udf/talk/file.json?say=mine-only&die=true');
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).not.toContain('SECRET-OF-ANOTHER-USER');
    const body = JSON.parse(text);
    expect(body.error).toBe('worker_crashed');
    expect(body.message).toBe('the Python worker crashed (exit code 5) while running UDF "talk"');
    // --dev shows this call's own stderr, and only that.
    expect(body.stderr).toContain('mine-only');
  });
});

describe.skipIf(!probe.python)('Python crash cool-down', () => {
  it('rests a crashing UDF, lets one call try it after the cool-down, and a success resets the count', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pycool-'));
    const flag = path.join(dir, 'healthy');
    const loader = createPythonLoader({ cacheDir: path.join(dir, 'py'), workers: 2, crashCooldownMs: 700, log: () => {} });
    try {
      writeFileSync(path.join(dir, 'flaky.py'), `
import os, time
from tilesmith import udf
@udf
def udf(bounds=None):
    time.sleep(0.3)
    if not os.path.exists(${JSON.stringify(flag)}):
        os._exit(4)
    return {"pid": os.getpid()}
`);
      const u = await loader.load('flaky', path.join(dir, 'flaky.py'));
      const run = () => u.runtime!.run({ bounds: null, tile: null, tileSize: 256, params: {}, signal: new AbortController().signal }).then(
        () => 'ok',
        (e) => `${e.status} ${e.code}${e.headers?.['Retry-After'] ? ` retry=${e.headers['Retry-After']}` : ''}`,
      );
      for (let i = 0; i < 3; i++) expect(await run()).toBe('500 worker_crashed');
      expect(await run()).toBe('503 udf_unavailable retry=1');
      await sleep(800);
      // Cool-down over: the first call tries it (and crashes again), a concurrent one is told to retry.
      expect((await Promise.all([run(), sleep(50).then(run)])).sort()).toEqual(['500 worker_crashed', '503 udf_unavailable retry=1']);
      expect(await run()).toMatch(/^503 udf_unavailable/); // a new cool-down
      await sleep(800);
      writeFileSync(flag, '');
      expect(await run()).toBe('ok');
      // The success reset the count: the next crash is one crash, not a fourth in a row.
      rmSync(flag);
      expect(await run()).toBe('500 worker_crashed');
      expect(await run()).toBe('500 worker_crashed');
    } finally {
      await loader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!probe.python)('Python @cache disk cap', () => {
  it('evicts least recently used @cache files once the folder is over its cap', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pycap-'));
    const cacheDir = path.join(dir, 'py');
    const loader = createPythonLoader({ cacheDir, workers: 1, cacheMaxBytes: 350_000, cacheSweepMs: 200, log: () => {} });
    try {
      writeFileSync(path.join(dir, 'big.py'), `
from tilesmith import udf, cache
@cache(cache_max_age="1d")
def blob(k):
    return bytes(100_000) + str(k).encode()
@udf
def udf(bounds=None, k: int = 0):
    return len(blob(k))
`);
      const u = await loader.load('big', path.join(dir, 'big.py'));
      const call = (k: number) => u.runtime!.run({ bounds: null, tile: null, tileSize: 256, params: { k }, signal: new AbortController().signal });
      for (let k = 0; k < 8; k++) {
        await call(k);
        await sleep(20); // distinct access times
      }
      await call(0); // a hit: marks key 0 as recently used
      const size = () => {
        let n = 0;
        for (const f of readdirSync(path.join(cacheDir, 'blob'))) if (f.endsWith('.pkl')) n += statSync(path.join(cacheDir, 'blob', f)).size;
        return n;
      };
      for (let i = 0; i < 50 && size() > 350_000; i++) await sleep(100);
      expect(size()).toBeLessThanOrEqual(350_000 * 0.9);
      expect(size()).toBeGreaterThan(200_000); // the most recent ones stay
      const pkls = () => readdirSync(path.join(cacheDir, 'blob')).filter((f) => f.endsWith('.pkl')).sort();
      const kept = pkls();
      expect(kept.length).toBe(3);
      // Key 0, written first but read last, is still cached (a hit adds no file) …
      expect((await call(0)).value).toBe(100_001);
      expect(pkls()).toEqual(kept);
      // … while key 1, written next and never read again, was evicted (a miss adds one).
      expect((await call(1)).value).toBe(100_001);
      expect(pkls().length).toBe(4);
    } finally {
      await loader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Starts `tilesmith serve` (optionally under a parent process, as npx does) and waits for its URL. */
async function startCli(udfs: string, cacheDir: string, viaParent: boolean): Promise<{ proc: ChildProcess; cliPid: number; url: string; output: () => string }> {
  const bin = path.join(ROOT, 'bin/tilesmith.js');
  const args = [bin, 'serve', udfs, '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir, '--workers', '2'];
  const launcher = `
const { spawn } = require('node:child_process');
const c = spawn(process.execPath, ${JSON.stringify(args)}, { stdio: ['ignore', 'inherit', 'inherit'] });
console.log('CLI-PID ' + c.pid);
setInterval(() => {}, 1e9);
`;
  const proc = viaParent
    ? spawn(process.execPath, ['-e', launcher], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const end = Date.now() + 60_000;
  for (;;) {
    const m = /serving \d+ UDFs from .* at (http:\/\/[^\s"]+)/.exec(out);
    const pid = viaParent ? /CLI-PID (\d+)/.exec(out)?.[1] : String(proc.pid);
    if (m && pid) return { proc, cliPid: Number(pid), url: m[1], output: () => out };
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`the CLI did not start:\n${out}`);
    await sleep(100);
  }
}

describe.skipIf(!probe.python)('stopping the CLI leaves no process behind', () => {
  let dir: string;
  let udfs: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pycli-'));
    udfs = path.join(dir, 'udfs');
    mkdirSync(udfs);
    writeFileSync(path.join(udfs, 'forker.py'), FORKER);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the forker on both workers; returns the CLI's worker pids and their forked children. */
  async function populate(url: string): Promise<number[]> {
    const results = (await Promise.all(
      [0, 1].map((i) => fetch(`${url}/udf/forker/file.json?hold=0.5&i=${i}`).then((r) => r.json())),
    )) as { worker: number; kids: number[] }[];
    const pids = results.flatMap((r) => [r.worker, ...r.kids]);
    for (const p of pids) expect(alive(p), `pid ${p} should run`).toBe(true);
    return pids;
  }

  it('SIGTERM: drains, stops the workers and what their UDFs forked, exits 0', async () => {
    const { proc, url } = await startCli(udfs, path.join(dir, 'c1'), false);
    const pids = await populate(url);
    // A request in flight when SIGTERM arrives still gets its answer.
    const inflight = fetch(`${url}/udf/forker/file.json?hold=1&i=9`);
    await sleep(300);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    expect((await inflight).status).toBe(200);
    expect(await exited).toBe(0);
    expect(await gone([proc.pid!, ...pids], 5000)).toEqual([]);
  });

  it('SIGKILL of its launcher (as when npx is killed): the server notices and takes everything down', async () => {
    const { proc, cliPid, url } = await startCli(udfs, path.join(dir, 'c2'), true);
    const pids = await populate(url);
    proc.kill('SIGKILL');
    expect(await gone([proc.pid!, cliPid, ...pids], 8000)).toEqual([]);
  });

  it('SIGKILL of the server itself: its Python workers die with it (parent-death signal), children too', async () => {
    const { proc, url } = await startCli(udfs, path.join(dir, 'c3'), false);
    const pids = await populate(url);
    proc.kill('SIGKILL');
    expect(await gone([proc.pid!, ...pids], 5000)).toEqual([]);
  });
});
