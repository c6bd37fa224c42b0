/**
 * Function environments: named Python virtual environments (`python3 -m venv`) that UDFs select
 * with `"environment": "NAME"` in their tilesmith config, managed by `tilesmith env …` and
 * listed by `GET /envs`. Packages are installed with pip offline only (`--no-index`, from a
 * wheelhouse folder or local paths): a server installs what its operator brought, never what a
 * network happens to serve.
 *
 * A server using an environment leaves a marker `<env>/.tilesmith-users/<pid>.json` naming its
 * UDFs, so `env remove` (another process) refuses an environment in use, as Kinetica does.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Default folder of environments (`--env-dir`, `TILESMITH_ENV_DIR`). */
export const DEFAULT_ENV_DIR = '.tilesmith/envs';
const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const USERS = '.tilesmith-users';
/** Touched whenever packages change: UDFs using the environment reload (new workers). */
export const STAMP = '.tilesmith-stamp';

export interface EnvInfo {
  name: string;
  path: string;
  /** `bin/python` of the environment. */
  python: string;
  /** e.g. `3.11.2`, or null when the interpreter cannot run. */
  version: string | null;
  /** Packages installed in the environment itself (not the system's, with --system-site-packages). */
  packages: { name: string; version: string }[];
  systemSitePackages: boolean;
  /** UDFs of running servers that use it. */
  usedBy: string[];
}

/** Throws unless `name` is a usable environment name. */
export function checkEnvName(name: string): void {
  if (!ENV_NAME.test(name)) throw new Error(`'${name.slice(0, 70)}' is not an environment name: use letters, digits, _ . - (at most 64, starting with a letter or digit)`);
}

export function envPath(root: string, name: string): string {
  checkEnvName(name);
  return path.resolve(root, name);
}

/** The interpreter of environment `name`, or an error naming what is missing. */
export function envPython(root: string, name: string): { python: string } | { error: string } {
  if (!ENV_NAME.test(name)) return { error: `'${name.slice(0, 70)}' is not an environment name (letters, digits, _ . -)` };
  const dir = path.resolve(root, name);
  const python = path.join(dir, 'bin', 'python');
  if (!existsSync(dir)) return { error: `the environment '${name}' does not exist in ${root}; create it with \`tilesmith env create ${name}\`` };
  if (!existsSync(python)) return { error: `the environment '${name}' has no interpreter (${path.join(name, 'bin', 'python')} is missing); recreate it with \`tilesmith env remove ${name}\` and \`tilesmith env create ${name}\`` };
  return { python };
}

function run(cmd: string, args: string[], timeoutMs = 600_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' } }, (err, stdout, stderr) => {
      if (err) {
        const tail = String(stderr || err.message).trim().split('\n').slice(-8).join('\n');
        reject(new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed:\n${tail}`));
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export interface CreateEnvOptions {
  /** Base interpreter. @default /usr/bin/python3 */
  python?: string;
  /** Let the environment import the system's packages (Debian's numpy, pandas, geopandas). */
  systemSitePackages?: boolean;
  /** A requirements file to install (offline). */
  requirements?: string;
  /** Folder of wheels/sdists pip installs from (`--find-links`). */
  wheelhouse?: string;
}

/** Creates environment `name` and installs its requirements; removes it again if that fails. */
export async function createEnv(root: string, name: string, o: CreateEnvOptions = {}): Promise<EnvInfo> {
  const dir = envPath(root, name);
  if (existsSync(dir)) throw new Error(`the environment '${name}' already exists (${dir}); install into it with \`tilesmith env install ${name} PKG…\` or remove it first`);
  const base = o.python ?? '/usr/bin/python3';
  if (!existsSync(base) && base.includes('/')) throw new Error(`the interpreter ${base} does not exist`);
  if (o.requirements && !existsSync(o.requirements)) throw new Error(`the requirements file ${o.requirements} does not exist`);
  if (o.wheelhouse && !(existsSync(o.wheelhouse) && statSync(o.wheelhouse).isDirectory())) throw new Error(`the wheelhouse ${o.wheelhouse} is not a folder`);
  mkdirSync(path.dirname(dir), { recursive: true });
  try {
    await run(base, ['-m', 'venv', ...(o.systemSitePackages ? ['--system-site-packages'] : []), dir]);
    if (o.requirements) await pip(dir, ['-r', path.resolve(o.requirements)], o.wheelhouse);
    stamp(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return describeEnv(root, name);
}

/** Installs packages (names found in the wheelhouse, or paths to wheels / local projects), offline. */
export async function installIntoEnv(root: string, name: string, packages: string[], o: { wheelhouse?: string } = {}): Promise<EnvInfo> {
  const found = envPython(root, name);
  if ('error' in found) throw new Error(found.error);
  if (!packages.length) throw new Error('name at least one package (a name in the wheelhouse, or a path to a wheel or a project folder)');
  await pip(envPath(root, name), packages.map((p) => (existsSync(p) ? path.resolve(p) : p)), o.wheelhouse);
  stamp(envPath(root, name));
  return describeEnv(root, name);
}

async function pip(dir: string, args: string[], wheelhouse: string | undefined): Promise<void> {
  await run(path.join(dir, 'bin', 'python'), ['-m', 'pip', 'install', '--no-index', ...(wheelhouse ? ['--find-links', path.resolve(wheelhouse)] : []), ...args]);
}

function stamp(dir: string): void {
  writeFileSync(path.join(dir, STAMP), new Date().toISOString());
}

/** Removes environment `name`, unless a running server's UDF uses it. */
export function removeEnv(root: string, name: string): void {
  const dir = envPath(root, name);
  if (!existsSync(dir)) throw new Error(`the environment '${name}' does not exist in ${root}`);
  const users = usersOf(dir);
  if (users.length) {
    throw new EnvInUseError(`the environment '${name}' is in use by ${users.join(', ')}; stop those servers or point the UDFs at another environment first`);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Refused: a running server's UDF uses the environment. */
export class EnvInUseError extends Error {
  override name = 'EnvInUseError';
}

/** `UDF (server pid N)` for each UDF of a live server that uses the environment; drops markers of dead servers. */
function usersOf(dir: string): string[] {
  const out: string[] = [];
  const folder = path.join(dir, USERS);
  let files: string[] = [];
  try {
    files = readdirSync(folder);
  } catch {
    return out;
  }
  for (const f of files) {
    const pid = Number(f.replace(/\.json$/, ''));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) {
      rmSync(path.join(folder, f), { force: true });
      continue;
    }
    try {
      const { udfs } = JSON.parse(readFileSync(path.join(folder, f), 'utf8')) as { udfs: string[] };
      for (const u of udfs) out.push(`UDF '${u}' (server pid ${pid})`);
    } catch {
      // half-written marker: the next look sees it whole
    }
  }
  return out;
}

/**
 * Records, for this process, which UDFs use which environment (the markers `env remove`
 * checks). One per server; `release()` on shutdown.
 */
export class EnvUsage {
  private readonly byEnv = new Map<string, Set<string>>();
  constructor(private readonly root: string) {}

  /** UDF `udf` now uses environment `env` (or none: pass undefined). */
  set(udf: string, env: string | undefined): void {
    for (const [name, udfs] of this.byEnv) {
      if (name !== env && udfs.delete(udf)) this.write(name);
    }
    if (env === undefined) return;
    let udfs = this.byEnv.get(env);
    if (!udfs) this.byEnv.set(env, (udfs = new Set()));
    if (!udfs.has(udf)) {
      udfs.add(udf);
      this.write(env);
    }
  }

  release(): void {
    for (const name of this.byEnv.keys()) rmSync(this.marker(name), { force: true });
    this.byEnv.clear();
  }

  private marker(name: string): string {
    return path.join(path.resolve(this.root, name), USERS, `${process.pid}.json`);
  }

  private write(name: string): void {
    const udfs = [...(this.byEnv.get(name) ?? [])];
    const file = this.marker(name);
    try {
      if (!udfs.length) return unlinkSync(file);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ pid: process.pid, udfs }));
    } catch {
      // the environment folder vanished: its UDFs fail on their next load anyway
    }
  }
}

const DESCRIBE = 'import sys, json; print(json.dumps(sys.version.split()[0]))';

/** One environment: interpreter version and its own packages. */
export async function describeEnv(root: string, name: string): Promise<EnvInfo> {
  const dir = envPath(root, name);
  const python = path.join(dir, 'bin', 'python');
  let version: string | null = null;
  let packages: EnvInfo['packages'] = [];
  try {
    version = JSON.parse((await run(python, ['-c', DESCRIBE], 30_000)).stdout.trim());
    const list = JSON.parse((await run(python, ['-m', 'pip', 'list', '--local', '--format=json'], 60_000)).stdout) as { name: string; version: string }[];
    packages = list.map((p) => ({ name: p.name, version: p.version })).sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    // a broken environment is listed with version null
  }
  let systemSitePackages = false;
  try {
    systemSitePackages = /^include-system-site-packages\s*=\s*true/im.test(readFileSync(path.join(dir, 'pyvenv.cfg'), 'utf8'));
  } catch {
    // not a venv
  }
  return { name, path: dir, python, version, packages, systemSitePackages, usedBy: usersOf(dir) };
}

/** Every environment under `root`. */
export async function listEnvs(root: string): Promise<EnvInfo[]> {
  let names: string[] = [];
  try {
    names = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && ENV_NAME.test(d.name)).map((d) => d.name).sort();
  } catch {
    return [];
  }
  return Promise.all(names.map((n) => describeEnv(root, n)));
}
