/**
 * `tilesmith build DIR --target workers|deno|bun --out DIST`: bundles the runtime-neutral core
 * and the folder's TypeScript UDFs into one ES module per target with esbuild. The UDFs are
 * imported statically by a generated entry (no filesystem scan or compilation at run time);
 * Python UDFs cannot run there and are served through the origin proxy (`--origin` / ORIGIN).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import type { EdgeTarget } from '../edge/app.ts';
import { UDF_NAME } from '../udf/name.ts';
import { createTsLoader } from '../udf/ts-runtime.ts';
import { FROM_SOURCE, PACKAGE_ROOT } from './package-root.ts';

export const EDGE_TARGETS: readonly EdgeTarget[] = ['workers', 'deno', 'bun'];

export interface BuildOptions {
  /** Folder of UDFs. */
  dir: string;
  target: EdgeTarget;
  /** Output folder; the bundle is `index.js` in it. */
  out: string;
  /** Origin tilesmith baked into the bundle (on Workers, `ORIGIN` in the environment also works). */
  origin?: string;
  /** Public base URL baked into TileJSON. */
  publicUrl?: string;
  minify?: boolean;
  /** Error bodies with UDF logs and tracebacks (never in production). */
  dev?: boolean;
}

export interface BuildResult {
  /** Path of the bundle. */
  file: string;
  bytes: number;
  gzipBytes: number;
  /** Bundled TypeScript UDFs. */
  udfs: string[];
  /** UDFs found but not bundled (Python, Fused folders), served by the origin. */
  proxied: string[];
  /** Imports left external in the bundle (Node built-ins on Deno/Bun; always empty for Workers). */
  externalImports: string[];
}

/** A friendly refusal (exit code 2 from the CLI). */
export class BuildError extends Error {}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const CORE = (sub: string) => join(PACKAGE_ROOT, FROM_SOURCE ? `server/${sub}.ts` : `dist/server/${sub}.js`);

/** Lists the folder's entries: TypeScript UDFs to bundle, everything else UDF-like to proxy. */
async function findUdfs(dir: string): Promise<{ ts: { name: string; path: string }[]; other: string[] }> {
  const matcher = createTsLoader({ timeoutMs: 0 });
  const ts: { name: string; path: string }[] = [];
  const other: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || entry.name.startsWith('_') || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    const name = matcher.match(path, entry.isDirectory());
    if (name) {
      if (!UDF_NAME.test(name)) continue;
      ts.push({ name, path });
    } else if (entry.isDirectory() || /\.(py|zip)$/.test(entry.name)) {
      other.push(entry.name.replace(/\.(py|zip)$/, ''));
    }
  }
  return { ts, other };
}

function entrySource(o: BuildOptions, udfs: { name: string; path: string; codeHash: string }[], proxied: string[], dir: string): string {
  const lines = [`import { createEdgeApp } from ${JSON.stringify(CORE('edge/index'))};`];
  udfs.forEach((u, i) => lines.push(`import * as udf${i} from ${JSON.stringify(u.path)};`));
  // A .ts module compiled as CommonJS by a UDF's own tooling may nest the default once more.
  lines.push('const def = (m) => (m.default && m.default.default && typeof m.default.run !== "function" ? m.default.default : m.default);');
  // Deno and Bun read ORIGIN from the process environment; Workers get it as env.ORIGIN per request.
  const getEnv = { workers: () => 'undefined', deno: (k: string) => `Deno.env.get(${JSON.stringify(k)})`, bun: (k: string) => `Bun.env[${JSON.stringify(k)}]` }[o.target];
  lines.push(`const origin = ${JSON.stringify(o.origin ?? null)} ?? ${getEnv('ORIGIN')} ?? undefined;`);
  let cache = '';
  if (o.target !== 'workers') {
    // Deno and Bun have node:fs: with TILESMITH_CACHE_DIR set, the Node disk tier sits under the memory tier.
    lines.unshift(
      `import { createMemoryCache } from ${JSON.stringify(CORE('cache/memory'))};`,
      `import { createDiskCache } from ${JSON.stringify(CORE('cache/disk'))};`,
      `import { createTieredCache } from ${JSON.stringify(CORE('cache/tiered'))};`,
    );
    lines.push(`const cacheDir = ${getEnv('TILESMITH_CACHE_DIR')};`);
    lines.push('const cache = cacheDir ? createTieredCache([createMemoryCache({ maxBytes: 64 * 1024 * 1024 }), createDiskCache({ dir: cacheDir })]) : undefined;');
    cache = ' cache,';
  }
  lines.push(`const app = createEdgeApp(${JSON.stringify({ target: o.target, publicUrl: o.publicUrl, dev: o.dev, originUdfs: proxied }).slice(0, -1)}, origin,${cache} udfs: [`);
  udfs.forEach((u, i) =>
    lines.push(`  { name: ${JSON.stringify(u.name)}, source: ${JSON.stringify(relative(dir, u.path))}, codeHash: ${JSON.stringify(u.codeHash)}, def: def(udf${i}) },`),
  );
  lines.push(']});');
  switch (o.target) {
    case 'workers':
      lines.push('export default { fetch: (request, env, ctx) => app.fetch(request, env, ctx) };');
      break;
    case 'deno':
      lines.push('const port = Number(Deno.env.get("PORT") ?? 8000);');
      lines.push('const hostname = Deno.env.get("HOST") ?? "0.0.0.0";');
      lines.push('Deno.serve({ port, hostname }, (request) => app.fetch(request));');
      break;
    case 'bun':
      lines.push('const server = Bun.serve({ port: Number(Bun.env.PORT ?? 3000), hostname: Bun.env.HOST ?? "0.0.0.0", fetch: (request) => app.fetch(request) });');
      lines.push('console.log(`tilesmith (bun) listening on ${server.url}`);');
      break;
  }
  lines.push('export { app };');
  return lines.join('\n') + '\n';
}

/**
 * Builds the bundle for one target.
 * @throws BuildError when the folder has no TypeScript UDF or something in it cannot run on the target.
 * @example await buildEdge({ dir: 'udfs', target: 'workers', out: 'dist-edge' })
 */
export async function buildEdge(o: BuildOptions): Promise<BuildResult> {
  if (!EDGE_TARGETS.includes(o.target)) throw new BuildError(`--target takes ${EDGE_TARGETS.join(', ')}, got ${JSON.stringify(o.target)}`);
  const dir = resolve(o.dir);
  if (!(await stat(dir).catch(() => null))?.isDirectory()) throw new BuildError(`${o.dir} is not a folder`);
  if (o.origin !== undefined) {
    try {
      new URL(o.origin);
    } catch {
      throw new BuildError(`--origin must be an absolute URL like https://tiles.example.com, got ${JSON.stringify(o.origin)}`);
    }
  }
  const found = await findUdfs(dir);
  const udfs = await Promise.all(
    found.ts.map(async (u) => ({ ...u, codeHash: createHash('sha256').update(await readFile(u.path)).digest('hex').slice(0, 16) })),
  );
  const work = await mkdtemp(join(tmpdir(), 'tilesmith-build-'));
  const outDir = resolve(o.out);
  const file = join(outDir, 'index.js');
  try {
    const entry = join(work, 'entry.js');
    await writeFile(entry, entrySource(o, udfs, found.other, dir));
    const nodeImports: string[] = [];
    await mkdir(outDir, { recursive: true });
    const result = await esbuild.build({
      entryPoints: [entry],
      outfile: file,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      conditions: o.target === 'workers' ? ['workerd', 'worker', 'browser', 'import'] : [o.target, 'browser', 'import'],
      mainFields: ['browser', 'module', 'main'],
      minify: o.minify ?? false,
      legalComments: 'none',
      logLevel: 'silent',
      metafile: true,
      nodePaths: [join(PACKAGE_ROOT, 'node_modules')],
      plugins: [
        {
          name: 'tilesmith-edge',
          setup(build) {
            // UDF files import 'tilesmith' whether or not their folder has it installed.
            build.onResolve({ filter: /^tilesmith(\/.*)?$/ }, (args) => {
              if (args.path === 'tilesmith') return { path: CORE('index') };
              if (args.path === 'tilesmith/edge') return { path: CORE('edge/index') };
              const client = /^tilesmith\/(client(?:\/[a-z]+)?)$/.exec(args.path);
              if (client) return { path: join(PACKAGE_ROOT, FROM_SOURCE ? `${client[1]}${client[1] === 'client' ? '/index' : ''}.ts` : `dist/${client[1]}${client[1] === 'client' ? '/index' : ''}.js`) };
              return { errors: [{ text: `${args.path} is Node-only and cannot be bundled for ${o.target} (imported by ${relative(dir, args.importer)}); UDFs import from 'tilesmith'.` }] };
            });
            build.onResolve({ filter: /.*/ }, (args) => {
              if (!args.path.startsWith('node:') && !BUILTINS.has(args.path)) return undefined;
              const by = args.importer.startsWith(dir) ? relative(dir, args.importer) : args.importer.replace(/^.*\/(server|node_modules)\//, '$1/');
              nodeImports.push(`${args.path} (imported by ${by})`);
              // Deno and Bun provide node: modules; Workers (without nodejs_compat) do not.
              if (o.target === 'workers') return { errors: [{ text: `${args.path} is a Node built-in, imported by ${by}: Cloudflare Workers do not have it. Use Web APIs (fetch, crypto.subtle, …) in UDFs meant for the edge.` }] };
              return { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, external: true };
            });
          },
        },
      ],
    });
    if (result.errors.length) throw new BuildError(result.errors.map((e) => e.text).join('\n'));
    const code = await readFile(file);
    if (o.target === 'workers') {
      await writeFile(
        join(outDir, 'wrangler.toml'),
        `# Generated by tilesmith build. Deploy with: npx wrangler deploy\nname = ${JSON.stringify(basename(dir).toLowerCase().replace(/[^a-z0-9-]/g, '-') || 'tilesmith')}\nmain = "index.js"\ncompatibility_date = "2025-09-01"\n${o.origin ? '' : '# [vars]\n# ORIGIN = "https://tiles.example.com"  # a Node tilesmith for Python UDFs\n'}`,
      );
    }
    const outputs = Object.values(result.metafile!.outputs);
    const externalImports = [...new Set(outputs.flatMap((out) => out.imports.filter((i) => i.external).map((i) => i.path)))];
    return { file, bytes: code.byteLength, gzipBytes: gzipSync(code).byteLength, udfs: udfs.map((u) => u.name), proxied: found.other, externalImports };
  } catch (err) {
    if (err instanceof BuildError) throw err;
    const e = err as { errors?: { text: string }[] };
    if (e.errors?.length) throw new BuildError(e.errors.map((x) => x.text).join('\n'));
    throw err;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const BUILD_HELP = `Usage: tilesmith build DIR --target workers|deno|bun [--out DIST] [--origin URL] [--public-url URL] [--minify] [--dev]

Bundles DIR's TypeScript UDFs and the tilesmith core into DIST/index.js for the target:
  workers  export default { fetch }  (DIST/wrangler.toml is written too)
  deno     Deno.serve on $PORT (default 8000)
  bun      Bun.serve on $PORT (default 3000)
Python UDFs cannot run there: with --origin (or ORIGIN in a Worker's environment) their
requests are proxied to a Node tilesmith and cached at the edge.
`;

/** `tilesmith build …` (called by the CLI with the arguments after `build`). */
export async function runBuildCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string' },
        out: { type: 'string' },
        origin: { type: 'string' },
        'public-url': { type: 'string' },
        minify: { type: 'boolean' },
        dev: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`tilesmith build: ${(err as Error).message}\n\n${BUILD_HELP}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(BUILD_HELP);
    return 0;
  }
  if (positionals.length !== 1 || !v.target) {
    process.stderr.write(`tilesmith build: needs one folder and --target\n\n${BUILD_HELP}`);
    return 2;
  }
  try {
    const r = await buildEdge({
      dir: positionals[0]!,
      target: v.target as EdgeTarget,
      out: v.out ?? `dist-${v.target}`,
      origin: v.origin,
      publicUrl: v['public-url'],
      minify: v.minify,
      dev: v.dev,
    });
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    process.stdout.write(
      `tilesmith build: ${r.file} (${kb(r.bytes)}, ${kb(r.gzipBytes)} gzipped) for ${v.target}\n` +
        `  bundled: ${r.udfs.join(', ') || '(none)'}\n` +
        (r.proxied.length ? `  served by the origin: ${r.proxied.join(', ')}${v.origin ? '' : ' (set --origin or ORIGIN, else these are 404 at the edge)'}\n` : ''),
    );
    return 0;
  } catch (err) {
    if (err instanceof BuildError) {
      process.stderr.write(`tilesmith build: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
