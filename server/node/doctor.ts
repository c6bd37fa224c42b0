/**
 * `tilesmith doctor [DIR]`: which Python packages each UDF imports that the interpreter
 * tilesmith would use cannot import, and where to get each (Debian package or pip name).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPython } from '../udf/python/interpreter.ts';

const DOCTOR_SCRIPT = fileURLToPath(new URL('../udf/python/doctor.py', import.meta.url));

/**
 * Where the modules Fused UDFs import most come from: the Debian 12 package when Debian ships
 * one (install with apt), else the pip name. Modules not listed are shown as `pip: <name>`.
 */
export const MODULE_SOURCES: Record<string, { debian?: string; pip: string }> = {
  numpy: { debian: 'python3-numpy', pip: 'numpy' },
  pandas: { debian: 'python3-pandas', pip: 'pandas' },
  geopandas: { debian: 'python3-geopandas', pip: 'geopandas' },
  shapely: { debian: 'python3-shapely', pip: 'shapely' },
  pyproj: { debian: 'python3-pyproj', pip: 'pyproj' },
  fiona: { debian: 'python3-fiona', pip: 'fiona' },
  rasterio: { debian: 'python3-rasterio', pip: 'rasterio' },
  xarray: { debian: 'python3-xarray', pip: 'xarray' },
  rioxarray: { debian: 'python3-rioxarray', pip: 'rioxarray' },
  PIL: { debian: 'python3-pil', pip: 'pillow' },
  fastapi: { debian: 'python3-fastapi', pip: 'fastapi' },
  starlette: { debian: 'python3-starlette', pip: 'starlette' },
  altair: { debian: 'python3-altair', pip: 'altair' },
  folium: { debian: 'python3-folium', pip: 'folium' },
  sklearn: { debian: 'python3-sklearn', pip: 'scikit-learn' },
  skimage: { debian: 'python3-skimage', pip: 'scikit-image' },
  scipy: { debian: 'python3-scipy', pip: 'scipy' },
  zarr: { debian: 'python3-zarr', pip: 'zarr' },
  matplotlib: { debian: 'python3-matplotlib', pip: 'matplotlib' },
  requests: { debian: 'python3-requests', pip: 'requests' },
  yaml: { debian: 'python3-yaml', pip: 'pyyaml' },
  cv2: { debian: 'python3-opencv', pip: 'opencv-python-headless' },
  networkx: { debian: 'python3-networkx', pip: 'networkx' },
  dask: { debian: 'python3-dask', pip: 'dask' },
  numba: { debian: 'python3-numba', pip: 'numba' },
  netCDF4: { debian: 'python3-netcdf4', pip: 'netCDF4' },
  h5py: { debian: 'python3-h5py', pip: 'h5py' },
  bs4: { debian: 'python3-bs4', pip: 'beautifulsoup4' },
  lxml: { debian: 'python3-lxml', pip: 'lxml' },
  plotly: { debian: 'python3-plotly', pip: 'plotly' },
  psycopg2: { debian: 'python3-psycopg2', pip: 'psycopg2-binary' },
  sqlalchemy: { debian: 'python3-sqlalchemy', pip: 'sqlalchemy' },
  boto3: { debian: 'python3-boto3', pip: 'boto3' },
  s3fs: { debian: 'python3-s3fs', pip: 's3fs' },
  fsspec: { debian: 'python3-fsspec', pip: 'fsspec' },
  tqdm: { debian: 'python3-tqdm', pip: 'tqdm' },
  rtree: { debian: 'python3-rtree', pip: 'rtree' },
  geojson: { debian: 'python3-geojson', pip: 'geojson' },
  openpyxl: { debian: 'python3-openpyxl', pip: 'openpyxl' },
  pyogrio: { pip: 'pyogrio' },
  mercantile: { pip: 'mercantile' },
  h3: { pip: 'h3' },
  duckdb: { pip: 'duckdb' },
  pyarrow: { pip: 'pyarrow' },
  polars: { pip: 'polars' },
  pydeck: { pip: 'pydeck' },
  osmnx: { pip: 'osmnx' },
  pystac_client: { pip: 'pystac-client' },
  pystac: { pip: 'pystac' },
  planetary_computer: { pip: 'planetary-computer' },
  odc: { pip: 'odc-stac' },
  ee: { pip: 'earthengine-api' },
  gcsfs: { pip: 'gcsfs' },
  lonboard: { pip: 'lonboard' },
  morecantile: { pip: 'morecantile' },
  rio_tiler: { pip: 'rio-tiler' },
  stackstac: { pip: 'stackstac' },
  overturemaps: { pip: 'overturemaps' },
};

/** `debian: python3-x, pip: x` or `pip: x` for a module name. */
export function moduleSource(name: string): string {
  const s = MODULE_SOURCES[name];
  if (s) return s.debian ? `Debian: ${s.debian}, pip: ${s.pip}` : `pip: ${s.pip}`;
  return `pip: ${name.replaceAll('_', '-')} (guessed from the module name)`;
}

interface UdfFiles {
  name: string;
  files: string[];
  /** Module names the UDF's own folder provides (utils, helpers…). */
  local: string[];
}

function pyFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === '__pycache__' || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...pyFiles(p));
    else if (e.name.endsWith('.py')) out.push(p);
  }
  return out.sort();
}

function isCanvasNode(dir: string): boolean {
  try {
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    const step = meta?.job_config?.steps?.[0]?.udf ?? meta;
    const t = [meta, step, step?.metadata].map((o) => o?.nodeTemplateType ?? o?.['fused:nodeTemplateType']).find((v) => typeof v === 'string');
    return t === 'textbox' || t === 'json_ui';
  } catch {
    return false;
  }
}

/** The Python UDFs of a folder: `Name/` folders (all their .py files) and top-level `name.py` files. */
export function findPythonUdfs(dir: string): UdfFiles[] {
  const out: UdfFiles[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.') || e.name.startsWith('_') || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (isCanvasNode(p)) continue;
      const files = pyFiles(p);
      if (!files.length) continue;
      const local = readdirSync(p).flatMap((f) => (f.endsWith('.py') ? [f.slice(0, -3)] : existsSync(path.join(p, f, '__init__.py')) ? [f] : []));
      out.push({ name: e.name, files, local });
    } else if (e.name.endsWith('.py')) {
      const local = readdirSync(dir).filter((f) => f.endsWith('.py')).map((f) => f.slice(0, -3));
      out.push({ name: e.name.slice(0, -3), files: [p], local });
    }
  }
  return out;
}

export interface DoctorReport {
  python: string;
  version: string;
  udfs: { name: string; missing: string[]; fallback: string[]; errors: string[] }[];
}

/** Runs the checks with `python` (or the interpreter the server would pick). */
export async function runDoctor(dir: string, opts: { python?: string } = {}): Promise<DoctorReport> {
  let python = opts.python;
  if (!python) {
    const probe = await findPython({ python: process.env.TILESMITH_PYTHON });
    if (!probe.python) throw new Error(`no Python interpreter that can import numpy and pandas was found (tried: ${probe.tried.join('; ')})`);
    python = probe.python.executable;
  }
  const udfs = findPythonUdfs(dir);
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(python!, [DOCTOR_SCRIPT], { maxBuffer: 64 * 1024 * 1024 }, (err, out, errText) => {
      if (err) reject(new Error(`${python} could not run the checks: ${errText || err.message}`));
      else resolve(out);
    });
    child.stdin!.end(JSON.stringify({ udfs }));
  });
  return JSON.parse(stdout) as DoctorReport;
}

/** Formats a report for the terminal; `ok` is false when any UDF misses a module. */
export function formatDoctorReport(r: DoctorReport): { text: string; ok: boolean } {
  const lines = [`Python ${r.version} (${r.python})`];
  let missingUdfs = 0;
  for (const u of r.udfs) {
    if (!u.missing.length && !u.errors.length) {
      lines.push(`  ok       ${u.name}${u.fallback.length ? ` (${u.fallback.join(', ')} from tilesmith's built-in fallback)` : ''}`);
      continue;
    }
    if (u.missing.length) missingUdfs++;
    lines.push(`  MISSING  ${u.name}`);
    for (const m of u.missing) lines.push(`             ${m}: ${moduleSource(m)}`);
    for (const e of u.errors) lines.push(`             cannot read ${e}`);
  }
  lines.push(
    missingUdfs
      ? `${missingUdfs} of ${r.udfs.length} UDFs import modules this Python cannot import.`
      : `All ${r.udfs.length} Python UDFs' imports are available.`,
  );
  return { text: lines.join('\n') + '\n', ok: missingUdfs === 0 };
}
