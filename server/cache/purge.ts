import { tileToBounds } from '../tiling/bounds.ts';
import type { Bounds, CacheEntry, CachePurgeFilter, TileCoord } from '../types.ts';

/** What an entry is a result of, as far as a purge needs to know. */
export interface PurgeScope {
  udf: string;
  tile: TileCoord | null;
  /** `null` when unknown (a file result without bounds, or an old entry without a scope). */
  bounds: Bounds | null;
}

const TILE_KEY = /^([A-Za-z0-9_-]+)\/(\d+)\/(\d+)\/(\d+)\/[0-9a-f]{64}$/;
const FILE_KEY = /^([A-Za-z0-9_-]+)\/[0-9a-f]{64}$/;

/**
 * The scope of an entry: its own `scope` when it has one, else what its key says. Keys start
 * with `udf/z/x/y/` (tiles) or `udf/` (files) — see `cacheKey` — so entries written before
 * scopes existed are still found by UDF and, for tiles, by zoom and area. Returns undefined
 * for a key that is not a tilesmith result key (never purged).
 */
export function scopeOf(key: string, entry?: Pick<CacheEntry, 'scope'>): PurgeScope | undefined {
  if (entry?.scope) {
    const { udf, tile, bounds } = entry.scope;
    return { udf, tile, bounds: bounds ?? (tile ? tileToBounds(tile) : null) };
  }
  const t = TILE_KEY.exec(key);
  if (t) {
    const tile = { z: Number(t[2]), x: Number(t[3]), y: Number(t[4]) };
    return { udf: t[1]!, tile, bounds: tileToBounds(tile) };
  }
  const f = FILE_KEY.exec(key);
  return f ? { udf: f[1]!, tile: null, bounds: null } : undefined;
}

/** Both boxes overlap or touch (a shared edge counts: MVT buffers draw across it). */
function intersects(a: Bounds, b: Bounds): boolean {
  // A box crossing the antimeridian (west > east) is the union of two ordinary boxes.
  if (b[0] > b[2]) return intersects(a, [b[0], b[1], 180, b[3]]) || intersects(a, [-180, b[1], b[2], b[3]]);
  if (a[0] > a[2]) return intersects([a[0], a[1], 180, a[3]], b) || intersects([-180, a[1], a[2], a[3]], b);
  return a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1];
}

/** Whether an entry of `scope` is selected by `filter` (see `CachePurgeFilter`). */
export function matchesPurge(filter: CachePurgeFilter, scope: PurgeScope | undefined): boolean {
  if (!scope || scope.udf !== filter.udf) return false;
  if (filter.minzoom !== undefined || filter.maxzoom !== undefined) {
    if (!scope.tile) return false;
    if (filter.minzoom !== undefined && scope.tile.z < filter.minzoom) return false;
    if (filter.maxzoom !== undefined && scope.tile.z > filter.maxzoom) return false;
  }
  if (filter.bbox && scope.bounds) return intersects(filter.bbox, scope.bounds);
  return true;
}

/** A tier that can say which keys a purge removed, so a tiered cache counts each entry once. */
export interface KeyedPurge {
  purgeKeys(filter: CachePurgeFilter): Promise<string[]>;
}

/** Checks a purge filter given by a program (the HTTP layer validates user input itself). */
export function checkPurgeFilter(filter: CachePurgeFilter): void {
  if (!filter || typeof filter.udf !== 'string' || filter.udf === '') throw new TypeError('purge: filter.udf (a UDF name) is required');
  if (filter.bbox && (filter.bbox.length !== 4 || filter.bbox.some((n) => typeof n !== 'number' || !Number.isFinite(n)))) {
    throw new TypeError('purge: filter.bbox must be [west, south, east, north] in degrees');
  }
}
