/**
 * A private raster UDF in real QGIS (python3-qgis, offscreen): under `--auth` the server
 * refuses tiles without a token, and QGIS — which cannot send headers — renders the UDF from
 * a connection URL carrying `?token=`, both from the client's URI builder and from the
 * qgis.xml file the server hands out when asked with the token.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qgisRasterUri } from '../client/qgis.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { openTokenStore } from '../server/node/token-store.ts';
import { cannotRun } from './helpers/skip.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, 'qgis/render.py');
const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
const QGIS = existsSync('/usr/lib/python3/dist-packages/qgis/core/__init__.py') || existsSync('/usr/share/qgis/python/qgis/core/__init__.py');
if (!QGIS) console.warn('\n!!! SKIPPING QGIS auth tests: python3-qgis is not installed. Run `node scripts/setup-system.mjs` as root.\n');

interface LayerResult {
  valid: boolean;
  errors?: string[];
  drawn_fraction?: number;
  top_colours?: [string, number][];
}

let server: RunningServer;
let work: string;
let token: string;
let layers: Record<string, LayerResult>;
let connections: Record<string, Record<string, Record<string, string>>>;

function pixelsNear(layer: LayerResult, hex: string, tolerance: number): number {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return (layer.top_colours ?? [])
    .filter(([c]) => [1, 3, 5].every((i, k) => Math.abs(parseInt(c.slice(i, i + 2), 16) - want[k]) <= tolerance))
    .reduce((n, [, count]) => n + count, 0);
}

beforeAll(async () => {
  if (!QGIS) return;
  work = await mkdtemp(join(tmpdir(), 'tilesmith-qgis-auth-'));
  const tokenDb = join(work, 'tokens.db');
  const store = openTokenStore(tokenDb, { create: true });
  token = store.create({ udfs: ['mandelbrot'], label: 'qgis' }).token;
  store.close();
  server = await startServer({ dir: EXAMPLES, port: 0, cacheDir: join(work, 'cache'), auth: true, tokenDb, log: () => {} });
  const base = server.url;
  expect((await fetch(`${base}/udf/mandelbrot/tiles/0/0/0`)).status).toBe(401);

  const xmlRes = await fetch(`${base}/udf/mandelbrot/qgis.xml?colormap=viridis&token=${token}`);
  expect(xmlRes.status).toBe(200);
  const xmlFile = join(work, 'mandelbrot.xml');
  await writeFile(xmlFile, await xmlRes.text());
  const spec = {
    out: work,
    xml: [{ file: xmlFile, type: 'xyz' }],
    layers: [
      { name: 'with-token', kind: 'raster', uri: qgisRasterUri({ server: base, udf: 'mandelbrot', token, params: { iterations: 32 } }) },
      { name: 'without-token', kind: 'raster', uri: qgisRasterUri({ server: base, udf: 'mandelbrot', params: { iterations: 32 } }) },
    ],
  };
  const specFile = join(work, 'spec.json');
  await writeFile(specFile, JSON.stringify(spec));
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, specFile], {
    env: { ...process.env, HOME: join(work, 'home'), QT_QPA_PLATFORM: 'offscreen', XDG_RUNTIME_DIR: join(work, 'xdg') },
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!);
  layers = result.layers;
  connections = result.connections;
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

if (!QGIS) cannotRun('QGIS and a private raster UDF', 'python3-qgis is missing (scripts/setup-system.mjs installs it)');

describe.skipIf(!QGIS)('QGIS and a private raster UDF', () => {
  it('renders it from a URI with ?token= and draws nothing without one', () => {
    const ok = layers['with-token'];
    expect(ok).toMatchObject({ valid: true, errors: [] });
    expect(ok.drawn_fraction).toBeGreaterThan(0.9);
    expect(pixelsNear(ok, '#fcfdbf', 4)).toBeGreaterThan(1000); // magma's bright end: the set's inside
    const denied = layers['without-token'];
    expect(denied.drawn_fraction ?? 0).toBeLessThan(0.01);
  });

  it('renders it from the qgis.xml connection downloaded with the token', () => {
    const conn = connections.xyz['tilesmith mandelbrot'];
    expect(conn.url).toContain(`token=${token}`);
    const m = layers['xml-tilesmith-mandelbrot'];
    expect(m).toMatchObject({ valid: true, errors: [] });
    expect(pixelsNear(m, '#fde725', 8)).toBeGreaterThan(1000); // viridis yellow: colormap and token arrived
  });
});
