/**
 * A private, throw-away PostGIS cluster for the bench and the PostGIS parity tests: `initdb` in a
 * temp directory, `postgres` on a free 127.0.0.1 port, `CREATE EXTENSION postgis`, a `pg` client,
 * and `stop()` that shuts the cluster down and deletes the directory.
 *
 * PostgreSQL refuses to run as root, so when this process is root the server runs as the
 * `postgres` system user (created by Debian's postgresql package) through `runuser`. The bench
 * installs Debian's `postgresql-15-postgis-3` when it is missing (`ensurePostgisInstalled`);
 * tests never install anything (scripts/setup-system.mjs lists the package for CI).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../test/helpers/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const POSTGIS_PACKAGE = 'postgresql-15-postgis-3';
const POSTGIS_CONTROL = '/usr/share/postgresql/15/extension/postgis.control';

export interface Postgis {
  client: pg.Client;
  /** e.g. "PostgreSQL 15.x, PostGIS 3.x" */
  version: string;
  stop(): Promise<void>;
}

/** Why PostGIS cannot run here, or null when it can. */
export function postgisMissing(): string | null {
  if (process.platform !== 'linux') return `PostGIS baseline needs Linux with Debian's ${POSTGIS_PACKAGE} (this is ${process.platform})`;
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'postgres'))) return `PostgreSQL 15 is not installed (${PG_BIN}/initdb missing): apt-get install ${POSTGIS_PACKAGE}`;
  if (!existsSync(POSTGIS_CONTROL)) return `the PostGIS extension is not installed (${POSTGIS_CONTROL} missing): apt-get install ${POSTGIS_PACKAGE}`;
  if (isRoot() && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root and there is no `postgres` user to run the server as (PostgreSQL refuses root)';
  return null;
}

/** Installs Debian's PostGIS when missing (root only); returns why it is still missing, or null. */
export function ensurePostgisInstalled(log: (m: string) => void): string | null {
  const missing = postgisMissing();
  if (!missing || !missing.includes('apt-get install')) return missing;
  if (!isRoot() || !existsSync('/usr/bin/apt-get')) return `${missing} (not root or not Debian: cannot install it here)`;
  log(`installing ${POSTGIS_PACKAGE} (apt-get; may wait for the apt lock)…`);
  const r = spawnSync('apt-get', ['install', '-y', '-o', 'DPkg::Lock::Timeout=900', POSTGIS_PACKAGE], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) return `apt-get install ${POSTGIS_PACKAGE} failed: ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`;
  return postgisMissing();
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Runs a PostgreSQL binary, as the `postgres` user when we are root. */
function pgRun(bin: string, args: string[]): { status: number | null; out: string } {
  const cmd = isRoot() ? ['runuser', '-u', 'postgres', '--', join(PG_BIN, bin), ...args] : [join(PG_BIN, bin), ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * Starts a private cluster (fsync off: it is thrown away) and connects a client with the
 * PostGIS extension created. Throws with PostgreSQL's own output when a step fails.
 */
export async function startPostgis(): Promise<Postgis> {
  const missing = postgisMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'tilesmith-pg-'));
  const data = join(dir, 'data');
  chmodSync(dir, 0o700);
  if (isRoot()) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const init = pgRun('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  if (init.status !== 0) {
    cleanup();
    throw new Error(`initdb failed: ${init.out.slice(-500)}`);
  }
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB -c max_connections=10 -c jit=off`;
  const start = pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
  const stopCluster = () => pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  if (start.status !== 0) {
    stopCluster();
    cleanup();
    throw new Error(`pg_ctl start failed: ${start.out.slice(-500)}`);
  }
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  try {
    await client.connect();
    await client.query('CREATE EXTENSION postgis');
    const v = await client.query<{ pg: string; gis: string }>("SELECT current_setting('server_version') AS pg, postgis_lib_version() AS gis");
    let stopped = false;
    return {
      client,
      version: `PostgreSQL ${v.rows[0].pg}, PostGIS ${v.rows[0].gis}`,
      async stop() {
        if (stopped) return;
        stopped = true;
        await client.end().catch(() => {});
        stopCluster();
        cleanup();
      },
    };
  } catch (err) {
    await client.end().catch(() => {});
    stopCluster();
    cleanup();
    throw err;
  }
}

/** Features a workload loads into PostGIS: lon/lat geometry, integer id, `name` and `value` properties. */
interface LoadableFeature {
  id?: string | number;
  geometry: { type: string; coordinates?: unknown } | null;
  properties: Record<string, unknown> | null;
}

/**
 * Creates `table` (id, name, value, geom in EPSG:3857 — the fastest layout for ST_AsMVT, since
 * no per-tile reprojection is needed), loads the features (projected from lon/lat by PostGIS),
 * builds a GiST index and analyses it.
 */
export async function loadFeatures(client: pg.Client, table: string, features: readonly LoadableFeature[]): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id bigint, name text, value float8, geom geometry(Geometry, 3857))`);
  const allPoints = features.every((f) => f.geometry?.type === 'Point');
  const chunk = allPoints ? 100_000 : 2_000;
  for (let s = 0; s < features.length; s += chunk) {
    const part = features.slice(s, s + chunk);
    const ids = part.map((f, i) => (typeof f.id === 'number' ? f.id : s + i));
    const names = part.map((f) => String(f.properties?.name ?? ''));
    const values = part.map((f) => Number(f.properties?.value ?? 0));
    if (allPoints) {
      const lon = part.map((f) => (f.geometry!.coordinates as number[])[0]);
      const lat = part.map((f) => (f.geometry!.coordinates as number[])[1]);
      await client.query(
        `INSERT INTO ${table} SELECT id, name, value, ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 3857)
         FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::float8[], $5::float8[]) AS u(id, name, value, lon, lat)`,
        [ids, names, values, lon, lat],
      );
    } else {
      const geoms = part.map((f) => JSON.stringify(f.geometry));
      await client.query(
        `INSERT INTO ${table} SELECT id, name, value, ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(g), 4326), 3857)
         FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::text[]) AS u(id, name, value, g)`,
        [ids, names, values, geoms],
      );
    }
  }
  await client.query(`CREATE INDEX ${table}_geom ON ${table} USING gist (geom); ANALYZE ${table}`);
}

/**
 * The usual PostGIS tile query: `ST_AsMVT(ST_AsMVTGeom(…))` over the rows whose bbox meets the
 * buffered tile envelope, id as the MVT feature id, `name` and `value` as properties. A named
 * (prepared) statement, so planning is paid once.
 */
export function tileQuery(table: string, layer: string, tile: { z: number; x: number; y: number }, extent = 4096, buffer = 64): pg.QueryConfig {
  return {
    name: `tile_${table}`,
    text: `SELECT ST_AsMVT(q, '${layer}', ${extent}, 'geom', 'id') AS mvt FROM (
             SELECT id, name, value, ST_AsMVTGeom(geom, ST_TileEnvelope($1, $2, $3), ${extent}, ${buffer}, true) AS geom
             FROM ${table} WHERE geom && ST_TileEnvelope($1, $2, $3, margin => ${buffer / extent})
           ) q`,
    values: [tile.z, tile.x, tile.y],
  };
}
