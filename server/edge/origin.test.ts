/**
 * The origin proxy against a real HTTP origin (node:http on a free port) that records what it
 * receives: path and query kept, Authorization forwarded, caching by the origin's headers,
 * private answers never shared, errors passed through, an unreachable origin a 502.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryResponseStore, createOriginProxy } from './origin.ts';

describe('origin proxy', () => {
  let server: http.Server;
  let base: string;
  const seen: { url: string; auth?: string; inm?: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url!, auth: req.headers.authorization, inm: req.headers['if-none-match'] as string | undefined });
      const u = new URL(req.url!, 'http://x');
      if (u.pathname.endsWith('/fail')) {
        res.writeHead(500, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end('{"error":"udf_error","message":"it broke","requestId":"r1"}');
      } else if (u.pathname.endsWith('/mine')) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=60', ETag: '"m"' }).end(`for ${req.headers.authorization}`);
      } else if (u.pathname.endsWith('/shared')) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'public, max-age=60', ETag: '"s"' }).end(`shared ${req.headers.authorization}`);
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=30', ETag: '"t"' }).end(JSON.stringify({ q: u.search }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prefix`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('keeps path and query under the origin prefix, caches by max-age, answers 304 at the edge', async () => {
    const proxy = createOriginProxy({ origin: base, store: createMemoryResponseStore() });
    const a = await proxy(new Request('http://edge/udf/py/file.json?n=2&x=a%20b'));
    expect(a.status).toBe(200);
    expect(a.headers.get('x-edge-cache')).toBe('MISS');
    expect(await a.json()).toEqual({ q: '?n=2&x=a%20b' });
    expect(seen.at(-1)!.url).toBe('/prefix/udf/py/file.json?n=2&x=a%20b');
    const count = seen.length;
    const b = await proxy(new Request('http://edge/udf/py/file.json?n=2&x=a%20b'));
    expect(b.headers.get('x-edge-cache')).toBe('HIT');
    expect(b.headers.get('cache-control')).toMatch(/max-age=(29|30)/);
    expect(await b.json()).toEqual({ q: '?n=2&x=a%20b' });
    const c = await proxy(new Request('http://edge/udf/py/file.json?n=2&x=a%20b', { headers: { 'If-None-Match': '"t"' } }));
    expect(c.status).toBe(304);
    expect(seen.length).toBe(count);
  });

  it('forwards Authorization; a non-public answer is never cached, a public one is kept per credential', async () => {
    const proxy = createOriginProxy({ origin: base, store: createMemoryResponseStore() });
    const mine = (auth: string) => proxy(new Request('http://edge/udf/py/mine', { headers: { Authorization: auth } }));
    expect(await (await mine('Bearer A')).text()).toBe('for Bearer A');
    expect(seen.at(-1)!.auth).toBe('Bearer A');
    const again = await mine('Bearer A');
    expect(again.headers.get('x-edge-cache')).toBe('MISS');
    expect(await (await mine('Bearer B')).text()).toBe('for Bearer B');

    const shared = (auth: string) => proxy(new Request('http://edge/udf/py/shared', { headers: { Authorization: auth } }));
    expect(await (await shared('Bearer A')).text()).toBe('shared Bearer A');
    const hitA = await shared('Bearer A');
    expect(hitA.headers.get('x-edge-cache')).toBe('HIT');
    const missB = await shared('Bearer B');
    expect(missB.headers.get('x-edge-cache')).toBe('MISS');
    expect(await missB.text()).toBe('shared Bearer B');
  });

  it('passes errors through unchanged and answers 502 when the origin is down', async () => {
    const proxy = createOriginProxy({ origin: base, store: createMemoryResponseStore() });
    const res = await proxy(new Request('http://edge/udf/py/fail'));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'udf_error', message: 'it broke', requestId: 'r1' });
    const down = createOriginProxy({ origin: 'http://127.0.0.1:9' });
    const r = await down(new Request('http://edge/udf/py/file.json'));
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: string; message: string; requestId: string };
    expect(body).toMatchObject({ error: 'origin_unreachable', requestId: r.headers.get('x-request-id') });
    expect(body.message).toMatch(/origin tilesmith, which could not be reached/);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
  });
});
