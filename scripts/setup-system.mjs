#!/usr/bin/env node
/**
 * Installs the Debian packages the test suite drives for real: Chromium (browser tests of
 * the example pages), QGIS (rendering tests) and the scientific Python stack (Python UDFs).
 *
 * Idempotent and fast: one `dpkg-query` call decides; apt runs only when something is
 * missing (one `apt-get update`, one `apt-get install`). It never fails `npm test`: on a
 * non-Debian system, with CI_SKIP_APT set, without root, or when apt fails, it prints a loud
 * notice and exits 0, and the affected tests skip themselves with their own loud reason.
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
  'gdal-bin', // gdalinfo reads GeoTIFF (tif) back
  // test/envs.test.ts: function environments (python3 -m venv, offline pip) and the wheel it builds
  'python3-venv',
  'python3-pip',
  'python3-setuptools',
  'python3-wheel',
];

function loud(message) {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!!! setup-system: ${message}\n${bar}\n`);
}

if (process.env.CI_SKIP_APT) {
  loud('CI_SKIP_APT is set: not installing Debian packages. Browser/QGIS/Python tests skip if their tools are missing.');
  process.exit(0);
}
if (process.platform !== 'linux' || !existsSync('/etc/debian_version') || !existsSync('/usr/bin/dpkg-query')) {
  loud(`not a Debian system (${process.platform}): install ${PACKAGES.join(', ')} yourself, or the tests that need them skip.`);
  process.exit(0);
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

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const sudo = !isRoot && spawnSync('sudo', ['-n', 'true']).status === 0 ? ['sudo', '-n'] : null;
if (!isRoot && !sudo) {
  loud(`missing ${missing.join(', ')} and not root (no passwordless sudo): run\n!!!   sudo apt-get install -y ${missing.join(' ')}\n!!! Continuing: the tests that need them will skip.`);
  process.exit(0);
}

function run(cmd, args) {
  const full = sudo ? [...sudo, cmd, ...args] : [cmd, ...args];
  console.log(`setup-system: ${full.join(' ')}`);
  const res = spawnSync(full[0], full.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return res.status === 0;
}

console.log(`setup-system: installing ${missing.join(', ')}`);
if (!run('apt-get', ['update']) || !run('apt-get', ['install', '-y', ...missing])) {
  loud(`apt-get failed while installing ${missing.join(', ')}. Continuing: the tests that need them will skip.`);
  process.exit(0);
}
const still = missingPackages();
if (still.length) loud(`still missing after apt-get: ${still.join(', ')}`);
else console.log('setup-system: done.');
