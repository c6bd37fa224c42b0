/**
 * Function environments, for real: a tiny package is built into a wheel in the test (pip wheel,
 * offline), an environment is created with `tilesmith env create` + `env install` (python3 -m
 * venv, pip --no-index), and a real server's UDF selecting it imports the package while a UDF
 * without it cannot. Removing an environment in use is refused. Missing environments and
 * interpreters are load errors that name what is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { runEnvCommand } from '../server/node/env-cli.ts';

const PYTHON = '/usr/bin/python3';
let dir: string;
let envDir: string;
let wheelhouse: string;
let server: RunningServer | undefined;

/** Runs `tilesmith env …` in-process; returns its exit code and what it wrote. */
async function env(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write(chunk, _e, cb) { f(String(chunk)); cb(); } });
  const code = await runEnvCommand([...args, '--env-dir', envDir], sink((s) => (out += s)) as any, sink((s) => (err += s)) as any);
  return { code, out, err };
}

/** Builds tinypkg VERSION (whose VALUE is `value`) into a wheel, offline. */
function buildWheel(pkg: string, version: string, value: number, out: string): void {
  rmSync(pkg, { recursive: true, force: true });
  mkdirSync(path.join(pkg, 'tinypkg'), { recursive: true });
  writeFileSync(path.join(pkg, 'tinypkg', '__init__.py'), `VALUE = ${value}\n\ndef greet(who):\n    return f"hello {who} from tinypkg"\n`);
  writeFileSync(path.join(pkg, 'pyproject.toml'), `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "tinypkg"\nversion = "${version}"\n`);
  execFileSync(PYTHON, ['-m', 'pip', 'wheel', '--no-index', '--no-build-isolation', '--no-deps', '-w', out, pkg], { stdio: 'pipe', env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(100);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-envs-'));
  envDir = path.join(dir, 'envs');
  wheelhouse = path.join(dir, 'wheelhouse');
  // A tiny local package, built into a wheel offline.
  const pkg = path.join(dir, 'src', 'tinypkg');
  mkdirSync(path.join(pkg, 'tinypkg'), { recursive: true });
  buildWheel(pkg, '1.0', 42, wheelhouse);

  const udfs = path.join(dir, 'udfs');
  mkdirSync(udfs);
  const importer = `import os, numpy
from tilesmith import udf

@udf(cache_max_age="0s")
def udf(who: str = "map", pid_only: bool = False):
    if pid_only:
        return {"pid": os.getpid()}
    import tinypkg
    return {"value": tinypkg.VALUE, "greeting": tinypkg.greet(who), "numpy": numpy.__version__, "pid": os.getpid()}
`;
  writeFileSync(path.join(udfs, 'with_env.py'), importer);
  writeFileSync(path.join(udfs, 'with_env.tilesmith.json'), JSON.stringify({ environment: 'tiny' }));
  writeFileSync(path.join(udfs, 'without_env.py'), importer);
  writeFileSync(path.join(udfs, 'missing_env.py'), importer);
  writeFileSync(path.join(udfs, 'missing_env.tilesmith.json'), JSON.stringify({ environment: 'nosuchenv' }));
  writeFileSync(path.join(udfs, 'missing_python.py'), importer);
  writeFileSync(path.join(udfs, 'missing_python.tilesmith.json'), JSON.stringify({ python: '/opt/nowhere/bin/python3' }));
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('function environments', () => {
  it('env create + env install build an environment offline from a local wheel', async () => {
    const created = await env('create', 'tiny', '--system-site-packages', '--python', PYTHON);
    expect(created.err).toBe('');
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^created tiny {2}Python 3\.\d+\.\d+ \+system packages/);
    const installed = await env('install', 'tiny', 'tinypkg', '--wheelhouse', wheelhouse);
    expect(installed.err).toBe('');
    expect(installed.code).toBe(0);
    expect(installed.out).toMatch(/tinypkg==1\.0/);
    // Offline means offline: a package the wheelhouse lacks is an error, not a download.
    const absent = await env('install', 'tiny', 'requests-not-here', '--wheelhouse', wheelhouse);
    expect(absent.code).toBe(1);
    expect(absent.err).toMatch(/No matching distribution|Could not find a version/);
    expect((await env('create', 'tiny')).code).toBe(1);
    expect((await env('create', 'bad/name')).err).toMatch(/not an environment name/);
    const list = await env('list');
    expect(list.out).toMatch(/^tiny {2}Python 3\.\d+\.\d+ \+system packages {2}.*tinypkg==1\.0/m);
    // The real command line dispatches to the same code.
    const cli = execFileSync(process.execPath, [path.resolve(import.meta.dirname, '../bin/tilesmith.js'), 'env', 'list', '--env-dir', envDir], { encoding: 'utf8' });
    expect(cli).toMatch(/^tiny {2}Python 3\.\d+\.\d+ .*tinypkg==1\.0/m);
  }, 180_000);

  it('a UDF selecting the environment imports its package; one without it cannot', async () => {
    server = await startServer({ dir: path.join(dir, 'udfs'), port: 0, host: '127.0.0.1', cacheDir: path.join(dir, 'cache'), envDir, pythonWorkers: 1, threads: 1, watch: true, log: () => {} });
    const ok = await fetch(`${server.url}/udf/with_env/file?who=qgis`);
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body.value).toBe(42);
    expect(body.greeting).toBe('hello qgis from tinypkg');
    expect(body.numpy).toMatch(/^\d+\./); // --system-site-packages: Debian's numpy still imports
    const no = await fetch(`${server.url}/udf/without_env/file`);
    expect(no.status).toBe(500);
    expect((await no.json()).message).toMatch(/ModuleNotFoundError: No module named 'tinypkg'/);
  }, 60_000);

  it('GET /envs lists the environment, its Python version, packages and users', async () => {
    const res = await fetch(`${server!.url}/envs`);
    expect(res.status).toBe(200);
    const { envs } = await res.json();
    expect(envs).toHaveLength(1);
    expect(envs[0].name).toBe('tiny');
    expect(envs[0].python).toMatch(/^3\.\d+\.\d+$/);
    expect(envs[0].systemSitePackages).toBe(true);
    expect(envs[0].packages).toContainEqual({ name: 'tinypkg', version: '1.0' });
    expect(envs[0].usedBy).toEqual(["UDF 'with_env'"]);
    expect(JSON.stringify(envs)).not.toContain(dir); // no server paths
  });

  it('a missing environment or interpreter is a load error naming it', async () => {
    const udfs = await (await fetch(`${server!.url}/udfs`)).json();
    const byName = Object.fromEntries(udfs.map((u: any) => [u.name, u]));
    expect(byName.missing_env.error.message).toMatch(/the environment 'nosuchenv' does not exist.*tilesmith env create nosuchenv/);
    // (absolute paths are shortened in answers without --dev; the log has them whole)
    expect(byName.missing_python.error.message).toMatch(/its interpreter \S*python3 does not exist/);
    const res = await fetch(`${server!.url}/udf/missing_env/file`);
    expect(res.status).toBe(503);
    expect((await res.json()).message).toMatch(/nosuchenv/);
  });

  it('installing into an environment gives only its UDFs fresh workers (--watch)', async () => {
    const get = async (udf: string, q = '') => (await fetch(`${server!.url}/udf/${udf}/file${q}`)).json();
    const before = await get('with_env');
    const otherPid = (await get('without_env', '?pid_only=true')).pid;
    expect(before.value).toBe(42);
    const wh2 = path.join(dir, 'wheelhouse2');
    buildWheel(path.join(dir, 'src', 'tinypkg'), '2.0', 43, wh2);
    const up = await env('install', 'tiny', 'tinypkg==2.0', '--wheelhouse', wh2);
    expect(up.err).toBe('');
    expect(up.out).toMatch(/tinypkg==2\.0/);
    const after = await until(async () => {
      const b = await get('with_env');
      return b.value === 43 ? b : undefined;
    });
    expect(after.pid).not.toBe(before.pid);
    expect((await get('without_env', '?pid_only=true')).pid).toBe(otherPid);
  }, 120_000);

  it('a folder whose entry file goes missing is a load error naming it (--watch)', async () => {
    const folder = path.join(dir, 'udfs', 'Gone_Entry');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'meta.json'), JSON.stringify({ name: 'Gone_Entry', job_config: { steps: [{ udf: { source: 'gone_entry.py' } }] } }));
    const u = await until(async () => {
      const all = await (await fetch(`${server!.url}/udfs`)).json();
      return all.find((x: any) => x.name === 'Gone_Entry');
    });
    expect(u.error.message).toMatch(/entry file is missing: meta.json names gone_entry.py as the source/);
  }, 60_000);

  it('removing an environment in use is refused; once the server stops it can be removed', async () => {
    const refused = await env('remove', 'tiny');
    expect(refused.code).toBe(3);
    expect(refused.err).toMatch(/in use by UDF 'with_env' \(server pid \d+\)/);
    expect(existsSync(path.join(envDir, 'tiny', 'bin', 'python'))).toBe(true);
    await server!.close();
    server = undefined;
    const removed = await env('remove', 'tiny');
    expect(removed.code).toBe(0);
    expect(existsSync(path.join(envDir, 'tiny'))).toBe(false);
    expect((await env('list')).out).toMatch(/^no environments/);
  });
});
