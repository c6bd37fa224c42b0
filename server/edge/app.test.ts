/**
 * The edge app's routing in Node (the bundles themselves are tested on the real runtimes in
 * test/edge.test.ts): what goes to the origin and what the app answers itself.
 */
import { describe, expect, it } from 'vitest';
import { defineUdf } from '../udf/define.ts';
import { createEdgeApp } from './app.ts';

// Nothing listens on port 9 (discard): a request that reached the proxy would be a 502.
const DOWN = 'http://127.0.0.1:9';
const pin = defineUdf({ kind: 'vector', run: () => ({ type: 'Point', coordinates: [0, 0] }) });
const make = (origin?: string) => createEdgeApp({ target: 'deno', origin, udfs: [{ name: 'pin', source: 'pin.ts', codeHash: 'abc', def: pin }], originUdfs: ['py'], log: () => {} });

describe('edge app routing', () => {
  it('serves bundled UDFs itself and sends the others to the origin', async () => {
    const app = make(DOWN);
    expect((await app.fetch(new Request('http://e/udf/pin/tiles/0/0/0.mvt'))).status).toBe(200);
    const proxied = await app.fetch(new Request('http://e/udf/py/tiles/0/0/0.mvt'));
    expect(proxied.status).toBe(502);
    expect(((await proxied.json()) as { error: string }).error).toBe('origin_unreachable');
    // Other routes naming an unknown UDF (here OGC) go to the origin through the app's unknown_udf 404.
    expect((await app.fetch(new Request('http://e/ogc/collections/py'))).status).toBe(502);
    expect((await app.fetch(new Request('http://e/ogc/collections/pin'))).status).toBe(200);
  });

  it('answers CORS preflights itself, and never proxies a request that already came from an edge', async () => {
    const app = make(DOWN);
    const pre = await app.fetch(new Request('http://e/udf/py/tiles/0/0/0.mvt', { method: 'OPTIONS', headers: { Origin: 'http://x', 'Access-Control-Request-Method': 'GET' } }));
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    const loop = await app.fetch(new Request('http://e/udf/py/tiles/0/0/0.mvt', { headers: { 'X-Tilesmith-Via': 'edge' } }));
    expect(loop.status).toBe(404);
  });

  it('without an origin, names ORIGIN for a UDF only the origin has; a malformed name is a 4xx, not a crash', async () => {
    const app = make();
    const res = await app.fetch(new Request('http://e/udf/py/file.json'));
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: string; message: string; requestId: string };
    expect(body.error).toBe('unknown_udf');
    expect(body.message).toMatch(/set ORIGIN/);
    expect(body.requestId).toBeTruthy();
    const bad = await app.fetch(new Request('http://e/udf/%E0%A4%A/file.json'));
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
  });
});
