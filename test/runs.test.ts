/**
 * Runs you can watch: request info, status/progress, the run registry over HTTP and SSE, and
 * async jobs — through the real server (startServer), real compute threads and real
 * /usr/bin/python3 workers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { findPython } from '../server/udf/python/interpreter.ts';

const probe = await findPython();
if (!probe.python) throw new Error(`the run tests need a Python with numpy and pandas (tried: ${probe.tried.join(' | ')})`);

let dir: string;
let server: RunningServer;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (p: string, init?: RequestInit) => fetch(`${server.url}${p}`, init);

/** Reads a Server-Sent Events stream until it ends; returns the `run` events' data. */
async function sse(p: string): Promise<any[]> {
  const res = await get(p);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  const out: any[] = [];
  for (const block of text.split('\n\n')) {
    const ev = /^event: (.*)$/m.exec(block)?.[1];
    const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    if (ev === 'run' && data) out.push(JSON.parse(data));
  }
  return out;
}

async function until<T>(fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Drops consecutive repeats. */
const dedupe = <T,>(xs: T[]): T[] => xs.filter((x, i) => i === 0 || xs[i - 1] !== x);

const runOf = async (id: string) => (await get(`/runs/${id}`)).json();

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-runs-'));
  const udfs = path.join(dir, 'udfs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(udfs);
  writeFileSync(
    path.join(udfs, 'steps_py.py'),
    `import time
import tilesmith
from tilesmith import udf

@udf(cache_max_age="0s")
def udf(steps: int = 4, pause: float = 0.3):
    ctx = tilesmith.context()
    for i in range(steps):
        tilesmith.status(f"step {i + 1} of {steps}")
        tilesmith.progress((i + 1) / steps)
        time.sleep(pause)
    return {"run_id": ctx.run_id, "udf": ctx.udf_name, "params": ctx.params, "format": ctx.format,
            "attempt": ctx.attempt, "token_id": ctx.token_id, "instance_id": ctx.instance_id}
`,
  );
  writeFileSync(
    path.join(udfs, 'fusedctx.py'),
    `import fused

@fused.udf
def udf(bounds: fused.types.Bounds = None):
    return {"run_id": fused.context.run_id, "instance_id": fused.context.instance_id, "bounds": fused.context.bounds}
`,
  );
  writeFileSync(
    path.join(udfs, 'stuck_py.py'),
    `import time
import tilesmith
from tilesmith import udf

@udf(timeout="2s", cache_max_age="0s")
def udf():
    tilesmith.status("25% complete")
    tilesmith.progress(0.25)
    time.sleep(60)
`,
  );
  writeFileSync(
    path.join(udfs, 'broken_py.py'),
    `import tilesmith
from tilesmith import udf

@udf(cache_max_age="0s")
def udf():
    tilesmith.status("loading parcels")
    raise ValueError("parcel table is empty")
`,
  );
  writeFileSync(
    path.join(udfs, 'slowjob.py'),
    `import os, time
import tilesmith
from tilesmith import udf

@udf(cache_max_age="0s")
def udf(seconds: float = 30):
    tilesmith.status(f"pid {os.getpid()}")
    time.sleep(seconds)
    return {"slept": seconds}
`,
  );
  writeFileSync(
    path.join(udfs, 'table_py.py'),
    `import pandas as pd
from tilesmith import udf

@udf
def udf(n: int = 5):
    return pd.DataFrame({"i": list(range(n)), "sq": [i * i for i in range(n)], "name": [f"r{i}" for i in range(n)]})
`,
  );
  writeFileSync(
    path.join(udfs, 'steps_ts.ts'),
    `import { defineUdf } from 'tilesmith';
export default defineUdf({
  cacheMaxAge: '0s',
  params: { steps: { type: 'int', default: 3 } },
  run: async ({ params, request, status, progress }) => {
    for (let i = 0; i < params.steps; i++) {
      status('step ' + (i + 1));
      progress((i + 1) / params.steps);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { request };
  },
});
`,
  );
  writeFileSync(
    path.join(udfs, 'busy_ts.ts'),
    `import { defineUdf } from 'tilesmith';
export default defineUdf({
  cacheMaxAge: '0s',
  timeout: '1s',
  run: ({ status }) => {
    status('crunching');
    const end = Date.now() + 10_000;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    return { x };
  },
});
`,
  );
  writeFileSync(
    path.join(udfs, 'spin_ts.ts'),
    `import { defineUdf } from 'tilesmith';
export default defineUdf({
  cacheMaxAge: '0s',
  timeout: '60s',
  params: { ms: { type: 'int', default: 30000 } },
  run: ({ params, status }) => {
    status('spinning');
    const end = Date.now() + params.ms;
    let x = 0;
    while (Date.now() < end) x += Math.sqrt(x + 1);
    return { spun: params.ms };
  },
});
`,
  );
  server = await startServer({
    dir: udfs, port: 0, host: '127.0.0.1', cacheDir: path.join(dir, 'cache'), pythonWorkers: 2, threads: 2,
    log: () => {}, instanceId: 'test-instance', jobTtl: '10m',
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('request info and X-Run-Id', () => {
  it('a Python UDF reads its run id, name, params, format and instance id; the response names the run', async () => {
    const res = await get('/udf/steps_py/file?steps=1&pause=0&format=json');
    expect(res.status).toBe(200);
    const runId = res.headers.get('x-run-id')!;
    expect(runId).toMatch(/^[0-9a-f]{24}$/);
    const body = await res.json();
    expect(body).toEqual({ run_id: runId, udf: 'steps_py', params: { steps: 1, pause: 0 }, format: 'json', attempt: 1, token_id: null, instance_id: 'test-instance' });
    const run = await runOf(runId);
    expect(run).toMatchObject({ id: runId, udf: 'steps_py', state: 'done', progress: 1, status: 'step 1 of 1', mode: 'sync', instanceId: 'test-instance' });
  });

  it('fused.context carries the run id too', async () => {
    const res = await get('/udf/fusedctx/file?bounds=1,2,3,4');
    const body = await res.json();
    expect(body).toEqual({ run_id: res.headers.get('x-run-id'), instance_id: 'test-instance', bounds: [1, 2, 3, 4] });
  });

  it('a TypeScript UDF gets `request`; a cached hit answers with the run that produced it', async () => {
    const res = await get('/udf/table_py/file.csv?n=3');
    expect(res.status).toBe(200);
    const first = res.headers.get('x-run-id');
    expect(res.headers.get('x-cache')).toBe('MISS');
    const again = await get('/udf/table_py/file.csv?n=3');
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(again.headers.get('x-run-id')).toBe(first);

    const ts = await get('/udf/steps_ts/file?steps=1');
    const tsBody = await ts.json();
    expect(tsBody.request).toEqual({
      runId: ts.headers.get('x-run-id'), udf: 'steps_ts', tile: null, bounds: null, params: { steps: 1 }, format: null,
      attempt: 1, tokenId: null, instanceId: 'test-instance',
    });
  });

  it('bad input still answers 4xx; unknown runs are 404', async () => {
    expect((await get('/runs/nope')).status).toBe(404);
    expect((await get('/runs/0123456789abcdef01234567')).status).toBe(404);
    expect((await get('/runs?limit=0')).status).toBe(400);
  });
});

describe('status and progress', () => {
  it('a Python UDF reporting progress in steps is watched over SSE from start to done', async () => {
    const job = await get('/udf/steps_py/jobs', { method: 'POST', body: JSON.stringify({ params: { steps: 4, pause: 0.4 } }) });
    expect(job.status).toBe(202);
    const { runId } = await job.json();
    expect(job.headers.get('location')).toBe(`/runs/${runId}`);
    const events = await sse(`/runs/${runId}/events`);
    const states = events.map((e) => e.state);
    expect(states.at(-1)).toBe('done');
    expect(states).toContain('running');
    // The steps arrived while the UDF ran (Python's reports reach the server mid-call).
    // (status and progress are separate reports, so each step shows up twice)
    const progress = dedupe(events.filter((e) => e.state === 'running' && e.progress !== null).map((e) => e.progress));
    expect(progress).toEqual([0.25, 0.5, 0.75, 1]);
    const statuses = [...new Set(events.map((e) => e.status).filter(Boolean))];
    expect(statuses).toEqual(['step 1 of 4', 'step 2 of 4', 'step 3 of 4', 'step 4 of 4']);
    expect(events.at(-1).resultAvailable).toBe(true);
  });

  it('a TypeScript UDF in a compute thread streams its steps the same way', async () => {
    const { runId } = await (await get('/udf/steps_ts/jobs?steps=3', { method: 'POST' })).json();
    const events = await sse(`/runs/${runId}/events`);
    expect(events.at(-1).state).toBe('done');
    expect(dedupe(events.filter((e) => e.state === 'running' && e.progress !== null).map((e) => e.status))).toEqual(['step 1', 'step 2', 'step 3']);
  });

  it('a killed (timed-out) Python run keeps its last status', async () => {
    const res = await get('/udf/stuck_py/file');
    expect(res.status, await res.clone().text()).toBe(504);
    const run = await runOf(res.headers.get('x-run-id')!);
    expect(run).toMatchObject({ state: 'timed_out', status: '25% complete', progress: 0.25 });
    expect(run.error.code).toBe('udf_timeout');
  });

  it('a TypeScript run whose thread is stopped keeps its last status', async () => {
    const res = await get('/udf/busy_ts/file');
    expect(res.status).toBe(504);
    const run = await runOf(res.headers.get('x-run-id')!);
    expect(run).toMatchObject({ state: 'timed_out', status: 'crunching' });
  });

  it('a failing run shows its error and its last status', async () => {
    const res = await get('/udf/broken_py/file');
    expect(res.status).toBe(500);
    const id = res.headers.get('x-run-id')!;
    const run = await runOf(id);
    expect(run.state).toBe('failed');
    expect(run.status).toBe('loading parcels');
    expect(run.error.code).toBe('udf_error');
    expect(run.error.message).toMatch(/parcel table is empty/);
    const listed = (await (await get('/runs?udf=broken_py')).json()).runs;
    expect(listed[0].id).toBe(id);
    expect(listed.every((r: any) => r.udf === 'broken_py')).toBe(true);
  });
});

describe('async jobs', () => {
  it("a job's result equals the synchronous result byte for byte", async () => {
    const job = await get('/udf/table_py/jobs', { method: 'POST', body: JSON.stringify({ params: { n: 7 }, format: 'parquet' }) });
    expect(job.status).toBe(202);
    const { runId } = await job.json();
    const events = await sse(`/runs/${runId}/events`);
    expect(events.at(-1).state).toBe('done');
    const result = await get(`/runs/${runId}/result`);
    expect(result.status).toBe(200);
    const jobBytes = Buffer.from(await result.arrayBuffer());
    const sync = await get('/udf/table_py/file?n=7&format=parquet&cache=false');
    expect(sync.status).toBe(200);
    const syncBytes = Buffer.from(await sync.arrayBuffer());
    expect(syncBytes.subarray(0, 4).toString()).toBe('PAR1');
    expect(jobBytes.equals(syncBytes)).toBe(true);
    expect(result.headers.get('content-type')).toBe(sync.headers.get('content-type'));
  });

  it('bad job input is a 400 before anything runs; a running job has no result yet (409)', async () => {
    expect((await get('/udf/table_py/jobs', { method: 'POST', body: '{oops' })).status).toBe(400);
    expect((await get('/udf/table_py/jobs?n=abc', { method: 'POST' })).status).toBe(400);
    expect((await get('/udf/table_py/jobs?format=nope', { method: 'POST' })).status).toBe(400);
    expect((await get('/udf/nope/jobs', { method: 'POST' })).status).toBe(404);
  });

  it('cancelling a job kills its Python worker and the pool recovers', async () => {
    const { runId } = await (await get('/udf/slowjob/jobs?seconds=30', { method: 'POST' })).json();
    const run = await until(async () => {
      const r = await runOf(runId);
      return r.status?.startsWith('pid ') ? r : undefined;
    });
    const pid = Number(run.status.slice(4));
    expect(process.kill(pid, 0)).toBe(true);
    expect((await get(`/runs/${runId}/result`)).status).toBe(409);
    const del = await get(`/runs/${runId}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const ended = await until(async () => {
      const r = await runOf(runId);
      return r.state !== 'running' && r.state !== 'queued' ? r : undefined;
    });
    expect(ended.state).toBe('cancelled');
    expect(ended.status).toBe(`pid ${pid}`);
    await until(async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    // Cancelling again is a conflict; the pool still answers.
    expect((await get(`/runs/${runId}`, { method: 'DELETE' })).status).toBe(409);
    const after = await get('/udf/slowjob/file?seconds=0');
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ slept: 0 });
  });
});

describe('cancelling TypeScript jobs', () => {
  it('stops the thread of a synchronous loop; the next run works', async () => {
    const { runId } = await (await get('/udf/spin_ts/jobs', { method: 'POST' })).json();
    await until(async () => ((await runOf(runId)).status === 'spinning' ? true : undefined));
    const t0 = Date.now();
    expect((await get(`/runs/${runId}`, { method: 'DELETE' })).status).toBe(202);
    const ended = await until(async () => {
      const r = await runOf(runId);
      return r.state === 'cancelled' ? r : undefined;
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(ended.status).toBe('spinning');
    const again = await get('/udf/spin_ts/file?ms=1');
    expect(await again.json()).toEqual({ spun: 1 });
  }, 30_000);
});

describe('the preview page', () => {
  it('shows a progress bar for a running job and links its result (real Chromium)', async () => {
    const { launchChromium } = await import('./helpers/browser.ts');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/udf/steps_py?steps=5&pause=0.5`);
      await page.waitForFunction(() => (window as any).tilesmithPreview !== undefined);
      await page.click('#job-start');
      // Mid-run: the bar shows a fraction strictly between 0 and 1 while the state says running.
      await page.waitForFunction(() => {
        const p = document.getElementById('job-progress') as HTMLProgressElement;
        return p.hasAttribute('value') && p.value > 0 && p.value < 1 && document.getElementById('job-state')!.textContent === 'running';
      }, undefined, { timeout: 20_000 });
      expect(await page.textContent('#job-status')).toMatch(/^step \d of 5$/);
      await page.waitForSelector('#job-done:not([hidden])', { timeout: 20_000 });
      expect(await page.evaluate(() => (document.getElementById('job-progress') as HTMLProgressElement).value)).toBe(1);
      const href = await page.getAttribute('#job-result', 'href');
      expect(href).toMatch(/\/runs\/[0-9a-f]{24}\/result$/);
      const result = await (await fetch(href!)).json();
      expect(result.udf).toBe('steps_py');
      expect(result.params.steps).toBe(5);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
