/**
 * Several tilesmith instances on one real redis-server: the shared tier, compute-once across
 * instances, purges that reach every instance, and what happens when Redis goes away, comes
 * back, holds a corrupt value, or a lock holder is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedTiles } from '../server/node/export.ts';
import { startServer, type RunningServer } from '../server/node/serve.ts';
import { haveRedis, startRedis, type TestRedis } from './helpers/redis.ts';
import { cannotRun } from './helpers/skip.ts';

const UDFS = resolve(import.meta.dirname, 'fixtures/shared-udfs');
const BIN = resolve(import.meta.dirname, '../bin/tilesmith.js');
const available = await haveRedis();
if (!available) cannotRun('test/redis-cache.test.ts', 'redis-server is not installed (run scripts/setup-system.mjs)');

let redis: TestRedis;
let work: string;
let runlog: string;
const servers: RunningServer[] = [];
let prefix = 'ts-test';

/** Lines of the run log that are starts of `tile` with `tag`. */
function runs(tile: string, tag: string): string[] {
  let text = '';
  try {
    text = readFileSync(runlog, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.endsWith(` start ${tile} ${tag}`));
}

async function tile(server: { url: string }, path: string) {
  const res = await fetch(`${server.url}/udf/runlog/tiles/${path}`);
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, cache: res.headers.get('x-cache'), tier: res.headers.get('x-cache-tier'), body };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!available)('three instances on one Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    work = mkdtempSync(join(tmpdir(), 'tilesmith-redis-'));
    runlog = join(work, 'runs.log');
    writeFileSync(runlog, '');
    process.env.TILESMITH_TEST_RUNLOG = runlog;
    prefix = `ts-test-${process.pid}`;
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startServer({
          dir: UDFS,
          port: 0,
          host: '127.0.0.1',
          cacheDir: join(work, `cache-${i}`),
          redis: redis.url,
          redisPrefix: prefix,
          redisLockTtl: '2s',
          log: () => {},
        }),
      );
    }
    await Promise.all(servers.map((s) => (s.cache as unknown as { whenRedisReady(): Promise<void> }).whenRedisReady()));
  });
  afterAll(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await redis?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('30 concurrent identical cold requests spread over three instances run the UDF once', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => tile(servers[i % 3]!, '5/10/12.mvt?tag=once&ms=400')));
    expect(runs('5/10/12', 'once')).toHaveLength(1);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(Buffer.from(r.body).equals(Buffer.from(results[0]!.body))).toBe(true);
    }
    const layer = new VectorTile(new PbfReader(results[0]!.body)).layers.runlog!;
    expect(layer.length).toBe(2);
  });

  it('a tile computed on instance 1 is a Redis hit on instance 2, then a memory hit', async () => {
    const first = await tile(servers[0]!, '6/20/22.mvt?tag=share');
    expect(first.cache).toBe('MISS');
    const second = await tile(servers[1]!, '6/20/22.mvt?tag=share');
    expect(second.cache).toBe('HIT');
    expect(second.tier).toBe('redis');
    expect(Buffer.from(second.body).equals(Buffer.from(first.body))).toBe(true);
    const third = await tile(servers[1]!, '6/20/22.mvt?tag=share');
    expect(third.tier).toBe('memory');
    expect(runs('6/20/22', 'share')).toHaveLength(1);
  });

  it('a purge on instance 3 empties the shared tier and the memory tiers of instances 1 and 2', async () => {
    for (const s of servers) await tile(s, '7/40/44.mvt?tag=purge');
    for (const s of servers) expect((await tile(s, '7/40/44.mvt?tag=purge')).tier).toBe('memory');
    expect(runs('7/40/44', 'purge')).toHaveLength(1);
    const [full] = await redis.client().keys(`${prefix}:r:runlog/7/40/44/*`);
    const key = full!.slice(`${prefix}:r:`.length);
    const removed = await servers[2]!.cache.purge({ udf: 'runlog', minzoom: 7, maxzoom: 7 });
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await redis.client().exists(full!)).toBe(0);
    // The announcement travels through Redis pub/sub: wait until instances 1 and 2 dropped it
    // from memory and disk (get() looks in every tier and never computes).
    await until('instances 1 and 2 to purge their local tiers', async () => {
      const left = await Promise.all(servers.map((s) => s.cache.get(key)));
      return left.every((e) => e === undefined);
    });
    const after = await tile(servers[0]!, '7/40/44.mvt?tag=purge');
    expect(after.cache).toBe('MISS');
    expect(runs('7/40/44', 'purge').length).toBeGreaterThanOrEqual(2);
  });

  it('a corrupt or truncated Redis value is detected and recomputed, never served', async () => {
    const first = await tile(servers[0]!, '8/100/90.mvt?tag=corrupt');
    const c = redis.client();
    const [key] = await c.keys(`${prefix}:r:runlog/8/100/90/*`);
    expect(key).toBeDefined();
    const value = (await c.getBuffer(key!))!;
    const flipped = Buffer.from(value);
    flipped[flipped.length - 10] ^= 0xff;
    await c.set(key!, flipped);
    const second = await tile(servers[1]!, '8/100/90.mvt?tag=corrupt');
    expect(second.status).toBe(200);
    expect(second.cache).toBe('MISS');
    expect(Buffer.from(second.body).equals(Buffer.from(first.body))).toBe(true);
    await c.set(key!, value.subarray(0, value.length - 7)); // truncated
    const third = await tile(servers[2]!, '8/100/90.mvt?tag=corrupt');
    expect(third.cache).toBe('MISS');
    expect(Buffer.from(third.body).equals(Buffer.from(first.body))).toBe(true);
    expect(runs('8/100/90', 'corrupt')).toHaveLength(3);
  });

  it('seed --redis fills the shared tier: every instance answers the seeded tiles as Redis hits', async () => {
    const summary = await seedTiles({
      dir: UDFS, udf: 'runlog', bbox: [0, 40, 10, 50], minzoom: 4, maxzoom: 5, params: { tag: 'seeded', ms: '0' },
      server: { cacheDir: join(work, 'seed-cache'), redis: redis.url, redisPrefix: prefix }, log: () => {},
    });
    expect(summary.rendered).toBeGreaterThan(1);
    const before = runs('5/16/11', 'seeded').length + runs('4/8/5', 'seeded').length;
    expect(before).toBe(2);
    for (const s of servers) {
      const r = await tile(s, '5/16/11.mvt?tag=seeded&ms=0');
      expect(r.cache).toBe('HIT');
      expect(r.tier).toBe('redis');
    }
    expect(runs('5/16/11', 'seeded').length + runs('4/8/5', 'seeded').length).toBe(2);
  });

  it('Redis stopped mid-run: requests keep succeeding; Redis back: sharing resumes', async () => {
    await redis.stop();
    const down = await Promise.all(servers.map((s) => tile(s, '9/200/180.mvt?tag=down')));
    for (const r of down) expect(r.status).toBe(200);
    // Each instance computed for itself (no shared tier, no lock), and answers from memory again.
    expect((await tile(servers[0]!, '9/200/180.mvt?tag=down')).tier).toBe('memory');
    await redis.start();
    // ioredis reconnects with backoff; once it has, a tile computed on 1 is a Redis hit on 2.
    let n = 0;
    await until('sharing to resume', async () => {
      n++;
      await tile(servers[0]!, `10/${n}/1.mvt?tag=back`);
      return (await tile(servers[1]!, `10/${n}/1.mvt?tag=back`)).tier === 'redis';
    }, 15_000);
  });
});

/** Starts `tilesmith serve` as a child process and resolves with its URL. */
function spawnServer(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [BIN, 'serve', UDFS, '--port', '0', '--host', '127.0.0.1', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolvePromise, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/[^\s"]+)/.exec(err);
      if (m) resolvePromise({ url: m[1]!, proc });
    });
    proc.once('exit', (code) => reject(new Error(`tilesmith exited with ${code}: ${err}`)));
  });
}

describe.skipIf(!available)('a lock holder killed mid-compute', () => {
  const procs: ChildProcess[] = [];
  let r: TestRedis;
  let dir: string;
  beforeAll(async () => {
    r = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'tilesmith-kill-'));
  });
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of the holder: another instance computes within the lock expiry', async () => {
    const log = join(dir, 'runs.log');
    writeFileSync(log, '');
    const env = { ...process.env, TILESMITH_TEST_RUNLOG: log };
    const args = ['--redis', r.url, '--redis-prefix', 'kill', '--redis-lock-ttl', '2s', '--no-disk-cache'];
    const a = await spawnServer(args, env);
    const b = await spawnServer(args, env);
    procs.push(a.proc, b.proc);
    const path = '/udf/runlog/tiles/4/3/5.mvt?tag=kill&ms=1500';
    void fetch(a.url + path).catch(() => {});
    const starts = () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('start 4/3/5 kill'));
    await until('A to start computing', () => starts().length === 1);
    const t0 = Date.now();
    const waiting = fetch(b.url + path);
    await new Promise((res) => setTimeout(res, 300));
    expect(starts()).toHaveLength(1); // B waits for A's lock instead of computing
    a.proc.kill('SIGKILL');
    const res = await waiting;
    const elapsed = Date.now() - t0;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-cache')).toBe('MISS');
    const lines = starts();
    expect(lines).toHaveLength(2);
    expect(lines[0]!.split(' ')[0]).toBe(String(a.proc.pid));
    expect(lines[1]!.split(' ')[0]).toBe(String(b.proc.pid));
    // lock expiry (2 s) + the run (1.5 s) + slack for a loaded machine
    expect(elapsed).toBeLessThan(2000 + 1500 + 4000);
  }, 30_000);
});

describe.skipIf(!available)('instances with different UDF code on one Redis', () => {
  it('never serve each other\'s results: the code hash is part of the key', async () => {
    const r = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'tilesmith-code-'));
    process.env.TILESMITH_TEST_RUNLOG = join(dir, 'runs.log');
    const started: RunningServer[] = [];
    try {
      const source = readFileSync(join(UDFS, 'runlog.ts'), 'utf8');
      for (const [name, text] of [['old', source], ['new', `${source}\n// edited: a new version\n`]] as const) {
        const udfs = join(dir, name);
        mkdirSync(udfs);
        writeFileSync(join(udfs, 'runlog.ts'), text);
      }
      const open = (name: string, i: number) =>
        startServer({ dir: join(dir, name), port: 0, host: '127.0.0.1', cacheDir: join(dir, `cache-${i}`), redis: r.url, redisPrefix: 'code', log: () => {} });
      const [oldA, newB, newC] = await Promise.all([open('old', 0), open('new', 1), open('new', 2)]);
      started.push(oldA, newB, newC);
      await Promise.all(started.map((s) => (s.cache as unknown as { whenRedisReady(): Promise<void> }).whenRedisReady()));
      expect((await tile(oldA, '3/4/2.mvt?tag=code&ms=0')).cache).toBe('MISS');
      expect((await tile(newB, '3/4/2.mvt?tag=code&ms=0')).cache).toBe('MISS'); // not the old code's result
      const c = await tile(newC, '3/4/2.mvt?tag=code&ms=0');
      expect([c.cache, c.tier]).toEqual(['HIT', 'redis']); // same code: shared
    } finally {
      await Promise.all(started.map((s) => s.close()));
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
