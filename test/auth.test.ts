/**
 * Tokens, private UDFs, share URLs, the admin API, metrics, logs and rate limits, end to end:
 * tokens are made with the real `tilesmith token` CLI, the server is the real
 * `tilesmith serve --auth` process (JSON logs captured from its stderr), everything is asked
 * over HTTP, tiles are decoded with @mapbox/vector-tile and /metrics is read with a
 * Prometheus text parser.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, rm, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/tilesmith.js');
const UDFS = join(ROOT, 'test/fixtures/auth-udfs');
const run = promisify(execFile);

interface Server {
  url: string;
  adminUrl?: string;
  proc: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

/** Starts `tilesmith serve` and waits for its "serving" line (the port comes from it). */
async function serve(args: string[]): Promise<Server> {
  const proc = spawn(process.execPath, [BIN, 'serve', UDFS, '--port', '0', '--log-format', 'json', '--log-level', 'debug', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TILESMITH_PYTHON: '/usr/bin/python3' },
  });
  const lines: string[] = [];
  let buf = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join('\n')}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        allLines.push(line);
        if (line.includes('"msg":"serving')) {
          clearTimeout(timer);
          const j = JSON.parse(line);
          resolvePromise({
            url: j.url,
            adminUrl: j.adminUrl,
            proc,
            lines,
            stop: () =>
              new Promise<void>((r) => {
                if (proc.exitCode !== null) return r();
                proc.once('exit', () => r());
                proc.kill('SIGTERM');
              }),
          });
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${lines.join('\n')}`)));
  });
}

let work: string;
let cacheDir: string;
let server: Server;
const tokens: Record<string, string> = {};
/** Every log line of every server this suite started. */
const allLines: string[] = [];
/** Every error response (headers and body) this suite received. */
const errorBodies: string[] = [];

async function tokenCli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, 'token', ...args, '--cache-dir', cacheDir], { cwd: ROOT });
}

async function get(path: string, init?: RequestInit & { base?: string }): Promise<Response> {
  const res = await fetch(path.startsWith('http') ? path : `${init?.base ?? server.url}${path}`, init);
  if (res.status >= 400) {
    const body = await res.clone().text();
    errorBodies.push(`${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${body}`);
  }
  return res;
}

const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });

function decodeTile(buf: ArrayBuffer) {
  const vt = new VectorTile(new PbfReader(new Uint8Array(buf)));
  return vt;
}

async function metrics(base: string, init?: RequestInit) {
  const res = await fetch(`${base}/metrics`, init);
  expect(res.status).toBe(200);
  return parsePrometheusTextFormat(await res.text()) as Array<{ name: string; type: string; metrics: Array<{ value?: string; labels?: Record<string, string>; count?: string }> }>;
}

function sum(families: Awaited<ReturnType<typeof metrics>>, name: string, match: Record<string, string> = {}): number {
  const f = families.find((x) => x.name === name);
  if (!f) return 0;
  return f.metrics.filter((m) => Object.entries(match).every(([k, v]) => m.labels?.[k] === v)).reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0);
}

/** Polls `check` until it returns true (the server's stderr arrives asynchronously). */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tilesmith-auth-'));
  cacheDir = join(work, 'cache');
  tokens.share = (await tokenCli('create', '--udf', 'secret_points', '--param', 'label=pinned', '--label', 'share for the test')).stdout.trim();
  tokens.multi = (await tokenCli('create', '--udf', 'secret_points', '--udf', 'slow_points', '--udf', 'py_private')).stdout.trim();
  tokens.other = (await tokenCli('create', '--udf', 'open_points')).stdout.trim();
  tokens.admin = (await tokenCli('create', '--scope', 'admin', '--label', 'ops')).stdout.trim();
  tokens.expiring = (await tokenCli('create', '--udf', 'secret_points', '--expires', '1s')).stdout.trim();
  tokens.revoked = (await tokenCli('create', '--udf', 'secret_points')).stdout.trim();
  server = await serve(['--auth', '--cache-dir', cacheDir]);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('token store and CLI', () => {
  it('prints tokens once with their prefixes and keeps only hashes', async () => {
    expect(tokens.share).toMatch(/^fsh_[A-Za-z0-9]{42}$/);
    expect(tokens.multi).toMatch(/^tsk_[A-Za-z0-9]{42}$/);
    expect(tokens.admin).toMatch(/^tsa_[A-Za-z0-9]{42}$/);
    const files = (await readdir(cacheDir)).filter((f) => f.startsWith('tokens.db'));
    expect(files).toContain('tokens.db');
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(cacheDir, f)))));
    for (const t of Object.values(tokens)) {
      expect(bytes.includes(Buffer.from(t.slice(4, 14)))).toBe(true); // the public id is there…
      expect(bytes.includes(Buffer.from(t))).toBe(false); // …the token is not,
      expect(bytes.includes(Buffer.from(t.slice(14)))).toBe(false); // nor its secret.
    }
    const { stdout } = await tokenCli('list');
    expect(stdout).toContain('share for the test');
    expect(stdout).toContain('label=pinned');
    for (const t of Object.values(tokens)) expect(stdout).not.toContain(t.slice(14));
  });

  it('rejects bad token commands with a sentence', async () => {
    await expect(tokenCli('create')).rejects.toMatchObject({ stderr: expect.stringContaining('a run token needs --udf NAME') });
    await expect(tokenCli('create', '--udf', 'x', '--scope', 'root')).rejects.toMatchObject({ stderr: expect.stringContaining('--scope must be run or admin') });
    await expect(tokenCli('revoke', 'nosuchid00')).rejects.toMatchObject({ stderr: expect.stringContaining('no token with id') });
  });
});

describe('private and public UDFs under --auth', () => {
  it('answers 401 with WWW-Authenticate and a sentence when a private UDF gets no token', async () => {
    const res = await get('/udf/secret_points/tiles/1/0/0');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tilesmith"');
    const body = await res.json();
    expect(body).toMatchObject({ error: 'unauthorized' });
    expect(body.message).toMatch(/UDF 'secret_points' is private: send a token as Authorization: Bearer <token> or as \?token=<token>/);
    expect((await get('/udf/py_private/file')).status).toBe(401);
  });

  it('answers 401 invalid_token for unknown, malformed, expired and revoked tokens', async () => {
    const unknown = `fsh_${'A'.repeat(42)}`;
    let res = await get('/udf/secret_points/tiles/1/0/0', bearer(unknown));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="tilesmith", error="invalid_token"');
    expect((await res.json()).message).toMatch(/not known to this server/);
    res = await get('/udf/secret_points/tiles/1/0/0?token=nonsense');
    expect((await res.json()).message).toMatch(/not a tilesmith token/);
    await new Promise((r) => setTimeout(r, 1100));
    res = await get('/udf/secret_points/tiles/1/0/0', bearer(tokens.expiring));
    expect(res.status).toBe(401);
    expect((await res.json()).message).toMatch(/has expired/);
    // Revoked while the server runs: refused from the next request on.
    expect((await get('/udf/secret_points/tiles/1/0/0', bearer(tokens.revoked))).status).toBe(200);
    await tokenCli('revoke', tokens.revoked.slice(4, 14));
    res = await get('/udf/secret_points/tiles/1/0/0', bearer(tokens.revoked));
    expect(res.status).toBe(401);
    expect((await res.json()).message).toMatch(/has been revoked/);
  });

  it('answers 403 with a sentence when the token does not cover the UDF', async () => {
    const res = await get('/udf/secret_points/tiles/1/0/0', bearer(tokens.other));
    expect(res.status).toBe(403);
    const body = await res.json();
    expect(body).toMatchObject({ error: 'forbidden' });
    expect(body.message).toBe(`The token given (id ${tokens.other.slice(4, 14)}) may not run UDF 'secret_points': it is limited to 'open_points'.`);
    expect((await get('/admin/runs', bearer(tokens.multi))).status).toBe(403);
  });

  it('serves public UDFs (TS public: true, Python @udf(public=True), a sidecar) without a token', async () => {
    const open = await get('/udf/open_points/tiles/2/1/1');
    expect(open.status).toBe(200);
    expect(open.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
    expect(await (await get('/udf/py_public/file?format=json&name=a')).json()).toEqual([{ hello: 'a' }]);
    expect(await (await get('/udf/py_sidecar/file?format=json')).json()).toEqual([{ hello: 'side' }]);
    expect((await get('/udf/py_private/file?format=json', bearer(tokens.multi))).status).toBe(200);
  });

  it('lists only public UDFs and those the token may run in the catalog', async () => {
    const anon = ((await (await get('/udfs')).json()) as Array<{ name: string }>).map((u) => u.name).sort();
    expect(anon).toEqual(['open_points', 'py_public', 'py_sidecar']);
    const withToken = ((await (await get('/udfs', bearer(tokens.multi))).json()) as Array<{ name: string }>).map((u) => u.name).sort();
    expect(withToken).toEqual(['open_points', 'py_private', 'py_public', 'py_sidecar', 'secret_points', 'slow_points']);
    // The index page too.
    const page = await (await get('/')).text();
    expect(page).toContain('open_points');
    expect(page).not.toContain('secret_points');
    expect(await (await get(`/?token=${tokens.multi}`)).text()).toContain('secret_points');
  });

  it('makes authorised responses private with Vary: Authorization (header and ?token=)', async () => {
    for (const res of [await get('/udf/secret_points/tiles/3/4/3', bearer(tokens.multi)), await get(`/udf/secret_points/tiles/3/4/3?token=${tokens.multi}`)]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
      expect(res.headers.get('vary')).toMatch(/\bAuthorization\b/);
    }
    const style = await get(`/udf/secret_points/style.json?token=${tokens.multi}`);
    expect(style.headers.get('cache-control')).toBe('private, max-age=60');
    expect(style.headers.get('vary')).toMatch(/Authorization/);
  });

  it('TileJSON, style.json and qgis.xml requested with ?token= carry it in their tile URLs', async () => {
    const q = `?n=4&token=${tokens.multi}`;
    const tj = await (await get(`/udf/secret_points/tilejson.json${q}`)).json();
    expect(tj.tiles[0]).toBe(`${server.url}/udf/secret_points/tiles/{z}/{x}/{y}${q}`);
    const style = await (await get(`/udf/secret_points/style.json${q}`)).json();
    expect(style.sources['tilesmith-secret_points'].tiles[0]).toContain(`token=${tokens.multi}`);
    const xml = await (await get(`/udf/secret_points/qgis.xml${q}`)).text();
    expect(xml).toContain(`token=${tokens.multi}`);
    // The tile URL from the TileJSON works as it is.
    const tile = await get(tj.tiles[0].replace('{z}/{x}/{y}', '2/2/1'));
    expect(tile.status).toBe(200);
  });

  it('pins the token\'s parameters over the request\'s', async () => {
    const res = await get('/udf/secret_points/tiles/0/0/0?label=mine&n=2', bearer(tokens.share));
    const layer = decodeTile(await res.arrayBuffer()).layers.secret_points;
    expect(layer.length).toBe(2);
    expect(layer.feature(0).properties.label).toBe('pinned');
  });
});

describe('run records under --auth', () => {
  it('need a token; a token sees the runs it started, an admin token every run', async () => {
    expect((await get('/runs')).status).toBe(401);
    const res = await get('/udf/secret_points/tiles/2/1/1?label=runs', bearer(tokens.multi));
    expect(res.status).toBe(200);
    const runId = res.headers.get('x-run-id')!;
    expect(runId).toBeTruthy();
    const mine = await get(`/runs/${runId}`, bearer(tokens.multi));
    expect(mine.status).toBe(200);
    expect((await mine.json()).tokenId).toBe(tokens.multi.slice(4, 14));
    expect((await get(`/runs/${runId}`, bearer(tokens.admin))).status).toBe(200);
    const others = await get(`/runs/${runId}`, bearer(tokens.other));
    expect(others.status).toBeGreaterThanOrEqual(403);
    expect(others.status).toBeLessThanOrEqual(404);
    const list = (await (await get('/runs?udf=secret_points', bearer(tokens.other))).json()) as any;
    expect(JSON.stringify(list)).not.toContain(runId);
  });
});

describe('share URLs (Fused form)', () => {
  it('runs the token\'s UDF at /server/v1/realtime-shared/{token}/run/tiles/{z}/{x}/{y}', async () => {
    const res = await get(`/server/v1/realtime-shared/${tokens.share}/run/tiles/1/1/0?n=5&label=ignored`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    // The token is in the URL, as on Fused: the response may be cached publicly.
    expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    const layer = decodeTile(await res.arrayBuffer()).layers.secret_points;
    expect(layer.length).toBe(5);
    expect(layer.feature(0).properties.label).toBe('pinned');
    // Same cache entry as the named route with ?token=: the token is not part of the key.
    const named = await get(`/udf/secret_points/tiles/1/1/0?n=5&label=pinned&token=${tokens.share}`);
    expect(named.headers.get('x-cache')).toBe('HIT');
    expect(named.headers.get('etag')).toBe(res.headers.get('etag'));
    // With an extension too; cached like any tile.
    const ext = `/server/v1/realtime-shared/${tokens.share}/run/tiles/1/1/0.mvt?n=5`;
    expect((await get(ext)).status).toBe(200);
    expect((await get(ext)).headers.get('x-cache')).toBe('HIT');
  });

  it('serves /run/file with dtype_out_vector and the query parameters', async () => {
    const res = await get(`/server/v1/realtime-shared/${tokens.share}/run/file?dtype_out_vector=geojson&bounds=-10,-10,10,10&n=3`);
    expect(res.status).toBe(200);
    const fc = await res.json();
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features.map((f: any) => f.properties.label)).toEqual(['pinned', 'pinned', 'pinned']);
    const csv = await get(`/server/v1/realtime-shared/${tokens.share}/run/file?dtype_out_vector=csv&bounds=-10,-10,10,10&n=2`);
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect((await csv.text()).trim().split('\n')).toHaveLength(3);
  });

  it('refuses unknown tokens (401) and tokens for several UDFs (403) with sentences', async () => {
    let res = await get(`/server/v1/realtime-shared/fsh_${'B'.repeat(42)}/run/tiles/0/0/0`);
    expect(res.status).toBe(401);
    expect((await res.json()).message).toMatch(/not known to this server/);
    res = await get(`/server/v1/realtime-shared/${tokens.multi}/run/tiles/0/0/0`);
    expect(res.status).toBe(403);
    expect((await res.json()).message).toMatch(/not a share token for one UDF/);
  });
});

describe('admin API', () => {
  it('needs an admin token', async () => {
    expect((await get('/admin/runs')).status).toBe(401);
    const res = await get('/admin/runs', bearer(tokens.share));
    expect(res.status).toBe(403);
    expect((await res.json()).message).toMatch(/needs a token with scope admin/);
  });

  it('GET /admin/runs lists a computation in flight; POST /admin/reload reloads', async () => {
    const slow = get('/udf/slow_points/tiles/0/0/0?ms=2500', bearer(tokens.multi));
    let runs: Array<{ elapsedMs: number }> = [];
    await waitFor(async () => {
      runs = (await (await get('/admin/runs', bearer(tokens.admin))).json()).runs;
      return runs.length > 0 && runs[0]!.elapsedMs >= 200;
    }, 'the slow run to show up');
    expect(runs).toEqual([expect.objectContaining({ udf: 'slow_points', tile: { z: 0, x: 0, y: 0 }, state: 'running', elapsedMs: expect.any(Number) })]);
    expect((await slow).status).toBe(200);
    expect((await (await get('/admin/runs', bearer(tokens.admin))).json()).runs).toEqual([]);
    const reload = await get('/admin/reload', { method: 'POST', ...bearer(tokens.admin) });
    expect(await reload.json()).toEqual({ reloaded: true, udfs: 6 });
  });

  it('DELETE /admin/cache validates its query', async () => {
    let res = await get('/admin/cache', { method: 'DELETE', ...bearer(tokens.admin) });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/needs \?udf=NAME/);
    res = await get('/admin/cache?udf=secret_points&minzoom=5&maxzoom=2', { method: 'DELETE', ...bearer(tokens.admin) });
    expect(res.status).toBe(400);
    res = await get('/admin/cache?udf=secret_points&bbox=1,2,3', { method: 'DELETE', ...bearer(tokens.admin) });
    expect(res.status).toBe(400);
  });
});

describe('metrics and logs', () => {
  it('/metrics parses as Prometheus text and moves when requests arrive (admin token on the main port)', async () => {
    expect((await get('/metrics')).status).toBe(401);
    const before = await metrics(server.url, bearer(tokens.admin));
    const reqBefore = sum(before, 'tilesmith_http_requests_total', { route: '/udf/{name}/tiles', udf: 'open_points', status: '200' });
    const hitsBefore = sum(before, 'tilesmith_cache_requests_total', { result: 'hit' });
    const failBefore = sum(before, 'tilesmith_auth_failures_total', { reason: 'missing' });
    await get('/udf/open_points/tiles/4/3/3');
    await get('/udf/open_points/tiles/4/3/3');
    await get('/udf/secret_points/tiles/4/3/3');
    const after = await metrics(server.url, bearer(tokens.admin));
    expect(sum(after, 'tilesmith_http_requests_total', { route: '/udf/{name}/tiles', udf: 'open_points', status: '200' })).toBe(reqBefore + 2);
    expect(sum(after, 'tilesmith_cache_requests_total', { result: 'hit' })).toBe(hitsBefore + 1);
    expect(sum(after, 'tilesmith_auth_failures_total', { reason: 'missing' })).toBe(failBefore + 1);
    expect(after.find((f) => f.name === 'tilesmith_udf_duration_seconds')?.type).toBe('HISTOGRAM');
    for (const name of ['tilesmith_queue_depth', 'tilesmith_workers_busy', 'tilesmith_worker_restarts_total', 'tilesmith_computations_in_flight', 'tilesmith_encode_duration_seconds']) {
      expect(after.some((f) => f.name === name), name).toBe(true);
    }
  });

  it('logs JSON lines with the request id, and a UDF\'s prints under its run', async () => {
    const res = await get('/udf/secret_points/tiles/5/10/12?n=7', bearer(tokens.multi));
    const id = res.headers.get('x-request-id');
    await waitFor(() => server.lines.some((l) => l.includes(`"reqId":"${id}"`) && l.includes('"msg":"request"')), 'the request line');
    const mine = server.lines.filter((l) => l.includes(`"reqId":"${id}"`)).map((l) => JSON.parse(l));
    expect(mine.find((l) => l.src === 'udf')).toMatchObject({ udf: 'secret_points', msg: 'secret_points computing n=7' });
    expect(mine.find((l) => l.msg === 'request')).toMatchObject({ status: 200, udf: 'secret_points', cache: 'MISS', tokenId: tokens.multi.slice(4, 14) });
    // A share URL's line names the token's id and UDF (and logs no token).
    const shared = await get(`/server/v1/realtime-shared/${tokens.share}/run/tiles/5/10/13`);
    const sharedId = shared.headers.get('x-request-id');
    await waitFor(() => server.lines.some((l) => l.includes(`"reqId":"${sharedId}"`) && l.includes('"msg":"request"')), 'the share request line');
    const sharedLines = server.lines.filter((l) => l.includes(`"reqId":"${sharedId}"`)).map((l) => JSON.parse(l));
    expect(sharedLines.find((l) => l.msg === 'request')).toMatchObject({
      url: '/server/v1/realtime-shared/[redacted]/run/tiles/5/10/13',
      route: '/server/v1/realtime-shared/{token}/run/tiles',
      udf: 'secret_points',
      tokenId: tokens.share.slice(4, 14),
      cache: 'MISS',
    });
    expect(sharedLines.filter((l) => l.msg === 'request')).toHaveLength(1);
    // Python prints too.
    const py = await get('/udf/py_private/file?format=json&name=z', bearer(tokens.multi));
    const pyId = py.headers.get('x-request-id');
    await waitFor(() => server.lines.some((l) => l.includes(`"reqId":"${pyId}"`) && l.includes('py_private says hello')), 'the Python print');
  });
});

describe('purge by UDF and by area (memory and disk), rate limits, admin port', () => {
  const tilesOf = (z: number) => Array.from({ length: 2 ** z }, (_, x) => Array.from({ length: 2 ** z }, (_, y) => [z, x, y] as const)).flat();

  it('removes exactly the selected entries from memory and disk', async () => {
    const auth = bearer(tokens.admin);
    // Fresh state for the two UDFs.
    await get('/admin/cache?udf=secret_points', { method: 'DELETE', ...auth });
    await get('/admin/cache?udf=open_points', { method: 'DELETE', ...auth });
    for (const [z, x, y] of tilesOf(2)) {
      expect((await get(`/udf/secret_points/tiles/${z}/${x}/${y}`, auth)).headers.get('x-cache')).toBe('MISS');
      expect((await get(`/udf/open_points/tiles/${z}/${x}/${y}`)).headers.get('x-cache')).toBe('MISS');
    }
    // Background disk writes: wait until the count of files stops changing.
    let filesBefore = -1;
    await waitFor(async () => {
      const n = (await listFiles(join(cacheDir, 'results'))).length;
      const stable = n === filesBefore;
      filesBefore = n;
      if (!stable) await new Promise((r) => setTimeout(r, 300));
      return stable;
    }, 'disk writes');
    // The western half at zoom 2: columns x = 0 and 1 (-180..0), all four rows.
    const res = await get('/admin/cache?udf=secret_points&bbox=-170,-80,-10,80&minzoom=2&maxzoom=2', { method: 'DELETE', ...auth });
    expect(await res.json()).toEqual({ purged: 8, filter: { udf: 'secret_points', bbox: [-170, -80, -10, 80], minzoom: 2, maxzoom: 2 } });
    expect((await listFiles(join(cacheDir, 'results'))).length).toBe(filesBefore - 8);

    // Restart: memory is empty, so a HIT now comes from disk.
    await server.stop();
    server = await serve(['--auth', '--cache-dir', cacheDir, '--rate-limit', '3/m', '--admin-port', '0']);
    for (const [z, x, y] of tilesOf(2)) {
      const purged = x < 2;
      expect((await get(`/udf/secret_points/tiles/${z}/${x}/${y}`, auth)).headers.get('x-cache'), `secret ${x}/${y}`).toBe(purged ? 'MISS' : 'HIT');
      expect((await get(`/udf/open_points/tiles/${z}/${x}/${y}`)).headers.get('x-cache'), `open ${x}/${y}`).toBe('HIT');
    }
    // Purge a whole UDF (admin port now).
    const all = await get('/admin/cache?udf=open_points', { method: 'DELETE', ...auth, base: server.adminUrl });
    expect((await all.json()).purged).toBe(16);
    expect((await get('/udf/open_points/tiles/2/0/0')).headers.get('x-cache')).toBe('MISS');
  }, 120_000);

  it('limits computations per token with 429 + Retry-After, never cached hits', async () => {
    const t = bearer(tokens.multi);
    for (let i = 0; i < 3; i++) expect((await get(`/udf/secret_points/tiles/6/${i}/0`, t)).status).toBe(200);
    const res = await get('/udf/secret_points/tiles/6/9/0', t);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await res.json()).message).toMatch(/Too many computations: this token may start 3 per 60 s/);
    // A cached tile is still served to the same token.
    expect((await get('/udf/secret_points/tiles/6/0/0', t)).headers.get('x-cache')).toBe('HIT');
    // Another client (address bucket) is not affected; admin tokens are not limited.
    expect((await get('/udf/open_points/tiles/6/0/0')).status).toBe(200);
    expect((await get('/udf/secret_points/tiles/6/10/0', bearer(tokens.admin))).status).toBe(200);
  });

  it('--admin-port serves /metrics openly there and /admin/* only there', async () => {
    expect(server.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const fams = await metrics(server.adminUrl!);
    expect(sum(fams, 'tilesmith_rate_limited_total')).toBe(1);
    expect((await get('/admin/runs', { base: server.adminUrl })).status).toBe(401);
    expect((await get('/admin/runs', { ...bearer(tokens.admin), base: server.adminUrl })).status).toBe(200);
    expect((await get('/admin/runs', bearer(tokens.admin))).status).toBe(404);
    expect((await get('/metrics')).status).toBe(404);
  });

  it('no token appears in any log line, cache file or error body', async () => {
    const secrets = Object.values(tokens).flatMap((t) => [t, t.slice(14)]);
    const logs = allLines.join('\n');
    expect(allLines.length).toBeGreaterThan(100);
    expect(errorBodies.length).toBeGreaterThan(15);
    for (const s of secrets) {
      expect(logs.includes(s)).toBe(false);
      expect(errorBodies.filter((text) => text.includes(s))).toEqual([]);
    }
    for (const file of await listFiles(join(cacheDir, 'results'))) {
      const bytes = await readFile(file);
      for (const s of secrets) {
        expect(file.includes(s)).toBe(false);
        expect(bytes.includes(Buffer.from(s))).toBe(false);
      }
    }
    expect((await stat(join(cacheDir, 'results'))).isDirectory()).toBe(true);
  });
});
