/**
 * The cached-hit fast path of serveResult (lookup before joining a flight, a remembered cache
 * key per URL) must answer exactly like the full path: these tests pin the cases where it
 * must step aside.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { createMemoryCache } from '../cache/memory.ts';
import { createDefaultEncoderRegistry } from '../encoders/index.ts';
import type { LoadedUdf, UdfCall } from '../types.ts';

function setup(opts: { slow?: () => Promise<void> } = {}) {
  let runs = 0;
  const udf: LoadedUdf = {
    name: 'pts',
    language: 'typescript',
    source: 'pts.ts',
    codeHash: 'v1',
    params: { n: { type: 'int', default: 1 } },
    options: {},
    runtime: {
      async run(call: UdfCall) {
        runs++;
        await opts.slow?.();
        const features = Array.from({ length: (call.params.n as number) + 1 }, (_, i) => ({
          type: 'Feature' as const,
          properties: { i, run: runs },
          geometry: { type: 'Point' as const, coordinates: [0, 0] },
        }));
        return { value: { type: 'FeatureCollection', features }, logs: [] };
      },
    },
  };
  const registry = { get: (name: string) => (name === 'pts' ? udf : undefined), list: () => [udf] };
  const app = createApp({ registry, encoders: createDefaultEncoderRegistry(), cache: createMemoryCache(), publicUrl: 'http://localhost', log: () => {} });
  const get = (path: string) => app.request(`http://localhost${path}`);
  return { udf, get, runs: () => runs };
}

describe('serveResult cached hits', () => {
  it('answers a repeated URL from the cache, and recomputes once the UDF version changes', async () => {
    const t = setup();
    const path = '/udf/pts/file.geojson?n=2';
    expect((await t.get(path)).headers.get('x-cache')).toBe('MISS');
    const hit = await t.get(path);
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('server-timing')).toMatch(/^udf;dur=0\.00, encode;dur=0\.00, total;dur=\d/);
    expect(t.runs()).toBe(1);
    // A reload that changes the code hash in place must not reuse the remembered key.
    t.udf.codeHash = 'v2';
    expect((await t.get(path)).headers.get('x-cache')).toBe('MISS');
    t.udf.options = { cacheMaxAge: '1h' };
    const again = await t.get(path);
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(again.headers.get('cache-control')).toMatch(/max-age=77\d{5}/);
    expect(t.runs()).toBe(2);
  });

  it('honours cache=false, cache_reset and cache_max_age on a URL whose result is stored', async () => {
    const t = setup();
    const base = '/udf/pts/file.geojson?n=1';
    await t.get(base);
    expect((await t.get(`${base}&cache=false`)).headers.get('x-cache')).toBe('BYPASS');
    expect((await t.get(`${base}&cache_reset=true`)).headers.get('x-cache')).toBe('MISS');
    expect((await t.get(`${base}&cache_max_age=1h`)).headers.get('x-cache')).toBe('HIT');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await t.get(`${base}&cache_max_age=1s`)).headers.get('x-cache')).toBe('MISS');
    expect((await t.get(base)).headers.get('x-cache')).toBe('HIT');
    expect(t.runs()).toBe(4);
  });

  it('a plain request during a reset of the same key waits for the reset, not the old entry', async () => {
    let release!: () => void;
    let gate: Promise<void> | undefined;
    const t = setup({ slow: () => gate ?? Promise.resolve() });
    const path = '/udf/pts/file.geojson?n=3';
    const first = await (await t.get(path)).json();
    gate = new Promise((r) => (release = r));
    const resetting = t.get(`${path}&cache_reset=1`);
    await new Promise((r) => setTimeout(r, 10));
    const plain = t.get(path);
    await new Promise((r) => setTimeout(r, 10));
    release();
    const [a, b] = await Promise.all([resetting, plain]);
    expect(a.headers.get('x-cache')).toBe('MISS');
    expect(b.headers.get('x-cache')).toBe('MISS');
    const fresh = await b.json();
    expect(fresh.features[0].properties.run).toBe(2);
    expect(first.features[0].properties.run).toBe(1);
  });
});
