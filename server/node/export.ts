import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { SingleBar } from 'cli-progress';
import { Redis } from 'ioredis';
import { tileIdToZxy, zxyToTileId } from 'pmtiles';
import type { SharedCache } from '../cache/redis.ts';
import type { Bounds } from '../types.ts';
import { startServer, type RunningServer, type ServerOptions } from './serve.ts';
import { ExportStaging, writeMbtiles, writePmtiles, type ArchiveMetadata } from './tile-archive.ts';

/** What to render: one UDF over an area and a zoom range. */
export interface TileJob {
  /** Folder of UDFs (as `tilesmith serve DIR`). */
  dir: string;
  udf: string;
  bbox: Bounds;
  minzoom: number;
  maxzoom: number;
  /** UDF parameters, as they would appear in the tile URL's query. */
  params?: Record<string, string>;
  /** Tile format (URL extension). @default 'mvt' */
  format?: string;
  /** Tiles rendered at once. @default 2 × cores */
  concurrency?: number;
  /** Stops the run (what Ctrl-C does); finished tiles stay staged for a resume. */
  signal?: AbortSignal;
  /** Draws a progress bar with rate and ETA on stderr. @default false */
  progressBar?: boolean;
  /** Called after every finished tile. */
  onTile?: (done: number, total: number) => void;
  /** Server options for the renderer (python, timeout, …; cache options for `seed`). */
  server?: Partial<ServerOptions>;
  log?: (message: string) => void;
}

export interface ExportOptions extends TileJob {
  /** `.pmtiles` or `.mbtiles` file. */
  out: string;
  /** Distribute the rendering over `tilesmith worker` processes through a BullMQ queue on this Redis. */
  redis?: string;
  /** Prefix of the queue's Redis keys. @default 'tilesmith' */
  redisPrefix?: string;
  /** Tiles per queue job. @default 64 */
  batchSize?: number;
  /** Start over instead of resuming an interrupted export. @default false */
  restart?: boolean;
}

export interface ExportSummary {
  /** Tiles in the range. */
  total: number;
  /** Tiles rendered by this run. */
  rendered: number;
  /** Tiles found done by an earlier, interrupted run. */
  resumed: number;
  /** Tiles without content (not stored). */
  empty: number;
  /** Tiles in the archive. */
  written: number;
  seconds: number;
  tilesPerSecond: number;
  /** Tiles rendered per worker (distributed runs). */
  workers?: Record<string, number>;
  /** True when the run was interrupted (nothing assembled; run again to resume). */
  interrupted: boolean;
}

/** The tile range of `bbox` at zoom `z` (XYZ, y down), clamped to the Web-Mercator limits. */
export function tileRange(bbox: Bounds, z: number): { minX: number; minY: number; maxX: number; maxY: number } {
  const n = 2 ** z;
  const lat = (v: number) => Math.max(-85.0511287798, Math.min(85.0511287798, v));
  const x = (lon: number) => Math.min(n - 1, Math.max(0, Math.floor(((lon + 180) / 360) * n)));
  const y = (la: number) => {
    const r = (lat(la) * Math.PI) / 180;
    return Math.min(n - 1, Math.max(0, Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)));
  };
  return { minX: x(bbox[0]), maxX: x(bbox[2]), minY: y(bbox[3]), maxY: y(bbox[1]) };
}

/** Every tile of the job, zoom by zoom, as tile ids. */
export function* tilesOf(bbox: Bounds, minzoom: number, maxzoom: number): Generator<[number, number, number]> {
  for (let z = minzoom; z <= maxzoom; z++) {
    const r = tileRange(bbox, z);
    for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) yield [z, x, y];
  }
}

export function countTiles(bbox: Bounds, minzoom: number, maxzoom: number): number {
  let total = 0;
  for (let z = minzoom; z <= maxzoom; z++) {
    const r = tileRange(bbox, z);
    total += (r.maxX - r.minX + 1) * (r.maxY - r.minY + 1);
  }
  return total;
}

/**
 * Renders tiles through the very app `tilesmith serve` runs (same routes, runtimes, compute
 * pool, encoders), so archived tiles are byte-identical to served ones. It listens only on
 * 127.0.0.1 on a free port; requests go straight to `app.request`.
 */
export class TileRenderer {
  private constructor(
    readonly server: RunningServer,
    private readonly udf: string,
    private readonly format: string,
    private readonly query: string,
  ) {}

  static async open(job: Pick<TileJob, 'dir' | 'udf' | 'format' | 'params' | 'server' | 'log'>): Promise<TileRenderer> {
    const server = await startServer({
      diskCache: false,
      memoryCacheBytes: 32 * 1024 * 1024,
      log: job.log ?? (() => {}),
      ...job.server,
      dir: job.dir,
      port: 0,
      host: '127.0.0.1',
    });
    const udf = server.registry.get(job.udf);
    if (!udf) {
      await server.close();
      throw new Error(`No UDF named '${job.udf}' in ${job.dir}. UDFs there: ${server.registry.list().map((u) => u.name).join(', ') || 'none'}.`);
    }
    if (udf.loadError) {
      await server.close();
      throw new Error(`UDF '${job.udf}' failed to load: ${udf.loadError.message}`);
    }
    const query = new URLSearchParams(job.params ?? {}).toString();
    return new TileRenderer(server, job.udf, job.format ?? 'mvt', query);
  }

  /** The UDF's code hash: distributed workers refuse jobs for other code. */
  get codeHash(): string {
    return this.server.registry.get(this.udf)!.codeHash;
  }

  /** Tiles this renderer has rendered. */
  rendered = 0;

  /** The tile's bytes, or null when empty (204). Any other answer is an error naming the tile. */
  async render(z: number, x: number, y: number): Promise<Uint8Array | null> {
    this.rendered++;
    const path = `/udf/${this.udf}/tiles/${z}/${x}/${y}.${this.format}${this.query ? `?${this.query}` : ''}`;
    const res = await this.server.app.request(path);
    if (res.status === 204) return null;
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) {
      let message = new TextDecoder().decode(body).slice(0, 500);
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`tile ${z}/${x}/${y} answered ${res.status}: ${message}`);
    }
    return body.byteLength > 0 ? body : null;
  }

  /** TileJSON-like metadata of the export (vector_layers learned from the rendered tiles). */
  async metadata(job: Pick<TileJob, 'bbox' | 'minzoom' | 'maxzoom'>): Promise<ArchiveMetadata> {
    const res = await this.server.app.request(`/udf/${this.udf}/tilejson.json${this.query ? `?${this.query}` : ''}`);
    const tj = res.ok ? ((await res.json()) as { vector_layers?: unknown[]; description?: string; attribution?: string }) : {};
    return {
      name: this.udf,
      format: this.format,
      bounds: job.bbox,
      minzoom: job.minzoom,
      maxzoom: job.maxzoom,
      description: tj.description || undefined,
      attribution: tj.attribution || undefined,
      vectorLayers: this.format === 'mvt' || this.format === 'pbf' ? tj.vector_layers : undefined,
    };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

function progress(job: TileJob, total: number, already: number) {
  if (!job.progressBar) return { tick() {}, stop() {} };
  const bar = new SingleBar({
    format: 'tilesmith {bar} {percentage}% | {value}/{total} tiles | {rate} tiles/s | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 200,
    fps: 5,
  });
  const t0 = Date.now();
  let rendered = 0;
  bar.start(total, already, { rate: '0' });
  return {
    tick() {
      rendered++;
      bar.increment(1, { rate: (rendered / Math.max(0.001, (Date.now() - t0) / 1000)).toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}

/** The identity of an export, stored in its staging file so a resume continues the same job. */
function specOf(job: ExportOptions): string {
  return JSON.stringify({ udf: job.udf, bbox: job.bbox, minzoom: job.minzoom, maxzoom: job.maxzoom, params: job.params ?? {}, format: job.format ?? 'mvt' });
}

function checkJob(job: TileJob): void {
  const [w, s, e, n] = job.bbox;
  if (!(w < e && s < n && w >= -180 && e <= 180 && s >= -90 && n <= 90)) {
    throw new Error(`--bbox must be west,south,east,north in degrees with west < east and south < north, got ${job.bbox.join(',')}`);
  }
  if (!(Number.isInteger(job.minzoom) && Number.isInteger(job.maxzoom) && job.minzoom >= 0 && job.minzoom <= job.maxzoom && job.maxzoom <= 30)) {
    throw new Error(`--zoom must be a range like 0-12 within 0-30, got ${job.minzoom}-${job.maxzoom}`);
  }
}

/**
 * Renders every tile of the job into a PMTiles v3 or MBTiles archive.
 *
 * Finished tiles are staged in `OUT.partial` (SQLite) as they come, so an interrupted export
 * (Ctrl-C, crash, `signal`) resumes where it stopped when run again with the same arguments;
 * the archive is assembled, and the staging file removed, only when every tile is done.
 * With `redis`, tiles are rendered by `tilesmith worker` processes (see `runWorker`) through a
 * BullMQ queue, and this process only enqueues, collects and assembles.
 */
export async function exportTiles(job: ExportOptions): Promise<ExportSummary> {
  checkJob(job);
  const kind = extname(job.out).toLowerCase();
  if (kind !== '.pmtiles' && kind !== '.mbtiles') throw new Error(`The output must end in .pmtiles or .mbtiles, got ${job.out}`);
  const stagingPath = `${job.out}.partial`;
  const log = job.log ?? ((m: string) => console.error(m));
  // The renderer first: an unknown UDF must not leave a staging file behind.
  const renderer = await TileRenderer.open(job);
  if (job.restart) for (const suffix of ['', '-wal', '-shm']) rmSync(stagingPath + suffix, { force: true });
  let staging: ExportStaging;
  try {
    staging = new ExportStaging(stagingPath);
  } catch (error) {
    await renderer.close();
    throw error;
  }
  const t0 = performance.now();
  try {
    const spec = specOf(job);
    const previous = staging.spec();
    if (previous && previous !== spec) {
      throw new Error(`${stagingPath} belongs to another export (${previous}); remove it or pass --restart`);
    }
    if (!previous) staging.setSpec(spec);
    const done = staging.doneIds();
    const total = countTiles(job.bbox, job.minzoom, job.maxzoom);
    const todo: Array<[number, number, number]> = [];
    for (const t of tilesOf(job.bbox, job.minzoom, job.maxzoom)) if (!done.has(zxyToTileId(...t))) todo.push(t);
    const resumed = total - todo.length;
    if (resumed > 0) log(`tilesmith export: resuming, ${resumed} of ${total} tiles already done`);
    const bar = progress(job, total, resumed);
    let rendered = 0;
    let workers: Record<string, number> | undefined;
    const record = (z: number, x: number, y: number, data: Uint8Array | null) => {
      staging.put(z, x, y, data);
      rendered++;
      bar.tick();
      job.onTile?.(resumed + rendered, total);
    };
    try {
      if (job.redis) workers = await distribute(job, renderer.codeHash, todo, record);
      else await renderLocally(renderer, job, todo, record);
    } finally {
      bar.stop();
    }
    const interrupted = job.signal?.aborted === true;
    const counts = staging.counts();
    const seconds = (performance.now() - t0) / 1000;
    const summary: ExportSummary = {
      total,
      rendered,
      resumed,
      empty: counts.done - counts.written,
      written: counts.written,
      seconds,
      tilesPerSecond: rendered / Math.max(seconds, 1e-6),
      interrupted,
      ...(workers ? { workers } : {}),
    };
    if (interrupted) return summary;
    // The layer fields in the metadata are learned from a run: when this process rendered
    // nothing (workers did, or an earlier run), render one stored tile here first, so the
    // archive is the same however it was made.
    const first = staging.firstTile();
    if (renderer.rendered === 0 && first) await renderer.render(first.z, first.x, first.y);
    const meta = await renderer.metadata(job);
    if (kind === '.pmtiles') writePmtiles(staging, job.out, meta);
    else writeMbtiles(staging, job.out, meta);
    staging.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(stagingPath + suffix, { force: true });
    return summary;
  } finally {
    if (staging.db.open) staging.close();
    await renderer.close();
  }
}

async function renderLocally(
  renderer: TileRenderer,
  job: TileJob,
  todo: Array<[number, number, number]>,
  record: (z: number, x: number, y: number, data: Uint8Array | null) => void,
): Promise<void> {
  let next = 0;
  const lanes = Math.max(1, job.concurrency ?? availableParallelism() * 2);
  await Promise.all(
    Array.from({ length: Math.min(lanes, todo.length) }, async () => {
      while (next < todo.length && !job.signal?.aborted) {
        const [z, x, y] = todo[next++]!;
        record(z, x, y, await renderer.render(z, x, y));
      }
    }),
  );
}

/**
 * Renders tiles into the server's cache instead of a file (memory, disk and Redis tiers as
 * configured in `job.server`), so the first visitors get hits.
 */
export async function seedTiles(job: TileJob): Promise<ExportSummary> {
  checkJob(job);
  const renderer = await TileRenderer.open({ ...job, server: { diskCache: true, ...job.server } });
  if (job.server?.redis) {
    // Seeding the shared tier is the point: do not render into a Redis that is not there yet.
    try {
      await (renderer.server.cache as SharedCache).whenRedisReady(10_000);
    } catch (error) {
      await renderer.close();
      throw new Error(`seed: ${(error as Error).message}; nothing was seeded`);
    }
  }
  const t0 = performance.now();
  const total = countTiles(job.bbox, job.minzoom, job.maxzoom);
  const bar = progress(job, total, 0);
  let rendered = 0;
  let empty = 0;
  try {
    const todo = [...tilesOf(job.bbox, job.minzoom, job.maxzoom)];
    await renderLocally(renderer, job, todo, (_z, _x, _y, data) => {
      rendered++;
      if (!data) empty++;
      bar.tick();
      job.onTile?.(rendered, total);
    });
  } finally {
    bar.stop();
    await renderer.close(); // waits for the cache's background writes
  }
  const seconds = (performance.now() - t0) / 1000;
  return { total, rendered, resumed: 0, empty, written: rendered - empty, seconds, tilesPerSecond: rendered / Math.max(seconds, 1e-6), interrupted: job.signal?.aborted === true };
}

/** What a queue job carries: a batch of tiles of one export. */
interface BatchData {
  exportId: string;
  udf: string;
  codeHash: string;
  format: string;
  params: Record<string, string>;
  /** Tile ids (PMTiles numbering). */
  tiles: number[];
}

interface BatchResult {
  worker: string;
  /** Tile id → base64 bytes, or null for an empty tile. */
  tiles: Array<[number, string | null]>;
}

const QUEUE = 'export';

function connection(url: string): Redis {
  // BullMQ needs blocking commands to wait forever and retries of its own.
  return new Redis(url, { maxRetriesPerRequest: null });
}

async function distribute(
  job: ExportOptions,
  codeHash: string,
  todo: Array<[number, number, number]>,
  record: (z: number, x: number, y: number, data: Uint8Array | null) => void,
): Promise<Record<string, number>> {
  const prefix = `${job.redisPrefix ?? 'tilesmith'}:bull`;
  const conn = connection(job.redis!);
  const eventsConn = connection(job.redis!);
  const queue = new Queue<BatchData, BatchResult>(QUEUE, { connection: conn, prefix });
  const events = new QueueEvents(QUEUE, { connection: eventsConn, prefix });
  const workers: Record<string, number> = {};
  const exportId = randomBytes(6).toString('hex');
  const size = job.batchSize ?? 64;
  try {
    await events.waitUntilReady();
    const batches: BatchData[] = [];
    for (let i = 0; i < todo.length; i += size) {
      batches.push({
        exportId,
        udf: job.udf,
        codeHash,
        format: job.format ?? 'mvt',
        params: job.params ?? {},
        tiles: todo.slice(i, i + size).map((t) => zxyToTileId(...t)),
      });
    }
    // Enqueue in windows, so a huge export does not hold every job's waiter at once.
    const WINDOW = 256;
    queue.setMaxListeners(WINDOW + 16);
    events.setMaxListeners(WINDOW + 16);
    let outstanding: Array<{ remove(): Promise<unknown> }> = [];
    const onAbort = () => void Promise.all(outstanding.map((j) => j.remove().catch(() => {})));
    job.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (let start = 0; start < batches.length && !job.signal?.aborted; start += WINDOW) {
        const added = await queue.addBulk(
          batches.slice(start, start + WINDOW).map((data, i) => ({
            name: 'tiles',
            data,
            opts: { jobId: `${exportId}-${start + i}`, attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: 100 },
          })),
        );
        outstanding = added;
        await Promise.all(
          added.map(async (j) => {
            const result = await raceAbort(j.waitUntilFinished(events), job.signal);
            if (!result) return;
            workers[result.worker] = (workers[result.worker] ?? 0) + result.tiles.length;
            for (const [id, b64] of result.tiles) {
              const [z, x, y] = tileIdToZxy(id);
              record(z, x, y, b64 === null ? null : Buffer.from(b64, 'base64'));
            }
          }),
        );
      }
    } finally {
      job.signal?.removeEventListener('abort', onAbort);
    }
    return workers;
  } finally {
    await events.close();
    await queue.close();
    conn.disconnect();
    eventsConn.disconnect();
  }
}

function raceAbort<T>(work: Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  if (!signal) return work;
  if (signal.aborted) return Promise.resolve(undefined);
  return Promise.race([work, new Promise<undefined>((r) => signal.addEventListener('abort', () => r(undefined), { once: true }))]);
}

export interface WorkerOptions {
  /** Folder of UDFs: the same code as the coordinator's (checked by code hash). */
  dir: string;
  redis: string;
  redisPrefix?: string;
  /** Batches processed at once. @default cores */
  concurrency?: number;
  server?: Partial<ServerOptions>;
  log?: (message: string) => void;
}

/**
 * A distributed export worker: takes tile batches from the BullMQ queue on `redis`, renders
 * them with the UDFs of `dir` and hands the bytes back to the coordinator. Run any number, on
 * any machines that reach the Redis. Resolves to a handle whose `close()` stops taking jobs.
 */
export async function runWorker(opts: WorkerOptions): Promise<{ id: string; processed(): number; close(): Promise<void> }> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const id = `${(await import('node:os')).hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const renderers = new Map<string, Promise<TileRenderer>>();
  let processed = 0;
  const rendererFor = (data: BatchData) => {
    const key = JSON.stringify([data.udf, data.format, data.params]);
    let r = renderers.get(key);
    if (!r) {
      r = TileRenderer.open({ dir: opts.dir, udf: data.udf, format: data.format, params: data.params, server: opts.server, log });
      renderers.set(key, r);
      r.catch(() => renderers.delete(key));
    }
    return r;
  };
  const conn = connection(opts.redis);
  const worker = new Worker<BatchData, BatchResult>(
    QUEUE,
    async (bull) => {
      const data = bull.data;
      const renderer = await rendererFor(data);
      if (renderer.codeHash !== data.codeHash) {
        throw new UnrecoverableError(`worker ${id} has different code for UDF '${data.udf}' than the coordinator (deploy the same UDF folder everywhere)`);
      }
      const tiles: BatchResult['tiles'] = [];
      for (const tileId of data.tiles) {
        const [z, x, y] = tileIdToZxy(tileId);
        const bytes = await renderer.render(z, x, y);
        tiles.push([tileId, bytes ? Buffer.from(bytes).toString('base64') : null]);
      }
      processed += tiles.length;
      return { worker: id, tiles };
    },
    { connection: conn, prefix: `${opts.redisPrefix ?? 'tilesmith'}:bull`, concurrency: opts.concurrency ?? availableParallelism() },
  );
  worker.on('failed', (j, error) => log(`tilesmith worker: batch ${j?.id ?? '?'} failed: ${error.message}`));
  worker.on('error', (error) => log(`tilesmith worker: ${error.message}`));
  await worker.waitUntilReady();
  return {
    id,
    processed: () => processed,
    async close() {
      await worker.close();
      for (const r of renderers.values()) await (await r.catch(() => undefined))?.close();
      conn.disconnect();
    },
  };
}

