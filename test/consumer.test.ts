/**
 * The package as a user gets it: `npm pack`, then `npm install ./tilesmith-x.y.z.tgz` into a
 * fresh project (from npm's cache, `--prefer-offline`), and then
 * - a production install's footprint: under 150 MB, no @arcgis/@esri, no install scripts
 *   beyond esbuild/sharp;
 * - plain Node ESM imports every entry point of `exports` (compiled JS, no tsx);
 * - a strict NodeNext `tsc --noEmit` consumer compiles code using defineUdf, startServer and
 *   the client builders, and the package's own declarations have no errors;
 * - `npx tilesmith serve` from the installed package serves a TypeScript UDF (importing
 *   'tilesmith' from the project's node_modules) and a Python UDF;
 * - an esbuild app importing `tilesmith/client/maplibre` and `maplibre-gl` renders that
 *   server's tiles in Chromium.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPython } from '../server/udf/python/interpreter.ts';
import { count, decode, haveChromium, launchChromium, stableShot } from './helpers/browser.ts';
import { cannotRun } from './helpers/skip.ts';

const ROOT = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const npmOk = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
const probe = await findPython();
const missing = [!npmOk && 'npm', !haveChromium && '/usr/bin/chromium', !probe.python && 'a Python with numpy and pandas'].filter(Boolean);
if (missing.length) cannotRun('the package consumer test', `missing ${missing.join(', ')}`);
const canRun = missing.length === 0;

/** The environment for nested npm/node runs: none of the outer `npm test`'s package variables. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_(package|lifecycle)_|^INIT_CWD$/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): { status: number | null; out: string } {
  const res = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: cleanEnv(extraEnv), maxBuffer: 64 * 1024 * 1024 });
  return { status: res.status, out: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}

function mustRun(cmd: string, args: string[], cwd: string): string {
  const { status, out } = run(cmd, args, cwd);
  if (status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${status}):\n${out.slice(-4000)}`);
  return out;
}

function npmInstall(cwd: string, specs: string[], extra: string[] = []): void {
  mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...extra, ...specs], cwd);
}

function dirSize(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) total += dirSize(p);
    else total += st.size;
  }
  return total;
}

const TS_UDF = `import { defineUdf } from 'tilesmith';

/** A green square in the middle of every tile. */
export default defineUdf({
  kind: 'vector',
  params: { inset: { type: 'float', default: 0.25, description: 'fraction of the tile left empty on each side' } },
  run: ({ bounds, params }) => {
    const [w, s, e, n] = bounds!;
    const dx = (e - w) * params.inset;
    const dy = (n - s) * params.inset;
    const ring = [[w + dx, s + dy], [e - dx, s + dy], [e - dx, n - dy], [w + dx, n - dy], [w + dx, s + dy]];
    return { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { name: 'square' }, geometry: { type: 'Polygon', coordinates: [ring] } }] };
  },
});
`;

const PY_UDF = `import numpy as np

from tilesmith import udf


@udf(kind="raster", description="A red raster, bands-first uint8")
def udf(bounds=None, tile_size: int = 256):
    img = np.zeros((3, tile_size, tile_size), dtype=np.uint8)
    img[0] = 220
    img[1] = 30
    img[2] = 40
    return img
`;

const APP = `import * as maplibregl from 'maplibre-gl';
import { addUdfLayer, udfStyle } from 'tilesmith/client/maplibre';

const server = new URLSearchParams(location.search).get('server');
const map = new maplibregl.Map({
  container: 'map',
  style: udfStyle({ server, udf: 'red', kind: 'raster', center: [0, 20], zoom: 1, background: '#ffffff' }),
  attributionControl: false,
  fadeDuration: 0,
  canvasContextAttributes: { preserveDrawingBuffer: true },
});
map.on('load', () => {
  addUdfLayer(map, { server, udf: 'square', kind: 'vector', color: '#00c000' });
  map.once('idle', () => { window.mapIdle = true; });
});
map.on('error', (e) => { (window.mapErrors ??= []).push(String(e.error?.message ?? e)); });
`;

describe.skipIf(!canRun)('the npm package in a fresh project', () => {
  let work: string;
  let project: string;
  let cli: ChildProcess | undefined;
  let cliLog = '';
  let serverUrl = '';
  let staticServer: Server | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tilesmith-consumer-'));
    // `npm pack` runs the `prepare` build, as a publish would.
    const packOut = mustRun('npm', ['pack', '--pack-destination', work, '--loglevel=error'], ROOT);
    const tarball = join(work, packOut.trim().split('\n').pop()!.trim());
    expect(existsSync(tarball), packOut).toBe(true);

    // A production install of the tarball alone, for the footprint.
    const prod = join(work, 'prod');
    mkdirSync(prod);
    writeFileSync(join(prod, 'package.json'), JSON.stringify({ name: 'prod', version: '1.0.0', private: true, type: 'module' }));
    npmInstall(prod, [tarball], ['--omit=dev']);

    // The consumer project: the tarball, the peers of the client adapters it uses, and the
    // tools its build uses (TypeScript; esbuild comes with tilesmith).
    project = join(work, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
    const deck = pkg.devDependencies['@deck.gl/core'];
    npmInstall(project, [
      tarball,
      `@deck.gl/core@${deck}`,
      `@deck.gl/layers@${deck}`,
      `@deck.gl/geo-layers@${deck}`,
      `leaflet@${pkg.devDependencies.leaflet}`,
      `maplibre-gl@${pkg.devDependencies['maplibre-gl']}`,
      `protomaps-leaflet@${pkg.devDependencies['protomaps-leaflet']}`,
      `typescript@${JSON.parse(readFileSync(join(ROOT, 'node_modules/typescript/package.json'), 'utf8')).version}`,
      `@types/node@${pkg.devDependencies['@types/node']}`,
      `@types/leaflet@${pkg.devDependencies['@types/leaflet']}`,
    ]);
  }, 900_000);

  afterAll(async () => {
    if (cli?.pid) {
      // npx does not pass signals on to the server it started: signal the whole process group.
      const group = (signal: NodeJS.Signals) => {
        try {
          process.kill(-cli!.pid!, signal);
        } catch {
          /* already gone */
        }
      };
      const exited = cli.exitCode === null ? new Promise((r) => cli!.once('exit', r)) : Promise.resolve();
      group('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      await new Promise((r) => setTimeout(r, 500));
      group('SIGKILL');
    }
    await new Promise<void>((r) => (staticServer ? staticServer.close(() => r()) : r()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships dist/ with types and no tests, sources or repository tooling', () => {
    const root = join(project, 'node_modules/tilesmith');
    const listed: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(join(root, dir))) {
        const rel = dir ? `${dir}/${name}` : name;
        if (statSync(join(root, rel)).isDirectory()) walk(rel);
        else listed.push(rel);
      }
    };
    walk('');
    expect(listed.filter((f) => /(^|\/)(test|bench|\.ci)\/|\.test\.|test-helpers|test-utils|^server\/|^client\/|^examples\//.test(f))).toEqual([]);
    for (const [entry, target] of Object.entries(pkg.exports as Record<string, Record<string, string> | string>)) {
      if (typeof target === 'string') continue;
      expect(existsSync(join(root, target.import)), `${entry} → ${target.import}`).toBe(true);
      expect(existsSync(join(root, target.types)), `${entry} → ${target.types}`).toBe(true);
    }
    expect(existsSync(join(root, 'dist/server/udf/python/worker.py'))).toBe(true);
  });

  it('a production install is under 150 MB, without @arcgis/@esri, with no install scripts beyond esbuild, sharp and two native bindings', () => {
    const nm = join(work, 'prod/node_modules');
    const mb = dirSize(nm) / 1e6;
    console.log(`consumer: production install of tilesmith = ${mb.toFixed(0)} MB`);
    expect(mb).toBeLessThan(150);
    expect(existsSync(join(nm, '@arcgis'))).toBe(false);
    expect(existsSync(join(nm, '@esri'))).toBe(false);
    expect(existsSync(join(nm, 'deck.gl'))).toBe(false);
    const withScripts = JSON.parse(mustRun('npm', ['query', ':attr(scripts, [install]), :attr(scripts, [postinstall]), :attr(scripts, [preinstall])'], join(work, 'prod'))) as Array<{ name: string }>;
    // Native bindings only: better-sqlite3 (token store, MBTiles export) and msgpackr-extract
    // (BullMQ's optional fast path) compile with node-gyp; nothing phones home.
    expect(withScripts.map((p) => p.name).filter((n) => !['esbuild', 'sharp', 'better-sqlite3', 'msgpackr-extract'].includes(n))).toEqual([]);
  });

  it('plain Node ESM imports every entry point', () => {
    const expected: Record<string, string[]> = {
      tilesmith: ['defineUdf', 'createApp', 'createMemoryCache', 'NotFoundError'],
      'tilesmith/node': ['startServer', 'main', 'createDefaultEncoderRegistry', 'createRegistry'],
      'tilesmith/edge': ['createEdgeApp', 'createCacheApiCache', 'createOriginProxy', 'portablePngEncoder'],
      'tilesmith/client': ['tileUrl', 'fileUrl', 'tilejsonUrl'],
      'tilesmith/client/deckgl': ['udfLayer', 'h3Layer'],
      'tilesmith/client/maplibre': ['udfStyle', 'udfSource', 'addUdfLayer'],
      'tilesmith/client/leaflet': ['udfTileLayer', 'udfVectorLayer'],
      'tilesmith/client/qgis': ['qgisConnectionsXml', 'qgisRasterUri'],
      'tilesmith/client/felt': ['feltUrls'],
    };
    const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'tilesmith' : `tilesmith/${k.slice(2)}`));
    expect(entries.sort()).toEqual(Object.keys(expected).sort());
    for (const entry of entries) {
      const { status, out } = run(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(m)));`], project);
      expect(status, `${entry}: ${out}`).toBe(0);
      expect(JSON.parse(out.trim().split('\n').pop()!), entry).toEqual(expect.arrayContaining(expected[entry]));
    }
  });

  it('a strict NodeNext tsc consumer compiles code using defineUdf, startServer and the client builders', () => {
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(
      join(project, 'src/consumer.ts'),
      `import { createApp, createEncoderRegistry, createMemoryCache, defineUdf, mvtEncoder, NotFoundError, type LoadedUdf, type UdfDefinition } from 'tilesmith';
import { startServer, createDefaultEncoderRegistry, type RunningServer } from 'tilesmith/node';
import { tileUrl, fileUrl, tilejsonUrl, type UdfParams } from 'tilesmith/client';
import { udfStyle, udfSource } from 'tilesmith/client/maplibre';
import { udfLayer } from 'tilesmith/client/deckgl';
import { udfTileLayerArgs } from 'tilesmith/client/leaflet';
import { qgisConnectionsXml } from 'tilesmith/client/qgis';
import { feltUrls } from 'tilesmith/client/felt';
import type { StyleSpecification } from 'maplibre-gl';

export const udf: UdfDefinition<{ n: number }> = defineUdf<{ n: number }>({
  params: { n: { type: 'int', default: 3 } },
  run: ({ bounds, params }) => ({ type: 'Point', coordinates: [bounds![0] + params.n, bounds![1]] }),
});
const params: UdfParams = { n: 2, name: 'x' };
const url: string = tileUrl({ server: 'http://localhost:8787', udf: 'points', params, format: 'mvt' });
const style: StyleSpecification = udfStyle({ udf: 'points', kind: 'vector', tiles: [url], minzoom: 0, maxzoom: 14, center: [0, 0], zoom: 2 });
const source = udfSource({ server: 'http://localhost:8787', udf: 'waves', kind: 'raster' });
const layer = udfLayer({ server: 'http://localhost:8787', udf: 'points' });
const xml: string = qgisConnectionsXml({ server: 'http://localhost:8787', udf: 'waves', kind: 'raster' });
const felt: Record<string, string> = feltUrls({ server: 'http://localhost:8787', udf: 'waves', kind: 'raster' });
const leaflet = udfTileLayerArgs({ server: 'http://localhost:8787', udf: 'waves' });
const app = createApp({ registry: { get: (): LoadedUdf | undefined => undefined, list: () => [] }, encoders: createEncoderRegistry([mvtEncoder]), cache: createMemoryCache() });
export async function serve(): Promise<RunningServer> {
  return startServer({ dir: 'udfs', port: 0, watch: false, timeout: '30s' });
}
export const all = [style, source, layer, xml, felt, leaflet, app, createDefaultEncoderRegistry(), fileUrl, tilejsonUrl, new NotFoundError('x')];
`,
    );
    const base = { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: ['node'] };
    // As most projects compile (skipLibCheck): clean.
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...base, skipLibCheck: true }, include: ['src/consumer.ts'] }));
    const tsc = join(project, 'node_modules/typescript/bin/tsc');
    const first = run(process.execPath, [tsc, '-p', '.'], project);
    expect(first.out).toBe('');
    expect(first.status).toBe(0);
    // And tilesmith's own declarations checked too: no error in them or in the consumer
    // (the map libraries' declarations have NodeNext errors of their own, not ours).
    writeFileSync(join(project, 'tsconfig.strict.json'), JSON.stringify({ compilerOptions: { ...base, skipLibCheck: false }, include: ['src/consumer.ts'] }));
    const second = run(process.execPath, [tsc, '-p', 'tsconfig.strict.json'], project);
    const ours = second.out.split('\n').filter((l) => /error TS/.test(l) && (l.startsWith('src/') || l.includes('node_modules/tilesmith/')));
    expect(ours).toEqual([]);
  }, 180_000);

  it('`npx tilesmith serve` from the installed package serves a TypeScript UDF and a Python UDF', async () => {
    const udfs = join(project, 'udfs');
    mkdirSync(udfs, { recursive: true });
    writeFileSync(join(udfs, 'square.ts'), TS_UDF);
    writeFileSync(join(udfs, 'red.py'), PY_UDF);
    cli = spawn('npx', ['--no-install', 'tilesmith', 'serve', 'udfs', '--port', '0', '--host', '127.0.0.1', '--cache-dir', join(work, 'cache'), '--workers', '1'], {
      cwd: project,
      env: cleanEnv({ TILESMITH_PYTHON: probe.python!.executable, TILESMITH_WORKERS: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so afterAll can stop npx, the server and its workers together
    });
    cli.stdout!.on('data', (d) => (cliLog += d));
    cli.stderr!.on('data', (d) => (cliLog += d));
    const start = Date.now();
    while (!/serving \d+ UDFs .* at (http:\/\/[^\s"]+)/.test(cliLog)) {
      if (cli.exitCode !== null || Date.now() - start > 60_000) throw new Error(`the CLI did not start:\n${cliLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    serverUrl = /serving \d+ UDFs .* at (http:\/\/[^\s"]+)/.exec(cliLog)![1];
    // It ran the compiled JavaScript: the package has no TypeScript sources to run.
    expect(existsSync(join(project, 'node_modules/tilesmith/server'))).toBe(false);

    const catalog = (await (await fetch(`${serverUrl}/udfs`)).json()) as Array<{ name: string; language: string; error: unknown }>;
    expect(catalog.map((u) => [u.name, u.language, u.error]).sort()).toEqual([
      ['red', 'python', null],
      ['square', 'typescript', null],
    ]);

    const mvt = await fetch(`${serverUrl}/udf/square/tiles/2/1/1.mvt`);
    expect(mvt.status, await mvt.clone().text()).toBe(200);
    const tile = new VectorTile(new PbfReader(new Uint8Array(await mvt.arrayBuffer())));
    expect(tile.layers.square.length).toBe(1);
    expect(tile.layers.square.feature(0).properties.name).toBe('square');

    const png = await fetch(`${serverUrl}/udf/red/tiles/2/1/1.png`);
    expect(png.status, await png.clone().text()).toBe(200);
    const { data, info } = await sharp(Buffer.from(await png.arrayBuffer())).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([256, 256]);
    expect([data[0], data[1], data[2]]).toEqual([220, 30, 40]);
  }, 120_000);

  it('an esbuild app importing tilesmith/client/maplibre renders the served tiles in Chromium', async () => {
    expect(serverUrl, 'the CLI test runs first').not.toBe('');
    writeFileSync(join(project, 'src/app.js'), APP);
    const esbuildBin = join(project, 'node_modules/esbuild/bin/esbuild');
    mustRun(esbuildBin, ['src/app.js', '--bundle', '--format=esm', '--platform=browser', '--outfile=public/app.js', '--log-level=error'], project);
    const appJs = readFileSync(join(project, 'public/app.js'));
    // MapLibre starts its worker from new URL('./maplibre-gl-worker.mjs', import.meta.url):
    // a real app ships those two files next to its bundle.
    const mlDist = join(project, 'node_modules/maplibre-gl/dist');
    const files: Record<string, [Buffer, string]> = {
      '/': [Buffer.from('<!doctype html><meta charset="utf-8"><div id="map" style="width:512px;height:512px"></div><script type="module" src="/app.js"></script>'), 'text/html'],
      '/app.js': [appJs, 'text/javascript'],
      '/maplibre-gl-worker.mjs': [readFileSync(join(mlDist, 'maplibre-gl-worker.mjs')), 'text/javascript'],
      '/maplibre-gl-shared.mjs': [readFileSync(join(mlDist, 'maplibre-gl-shared.mjs')), 'text/javascript'],
    };
    staticServer = createServer((req, res) => {
      const file = files[new URL(req.url!, 'http://x').pathname];
      if (!file) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': file[1] }).end(file[0]);
    });
    await new Promise<void>((r) => staticServer!.listen(0, '127.0.0.1', () => r()));
    const pageUrl = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}/?server=${encodeURIComponent(serverUrl)}`;

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 600, height: 600 } });
      const tiles: string[] = [];
      page.on('response', (r) => {
        if (r.url().startsWith(serverUrl) && r.status() === 200) tiles.push(r.url());
      });
      await page.goto(pageUrl);
      await page.waitForFunction(() => (window as any).mapIdle === true || (window as any).mapErrors?.length, null, { timeout: 60_000 });
      expect(await page.evaluate(() => (window as any).mapErrors ?? [])).toEqual([]);
      expect(tiles.length, tiles.join('\n')).toBeGreaterThan(0);
      expect(tiles.some((u) => /\/udf\/red\/tiles\/\d+\/\d+\/\d+/.test(u))).toBe(true);
      expect(tiles.some((u) => /\/udf\/square\/tiles\/\d+\/\d+\/\d+/.test(u))).toBe(true);
      const shot = await decode(await stableShot(page.locator('#map')));
      const total = shot.width * shot.height;
      const red = count(shot, (r, g, b) => r > 190 && g < 70 && b < 80);
      // The squares are filled at 40 % opacity over the red raster: red tinted green.
      const green = count(shot, (r, g, b) => g > 70 && r < 170 && r > 90 && b < 60);
      expect(red / total).toBeGreaterThan(0.2);
      expect(green / total).toBeGreaterThan(0.05);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
