import type { RunInfo as AdmissionRunInfo } from '../compute/admission.ts';
/**
 * The admin API (admin tokens only; the auth middleware checks): purge a UDF's cached
 * results, list computations in flight, reload the UDF folder.
 */
import { Hono } from 'hono';
import { BadRequestError } from '../errors.ts';
import { parseBounds } from '../tiling/bounds.ts';
import type { Bounds, CachePurgeFilter, ResultCache, TileCoord } from '../types.ts';

/**
 * One computation in flight, as the admission layer reports it (or the fallback tracker,
 * which does not know `clientDriven`).
 */
export type RunInfo = Omit<AdmissionRunInfo, 'clientDriven'> & { clientDriven?: boolean };

/** Anything that can list computations in flight. */
export interface RunsSource {
  snapshot(): RunInfo[];
}

export interface AdminRouteDeps {
  cache: ResultCache;
  runs: RunsSource;
  /** Rescans the UDF folder; resolves to the number of UDFs after it. */
  reload?(): Promise<number>;
}

function zoomParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,2}$/.test(raw.trim())) throw new BadRequestError(`Invalid ${name} ${JSON.stringify(raw.slice(0, 40))}: expected a whole zoom level from 0 to 30.`, 'invalid_parameter', { parameter: name });
  const z = Number(raw);
  if (z > 30) throw new BadRequestError(`Invalid ${name} ${z}: expected a whole zoom level from 0 to 30.`, 'invalid_parameter', { parameter: name });
  return z;
}

/** `DELETE /admin/cache`, `GET /admin/runs`, `POST /admin/reload`. */
export function createAdminRoutes(deps: AdminRouteDeps): Hono {
  const app = new Hono();

  app.delete('/admin/cache', async (c) => {
    const udf = c.req.query('udf');
    if (!udf) {
      throw new BadRequestError('DELETE /admin/cache needs ?udf=NAME (optionally with bbox=w,s,e,n, minzoom and maxzoom) to say which results to purge.', 'invalid_parameter', { parameter: 'udf' });
    }
    const filter: CachePurgeFilter = { udf };
    const bbox = c.req.query('bbox');
    if (bbox !== undefined) filter.bbox = parseBounds(bbox, 'bbox');
    const minzoom = zoomParam('minzoom', c.req.query('minzoom'));
    const maxzoom = zoomParam('maxzoom', c.req.query('maxzoom'));
    if (minzoom !== undefined) filter.minzoom = minzoom;
    if (maxzoom !== undefined) filter.maxzoom = maxzoom;
    if (minzoom !== undefined && maxzoom !== undefined && minzoom > maxzoom) {
      throw new BadRequestError(`minzoom (${minzoom}) is greater than maxzoom (${maxzoom}): nothing could match.`, 'invalid_parameter', { parameter: 'minzoom' });
    }
    const purged = await deps.cache.purge(filter);
    return c.json({ purged, filter }, 200, { 'Cache-Control': 'no-store' });
  });

  app.get('/admin/runs', (c) => {
    const now = Date.now();
    const runs = deps.runs.snapshot().map((r) => ({ ...r, elapsedMs: now - r.since }));
    return c.json({ runs }, 200, { 'Cache-Control': 'no-store' });
  });

  app.post('/admin/reload', async (c) => {
    if (!deps.reload) throw new BadRequestError('This server cannot reload its UDFs.');
    const udfs = await deps.reload();
    return c.json({ reloaded: true, udfs }, 200, { 'Cache-Control': 'no-store' });
  });

  return app;
}

/**
 * A fallback list of computations in flight, fed by the `beforeCompute` hook (requests that
 * missed the cache) until the admission layer supplies its own snapshot with queue positions.
 */
export function createRunsTracker(): RunsSource & { start(info: Omit<RunInfo, 'since' | 'state'>): () => void } {
  const live = new Set<RunInfo>();
  return {
    start(info) {
      const run: RunInfo = { ...info, since: Date.now(), state: 'running' };
      live.add(run);
      return () => live.delete(run);
    },
    snapshot: () => [...live].map((r) => ({ ...r })),
  };
}
