/**
 * Runs and async jobs:
 * - `GET /runs?udf=NAME&limit=N` recent runs, newest first;
 * - `GET /runs/{id}` one run (state, timings, last status, progress, error);
 * - `GET /runs/{id}/events` its changes as Server-Sent Events until it ends;
 * - `POST /udf/{name}/jobs` starts a file computation without holding the request open (202);
 * - `GET /runs/{id}/result` a finished job's result; `DELETE /runs/{id}` cancels a job.
 *
 * A job is the same computation as `GET /udf/{name}/file?…` (same cache key, same pipeline):
 * the route makes that request internally, so its result is byte for byte the synchronous one.
 */
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { RunRegistry, TERMINAL, type RunRecord } from '../compute/runs.ts';
import type { EncoderRegistry } from '../encoders/registry.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.ts';
import { coerceParams } from '../params/coerce.ts';
import { parseBounds } from '../tiling/bounds.ts';
import type { LoadedUdf } from '../types.ts';
import { requireUdf } from './serve-result.ts';

export interface RunRoutesDeps {
  runs: RunRegistry;
  registry: { get(name: string): LoadedUdf | undefined };
  encoders: EncoderRegistry;
  /** The app's own fetch: a job is an internal request to the file route. */
  fetch: (req: Request) => Response | Promise<Response>;
  /**
   * Who may see or cancel a run. Without auth everyone may (the default); the token layer
   * plugs in here: admin tokens see all runs, other tokens the runs they started.
   */
  canSee?: (c: Context, run: RunRecord) => boolean;
  log?: (msg: string) => void;
}

/** Seconds between SSE keep-alive comments while a run is quiet. */
const KEEPALIVE_MS = 15_000;
const MAX_LIST = 500;

/** The routes; mounted by the app at `/`. */
export function createRunRoutes(deps: RunRoutesDeps): Hono {
  const { runs } = deps;
  const app = new Hono();
  const visible = (c: Context, run: RunRecord) => (deps.canSee ? deps.canSee(c, run) : true);

  const find = (c: Context): RunRecord => {
    const id = c.req.param('id') ?? '';
    if (!RunRegistry.isRunId(id)) throw new NotFoundError(`No run '${id.slice(0, 40)}': run ids are 24 hex digits, as in the X-Run-Id header.`);
    const run = runs.get(id);
    if (!run || !visible(c, run)) {
      throw new NotFoundError(`No run '${id}' on this server (runs are kept in memory, a bounded number of them (--run-history), and are lost on restart). See GET /runs.`);
    }
    return run;
  };

  app.get('/runs', (c) => {
    const udf = c.req.query('udf');
    const limitText = c.req.query('limit');
    let limit = 100;
    if (limitText !== undefined) {
      limit = Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) throw new BadRequestError(`limit must be an integer from 1 to ${MAX_LIST}, got '${limitText.slice(0, 20)}'.`, 'invalid_parameter');
    }
    return c.json({ runs: runs.list({ udf, limit: MAX_LIST }).filter((r) => visible(c, r)).slice(0, limit) });
  });

  app.get('/runs/:id', (c) => c.json(find(c)));

  app.get('/runs/:id/events', (c) => {
    const run = find(c);
    c.header('Cache-Control', 'no-store');
    return streamSSE(c, async (stream) => {
      let seq = 0;
      const send = (r: RunRecord) => stream.writeSSE({ event: 'run', id: String(seq++), data: JSON.stringify(r) });
      await send(run);
      if (TERMINAL.has(run.state)) return;
      // Changes are queued and written in order; the stream ends with the run.
      let pending = Promise.resolve();
      let done!: () => void;
      const ended = new Promise<void>((r) => (done = r));
      const unsubscribe = runs.subscribe(run.id, (r) => {
        const snapshot = JSON.parse(JSON.stringify(r)) as RunRecord;
        pending = pending.then(() => send(snapshot)).catch(() => {});
        if (TERMINAL.has(r.state)) pending.then(done, done);
      });
      // A run that ended between get() and subscribe().
      if (TERMINAL.has(runs.get(run.id)?.state ?? 'done')) {
        await send(runs.get(run.id) ?? run);
        done();
      }
      const keepalive = setInterval(() => void stream.write(': keep-alive\n\n').catch(() => {}), KEEPALIVE_MS);
      stream.onAbort(() => done());
      try {
        await ended;
        await pending;
      } finally {
        clearInterval(keepalive);
        unsubscribe();
      }
    });
  });

  app.get('/runs/:id/result', (c) => {
    const run = find(c);
    if (run.mode !== 'job') throw new ConflictError(`Run '${run.id}' answered its own request; only jobs (POST /udf/{name}/jobs) keep a result to download.`);
    if (!TERMINAL.has(run.state)) throw new ConflictError(`Job '${run.id}' is ${run.state}; its result can be downloaded when its state is done (watch GET /runs/${run.id}/events).`);
    if (run.state !== 'done') throw new ConflictError(`Job '${run.id}' ended ${run.state.replace('_', ' ')}: ${run.error?.message ?? 'no result'}.`);
    const stored = runs.result(run.id);
    if (!stored) throw new NotFoundError(`The result of job '${run.id}' is no longer kept (results are kept for --job-ttl, ${runs.jobTtlSeconds} s). Start the job again.`);
    const { entry, filename } = stored;
    const headers: Record<string, string> = { 'X-Run-Id': run.id, ETag: entry.etag, 'Cache-Control': 'private, no-cache' };
    if (entry.status === 204) return new Response(null, { status: 204, headers });
    headers['Content-Type'] = entry.mediaType;
    headers['Content-Length'] = String(entry.body.byteLength);
    if (filename) headers['Content-Disposition'] = `attachment; filename="${filename}"`;
    return new Response(entry.body as BodyInit, { status: 200, headers });
  });

  app.delete('/runs/:id', (c) => {
    const run = find(c);
    if (TERMINAL.has(run.state)) throw new ConflictError(`Run '${run.id}' already ended (${run.state.replace('_', ' ')}); there is nothing to cancel.`);
    if (!runs.cancel(run.id)) throw new ConflictError(`Run '${run.id}' is a request's own computation; only jobs can be cancelled (the request's client cancels it by disconnecting).`);
    return c.json(runs.get(run.id) ?? run, 202);
  });

  app.post('/udf/:name/jobs', async (c) => {
    const udf = requireUdf(deps, c.req.param('name'));
    const query = new URLSearchParams(new URL(c.req.url).search);
    const body = await readBody(c);
    // Body fields win over the query's.
    if (body.format !== undefined) query.set('format', String(body.format));
    if (body.bounds !== undefined) query.set('bounds', Array.isArray(body.bounds) ? body.bounds.join(',') : String(body.bounds));
    if (body.tile !== undefined) {
      const t = body.tile as Record<string, unknown>;
      if (!t || typeof t !== 'object') throw new BadRequestError('tile must be an object {"z": …, "x": …, "y": …}.', 'invalid_tile');
      for (const k of ['z', 'x', 'y']) query.set(k, String(t[k]));
    }
    for (const [k, v] of Object.entries(body.params ?? {})) {
      query.delete(k);
      if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) for (const x of v) query.append(k, String(x));
      else query.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    // Validate what can be validated before answering 202 (bad input is a 400 now, not a failed job).
    const multi: Record<string, string[]> = {};
    for (const [k, v] of query) (multi[k] ??= []).push(v);
    const params = coerceParams(udf.params, multi);
    const format = query.get('format');
    if (format !== null && !deps.encoders.get(format)) throw new BadRequestError(`Unknown format '${format.slice(0, 40)}'. Accepted formats: ${deps.encoders.names().join(', ')}.`);
    const bounds = query.get('bounds') !== null ? parseBounds(query.get('bounds')!) : null;
    const controller = new AbortController();
    const record = runs.create({
      udf: udf.name,
      mode: 'job',
      tile: query.get('z') !== null ? { z: Number(query.get('z')), x: Number(query.get('x')), y: Number(query.get('y')) } : null,
      bounds,
      params,
      format,
      tokenId: (c.get as (k: string) => unknown)('tokenId') as string | null | undefined,
      cancel: () => controller.abort(new DOMException('The job was cancelled (DELETE /runs/{id}).', 'AbortError')),
    });
    const url = new URL(`/udf/${udf.name}/file`, c.req.url);
    url.search = query.toString();
    const inner = new Request(url, { signal: controller.signal, headers: forwardHeaders(c.req.raw.headers) });
    runs.bindJob(inner, record.id);
    void (async () => {
      try {
        const res = await deps.fetch(inner);
        const text = res.ok ? '' : await res.text();
        if (res.ok) await res.body?.cancel();
        if (!res.ok) {
          let err = { code: 'internal_error', message: `HTTP ${res.status}` };
          try {
            const j = JSON.parse(text) as { error?: string; message?: string };
            err = { code: j.error ?? err.code, message: j.message ?? err.message };
          } catch {
            // not JSON: keep the status
          }
          runs.finish(record.id, controller.signal.aborted ? 'cancelled' : res.status === 504 ? 'timed_out' : 'failed', err);
        }
      } catch (err) {
        runs.finish(record.id, controller.signal.aborted ? 'cancelled' : 'failed', { code: 'internal_error', message: err instanceof Error ? err.message : String(err) });
      }
    })();
    const location = `/runs/${record.id}`;
    return c.json({ runId: record.id, state: record.state, location, events: `${location}/events`, result: `${location}/result` }, 202, { Location: location, 'X-Run-Id': record.id });
  });

  return app;
}

/** Headers the internal request keeps (auth, so the token layer sees who started the job). */
function forwardHeaders(h: Headers): Headers {
  const out = new Headers();
  for (const k of ['authorization', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'host']) {
    const v = h.get(k);
    if (v !== null) out.set(k, v);
  }
  return out;
}

interface JobBody {
  params?: Record<string, unknown>;
  bounds?: unknown;
  tile?: unknown;
  format?: unknown;
}

/** The optional JSON body of `POST /udf/{name}/jobs`. */
async function readBody(c: Context): Promise<JobBody> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError('The job body must be JSON: {"params": {…}, "bounds": [w, s, e, n] | "w,s,e,n", "tile": {"z", "x", "y"}, "format": "…"} (all optional; the query string works too).');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('The job body must be a JSON object with optional params, bounds, tile and format.');
  const b = body as JobBody;
  if (b.params !== undefined && (typeof b.params !== 'object' || b.params === null || Array.isArray(b.params))) {
    throw new BadRequestError('params must be a JSON object of parameter names to values.', 'invalid_parameter');
  }
  return b;
}
