/**
 * Zoom limits: a UDF's declared minzoom/maxzoom are enforced on the tile routes (404 with a
 * sentence, as Martin answers) and TileJSON advertises exactly the zooms that are served.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { createMemoryCache } from '../cache/memory.ts';
import { createDefaultEncoderRegistry } from '../encoders/index.ts';
import type { LoadedUdf } from '../types.ts';

function pointUdf(name: string, options: LoadedUdf['options']): LoadedUdf {
  return {
    name,
    language: 'typescript',
    source: `${name}.ts`,
    codeHash: name,
    params: {},
    options,
    runtime: {
      async run(call) {
        const [w, s, e, n] = call.bounds!;
        return { value: { type: 'Point', coordinates: [(w + e) / 2, (s + n) / 2] }, logs: [] };
      },
    },
  };
}

function appWith(udfs: LoadedUdf[], maxZoom?: number) {
  const byName = new Map(udfs.map((u) => [u.name, u]));
  return createApp({
    registry: { get: (n) => byName.get(n), list: () => udfs },
    encoders: createDefaultEncoderRegistry(),
    cache: createMemoryCache(),
    publicUrl: 'http://localhost',
    log: () => {},
    maxZoom,
  });
}

describe('zoom limits', () => {
  const app = appWith([pointUdf('limited', { minzoom: 3, maxzoom: 8, kind: 'vector' }), pointUdf('open', { kind: 'vector' })], 20);

  it('serves tiles inside the declared range', async () => {
    for (const z of [3, 8]) {
      const res = await app.request(`/udf/limited/tiles/${z}/0/0.mvt`);
      expect(res.status, `z${z}`).toBe(200);
    }
  });

  it('answers 404 with a sentence naming the range outside it, on both tile routes', async () => {
    for (const path of ['/udf/limited/tiles/2/0/0.mvt', '/udf/limited/tiles/9/0/0.mvt', '/udf/limited/run/tiles/12/0/0']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('not_found');
      expect(body.message).toMatch(/Zoom level \d+ is out of range for UDF 'limited': its tiles exist at zooms 3 to 8/);
    }
  });

  it('TileJSON and the catalog advertise the same range that is served', async () => {
    const tj = (await (await app.request('/udf/limited/tilejson.json')).json()) as { minzoom: number; maxzoom: number };
    expect([tj.minzoom, tj.maxzoom]).toEqual([3, 8]);
    // Without declared limits: every zoom the server accepts (--max-zoom), and TileJSON says so.
    const open = (await (await app.request('/udf/open/tilejson.json')).json()) as { minzoom: number; maxzoom: number };
    expect([open.minzoom, open.maxzoom]).toEqual([0, 20]);
    expect((await app.request('/udf/open/tiles/20/0/0.mvt')).status).toBe(200);
    // Above the server's --max-zoom the tile address itself is invalid: 400, as before.
    expect((await app.request('/udf/open/tiles/21/0/0.mvt')).status).toBe(400);
    const catalog = (await (await app.request('/udfs')).json()) as Array<{ name: string; minzoom: number; maxzoom: number }>;
    expect(catalog.find((u) => u.name === 'limited')).toMatchObject({ minzoom: 3, maxzoom: 8 });
  });

  it('a declared maxzoom above --max-zoom is capped by it', async () => {
    const capped = appWith([pointUdf('deep', { maxzoom: 24 })], 16);
    const tj = (await (await capped.request('/udf/deep/tilejson.json')).json()) as { maxzoom: number };
    expect(tj.maxzoom).toBe(16);
  });
});
