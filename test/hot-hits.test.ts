/**
 * The cached-hit fast path (server/routes/hot-hits.ts + withHotHits in server/node/serve.ts)
 * against a real server over HTTP: a repeated anonymous GET of a result in the memory tier is
 * answered without the middleware chain, with the same status, headers and bytes the full
 * pipeline gives; everything the pipeline must judge (tokens, HEAD, purges, reloads, a
 * recomputation in flight) still goes through it. `hotHits.answered` tells which path answered.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/hot');
const ORIGIN = 'https://maps.example';

let server: RunningServer;
let dir: string;
let cacheDir: string;
const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
const answered = () => server.app.hotHits.answered;

/** The first feature's properties of an MVT body. */
function props(body: ArrayBuffer): Record<string, unknown> {
  const layer = Object.values(new VectorTile(new PbfReader(new Uint8Array(body))).layers)[0]!;
  return layer.feature(0).properties;
}

/** Headers as a plain object, minus the ones that differ per request or second. */
function stableHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!['date', 'x-request-id', 'server-timing', 'connection', 'keep-alive'].includes(k)) out[k] = k === 'cache-control' ? v.replace(/max-age=\d+/, 'max-age=N') : v;
  });
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tilesmith-hot-udfs-'));
  cpSync(FIXTURES, dir, { recursive: true });
  cacheDir = mkdtempSync(join(tmpdir(), 'tilesmith-hot-'));
  server = await startServer({ dir, port: 0, host: '127.0.0.1', cacheDir, threads: 1, watch: true, corsOrigin: [ORIGIN], log: () => {} });
});
afterAll(async () => {
  await server?.close();
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('cached-hit fast path', () => {
  it('answers a repeated GET with the headers and bytes of the pipeline', async () => {
    const path = '/udf/stamp/tiles/5/16/10.mvt';
    const miss = await get(path, { headers: { Origin: ORIGIN } });
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-cache')).toBe('MISS');
    const missBody = await miss.arrayBuffer();

    const before = answered();
    const fast = await get(path, { headers: { Origin: ORIGIN } });
    expect(answered()).toBe(before + 1);
    expect(fast.status).toBe(200);
    const fastBody = await fast.arrayBuffer();
    expect(Buffer.from(fastBody).equals(Buffer.from(missBody))).toBe(true);
    expect(props(fastBody).version).toBe(1);

    // The same request through the app's fetch (no fast path: that lives in the Node listener).
    const full = await server.app.fetch(new Request(`${server.url}${path}`, { headers: { Origin: ORIGIN } }));
    expect(answered()).toBe(before + 1);
    expect(full.headers.get('x-cache')).toBe('HIT');
    expect(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(missBody))).toBe(true);
    expect(stableHeaders(fast)).toEqual(stableHeaders(full));
    expect(fast.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(fast.headers.get('vary')).toBe('Origin');
    expect(fast.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    expect(fast.headers.get('x-cache-tier')).toBe('memory');
    expect(fast.headers.get('x-request-id')).toMatch(/^[a-z0-9]+-[a-z0-9]+$/);
    expect(fast.headers.get('x-request-id')).not.toBe(full.headers.get('x-request-id'));
    expect(fast.headers.get('server-timing')).toMatch(/^udf;dur=0\.00, encode;dur=0\.00, total;dur=\d+\.\d\d$/);

    // Another origin gets no Allow-Origin, like the pipeline answers it.
    const other = await get(path, { headers: { Origin: 'https://elsewhere.example' } });
    expect(answered()).toBe(before + 2);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    await other.arrayBuffer();

    // A proxy's request id is kept.
    const tagged = await get(path, { headers: { 'X-Request-Id': 'edge-42' } });
    expect(tagged.headers.get('x-request-id')).toBe('edge-42');
    await tagged.arrayBuffer();
  });

  it('answers If-None-Match with a 304 and counts hits in /metrics', async () => {
    const path = '/udf/stamp/tiles/5/17/10.mvt';
    const first = await get(path);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const hitsBefore = await memoryHits();
    const before = answered();
    const res = await get(path, { headers: { 'If-None-Match': etag } });
    expect(res.status).toBe(304);
    expect(res.headers.get('etag')).toBe(etag);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    const again = await get(path);
    expect(again.status).toBe(200);
    await again.arrayBuffer();
    expect(answered()).toBe(before + 2);
    expect(await memoryHits()).toBe(hitsBefore + 2);
  });

  it('reads its headers in any case, and duplicates as node:http joins them', async () => {
    const path = '/udf/stamp/tiles/5/21/10.mvt';
    const first = await get(path);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const before = answered();
    // Two If-None-Match lines: node joins them ("x", <etag>), which matches.
    const twice = await rawGet(path, ['if-none-match: "x"', `IF-NONE-MATCH: ${etag}`, `ORIGIN: ${ORIGIN}`, 'X-Request-ID: edge-9']);
    expect(twice.status).toBe(304);
    expect(twice.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(twice.headers['x-request-id']).toBe('edge-9');
    // Two origins are joined too (no allowed origin then), as the pipeline sees them.
    const origins = await rawGet(path, [`Origin: ${ORIGIN}`, `origin: ${ORIGIN}`]);
    expect(origins.status).toBe(200);
    expect(origins.headers['access-control-allow-origin']).toBeUndefined();
    expect(answered()).toBe(before + 2);
    // Any Authorization line, in any case, goes to auth.
    const auth = await rawGet(path, ['AUTHORIZATION: Bearer nope']);
    expect(auth.status).toBe(200);
    expect(answered()).toBe(before + 2);
  });

  it('leaves HEAD, tokens and forced recomputation to the pipeline', async () => {
    const path = '/udf/stamp/tiles/5/18/10.mvt';
    await (await get(path)).arrayBuffer();
    const before = answered();
    const head = await get(path, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-cache')).toBe('HIT');
    const bearer = await get(path, { headers: { Authorization: 'Bearer not-a-token' } });
    expect(bearer.status).toBe(200);
    await bearer.arrayBuffer();
    const reset = await get(`${path}?cache_reset=true`);
    expect(reset.headers.get('x-cache')).toBe('MISS');
    await reset.arrayBuffer();
    const bypass = await get(`${path}?cache=false`);
    expect(bypass.headers.get('x-cache')).toBe('BYPASS');
    await bypass.arrayBuffer();
    const young = await get(`${path}?cache_max_age=1h`);
    await young.arrayBuffer();
    const youngAgain = await get(`${path}?cache_max_age=1h`);
    await youngAgain.arrayBuffer();
    expect(answered()).toBe(before);
  });

  it('a request during a recomputation of its key waits for the new result instead of answering the old one', async () => {
    const path = '/udf/stamp/tiles/5/19/10.mvt?ms=400';
    const old = await get(path);
    const oldTag = old.headers.get('etag');
    await old.arrayBuffer();
    const resetting = get(`${path}&cache_reset=true`);
    await new Promise((r) => setTimeout(r, 150));
    const before = answered();
    const during = await get(path);
    const fresh = await resetting;
    expect(answered()).toBe(before);
    expect(fresh.headers.get('etag')).not.toBe(oldTag);
    expect(during.headers.get('etag')).toBe(fresh.headers.get('etag'));
    await during.arrayBuffer();
    await fresh.arrayBuffer();
    // Afterwards the new entry is answered fast.
    const after = await get(path);
    expect(after.headers.get('etag')).toBe(fresh.headers.get('etag'));
    expect(answered()).toBe(before + 1);
    await after.arrayBuffer();
  });

  it('a purge or a reload of the UDF is never answered from the table', async () => {
    const path = '/udf/stamp/tiles/5/20/10.mvt';
    const a = await get(path);
    const aTag = a.headers.get('etag');
    await a.arrayBuffer();
    await (await get(path)).arrayBuffer();
    expect(server.app.hotHits.size).toBeGreaterThan(0);

    await server.cache.purge({ udf: 'stamp' });
    const before = answered();
    const afterPurge = await get(path);
    expect(afterPurge.headers.get('x-cache')).toBe('MISS');
    expect(afterPurge.headers.get('etag')).not.toBe(aTag);
    await afterPurge.arrayBuffer();
    expect(answered()).toBe(before);

    const file = join(dir, 'stamp.ts');
    writeFileSync(file, readFileSync(file, 'utf8').replace('const VERSION = 1;', 'const VERSION = 2;'));
    const deadline = Date.now() + 20_000;
    let version: unknown = 1;
    while (version !== 2 && Date.now() < deadline) {
      const res = await get(path);
      version = props(await res.arrayBuffer()).version;
      if (version !== 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(version).toBe(2);
  });
});

describe('cached-hit fast path under --auth', () => {
  let authServer: RunningServer;
  let authCache: string;
  beforeAll(async () => {
    authCache = mkdtempSync(join(tmpdir(), 'tilesmith-hot-auth-'));
    authServer = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: authCache, threads: 1, auth: true, log: () => {} });
  });
  afterAll(async () => {
    await authServer?.close();
    rmSync(authCache, { recursive: true, force: true });
  });

  it('serves public UDFs fast to anonymous clients; token holders and private UDFs go through auth', async () => {
    const url = (p: string) => `${authServer.url}${p}`;
    const count = () => authServer.app.hotHits.answered;
    const { token } = authServer.tokens.create({ udfs: '*', label: 'hot test' });

    const pub = '/udf/stamp/tiles/4/8/5.mvt';
    await (await fetch(url(pub))).arrayBuffer();
    const before = count();
    const anon = await fetch(url(pub));
    expect(anon.headers.get('cache-control')).toMatch(/^public/);
    await anon.arrayBuffer();
    expect(count()).toBe(before + 1);
    // With a token the answer is private to its holder: never from the shared table.
    const withToken = await fetch(url(pub), { headers: { Authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    expect(withToken.headers.get('cache-control')).toMatch(/^private/);
    expect(withToken.headers.get('vary')).toMatch(/Authorization/);
    await withToken.arrayBuffer();
    const inQuery = await fetch(url(`${pub}?token=${token}`));
    expect(inQuery.headers.get('cache-control')).toMatch(/^private/);
    await inQuery.arrayBuffer();
    expect(count()).toBe(before + 1);

    // A private UDF's tiles, even once computed for a token holder, answer 401 without one.
    const priv = '/udf/private_stamp/tiles/4/8/5.mvt';
    for (let i = 0; i < 2; i++) {
      const ok = await fetch(url(priv), { headers: { Authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();
    }
    const denied = await fetch(url(priv));
    expect(denied.status).toBe(401);
    await denied.arrayBuffer();
    expect(count()).toBe(before + 1);
  });
});

/** A GET with exactly these header lines (fetch would merge duplicates), over a raw socket. */
async function rawGet(path: string, lines: string[]): Promise<{ status: number; headers: Record<string, string> }> {
  const { connect } = await import('node:net');
  const socket = connect(server.port, '127.0.0.1');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of socket) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('latin1');
  const [head] = text.split('\r\n\r\n');
  const [statusLine, ...rest] = head!.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of rest) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  return { status: Number(statusLine!.split(' ')[1]), headers };
}

/** tilesmith_cache_requests_total{result="hit",tier="memory"} from /metrics. */
async function memoryHits(): Promise<number> {
  const text = await (await get('/metrics')).text();
  const family = parsePrometheusTextFormat(text).find((f: { name: string }) => f.name === 'tilesmith_cache_requests_total');
  const sample = family?.metrics.find((m: { labels?: Record<string, string> }) => m.labels?.result === 'hit' && m.labels?.tier === 'memory');
  return sample ? Number(sample.value) : 0;
}
