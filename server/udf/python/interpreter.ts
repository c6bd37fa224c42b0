/**
 * Picks the Python interpreter for the workers: the first candidate that can import numpy and
 * pandas. The `python3` first on PATH is often a pyenv / conda one without the geospatial
 * stack, while the distribution's `/usr/bin/python3` has it, so we probe instead of trusting PATH.
 */
import { execFile } from 'node:child_process';

export interface PythonInfo {
  /** What to spawn (the resolved `sys.executable`). */
  executable: string;
  version: string;
  numpy: string;
  pandas: string;
  /** null when geopandas cannot be imported (vector UDFs will fail, rasters and tables work). */
  geopandas: string | null;
}

export interface ProbeResult {
  python: PythonInfo | null;
  /** One line per candidate tried, for the log and for the load error when none works. */
  tried: string[];
}

const PROBE = [
  'import sys, numpy, pandas',
  'try:\n    import geopandas; g = geopandas.__version__\nexcept Exception:\n    g = None',
  'import json; print(json.dumps([sys.executable, sys.version.split()[0], numpy.__version__, pandas.__version__, g]))',
].join('\n');

/** Runs the probe with one interpreter; resolves null (with the reason) when it is unusable. */
export function probePython(python: string): Promise<{ info: PythonInfo | null; reason?: string }> {
  return new Promise((resolve) => {
    execFile(python, ['-c', PROBE], { timeout: 30_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }, (err, stdout, stderr) => {
      if (err) {
        const last = String(stderr || err.message).trim().split('\n').pop();
        return resolve({ info: null, reason: last });
      }
      try {
        const [executable, version, numpy, pandas, geopandas] = JSON.parse(String(stdout).trim().split('\n').pop()!);
        resolve({ info: { executable, version, numpy, pandas, geopandas } });
      } catch {
        resolve({ info: null, reason: `unexpected probe output: ${String(stdout).slice(0, 200)}` });
      }
    });
  });
}

/**
 * Tries, in order: the configured interpreter (`--python`), `TILESMITH_PYTHON`,
 * `/usr/bin/python3`, then `python3` and `python` on PATH.
 * @example const { python, tried } = await findPython({ python: opts.python });
 */
export async function findPython(opts: { python?: string } = {}): Promise<ProbeResult> {
  const candidates = [opts.python, process.env.TILESMITH_PYTHON, '/usr/bin/python3', 'python3', 'python']
    .filter((c): c is string => !!c)
    .filter((c, i, all) => all.indexOf(c) === i);
  const tried: string[] = [];
  for (const c of candidates) {
    const { info, reason } = await probePython(c);
    if (info) return { python: info, tried };
    tried.push(`${c}: ${reason}`);
  }
  return { python: null, tried };
}
