import { hashes } from './hash.ts';
import type { TileCoord } from '../types.ts';
import { UDF_NAME } from '../udf/name.ts';

/** Everything that makes two results differ. */
export interface CacheKeyParts {
  /** UDF name: only `[A-Za-z0-9_-]`. */
  udf: string;
  /** Hash of the UDF's code, so an edit invalidates its results. */
  codeHash: string;
  /** Coerced parameters, defaults applied. Key order does not matter; array order does. */
  params: Record<string, unknown>;
  tile?: TileCoord | null;
  bounds?: readonly number[] | null;
  /** Canonical format name (`mvt`, `png`, …), not an alias. */
  format: string;
  tileSize: number;
}

/** Bumped when the canonical encoding changes, so old keys can never alias new ones. */
const KEY_VERSION = 'tilesmith-key-v1';

/**
 * A deterministic cache key: a readable prefix (`udf/z/x/y/` for tiles, `udf/` otherwise)
 * followed by the sha256 hex of a canonical encoding of every part.
 *
 * Parameters are normalised first: object keys are sorted at every depth and keys whose
 * value is `undefined` are dropped (as if absent), so `{a:1,b:2}` and `{b:2,a:1}` give the
 * same key. Strings stay distinct from numbers, and `NaN`/`Infinity` from `null`.
 * Throws a `TypeError` on an invalid UDF name or on a parameter that cannot be encoded
 * (function, symbol, cycle): both are programming errors, not user input.
 *
 * @example
 * cacheKey({ udf: 'roads', codeHash: 'abc', params: { min: 2 }, tile: { x: 1, y: 2, z: 3 }, format: 'mvt', tileSize: 512 })
 * // → 'roads/3/1/2/5f0c…' (64 hex digits)
 */
export function cacheKey(parts: CacheKeyParts): string {
  if (!UDF_NAME.test(parts.udf)) {
    throw new TypeError(`cacheKey: invalid UDF name ${JSON.stringify(parts.udf)} (allowed: a letter or digit, then up to 99 letters, digits, "_" or "-")`);
  }
  const tile = parts.tile ?? null;
  const canonical = encode(
    [KEY_VERSION, parts.udf, parts.codeHash, tile && [tile.z, tile.x, tile.y], parts.bounds ?? null, parts.format, parts.tileSize, parts.params],
    new Set(),
  );
  const hash = hashes.sha256Hex(canonical);
  return tile ? `${parts.udf}/${tile.z}/${tile.x}/${tile.y}/${hash}` : `${parts.udf}/${hash}`;
}

/** JSON-like canonical text; only ever hashed, so it need not be parseable. */
function encode(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // JSON would turn NaN and ±Infinity into null and make them collide with it.
      return Number.isFinite(value) ? JSON.stringify(value) : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'object':
      break;
    default:
      throw new TypeError(`cacheKey: cannot encode a ${typeof value} parameter`);
  }
  if (value === null) return 'null';
  if (ancestors.has(value)) throw new TypeError('cacheKey: parameters contain a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((v) => encode(v, ancestors)).join(',')}]`;
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return encode(toJSON.call(value), ancestors);
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(record[k], ancestors)}`).join(',')}}`;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * A strong ETag for a response body: the base64url sha1 of the bytes, quoted.
 * sha1 is fine here: the ETag only has to change when the body does, not resist attackers.
 *
 * @example
 * etagFor(new TextEncoder().encode('hello')) // → '"qvTGHdzF6KLavt4PO0gs2a6pQ00"'
 */
export function etagFor(body: Uint8Array): string {
  return `"${hashes.sha1Base64url(body)}"`;
}
