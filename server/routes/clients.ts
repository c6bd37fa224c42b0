/**
 * Pages for people (Node only: they read files of the package): the preview page, the index
 * page, the example pages, and the vendor libraries + client bundle those pages load — all
 * served locally so the pages work without internet access. The metadata map clients read
 * (`style.json`, `qgis.xml`) is the runtime-neutral `map-metadata.ts`.
 */
import { catalogVisible } from '../auth/middleware.ts';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { NotFoundError } from '../errors.ts';
import { errorResponse } from '../http/response.ts';
import { renderIndexPage, renderPreviewPage, type PageUdf } from '../pages/html.ts';
import type { LoadedUdf, ResultKind } from '../types.ts';
import { requireUdf } from './serve-result.ts';

/** What the client routes need from the app. */
export interface ClientRouteDeps {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  /** The UDF's result kind: declared, learned, or probed (`empty` when unknown). */
  resolveKind(udf: LoadedUdf): Promise<ResultKind | 'vector' | 'raster' | 'json' | 'table'>;
  /** Public base URL for this request, e.g. `http://localhost:8787` (honours X-Forwarded-*). */
  baseUrl(req: Request): string;
  /** Folder holding `web/*.html` example pages (or the pages themselves). @default `<repo>/examples` */
  examplesDir?: string;
  log?: (msg: string) => void;
  /** Error bodies carry logs/tracebacks (see AppOptions.dev). */
  dev?: boolean;
}

const HERE = dirname(fileURLToPath(import.meta.url));
// From source this is browser.ts; in the build, its compiled browser.js next to it.
const CLIENT_ENTRY = resolve(HERE, import.meta.url.endsWith('.ts') ? '../../client/browser.ts' : '../../client/browser.js');
const PAGES_DIR = resolve(HERE, '../pages');

/** Finds `node_modules/<pkg>` walking up from this file (works in the repo and when installed as a dependency). */
function packageDir(pkg: string): string | undefined {
  let dir = HERE;
  for (;;) {
    const candidate = join(dir, 'node_modules', pkg);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The only files `/vendor/*` serves: URL path → [package, file inside it]. A fixed table
 * instead of a directory mapping, so no request can read anything else from disk.
 */
const VENDOR: Record<string, [string, string]> = {
  'maplibre-gl/maplibre-gl.mjs': ['maplibre-gl', 'dist/maplibre-gl.mjs'],
  // MapLibre 6 starts its worker from `new URL('./maplibre-gl-worker.mjs', import.meta.url)`.
  'maplibre-gl/maplibre-gl-worker.mjs': ['maplibre-gl', 'dist/maplibre-gl-worker.mjs'],
  'maplibre-gl/maplibre-gl-shared.mjs': ['maplibre-gl', 'dist/maplibre-gl-shared.mjs'],
  'maplibre-gl/maplibre-gl.css': ['maplibre-gl', 'dist/maplibre-gl.css'],
  // The h3 example page loads h3-js itself (its own UDF cell ids are computed with it).
  'h3-js/h3-js.umd.js': ['h3-js', 'dist/h3-js.umd.js'],
  'leaflet/leaflet.js': ['leaflet', 'dist/leaflet.js'],
  'leaflet/leaflet.css': ['leaflet', 'dist/leaflet.css'],
  'leaflet/images/layers.png': ['leaflet', 'dist/images/layers.png'],
  'leaflet/images/layers-2x.png': ['leaflet', 'dist/images/layers-2x.png'],
  'leaflet/images/marker-icon.png': ['leaflet', 'dist/images/marker-icon.png'],
  'leaflet/images/marker-icon-2x.png': ['leaflet', 'dist/images/marker-icon-2x.png'],
  'leaflet/images/marker-shadow.png': ['leaflet', 'dist/images/marker-shadow.png'],
  'protomaps-leaflet/protomaps-leaflet.js': ['protomaps-leaflet', 'dist/protomaps-leaflet.js'],
  // deck.gl's MVTLayer parses only in this worker, which loaders.gl would fetch from unpkg.com.
  'loaders.gl/mvt-worker.js': ['@loaders.gl/mvt', 'dist/mvt-worker.js'],
};

/**
 * Vendor files built on first request (then kept in memory) instead of read from a package.
 * `deck.gl/dist.min.js`: the scoped `@deck.gl/{core,layers,geo-layers}` modules bundled by
 * esbuild into one script with a global `deck`, as the umbrella `deck.gl` package's UMD file
 * was. The umbrella is not a dependency: it pulls in `@arcgis/core` and `@esri/*` (240 MB)
 * and a usage-statistics install script. Only the example pages use it; without the optional
 * peer dependencies installed this answers 404 saying what to install.
 */
const BUILT_VENDOR: Record<string, { packages: string[]; build(): Promise<Uint8Array<ArrayBuffer>> }> = {
  'deck.gl/dist.min.js': {
    packages: ['@deck.gl/core', '@deck.gl/layers', '@deck.gl/geo-layers'],
    async build() {
      const esbuild = await import('esbuild');
      const result = await esbuild.build({
        stdin: {
          contents: "export * from '@deck.gl/core';\nexport * from '@deck.gl/layers';\nexport * from '@deck.gl/geo-layers';\n",
          resolveDir: HERE,
          loader: 'js',
        },
        bundle: true,
        format: 'iife',
        globalName: 'deck',
        platform: 'browser',
        target: 'es2020',
        minify: true,
        write: false,
        legalComments: 'none',
        logLevel: 'silent',
      });
      return new Uint8Array(result.outputFiles[0].contents);
    },
  },
};

/** Static helper files of the pages themselves (`/pages/*`). */
const PAGE_FILES = new Set(['preview.js', 'common.css']);

function mediaTypeOf(path: string): string {
  if (/\.m?js$/.test(path)) return 'text/javascript; charset=utf-8';
  if (path.endsWith('.css')) return 'text/css; charset=utf-8';
  if (path.endsWith('.png')) return 'image/png';
  if (path.endsWith('.html')) return 'text/html; charset=utf-8';
  if (path.endsWith('.json')) return 'application/json; charset=utf-8';
  return 'application/octet-stream';
}

function pageUdf(udf: LoadedUdf, kind: string | null): PageUdf {
  return {
    name: udf.name,
    language: udf.language,
    kind,
    description: udf.options.description ?? null,
    params: udf.params,
    minzoom: udf.options.minzoom ?? 0,
    maxzoom: udf.options.maxzoom ?? 22,
    bounds: udf.options.bounds ?? null,
    error: udf.loadError?.message ?? null,
  };
}

/** Bundles the client package for the browser once per process: IIFE, global `tilesmith`. */
let clientBundle: Promise<string> | undefined;
async function buildClientBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  const deckNames: Record<string, string[]> = {
    '@deck.gl/geo-layers': ['MVTLayer', 'TileLayer', 'H3HexagonLayer'],
    '@deck.gl/layers': ['BitmapLayer', 'GeoJsonLayer'],
  };
  const result = await esbuild.build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: 'iife',
    globalName: 'tilesmith',
    platform: 'browser',
    target: 'es2020',
    write: false,
    minify: false,
    legalComments: 'none',
    plugins: [
      {
        // Pages load deck.gl's own UMD bundle (global `deck`); bundling a second deck.gl
        // would double the download and break layer identity, so the adapter's imports
        // resolve to the global, looked up at call time (pages without deck.gl still work).
        name: 'deck-global',
        setup(build) {
          build.onResolve({ filter: /^@deck\.gl\// }, (args) => ({ path: args.path, namespace: 'deck-global' }));
          build.onLoad({ filter: /.*/, namespace: 'deck-global' }, (args) => {
            const names = deckNames[args.path] ?? [];
            const lines = names.map(
              (n) =>
                `export const ${n} = function (...args) { const C = globalThis.deck && globalThis.deck.${n}; ` +
                `if (!C) throw new Error('tilesmith: load deck.gl (/vendor/deck.gl/dist.min.js) before using tilesmith.deckgl'); return new C(...args); };`,
            );
            return { contents: lines.join('\n'), loader: 'js' };
          });
        },
      },
    ],
  });
  return result.outputFiles[0].text;
}

/**
 * Route group for pages, mounted before the core UDF routes: `GET /udf/:name` (preview), `/`,
 * `/examples/*`, `/vendor/*`, `/pages/*`, `/client/tilesmith-client.js`.
 *
 * @example app.route('/', createClientRoutes({ registry, resolveKind, baseUrl }));
 */
export function createClientRoutes(deps: ClientRouteDeps): Hono {
  const app = new Hono();
  const examplesRoot = deps.examplesDir ?? resolve(HERE, '../../examples');
  const webDir = existsSync(join(examplesRoot, 'web')) ? join(examplesRoot, 'web') : examplesRoot;
  app.onError((err, c) => errorResponse(err, deps.log, c, { dev: deps.dev }));

  app.get('/udf/:name', async (c) => {
    const udf = requireUdf(deps, c.req.param('name'), true);
    let kind: string | null = null;
    if (!udf.loadError && udf.runtime) {
      const k = await deps.resolveKind(udf);
      kind = k === 'empty' ? 'vector' : k;
    }
    const html = renderPreviewPage({ server: deps.baseUrl(c.req.raw), udf: pageUdf(udf, kind), query: Object.fromEntries(new URL(c.req.url).searchParams) });
    c.header('Cache-Control', 'no-store');
    return c.html(html);
  });

  app.get('/', async (c) => {
    // The kind column comes from the UDF's declaration, an earlier run, or one probe run.
    const udfs = await Promise.all(
      // [issue 11] under --auth: public UDFs and those the request's token may run.
      deps.registry.list().filter((u) => catalogVisible(c, u.name)).map(async (u) => {
        const kind = u.loadError ? null : await deps.resolveKind(u);
        return pageUdf(u, kind === 'empty' ? null : kind);
      }),
    );
    let examples: string[] = [];
    try {
      const { readdir } = await import('node:fs/promises');
      examples = (await readdir(webDir)).filter((f) => f.endsWith('.html')).sort();
    } catch {
      /* no examples folder in this install */
    }
    c.header('Cache-Control', 'no-store');
    return c.html(renderIndexPage({ server: deps.baseUrl(c.req.raw), udfs, examples }));
  });

  app.get('/examples/:file', async (c) => {
    const file = c.req.param('file');
    // One flat folder of pages: a strict name pattern rules out traversal and hidden files.
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*\.(html|js|css)$/.test(file)) throw new NotFoundError(`No example '${file.slice(0, 100)}'.`);
    let body: Buffer;
    try {
      body = await readFile(join(webDir, file));
    } catch {
      throw new NotFoundError(`No example '${file}'. See / for the list.`);
    }
    return c.body(new Uint8Array(body), 200, { 'Content-Type': mediaTypeOf(file), 'Cache-Control': 'no-cache' });
  });

  const vendorCache = new Map<string, Uint8Array<ArrayBuffer>>();
  const vendorBuilds = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
  app.get('/vendor/*', async (c) => {
    const key = c.req.path.replace(/^\/vendor\//, '');
    const entry = Object.hasOwn(VENDOR, key) ? VENDOR[key] : undefined;
    const built = Object.hasOwn(BUILT_VENDOR, key) ? BUILT_VENDOR[key] : undefined;
    if (!entry && !built) throw new NotFoundError(`No vendor file '${key.slice(0, 100)}'. Served: ${[...Object.keys(VENDOR), ...Object.keys(BUILT_VENDOR)].join(', ')}.`);
    let body = vendorCache.get(key);
    if (!body && built) {
      const missing = built.packages.filter((p) => !packageDir(p));
      if (missing.length) throw new NotFoundError(`/vendor/${key} is built from ${built.packages.join(', ')}; install ${missing.join(' ')} (optional peer dependencies of tilesmith) to serve it.`);
      let pending = vendorBuilds.get(key);
      if (!pending) {
        pending = built.build();
        vendorBuilds.set(key, pending);
        pending.catch(() => vendorBuilds.delete(key)); // a later request retries
      }
      body = await pending;
      vendorCache.set(key, body);
    }
    if (!body && entry) {
      const dir = packageDir(entry[0]);
      if (!dir) throw new NotFoundError(`The package ${entry[0]} is not installed, so /vendor/${key} is unavailable.`);
      body = new Uint8Array(readFileSync(join(dir, entry[1])));
      vendorCache.set(key, body);
    }
    // Versioned by the installed package: a day of caching is safe and keeps reloads fast.
    return c.body(body!, 200, { 'Content-Type': mediaTypeOf(key), 'Cache-Control': 'public, max-age=86400' });
  });

  app.get('/pages/:file', async (c) => {
    const file = c.req.param('file');
    if (!PAGE_FILES.has(file)) throw new NotFoundError(`No page asset '${file.slice(0, 100)}'.`);
    const body = await readFile(join(PAGES_DIR, file));
    return c.body(new Uint8Array(body), 200, { 'Content-Type': mediaTypeOf(file), 'Cache-Control': 'no-cache' });
  });

  app.get('/client/tilesmith-client.js', async (c) => {
    clientBundle ??= buildClientBundle().catch((err) => {
      clientBundle = undefined; // let a later request retry (e.g. after fixing a syntax error)
      throw err;
    });
    const js = await clientBundle;
    return c.body(js, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=300' });
  });

  return app;
}
