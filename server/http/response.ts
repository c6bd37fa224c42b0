import type { Context } from 'hono';
import { TilesmithError, toTilesmithError } from '../errors.ts';
import type { CacheEntry } from '../types.ts';

/** Header values must be Latin-1 without line breaks: keep the short error header safe. */
function headerSafe(text: string, max = 200): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/**
 * The one place errors become HTTP: JSON body `{ error, message, ...details }`, a short
 * `X-Tilesmith-Error` header (visible in devtools' network tab), never cached.
 */
export function errorResponse(err: unknown, log?: (msg: string) => void): Response {
  const e: TilesmithError = toTilesmithError(err);
  if (e.status >= 500 && log) log(`tilesmith: ${e.status} ${e.code}: ${e.message}`);
  if (e.code === 'internal_error' && log && err instanceof Error && err.stack) log(err.stack);
  const body = JSON.stringify({ error: e.code, message: e.message, ...(e.details ?? {}) });
  return new Response(body, {
    status: e.status,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Tilesmith-Error': headerSafe(`${e.code}: ${e.message}`),
    },
  });
}

export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

/** `If-None-Match` matches when any listed tag (or `*`) equals ours; weak prefixes are ignored. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

export interface ResultResponseOptions {
  entry: CacheEntry;
  cacheStatus: CacheStatus;
  /** Whether responses may be stored by browsers and CDNs. */
  cacheable: boolean;
  timings: Record<string, number>;
  filename?: string;
}

/**
 * Builds the response for a computed or cached result: 200 / 204 / 304 with ETag,
 * Cache-Control (remaining lifetime of the entry), X-Cache and Server-Timing.
 */
export function resultResponse(c: Context, o: ResultResponseOptions): Response {
  const { entry } = o;
  const maxAge = Math.max(0, Math.floor((entry.expiresAt - Date.now()) / 1000));
  const headers: Record<string, string> = {
    'Cache-Control': o.cacheable && maxAge > 0 ? `public, max-age=${maxAge}` : 'no-store',
    ETag: entry.etag,
    'X-Cache': o.cacheStatus,
    'Server-Timing': Object.entries(o.timings)
      .map(([k, v]) => `${k};dur=${v.toFixed(2)}`)
      .join(', '),
  };
  if (etagMatches(c.req.header('If-None-Match'), entry.etag)) {
    return new Response(null, { status: 304, headers });
  }
  if (entry.status === 204) return new Response(null, { status: 204, headers });
  headers['Content-Type'] = entry.mediaType;
  headers['Content-Length'] = String(entry.body.byteLength);
  if (o.filename) headers['Content-Disposition'] = `inline; filename="${o.filename}"`;
  return new Response(entry.body as BodyInit, { status: 200, headers });
}
