/**
 * Prometheus metrics (prom-client, a registry of its own so embedding apps keep theirs).
 * Request, cache, duration and auth metrics are fed by the app's observer; the compute pool
 * and admission layer report through `setQueueDepth`, `setBusyWorkers`, `workerRestarted`
 * (or `onCollect`, polled at scrape time).
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | tilesmith_http_requests_total | counter | route, status, udf |
 * | tilesmith_http_request_duration_seconds | histogram | route |
 * | tilesmith_cache_requests_total | counter | result (hit/miss/bypass), tier |
 * | tilesmith_cache_bytes_total | counter | result, tier |
 * | tilesmith_udf_duration_seconds | histogram | udf |
 * | tilesmith_encode_duration_seconds | histogram | udf |
 * | tilesmith_auth_failures_total | counter | reason (missing/invalid/forbidden) |
 * | tilesmith_rate_limited_total | counter | |
 * | tilesmith_udf_log_lines_total | counter | udf |
 * | tilesmith_computations_in_flight | gauge | |
 * | tilesmith_queue_depth | gauge | |
 * | tilesmith_workers_busy | gauge | pool |
 * | tilesmith_worker_restarts_total | counter | pool |
 * plus prom-client's default process metrics (`tilesmith_process_*`, `tilesmith_nodejs_*`).
 */
import client from 'prom-client';
import type { RunsSource } from '../routes/admin.ts';
import type { Observer, RequestRecord } from '../operations.ts';

export interface TilesmithMetrics {
  /** What the app reports into (pass as `operations.observe`, or call from your own observer). */
  observer: Required<Pick<Observer, 'request' | 'authFailure' | 'rateLimited' | 'udfLogs'>>;
  /** `/metrics` body and its media type. */
  contentType: string;
  render(): Promise<string>;
  /** Requests waiting for a compute slot (admission layer). */
  setQueueDepth(n: number): void;
  /** Busy workers of a pool (`ts`, `python`, …). */
  setBusyWorkers(pool: string, n: number): void;
  /** A worker of a pool died and was replaced. */
  workerRestarted(pool: string): void;
  /** Runs `fn` before every scrape (to poll gauges). */
  onCollect(fn: () => void): void;
  /** Counts `runs.snapshot()` into tilesmith_computations_in_flight at scrape time. */
  watchRuns(runs: RunsSource): void;
  registry: client.Registry;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

type Labels = Record<string, string>;

/**
 * A counter for the per-request path, registered in a prom-client registry as a custom
 * metric (`get()`): prom-client's own labelled `inc()` hashes the label set on every call
 * (~1 µs), a third of the time a cached tile takes; here a series is found by a key the
 * caller already has, and labels are built once per series.
 */
class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(key: string, labels: () => Labels, by = 1): void {
    this.handle(key, labels).value += by;
  }
  /** The series of `key` (created with `labels()` the first time), to add to directly. */
  handle(key: string, labels: () => Labels): { value: number } {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: labels(), value: 0 }));
    return s;
  }
  get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value })) };
  }
}

/** A histogram for the per-request path (see HotCounter); exposition as prom-client's. */
class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
  ) {}
  observe(key: string, labels: () => Labels, value: number): void {
    this.add(this.handle(key, labels), value);
  }
  /** The series of `key` (created with `labels()` the first time), for `add`. */
  handle(key: string, labels: () => Labels): { counts: number[]; sum: number; count: number } {
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: labels(), counts: new Array(this.bounds.length).fill(0), sum: 0, count: 0 }));
    return s;
  }
  add(s: { counts: number[]; sum: number; count: number }, value: number): void {
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }
  get() {
    const values: Array<{ labels: Labels; value: number; metricName: string }> = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((bound, i) => {
        acc += s.counts[i]!;
        values.push({ labels: { le: String(bound), ...s.labels }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Creates the metrics registry and its observer. */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): TilesmithMetrics {
  const registry = new client.Registry();
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'tilesmith_' });
  const collectors: Array<() => void> = [];
  const r = { registers: [registry] };
  const hot = <T extends HotCounter | HotHistogram>(m: T): T => {
    registry.registerMetric(m as unknown as client.Metric);
    return m;
  };
  const requests = hot(new HotCounter('tilesmith_http_requests_total', 'HTTP requests answered, by route template, status and UDF.'));
  const duration = hot(new HotHistogram('tilesmith_http_request_duration_seconds', 'Time to answer a request.', DURATION_BUCKETS));
  const cache = hot(new HotCounter('tilesmith_cache_requests_total', 'Result lookups by outcome (hit, miss, bypass) and the tier that answered a hit.'));
  const cacheBytes = hot(new HotCounter('tilesmith_cache_bytes_total', 'Result bytes sent, by cache outcome and the tier that answered a hit.'));
  const udf = hot(new HotHistogram('tilesmith_udf_duration_seconds', 'UDF run time of computed results.', DURATION_BUCKETS));
  const encode = hot(new HotHistogram('tilesmith_encode_duration_seconds', 'Encode time of computed results.', DURATION_BUCKETS));
  const authFailures = new client.Counter({ name: 'tilesmith_auth_failures_total', help: 'Requests refused for a missing, invalid or insufficient token.', labelNames: ['reason'], ...r });
  const limited = new client.Counter({ name: 'tilesmith_rate_limited_total', help: 'Computations refused by --rate-limit (429).', ...r });
  const logLines = new client.Counter({ name: 'tilesmith_udf_log_lines_total', help: 'Lines UDFs printed during successful runs.', labelNames: ['udf'], ...r });
  const queue = new client.Gauge({ name: 'tilesmith_queue_depth', help: 'Computations waiting for a slot.', ...r });
  const busy = new client.Gauge({ name: 'tilesmith_workers_busy', help: 'Workers running a computation, per pool.', labelNames: ['pool'], ...r });
  const restarts = new client.Counter({ name: 'tilesmith_worker_restarts_total', help: 'Workers that died and were replaced, per pool.', labelNames: ['pool'], ...r });
  let runsSource: RunsSource | undefined;
  new client.Gauge({
    name: 'tilesmith_computations_in_flight',
    help: 'Computations queued or running now.',
    ...r,
    collect() {
      for (const fn of collectors) fn();
      this.set(runsSource ? runsSource.snapshot().length : 0);
    },
  });
  queue.set(0);
  /**
   * The series a record counts into, per record object: the cached-hit fast path passes the
   * same object for every hit of a URL, so a hit costs a few additions instead of building
   * label keys (its status and tier are checked, since they can change).
   */
  type Handles = { status: number; tier: string | undefined; req: { value: number }; dur: ReturnType<typeof duration.handle>; cache?: { value: number }; bytes?: { value: number } };
  const handles = new WeakMap<object, Handles>();
  const handlesOf = (rec: RequestRecord): Handles => {
    const u = rec.udf ?? '';
    const route = rec.route;
    const h: Handles = {
      status: rec.status,
      tier: rec.tier,
      req: requests.handle(`${route}|${rec.status}|${u}`, () => ({ route, status: String(rec.status), udf: u })),
      dur: duration.handle(route, () => ({ route })),
    };
    if (rec.cache) {
      const result = rec.cache.toLowerCase();
      const tier = rec.tier ?? (result === 'hit' ? 'unknown' : '');
      h.cache = cache.handle(`${result}|${tier}`, () => ({ result, tier }));
      h.bytes = cacheBytes.handle(`${result}|${tier}`, () => ({ result, tier }));
    }
    return h;
  };
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observer: {
      request(rec) {
        let h = handles.get(rec);
        if (!h || h.status !== rec.status || h.tier !== rec.tier) handles.set(rec, (h = handlesOf(rec)));
        h.req.value++;
        duration.add(h.dur, rec.durationMs / 1000);
        if (h.cache) {
          h.cache.value++;
          h.bytes!.value += rec.bytes;
        }
        const u = rec.udf;
        if (u && rec.udfMs !== undefined) udf.observe(u, () => ({ udf: u }), rec.udfMs / 1000);
        if (u && rec.encodeMs !== undefined) encode.observe(u, () => ({ udf: u }), rec.encodeMs / 1000);
      },
      authFailure: (reason) => authFailures.inc({ reason }),
      rateLimited: () => limited.inc(),
      udfLogs: (info) => logLines.inc({ udf: info.udf }, info.lines.length),
    },
    setQueueDepth: (n) => queue.set(n),
    setBusyWorkers: (pool, n) => busy.set({ pool }, n),
    workerRestarted: (pool) => restarts.inc({ pool }),
    onCollect: (fn) => void collectors.push(fn),
    watchRuns: (runs) => void (runsSource = runs),
  };
}
