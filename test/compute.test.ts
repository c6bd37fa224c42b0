/**
 * Compute off the event loop, admission control and hardened errors, against a real server
 * with real worker threads: a hostile or heavy UDF slows only itself.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeEntry } from '../server/cache/disk.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/compute');
let server: RunningServer;
let cacheDir: string;
const logs: string[] = [];
const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);

/** Milliseconds a request takes. */
async function timed(path: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  const res = await get(path);
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

beforeAll(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), 'tilesmith-compute-'));
  server = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir, threads: 2, log: (m) => logs.push(m) });
});
afterAll(async () => {
  await server?.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('compute threads', () => {
  it('a synchronous busy UDF gets its 504 at the timeout while /healthz and cached tiles keep answering', async () => {
    const warm = await get('/udf/points/tiles/3/4/2.mvt');
    expect(warm.status).toBe(200);
    const t0 = performance.now();
    const busy = get('/udf/busy/file?ms=8000');
    await new Promise((r) => setTimeout(r, 150));
    // Before threads, this loop froze every route for its 8 s.
    const health = await timed('/healthz');
    const hit = await timed('/udf/points/tiles/3/4/2.mvt');
    expect(health.status).toBe(200);
    expect(hit.status).toBe(200);
    expect(health.ms).toBeLessThan(1000);
    expect(hit.ms).toBeLessThan(1000);
    const res = await busy;
    expect(res.status).toBe(504);
    const body = await res.json();
    expect(body.error).toBe('udf_timeout');
    expect(body.message).toMatch(/timeout of 1 s/);
    expect(performance.now() - t0).toBeLessThan(5000);
    // The stopped thread is replaced: the next run works.
    expect((await get('/udf/busy/file?ms=10')).status).toBe(200);
  });

  it('a UDF over its memory cap gets a 500 naming the limit, and the server keeps serving', async () => {
    const res = await get('/udf/hog/file');
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.message).toMatch(/out of memory.*96 MB/);
    const next = await get('/udf/points/tiles/5/10/12.mvt?n=7');
    expect(next.status).toBe(200);
    const vt = new VectorTile(new PbfReader(new Uint8Array(await next.arrayBuffer())));
    expect(vt.layers.points.length).toBe(7);
  });
});

describe('results from the threads', () => {
  it('a tile encoded in a thread reaches the disk tier as an intact file (its body checksummed in the thread, written by the disk writer thread)', async () => {
    // The server's disk writes go to the writer thread (server/node/disk-writer.ts), not through libuv from the main thread.
    const posted = vi.spyOn(Worker.prototype, 'postMessage');
    const res = await get('/udf/points/tiles/14/8300/5600.mvt?n=500');
    expect(res.status).toBe(200);
    const body = new Uint8Array(await res.arrayBuffer());
    await (server.cache as { flush?: () => Promise<void> }).flush?.();
    const dir = join(cacheDir, 'results');
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    const entries = files.map((f) => {
      const bytes = readFileSync(join(f.parentPath ?? f.path, f.name));
      const key = JSON.parse(bytes.toString('utf8', 12, 12 + bytes.readUInt32BE(8))).key as string;
      return decodeEntry(key, bytes);
    });
    const mine = entries.find((e) => e && Buffer.from(e.body).equals(body));
    expect(mine, 'the tile file decodes (magic, length, CRC-32) to the body served').toBeDefined();
    const writes = posted.mock.calls.filter(([m]) => typeof (m as { temp?: unknown })?.temp === 'string');
    posted.mockRestore();
    expect(writes.some(([m]) => (m as { parts: Uint8Array[] }).parts.some((p) => Buffer.from(p).equals(body))), 'the body went to the writer thread').toBe(true);
  });
});

describe('admission control', () => {
  it('answers 503 with Retry-After when the queue is full, and counts the wait toward the timeout', async () => {
    const small = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'small'), threads: 1, maxConcurrency: 1, maxQueue: 1, log: () => {} });
    try {
      const at = (ms: number) => fetch(`${small.url}/udf/busy/file?ms=${ms}`);
      const first = at(700);
      await new Promise((r) => setTimeout(r, 100));
      const second = at(701); // waits for the slot: 700 ms of its 1 s timeout
      await new Promise((r) => setTimeout(r, 100));
      const third = await at(702);
      expect(third.status).toBe(503);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = await third.json();
      expect(body.error).toBe('overloaded');
      expect(body.message).toMatch(/busy/);
      expect((await first).status).toBe(200);
      // The second waited ~600 ms, leaving ~400 ms for a 701 ms run: its timeout fires.
      expect((await second).status).toBe(504);
      // While computations queue, a cached result is still answered at once.
      expect((await fetch(`${small.url}/healthz`)).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('recomputations forced by clients have their own small cap; cached hits stay fast', async () => {
    await get('/udf/points/tiles/6/1/1.mvt');
    const forced = Array.from({ length: 10 }, (_, i) => get(`/udf/busy/file?ms=${300 + i}&cache=false`));
    await new Promise((r) => setTimeout(r, 50));
    const hit = await timed('/udf/points/tiles/6/1/1.mvt');
    expect(hit.status).toBe(200);
    expect(hit.ms).toBeLessThan(1000);
    const statuses = (await Promise.all(forced)).map((r) => r.status);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    // A normal request is not held back by the forced ones.
    expect((await get('/udf/points/tiles/6/2/1.mvt')).status).toBe(200);
  });

  it('with --client-cache-control=ignore, cache_reset and cache=false are ignored', async () => {
    const strict = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'strict'), clientCacheControl: 'ignore', log: () => {} });
    try {
      const a = await fetch(`${strict.url}/udf/points/tiles/2/1/1.mvt`);
      expect(a.headers.get('x-cache')).toBe('MISS');
      for (const q of ['cache=false', 'cache_reset=true', 'cache_max_age=0s']) {
        const b = await fetch(`${strict.url}/udf/points/tiles/2/1/1.mvt?${q}`);
        expect(b.headers.get('x-cache')).toBe('HIT');
      }
    } finally {
      await strict.close();
    }
  });
});

describe('errors and cache semantics', () => {
  it('no error body carries source, a traceback, a secret or an absolute path; the log has them under the request id', async () => {
    const res = await get('/udf/secret/file');
    expect(res.status).toBe(500);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body).toEqual({ error: 'udf_error', message: "UDF 'secret' failed: upstream said no", requestId: res.headers.get('x-request-id') });
    expect(text).not.toContain('sk-live');
    expect(text).not.toMatch(/\/(tmp|work|root|home)\//);
    expect(text).not.toMatch(/secret\.ts:\d/);
    const logged = logs.filter((l) => l.includes(`[req ${body.requestId}]`)).join('\n');
    expect(logged).toContain('upstream said no');
    expect(logged).toContain('secret.ts');
  });

  it('with dev, the body carries the UDF log and traceback', async () => {
    const dev = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'dev'), dev: true, log: () => {} });
    try {
      const body = await (await fetch(`${dev.url}/udf/secret/file`)).json();
      expect(body.logs).toEqual(['calling the API with sk-live-DO-NOT-LEAK-1234567890']);
      expect(body.traceback).toMatch(/upstream said no/);
    } finally {
      await dev.close();
    }
  });

  it('a UDF answers 400 with BadRequestError and 404 with HttpError; neither is cached', async () => {
    const bad = await get('/udf/rejects/file?id=-1');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'bad_request', message: 'id must be 0 or more.' });
    expect(bad.headers.get('cache-control')).toBe('no-store');
    const missing = await get('/udf/rejects/file?id=101');
    expect(missing.status).toBe(404);
    expect((await missing.json()).message).toBe('No parcel with id 101.');
    expect((await get('/udf/rejects/file?id=101')).headers.get('x-cache')).toBeNull();
    expect((await get('/udf/rejects/file?id=5')).status).toBe(200);
  });

  it('cache_max_age never extends the lifetime a UDF declares, for this request or anyone after', async () => {
    const long = await get('/udf/short/tiles/4/1/1.mvt?cache_max_age=3650d');
    const maxAge = (r: Response) => Number(/max-age=(\d+)/.exec(r.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge(long)).toBeLessThanOrEqual(3600);
    const after = await get('/udf/short/tiles/4/1/1.mvt');
    expect(after.headers.get('x-cache')).toBe('HIT');
    expect(maxAge(after)).toBeLessThanOrEqual(3600);
    // A shorter one shortens only what this request may keep.
    const shorter = await get('/udf/short/tiles/4/1/1.mvt?cache_max_age=60s');
    expect(maxAge(shorter)).toBeLessThanOrEqual(60);
    expect(maxAge(await get('/udf/short/tiles/4/1/1.mvt'))).toBeGreaterThan(3000);
  });

  it('one odd request cannot flip the kind style.json describes', async () => {
    for (const t of ['1/0/0', '1/1/0', '1/0/1']) expect((await get(`/udf/shifty/tiles/${t}.mvt`)).status).toBe(200);
    expect((await get('/udf/shifty/tiles/1/1/1?odd=true')).status).toBe(200);
    const style = await get('/udf/shifty/style.json');
    expect(style.status).toBe(200);
    expect(Object.values((await style.json()).sources as Record<string, { type: string }>).map((s) => s.type)).toEqual(['vector']);
  });

  it('an encoded result over --max-result-bytes answers 500 naming the limit and the size', async () => {
    const capped = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: join(cacheDir, 'cap'), maxResultBytes: 100_000, log: () => {} });
    try {
      const res = await fetch(`${capped.url}/udf/big/file.geojson?n=2000`);
      expect(res.status).toBe(500);
      const body = await res.json();
      expect(body.error).toBe('result_too_large');
      expect(body.message).toMatch(/KB, more than this server's limit of 97\.7 KB/);
      expect((await fetch(`${capped.url}/udf/big/file.geojson?n=10`)).status).toBe(200);
    } finally {
      await capped.close();
    }
  });
});
