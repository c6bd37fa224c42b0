#!/usr/bin/env node
/**
 * Installs the Debian packages the test suite drives for real: Chromium (browser tests of
 * the example pages), QGIS (rendering tests) and the scientific Python stack (Python UDFs).
 *
 * Idempotent and fast: one `dpkg-query` call decides; apt runs only when something is
 * missing (one `apt-get update`, one `apt-get install`). When apt-get fails, or packages are
 * still missing after it, it exits 1 and `npm test` stops: a half-provisioned machine would
 * only turn into skipped (locally) or failed (CI) suites later. On a developer machine that
 * cannot install (not Debian, CI_SKIP_APT set, not root) it prints a loud notice and exits 0,
 * and the affected tests skip with their own loud reason; with CI set, that is a failure too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PACKAGES = [
  'chromium', // headless browser for test/browser.test.ts
  'fonts-dejavu-core', // a font so page text renders (Chromium has none of its own)
  'python3-numpy',
  'python3-pandas',
  'python3-shapely',
  'python3-geopandas',
  'python3-qgis', // PyQGIS for test/qgis.test.ts
  'qgis-providers', // the wms (XYZ) and vector tile providers
  // test/fused-compat.test.ts: Fused UDFs' return types and the readers of the new formats
  'python3-fastapi', // HTMLResponse results
  'python3-rasterio',
  'python3-xarray', // DataArray results
  'python3-pil', // PNG/JPEG bytes, PIL images; reads gif back
  'python3-openpyxl', // reads excel (xlsx) back
  'gdal-bin', // gdalinfo reads GeoTIFF (tif) back; ogrinfo opens exported MBTiles (test/export.test.ts); OGC API – Tiles (test/ogc.test.ts)
  'redis-server', // test/redis-*.test.ts and test/export.test.ts: the shared cache tier and the BullMQ queue
  'postgresql-15-postgis-3', // test/mvt-postgis.test.ts and `npm run bench` (ST_AsMVT baseline)
  'nginx-light', // `npm run bench`: nginx serving the cached tile's bytes, the floor for cached hits
  'wrk', // `npm run bench`: the load generator for cached hits
  // test/envs.test.ts: function environments (python3 -m venv, offline pip) and the wheel it builds
  'python3-venv',
  'python3-pip',
  'python3-setuptools',
  'python3-wheel',
  // server/udf/python/accel.test.ts: the Python worker compiles its optional result accelerator
  // (tilesmith/_accel.c) with the system C compiler against this interpreter's headers
  'gcc',
  'python3-dev',
];

/** CI (any value but false/0): every suite must run, so not being able to install is an error. */
const onCi = !!process.env.CI && !['false', '0'].includes(process.env.CI.toLowerCase());

/** Can't install here: a notice on a developer machine, a failure on CI. */
function cannotInstall(message) {
  loud(message);
  process.exit(onCi ? 1 : 0);
}

function loud(message) {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!!! setup-system: ${message}\n${bar}\n`);
}

if (process.platform !== 'linux' || !existsSync('/etc/debian_version') || !existsSync('/usr/bin/dpkg-query')) {
  cannotInstall(`not a Debian system (${process.platform}): install ${PACKAGES.join(', ')} yourself, or the tests that need them skip (and fail on CI).`);
}

/** Packages not installed, from a single dpkg-query call (missing ones print no "installed" line). */
function missingPackages() {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...PACKAGES], { encoding: 'utf8' });
  const installed = new Set(
    (res.stdout ?? '')
      .split('\n')
      .filter((line) => line.endsWith(' install ok installed'))
      .map((line) => line.split(' ')[0].split(':')[0]),
  );
  return PACKAGES.filter((p) => !installed.has(p));
}

const missing = missingPackages();
if (missing.length === 0) {
  console.log(`setup-system: all system packages present (${PACKAGES.length}).`);
  process.exit(0);
}

if (process.env.CI_SKIP_APT) {
  cannotInstall(`CI_SKIP_APT is set: not installing ${missing.join(', ')}. The tests that need them skip (and fail on CI).`);
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sudo = !isRoot && spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : null;
if (!isRoot && !sudo) {
  cannotInstall(`missing ${missing.join(', ')} and not root (no passwordless sudo): run\n!!!   sudo apt-get install -y ${missing.join(' ')}\n!!! ${onCi ? 'CI is set: failing.' : 'Continuing: the tests that need them will skip.'}`);
}

function run(cmd, args) {
  const full = sudo ? [...sudo, cmd, ...args] : [cmd, ...args];
  console.log(`setup-system: ${full.join(' ')}`);
  const res = spawnSync(full[0], full.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return res.status === 0;
}

console.log(`setup-system: installing ${missing.join(', ')}`);
if (!run('apt-get', ['update']) || !run('apt-get', ['install', '-y', ...missing])) {
  loud(`apt-get failed while installing ${missing.join(', ')}: stopping (the suites that need them could not run).`);
  process.exit(1);
}
const still = missingPackages();
if (still.length) {
  loud(`still missing after apt-get: ${still.join(', ')}`);
  process.exit(1);
}
console.log('setup-system: done.');
