/**
 * tilesmith in real QGIS (Debian python3-qgis, offscreen): the URIs built by
 * `tilesmith/client/qgis` and the connection files served at `/udf/{name}/qgis.xml` are
 * loaded into QGIS, rendered with QgsMapRendererParallelJob, and the pictures are checked for
 * the data and for the colours of the UDF's style.json.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qgisRasterUri, qgisVectorTileUri } from '../client/qgis.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { cannotRun } from './helpers/skip.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, 'qgis/render.py');
const EXAMPLES = resolve(import.meta.dirname, '../examples/udfs');
const LOAD_UDF = resolve(import.meta.dirname, '../examples/qgis/load_udf.py');

function haveQgis(): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    // A cheap check that does not start QGIS itself.
    return existsSync('/usr/lib/python3/dist-packages/qgis/core/__init__.py') || existsSync('/usr/share/qgis/python/qgis/core/__init__.py');
  } catch {
    return false;
  }
}
const QGIS = haveQgis();
if (!QGIS) cannotRun('QGIS tests', 'python3-qgis is not installed. Run `node scripts/setup-system.mjs` as root (apt-get install python3-qgis qgis-providers).');

interface LayerResult {
  valid: boolean;
  style_loaded: boolean | null;
  provider: string;
  errors?: string[];
  drawn_fraction?: number;
  top_colours?: [string, number][];
}
interface RenderResult {
  connections: Record<'xyz' | 'vectortile', Record<string, Record<string, string>>>;
  layers: Record<string, LayerResult>;
}

let server: RunningServer;
let work: string;
let result: RenderResult;

/** Pixels (of the 2-px sampled image) of a colour close to `hex`. */
function pixelsNear(layer: LayerResult, hex: string, tolerance = 24): number {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return (layer.top_colours ?? [])
    .filter(([c]) => [1, 3, 5].every((i, k) => Math.abs(parseInt(c.slice(i, i + 2), 16) - want[k]) <= tolerance))
    .reduce((n, [, count]) => n + count, 0);
}

beforeAll(async () => {
  if (!QGIS) return;
  work = await mkdtemp(join(tmpdir(), 'tilesmith-qgis-'));
  server = await startServer({ dir: EXAMPLES, port: 0, host: '127.0.0.1', cacheDir: join(work, 'cache'), log: () => {} });
  const base = server.url;
  // Connection files as a user downloads them from the server (with a parameter holding '&').
  const xml = [];
  for (const [udf, query, type] of [
    ['points', '?n=40&label=a%26b', 'vectortile'],
    ['mandelbrot', '?iterations=48&colormap=viridis', 'xyz'],
  ] as const) {
    const res = await fetch(`${base}/udf/${udf}/qgis.xml${query}`);
    const file = join(work, `${udf}.xml`);
    await writeFile(file, await res.text());
    xml.push({ file, type });
  }
  const spec = {
    out: work,
    xml,
    layers: [
      { name: 'mandelbrot', kind: 'raster', uri: qgisRasterUri({ server: base, udf: 'mandelbrot', params: { iterations: 32 } }) },
      { name: 'mandelbrot512', kind: 'raster', uri: qgisRasterUri({ server: base, udf: 'mandelbrot', tileSize: 512, params: { colormap: 'greys' } }) },
      { name: 'points', kind: 'vector', uri: qgisVectorTileUri({ server: base, udf: 'points', params: { n: 50, label: 'x y&z' } }) },
      { name: 'countries', kind: 'vector', uri: qgisVectorTileUri({ server: base, udf: 'countries', zmax: 8 }) },
    ],
  };
  const specFile = join(work, 'spec.json');
  await writeFile(specFile, JSON.stringify(spec));
  const home = join(work, 'home'); // QGIS writes its profile under HOME
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, specFile], {
    env: { ...process.env, HOME: home, QT_QPA_PLATFORM: 'offscreen', XDG_RUNTIME_DIR: join(work, 'xdg') },
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  result = JSON.parse(stdout.trim().split('\n').pop()!);
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(!QGIS)('QGIS (offscreen, PyQGIS)', () => {
  it('imports the qgis.xml connection files with its own importer, URLs intact', () => {
    const base = server.url;
    expect(result.connections.vectortile['tilesmith points']).toMatchObject({
      url: `${base}/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=40&label=a%26b`,
      styleUrl: `${base}/udf/points/style.json?n=40&label=a%26b`,
      zmin: '0',
      zmax: '14',
    });
    expect(result.connections.xyz['tilesmith mandelbrot']).toMatchObject({
      url: `${base}/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&iterations=48&colormap=viridis`,
      tilePixelRatio: '0',
    });
  });

  it('renders a raster UDF from its XYZ URI (256 and 512 px tiles)', () => {
    const m = result.layers.mandelbrot;
    expect(m).toMatchObject({ valid: true, provider: 'wms', errors: [] });
    expect(m.drawn_fraction).toBeGreaterThan(0.9);
    expect(pixelsNear(m, '#fcfdbf', 4)).toBeGreaterThan(1000); // magma's bright end: the set's inside
    const big = result.layers.mandelbrot512;
    expect(big).toMatchObject({ valid: true, errors: [] });
    expect(big.drawn_fraction).toBeGreaterThan(0.9);
    // colormap=greys reached the server through the percent-encoded template.
    for (const [c] of big.top_colours!) expect(c.slice(1, 3)).toBe(c.slice(3, 5));
  });

  it('renders vector UDFs styled by their style.json (styleUrl)', () => {
    const points = result.layers.points;
    expect(points).toMatchObject({ valid: true, provider: 'vectortile', style_loaded: true, errors: [] });
    // The style's background and circle colour, not QGIS's default random symbology.
    expect(points.top_colours![0][0]).toBe('#f4f1ea');
    expect(pixelsNear(points, '#0a7cff', 16)).toBeGreaterThan(150);

    const countries = result.layers.countries;
    expect(countries).toMatchObject({ valid: true, style_loaded: true, errors: [] });
    // fill-color #0a7cff at 40% over the background: a light blue covering the continents.
    expect(pixelsNear(countries, '#96c3f2', 20) / (256 * 256)).toBeGreaterThan(0.15);
  });

  it('renders layers made from the imported connections', () => {
    const pts = result.layers['xml-tilesmith-points'];
    expect(pts).toMatchObject({ valid: true, style_loaded: true, errors: [] });
    expect(pixelsNear(pts, '#0a7cff', 16)).toBeGreaterThan(100);
    const m = result.layers['xml-tilesmith-mandelbrot'];
    expect(m).toMatchObject({ valid: true, errors: [] });
    expect(pixelsNear(m, '#fde725', 8)).toBeGreaterThan(1000); // viridis yellow: colormap=viridis arrived
  });

  it('examples/qgis/load_udf.py builds the same URIs as the client and renders the layers', async () => {
    const env = { ...process.env, HOME: join(work, 'home2'), QT_QPA_PLATFORM: 'offscreen', XDG_RUNTIME_DIR: join(work, 'xdg') };
    for (const [udf, args, uri, colour] of [
      ['points', ['n=30', 'label=a&b'], qgisVectorTileUri({ server: server.url, udf: 'points', params: { n: 30, label: 'a&b' } }), [10, 124, 255]],
      ['mandelbrot', ['colormap=viridis'], qgisRasterUri({ server: server.url, udf: 'mandelbrot', params: { colormap: 'viridis' } }), [253, 231, 37]],
    ] as const) {
      const png = join(work, `load_udf-${udf}.png`);
      const { stdout } = await promisify(execFile)(PYTHON, [LOAD_UDF, server.url, udf, ...args, '--png', png], { env, timeout: 120_000 });
      const out = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(out).toMatchObject({ name: udf, valid: true, errors: [], uri });
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let hits = 0;
      for (let i = 0; i < data.length; i += 3) {
        if (Math.abs(data[i] - colour[0]) < 20 && Math.abs(data[i + 1] - colour[1]) < 20 && Math.abs(data[i + 2] - colour[2]) < 20) hits++;
      }
      expect(hits, `${udf}: pixels near rgb(${colour.join(',')}) in ${info.width}x${info.height}`).toBeGreaterThan(300);
    }
  }, 240_000);
});
