import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.ts';
import { Redis } from 'ioredis';

export { freePort };

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, waits for exit). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** A plain client for inspecting and tampering with keys. */
  client(): Redis;
}

/** Whether `redis-server` is installed (tests skip loudly without it; CI installs it via scripts/setup-system.mjs). */
export async function haveRedis(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('redis-server', ['--version']);
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}

/**
 * Starts a real `redis-server` on a free port, without persistence, as the tests' shared Redis,
 * configured as the README recommends (`maxmemory` + `allkeys-lru` for a cache; `noeviction`
 * for a BullMQ queue).
 * Stop it in afterAll.
 */
export async function startRedis(opts: { policy?: 'allkeys-lru' | 'volatile-lru' | 'noeviction' } = {}): Promise<TestRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory', '256mb', '--maxmemory-policy', opts.policy ?? 'allkeys-lru'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      for (const c of clients.splice(0)) c.disconnect();
      await stop();
    },
    client() {
      const c = new Redis({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}
