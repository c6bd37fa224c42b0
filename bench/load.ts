/**
 * A small bounded HTTP load loop (keep-alive, fixed request count, fixed concurrency) and the
 * statistics the sections report. Traffic goes to 127.0.0.1 only.
 */
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Milliseconds from sending the request to the last body byte. */
  ms: number;
}

/**
 * One GET over `agent`; rejects on a network error or after `timeoutMs`. With `keepBody: false`
 * the body is read and counted but not kept (less client work under load).
 */
export function get(url: string, agent: http.Agent, { timeoutMs = 30_000, keepBody = true } = {}): Promise<Reply> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') throw new Error(`bench traffic stays on 127.0.0.1, got ${u.hostname}`);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(u, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => keepBody && chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} took longer than ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface LoadOptions {
  requests: number;
  concurrency: number;
  /** Stop issuing requests after this long (the result then has fewer requests). @default 60 s */
  maxMs?: number;
  /** Sees every reply (e.g. to read Server-Timing). */
  onReply?: (r: Reply) => void;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

/**
 * Sends `requests` GETs to `url` with `concurrency` in flight over one keep-alive agent and
 * measures throughput and latency. Any non-2xx answer fails the bench: a ratio against an
 * error page would be meaningless.
 */
export async function runLoad(url: string, o: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const latencies: number[] = [];
  const deadline = performance.now() + (o.maxMs ?? 60_000);
  let issued = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (issued < o.requests && performance.now() < deadline) {
      issued++;
      const r = await get(url, agent, { keepBody: false });
      if (r.status < 200 || r.status > 299) throw new Error(`GET ${url} answered ${r.status}`);
      latencies.push(r.ms);
      o.onReply?.(r);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, seconds, rps: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/**
 * Calls `fn` one at a time, `count` times or until `maxMs` has passed (but at least `min`
 * times), and returns each call's duration in ms. Keeps slow cases bounded on a busy machine.
 */
export async function timeCalls(fn: () => Promise<unknown> | unknown, o: { count: number; maxMs: number; min?: number }): Promise<number[]> {
  const ms: number[] = [];
  const end = performance.now() + o.maxMs;
  while (ms.length < o.count && (ms.length < (o.min ?? 3) || performance.now() < end)) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
    // Untimed: back to the event loop between calls, as a server is between requests (lets
    // timers, I/O and GC tasks run outside the measured window).
    await new Promise((r) => setImmediate(r));
  }
  return ms;
}

/** `q`-quantile of an ascending array (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and min–max of a set of per-round values. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Runs every case once per round, in an order that rotates each round (ABC, BCA, CAB, …), so
 * no case always goes first on a shared, noisy machine. Returns each case's per-round results.
 */
export async function interleave<K extends string, T>(rounds: number, cases: Record<K, () => Promise<T>>): Promise<Record<K, T[]>> {
  const keys = Object.keys(cases) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as T[]])) as unknown as Record<K, T[]>;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(i + r) % keys.length];
      out[k].push(await cases[k]());
    }
  }
  return out;
}

/** Element-wise `a[i] / b[i]` (per-round ratios). */
export function ratios(a: number[], b: number[]): number[] {
  return a.map((v, i) => v / b[i]);
}

/** `name;dur=1.23, other;dur=4` → `{ name: 1.23, other: 4 }`. */
export function parseServerTiming(header: string | string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of String(header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;.*?dur=([\d.]+)/.exec(part);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Formatting for the tables. */
export const fmt = {
  ratio: (s: Spread) => `**${s.median.toFixed(2)}×**`,
  range: (s: Spread) => `${s.min.toFixed(2)}–${s.max.toFixed(2)}`,
  ms: (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) + ' ms',
  int: (v: number) => Math.round(v).toLocaleString('en-US'),
  pct: (v: number) => `${(v * 100).toFixed(0)} %`,
};

export const WRK = '/usr/bin/wrk';

/**
 * `wrk` (a C load generator, far cheaper per request than a Node client, so fast servers are not
 * capped by the client) against `url` for `seconds` with `connections` keep-alive connections on
 * one thread. Fails on non-2xx answers or socket errors.
 */
export async function runWrk(url: string, o: { seconds: number; connections: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(WRK, ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url], { timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`wrk failed: ${err.message} ${stderr}`)) : resolve(stdout),
    ),
  );
  if (/Non-2xx or 3xx responses/.test(out) || /Socket errors/.test(out)) throw new Error(`wrk against ${url} saw errors:\n${out}`);
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`cannot read wrk's output:\n${out}`);
    return m[1];
  };
  const ms = (v: string) => {
    const m = /^([\d.]+)(us|ms|s)$/.exec(v);
    if (!m) throw new Error(`cannot read wrk latency ${v}`);
    return Number(m[1]) * (m[2] === 'us' ? 1e-3 : m[2] === 's' ? 1e3 : 1);
  };
  const requests = Number(num(/(\d+) requests in/));
  return {
    requests,
    seconds: o.seconds,
    rps: Number(num(/Requests\/sec:\s+([\d.]+)/)),
    p50: ms(num(/^\s+50%\s+(\S+)/m)),
    p99: ms(num(/^\s+99%\s+(\S+)/m)),
  };
}
