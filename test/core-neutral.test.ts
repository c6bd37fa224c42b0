/**
 * The runtime-neutral core: `tilesmith` (createApp and everything it imports) bundles for a
 * browser / worker target without any `node:` (or bare Node built-in) import, and the bundle
 * serves tiles in a V8 context that has only Web APIs (no `process`, no `require`).
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import * as esbuild from 'esbuild';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { describe, expect, it } from 'vitest';

const ENTRY = fileURLToPath(new URL('../server/index.ts', import.meta.url));
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

async function bundle(platform: 'browser' | 'neutral', format: 'esm' | 'iife' = 'esm') {
  const nodeImports: string[] = [];
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    platform,
    format,
    globalName: format === 'iife' ? 'tilesmithCore' : undefined,
    write: false,
    logLevel: 'silent',
    mainFields: ['browser', 'module', 'main'],
    conditions: ['import', 'browser'],
    plugins: [
      {
        name: 'forbid-node',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) => {
            if (args.path.startsWith('node:') || BUILTINS.has(args.path)) {
              nodeImports.push(`${args.path} (imported by ${args.importer.replace(/^.*\/(server|node_modules)\//, '$1/')})`);
              return { path: args.path, external: true };
            }
            return undefined;
          });
        },
      },
    ],
  });
  return { nodeImports, code: result.outputFiles[0].text };
}

describe('runtime-neutral core', () => {
  for (const platform of ['browser', 'neutral'] as const) {
    it(`bundles for platform=${platform} with no node: import`, async () => {
      const { nodeImports, code } = await bundle(platform);
      expect(nodeImports).toEqual([]);
      expect(code).not.toMatch(/from ["']node:/);
    });
  }

  it('the bundle serves a vector tile, an ETag and a 304 in a context with only Web APIs', async () => {
    const { code } = await bundle('browser', 'iife');
    // A bare V8 context: only the Web APIs the core may use are handed in.
    const webGlobals = { URL, URLSearchParams, Request, Response, Headers, TextEncoder, TextDecoder, AbortController, AbortSignal, crypto, btoa, atob, setTimeout, clearTimeout, queueMicrotask, structuredClone, console, ReadableStream, performance, setInterval, clearInterval, Blob, FormData, WritableStream, TransformStream, DOMException, Event, EventTarget };
    const context = vm.createContext({ ...webGlobals });
    expect(vm.runInContext('typeof process + typeof require', context)).toBe('undefinedundefined');
    vm.runInContext(code, context);
    const core = vm.runInContext('tilesmithCore', context) as typeof import('../server/index.ts');
    // The UDF lives in that context too, as it would on an edge runtime (plain objects from
    // another realm would not be plain objects there).
    const loaded = vm.runInContext(
      `({ name: 'pt', language: 'typescript', source: 'pt.ts', codeHash: 'x', params: {}, options: { kind: 'vector' },
          runtime: { run: async ({ bounds: [w, s, e, n] }) => ({ value: { type: 'Point', coordinates: [(w + e) / 2, (s + n) / 2] }, logs: [] }) } })`,
      context,
    );
    const logs: string[] = [];
    const app = core.createApp({
      registry: { get: (n: string) => (n === 'pt' ? loaded : undefined), list: () => [loaded] },
      encoders: core.createEncoderRegistry([core.mvtEncoder, core.geojsonEncoder, core.jsonEncoder]),
      cache: core.createMemoryCache(),
      publicUrl: 'http://edge.example',
      log: (m: string) => logs.push(m),
      dev: true,
    });
    const res = await app.request('/udf/pt/tiles/3/4/3.mvt');
    expect(res.status, `${logs.join('\n')}`).toBe(200);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const tile = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())));
    expect(tile.layers.pt.length).toBe(1);
    const again = await app.request('/udf/pt/tiles/3/4/3.mvt', { headers: { 'If-None-Match': etag! } });
    expect(again.status).toBe(304);
  });
});
