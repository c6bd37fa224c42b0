import { freePort } from './helpers/free-port.ts';
/**
 * The edge bundles on the real runtimes, all installed from the npm registry as devDependencies:
 * Cloudflare's workerd (driven by miniflare), Deno and Bun. `tilesmith build` bundles
 * test/fixtures/edge (two TypeScript UDFs, two Python ones); a Node tilesmith over the same
 * folder is the origin for the Python UDFs and the reference for "same bytes as Node".
 * Tiles are decoded with independent decoders (@mapbox/vector-tile, sharp).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { Miniflare } from 'miniflare';
import { PbfReader } from 'pbf';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEdge, type BuildResult } from '../server/node/build.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { findPython } from '../server/udf/python/interpreter.ts';
import { cannotRun } from './helpers/skip.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURES = path.join(ROOT, 'test/fixtures/edge');
const BIN = (name: string) => path.join(ROOT, 'node_modules/.bin', name);
// Berlin, inside tile 10/550/335.
const PIN = { lon: 13.4, lat: 52.52, z: 10, x: 550, y: 335 };
const PIN_TILE = `/udf/pin/tiles/${PIN.z}/${PIN.x}/${PIN.y}.mvt`;

const probe = await findPython();
if (!probe.python) cannotRun('the edge proxy tests', `no Python that can import numpy and pandas (tried: ${probe.tried.join(' | ')})`);


function decodePin(buf: ArrayBuffer): { lon: number; lat: number; name: unknown } {
  const tile = new VectorTile(new PbfReader(new Uint8Array(buf)));
  expect(Object.keys(tile.layers)).toEqual(['pin']);
  expect(tile.layers.pin!.length).toBe(1);
  const f = tile.layers.pin!.feature(0);
  const geo = f.toGeoJSON(PIN.x, PIN.y, PIN.z);
  const [lon, lat] = (geo.geometry as { coordinates: number[] }).coordinates as [number, number];
  return { lon, lat, name: f.properties.name };
}

/** Raw RGBA pixels of a PNG, decoded by sharp (libvips), not by the encoder under test. */
async function pixels(buf: ArrayBuffer) {
  const { data, info } = await sharp(Buffer.from(buf)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { at: (x: number, y: number) => [...data.subarray((y * info.width + x) * 4, (y * info.width + x) * 4 + 4)], info };
}

/**
 * style.json / qgis.xml text with the server's own base URL (plain and percent-encoded) replaced
 * by BASE, so an edge answer and Node's can be compared whole. The base is the one the server
 * put before `/udf/` (miniflare hands the Worker its own loopback URL, not the dispatched one).
 */
function withoutBase(text: string): string {
  const base = /(https?:\/\/[^/"&\s]+)\/udf\//.exec(text)?.[1];
  expect(base).toBeDefined();
  return text.replaceAll(base!, 'BASE').replaceAll(encodeURIComponent(base!), 'BASE');
}

/** The edge server's style.json and qgis.xml for `udf` are Node's, but for the host. */
async function expectSameMetadata(get: (p: string) => Promise<Response>, udf: string): Promise<void> {
  for (const file of ['style.json', 'qgis.xml']) {
    const [edge, node] = await Promise.all([get(`/udf/${udf}/${file}?n=3`), fetch(`${origin.url}/udf/${udf}/${file}?n=3`)]);
    expect(edge.status, `${file} on the edge`).toBe(200);
    expect(edge.headers.get('content-type')).toBe(node.headers.get('content-type'));
    expect(edge.headers.get('cache-control')).toBe(node.headers.get('cache-control'));
    const [e, n] = [withoutBase(await edge.text()), withoutBase(await node.text())];
    if (file === 'style.json') expect(JSON.parse(e)).toEqual(JSON.parse(n));
    else expect(e).toBe(n);
    expect(e).toContain(`BASE/udf/${udf}/tiles/`);
  }
}

let work: string;
let origin: RunningServer;
const bundles: Partial<Record<'workers' | 'deno' | 'bun', BuildResult>> = {};

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'tilesmith-edge-'));
  origin = await startServer({ dir: FIXTURES, port: 0, host: '127.0.0.1', cacheDir: path.join(work, 'origin-cache'), pythonWorkers: 1, log: () => {} });
  for (const target of ['workers', 'deno', 'bun'] as const) bundles[target] = await buildEdge({ dir: FIXTURES, target, out: path.join(work, target) });
}, 120_000);

afterAll(async () => {
  await origin?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('tilesmith build', () => {
  it('bundles the TypeScript UDFs and lists the Python ones as served by the origin', () => {
    const w = bundles.workers!;
    expect(w.udfs).toEqual(['halves', 'pin']);
    expect(w.proxied).toEqual(['boom', 'greet']);
    // Workers have the free plan's 3 MB (compressed) script limit.
    expect(w.gzipBytes).toBeLessThan(3 * 1024 * 1024);
  });

  it('no node: import reaches the Workers bundle', () => {
    expect(bundles.workers!.externalImports).toEqual([]);
    const code = readFileSync(bundles.workers!.file, 'utf8');
    expect(code).not.toMatch(/\bfrom\s*["'](node:)?(fs|path|crypto|module|util|async_hooks|worker_threads|os|url)["']/);
    expect(code).not.toMatch(/\bimport\s*\(\s*["']node:/);
    expect(code).not.toMatch(/\brequire\s*\(\s*["']node:/);
  });

  it('refuses a Workers build whose UDF imports a Node built-in, naming the import and the file', async () => {
    const dir = path.join(work, 'nodey');
    mkdirSync(dir);
    copyFileSync(path.join(FIXTURES, 'pin.ts'), path.join(dir, 'pin.ts'));
    writeFileSync(path.join(dir, 'disk.ts'), `import { readFileSync } from 'node:fs';\nimport { defineUdf } from 'tilesmith';\nexport default defineUdf({ run: () => ({ n: readFileSync('/etc/hostname', 'utf8').length }) });\n`);
    await expect(buildEdge({ dir, target: 'workers', out: path.join(work, 'nodey-out') })).rejects.toThrow(/node:fs is a Node built-in, imported by disk\.ts: Cloudflare Workers do not have it/);
    // Deno and Bun have node: modules: the same folder builds for them, the import left external.
    const deno = await buildEdge({ dir, target: 'deno', out: path.join(work, 'nodey-deno') });
    expect(deno.externalImports).toContain('node:fs');
  });
});

describe('Cloudflare Workers bundle in workerd (miniflare)', () => {
  let mf: Miniflare;
  const persist = () => path.join(work, 'mf-cache');
  const start = () =>
    new Miniflare({
      modules: true,
      scriptPath: bundles.workers!.file,
      modulesRoot: path.dirname(bundles.workers!.file),
      compatibilityDate: '2025-09-01',
      bindings: { ORIGIN: origin.url },
      cachePersist: persist(),
    });
  const get = (p: string, headers: Record<string, string> = {}) => mf.dispatchFetch(`http://edge.test${p}`, { headers }) as unknown as Promise<Response>;

  beforeAll(async () => {
    mf = start();
    await mf.ready;
  }, 120_000);
  afterAll(async () => {
    await mf?.dispose();
  });

  it('serves the bundled UDF as an MVT tile with the point at the right lon/lat, then a 304', async () => {
    const res = await get(PIN_TILE);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    expect(res.headers.get('x-cache')).toBe('MISS');
    const pin = decodePin(await res.arrayBuffer());
    expect(pin.name).toBe('pin');
    expect(pin.lon).toBeCloseTo(PIN.lon, 2);
    expect(pin.lat).toBeCloseTo(PIN.lat, 2);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    const again = await get(PIN_TILE, { 'If-None-Match': etag });
    expect(again.status).toBe(304);
    await again.arrayBuffer();
  });

  it('serves a PNG through the colormap with the portable encoder (pixels checked)', async () => {
    const res = await get('/udf/halves/tiles/3/4/2.png');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const { at, info } = await pixels(await res.arrayBuffer());
    expect([info.width, info.height]).toEqual([256, 256]);
    expect(at(10, 0)[3]).toBe(0); // NaN row: transparent
    expect(at(10, 100)).toEqual([68, 1, 84, 255]); // viridis(0)
    expect(at(200, 100)).toEqual([253, 231, 37, 255]); // viridis(1)
  });

  it('answers jpg with a 406 that says why', async () => {
    const res = await get('/udf/halves/tiles/3/4/2.jpg');
    expect(res.status).toBe(406);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('not_acceptable');
    expect(body.message).toMatch(/jpg format is not available on Cloudflare Workers: it needs sharp/);
  });

  it('serves TileJSON for the bundled UDF', async () => {
    const res = await get('/udf/pin/tilejson.json');
    expect(res.status).toBe(200);
    const tj = (await res.json()) as { tilejson: string; tiles: string[] };
    expect(tj.tilejson).toMatch(/^3\./);
    // miniflare hands the Worker its loopback URL, not the one dispatched: the host is whatever the request came to.
    expect(tj.tiles[0]).toMatch(/^http:\/\/[^/]+\/udf\/pin\/tiles\/\{z\}\/\{x\}\/\{y\}/);
    expect(tj).toMatchObject({ minzoom: 0 });
  });

  it("serves style.json and qgis.xml for a vector and a raster UDF, as Node does", async () => {
    await expectSameMetadata((p) => get(p), 'pin');
    await expectSameMetadata((p) => get(p), 'halves');
  });

  it('answers a repeat from the Cache API, even from a fresh isolate', async () => {
    const p = '/udf/pin/tiles/10/550/336.mvt?lat=52.3';
    const first = await get(p);
    expect(first.headers.get('x-cache')).toBe('MISS');
    const body = new Uint8Array(await first.arrayBuffer());
    const second = await get(p);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(new Uint8Array(await second.arrayBuffer())).toEqual(body);
    // A new workerd process: no memory survives, only the (persisted) Cache API.
    await mf.dispose();
    mf = start();
    await mf.ready;
    const third = await get(p);
    expect(third.headers.get('x-cache')).toBe('HIT');
    expect(third.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(new Uint8Array(await third.arrayBuffer())).toEqual(body);
  }, 60_000);

  it.skipIf(!probe.python)('proxies a Python UDF to the Node origin, caches it at the edge, passes errors through', async () => {
    const direct = await fetch(`${origin.url}/udf/greet/file.json?name=edge&times=2`);
    const directBody = await direct.text();
    const first = await get('/udf/greet/file.json?name=edge&times=2');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-edge-cache')).toBe('MISS');
    expect(first.headers.get('etag')).toBe(direct.headers.get('etag'));
    expect(await first.text()).toBe(directBody);
    expect(JSON.parse(directBody)).toEqual({ greeting: 'hello edge hello edge ', language: 'python' });
    const second = await get('/udf/greet/file.json?name=edge&times=2');
    expect(second.headers.get('x-edge-cache')).toBe('HIT');
    expect(await second.text()).toBe(directBody);
    const cond = await get('/udf/greet/file.json?name=edge&times=2', { 'If-None-Match': direct.headers.get('etag')! });
    expect(cond.status).toBe(304);
    await cond.arrayBuffer();

    // A route that names the UDF elsewhere (OGC) is proxied too, its answer passed through.
    const ogcDirect = await fetch(`${origin.url}/ogc/collections/greet`);
    const ogc = await get('/ogc/collections/greet');
    expect(ogc.status).toBe(ogcDirect.status);
    expect(ogc.headers.get('x-edge-cache')).not.toBeNull();
    expect(((await ogc.json()) as { error?: string }).error).toBe(((await ogcDirect.json()) as { error?: string }).error);

    const boom = await get('/udf/boom/file.json');
    expect(boom.status).toBe(500);
    const err = (await boom.json()) as { error: string; message: string };
    expect(err.error).toBe('udf_error');
    expect(err.message).toMatch(/boom at the origin/);
    const bad = await get('/udf/greet/file.json?times=lots');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/times/);
  }, 60_000);
});

/** Starts a bundle under Deno or Bun on a free port and waits until it answers. */
async function serveWith(target: 'deno' | 'bun', extraEnv: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const port = await freePort();
  const file = bundles[target]!.file;
  const dir = extraEnv.TILESMITH_CACHE_DIR;
  const args = target === 'deno' ? ['run', '--allow-net', '--allow-env', ...(dir ? [`--allow-read=${dir}`, `--allow-write=${dir}`] : []), file] : [file];
  const child = spawn(BIN(target), args, { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NO_COLOR: '1', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${target} exited (${child.exitCode}): ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child, output: () => output };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${target} did not start within 20 s: ${output}`);
}

for (const target of ['deno', 'bun'] as const) {
  describe(`${target} bundle`, () => {
    let server: Awaited<ReturnType<typeof serveWith>>;
    beforeAll(async () => {
      // Bun gets the origin from ORIGIN in its environment; Deno runs without one.
      server = await serveWith(target, target === 'bun' ? { ORIGIN: origin.url } : {});
    }, 60_000);
    afterAll(() => {
      server?.child.kill();
    });

    it('answers the same MVT bytes as Node for the same tile, and a 304', async () => {
      const node = await fetch(`${origin.url}${PIN_TILE}`);
      const edge = await fetch(`${server.url}${PIN_TILE}`);
      expect(edge.status).toBe(200);
      const bytes = new Uint8Array(await edge.arrayBuffer());
      expect(bytes).toEqual(new Uint8Array(await node.arrayBuffer()));
      expect(edge.headers.get('etag')).toBe(node.headers.get('etag'));
      expect(decodePin(bytes.buffer as ArrayBuffer).lon).toBeCloseTo(PIN.lon, 2);
      const again = await fetch(`${server.url}${PIN_TILE}`, { headers: { 'If-None-Match': edge.headers.get('etag')! } });
      expect(again.status).toBe(304);
      // Memory tier on Deno/Bun.
      expect((await fetch(`${server.url}${PIN_TILE}`)).headers.get('x-cache')).toBe('HIT');
    });

    it('serves style.json and qgis.xml as Node does', async () => {
      await expectSameMetadata((p) => fetch(`${server.url}${p}`), 'pin');
      await expectSameMetadata((p) => fetch(`${server.url}${p}`), 'halves');
    });

    it('answers the same PNG pixels as Node (sharp there, fast-png here)', async () => {
      const p = '/udf/halves/tiles/3/4/2.png';
      const [node, edge] = await Promise.all([fetch(`${origin.url}${p}`), fetch(`${server.url}${p}`)]);
      expect(edge.status).toBe(200);
      const a = await sharp(Buffer.from(await node.arrayBuffer())).ensureAlpha().raw().toBuffer();
      const b = await sharp(Buffer.from(await edge.arrayBuffer())).ensureAlpha().raw().toBuffer();
      expect(b.equals(a)).toBe(true);
    });

    it('with TILESMITH_CACHE_DIR, results survive a restart in the disk tier', async () => {
      const env = { TILESMITH_CACHE_DIR: path.join(work, `${target}-disk`) };
      const p = '/udf/pin/tiles/10/550/335.mvt?lat=52.6';
      const first = await serveWith(target, env);
      try {
        expect((await fetch(`${first.url}${p}`)).headers.get('x-cache')).toBe('MISS');
        // The disk write runs in the background: wait for its file before stopping the process.
        for (let i = 0; i < 100 && !(existsSync(env.TILESMITH_CACHE_DIR) && readdirSync(env.TILESMITH_CACHE_DIR, { recursive: true }).some((f) => !String(f).includes('.tmp') && statSync(path.join(env.TILESMITH_CACHE_DIR, String(f))).isFile())); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        first.child.kill();
      }
      const second = await serveWith(target, env);
      try {
        const res = await fetch(`${second.url}${p}`);
        expect(res.headers.get('x-cache')).toBe('HIT');
        expect(decodePin(await res.arrayBuffer()).lat).toBeCloseTo(52.6, 2);
      } finally {
        second.child.kill();
      }
    }, 60_000);

    if (target === 'deno') {
      it('names the missing origin for a Python UDF', async () => {
        const res = await fetch(`${server.url}/udf/greet/file.json`);
        expect(res.status).toBe(404);
        expect(((await res.json()) as { message: string }).message).toMatch(/UDF 'greet' is not in this Deno bundle .*set ORIGIN/);
      });
    } else {
      it.skipIf(!probe.python)('proxies a Python UDF to the origin named by ORIGIN, cached in memory', async () => {
        const first = await fetch(`${server.url}/udf/greet/file.json?name=bun`);
        expect(first.status).toBe(200);
        expect(await first.json()).toEqual({ greeting: 'hello bun ', language: 'python' });
        expect(first.headers.get('x-edge-cache')).toBe('MISS');
        const second = await fetch(`${server.url}/udf/greet/file.json?name=bun`);
        expect(second.headers.get('x-edge-cache')).toBe('HIT');
        await second.arrayBuffer();
      });
    }
  });
}

describe('the Node CLI under Bun (bun bin/tilesmith.js serve)', () => {
  let child: ChildProcess;
  let url: string;
  let output = '';
  beforeAll(async () => {
    const port = await freePort();
    child = spawn(BIN('bun'), [path.join(ROOT, 'bin/tilesmith.js'), 'serve', FIXTURES, '--port', String(port), '--host', '127.0.0.1', '--no-disk-cache', '--workers', '1', '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`bun exited (${child.exitCode}): ${output}`);
      if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`tilesmith serve under bun did not start: ${output}`);
  }, 60_000);
  afterAll(() => {
    child?.kill();
  });

  it('serves TypeScript UDFs (compute threads, sharp) with the same bytes as Node, and Python UDFs', async () => {
    const [bun, node] = await Promise.all([fetch(`${url}${PIN_TILE}`), fetch(`${origin.url}${PIN_TILE}`)]);
    expect(bun.status, output).toBe(200);
    expect(new Uint8Array(await bun.arrayBuffer())).toEqual(new Uint8Array(await node.arrayBuffer()));
    const png = await fetch(`${url}/udf/halves/tiles/3/4/2.png`);
    expect(png.status, output).toBe(200);
    const nodePng = await fetch(`${origin.url}/udf/halves/tiles/3/4/2.png`);
    expect(Buffer.from(await png.arrayBuffer()).equals(Buffer.from(await nodePng.arrayBuffer()))).toBe(true);
    if (probe.python) {
      const py = await fetch(`${url}/udf/greet/file.json?name=bun`);
      expect(py.status, output).toBe(200);
      expect(await py.json()).toEqual({ greeting: 'hello bun ', language: 'python' });
    }
  }, 60_000);
});
