#!/usr/bin/env node
/**
 * Builds the npm package: `dist/` with one `.js` + `.d.ts` per source file of `server/` and
 * `client/` (tsc with rewriteRelativeImportExtensions), plus the files those modules load at
 * run time that are not TypeScript (the Python worker and its packages, page assets, the
 * module resolve hook, hand-written .d.ts shims).
 *
 * Why tsc and not a bundler (tsup/tsdown): the Node layer loads files by URL at run time
 * (worker.py, resolve-hook.mjs, the worker-thread entry piscina starts, the browser client
 * entry esbuild bundles on request, optional modules imported by path), so the output must
 * keep the source tree's layout file for file; tsc does exactly that, emits declarations that
 * match the sources, and is already the project's type checker (no second toolchain).
 *
 * Runs on `prepare` (git installs, `npm install` in a checkout) and so before `npm pack`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

let tscBin;
try {
  tscBin = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  // `prepare` also runs when tilesmith is installed from git into a project without
  // TypeScript: npm installs devDependencies for that, so this only fails in odd setups.
  console.error('build: typescript is not installed; run `npm install` in the tilesmith checkout first.');
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscBin, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) {
  console.error('build: tsc failed');
  process.exit(tsc.status ?? 1);
}

/** Non-TypeScript files the compiled modules load, copied next to them (tests excluded). */
let copied = 0;
function copyAssets(dir) {
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    const abs = join(root, rel);
    if (name === '__pycache__' || name === 'node_modules') continue;
    if (statSync(abs).isDirectory()) {
      copyAssets(rel);
      continue;
    }
    const isTs = /\.(c|m)?ts$/.test(name) && !name.endsWith('.d.ts');
    if (isTs || /\.test\./.test(name)) continue;
    cpSync(abs, join(dist, rel));
    copied++;
  }
}
copyAssets('server');
copyAssets('client');
console.log(`build: dist/ written (tsc + ${copied} asset files) in ${relative(process.cwd(), dist) || '.'}`);
if (!existsSync(join(dist, 'server', 'index.js'))) {
  console.error('build: dist/server/index.js is missing');
  process.exit(1);
}
