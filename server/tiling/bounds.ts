import { tileToBBOX } from '@mapbox/tilebelt';
import { BadRequestError } from '../errors.ts';
import type { Bounds, TileCoord } from '../types.ts';

const INT = /^(0|[1-9]\d{0,9})$/;

/**
 * Parses and validates `z`, `x`, `y` path segments: integers with 0 ≤ z ≤ maxZoom and
 * 0 ≤ x, y < 2^z. Anything else is a 400 that says what is accepted.
 * @example parseTile('3', '4', '2', 30) // { z: 3, x: 4, y: 2 }
 */
export function parseTile(z: string, x: string, y: string, maxZoom = 30): TileCoord {
  for (const [name, v] of [['z', z], ['x', x], ['y', y]] as const) {
    if (!INT.test(v)) {
      throw new BadRequestError(
        `Invalid tile ${name}=${JSON.stringify(v.slice(0, 40))}: z, x and y must be non-negative integers without signs, decimals or leading zeros.`,
        'invalid_tile',
      );
    }
  }
  const tz = Number(z);
  if (tz > maxZoom) {
    throw new BadRequestError(`Invalid tile: zoom ${tz} is above the maximum zoom ${maxZoom}; accepted zooms are 0 to ${maxZoom}.`, 'invalid_tile');
  }
  const n = 2 ** tz;
  const tx = Number(x);
  const ty = Number(y);
  if (tx >= n || ty >= n) {
    throw new BadRequestError(`Invalid tile ${tz}/${tx}/${ty}: at zoom ${tz}, x and y must be between 0 and ${n - 1}.`, 'invalid_tile');
  }
  return { z: tz, x: tx, y: ty };
}

/**
 * The tile at zoom `z` that contains `lon`, `lat` (degrees; latitudes beyond Web Mercator's
 * ±85.05° clamp to the edge row).
 * @example tileAt(13.4, 52.52, 10) // { z: 10, x: 550, y: 335 }
 */
export function tileAt(lon: number, lat: number, z: number): TileCoord {
  const n = 2 ** z;
  const rad = (Math.max(-85.0511287798, Math.min(85.0511287798, lat)) * Math.PI) / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  const clamp = (v: number) => Math.min(Math.max(v, 0), n - 1);
  return { z, x: clamp(x), y: clamp(y) };
}

/** The tile's `[west, south, east, north]` in EPSG:4326. */
export function tileToBounds(tile: TileCoord): Bounds {
  return tileToBBOX([tile.x, tile.y, tile.z]) as Bounds;
}

/**
 * Parses `w,s,e,n` (or a JSON array of four numbers) into bounds; west ≤ east is not
 * required (antimeridian), but south ≤ north and latitudes within ±90 are.
 */
export function parseBounds(value: string, name = 'bounds'): Bounds {
  let parts: unknown[];
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      parts = JSON.parse(trimmed);
    } catch {
      parts = [];
    }
  } else {
    parts = trimmed.split(',');
  }
  const nums = Array.isArray(parts) ? parts.map((p) => (typeof p === 'string' && p.trim() === '' ? NaN : Number(p))) : [];
  if (nums.length !== 4 || nums.some((n) => !Number.isFinite(n))) {
    throw new BadRequestError(
      `Invalid ${name}=${JSON.stringify(value.slice(0, 80))}: expected four numbers west,south,east,north in degrees, e.g. ${name}=-10,35,5,45.`,
      'invalid_parameter',
    );
  }
  const [w, s, e, n] = nums;
  if (s > n || s < -90 || n > 90 || w < -180 || w > 180 || e < -180 || e > 180) {
    throw new BadRequestError(
      `Invalid ${name}=${JSON.stringify(value.slice(0, 80))}: longitudes must be within -180..180, latitudes within -90..90, and south ≤ north.`,
      'invalid_parameter',
    );
  }
  return [w, s, e, n];
}
