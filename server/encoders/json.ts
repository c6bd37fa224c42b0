import type { Encoder, Feature, Geometry } from '../types.ts';

/**
 * JSON.stringify replacer for values JSON has no form for: a bigint becomes a number when it
 * is exactly representable (else a decimal string), a typed array becomes a plain array,
 * a Map a plain object and a Set an array.
 */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'object' && v !== null) {
    if (ArrayBuffer.isView(v)) return v instanceof DataView ? null : Array.from(v as unknown as ArrayLike<unknown>);
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
  }
  return v;
}

/** True when `v` (deeply) holds something plain JSON.stringify would throw on or mangle. */
function needsReplacer(v: unknown, depth = 0): boolean {
  if (typeof v === 'bigint') return true;
  if (typeof v !== 'object' || v === null) return false;
  if (depth > 16 || ArrayBuffer.isView(v) || v instanceof Map || v instanceof Set) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (needsReplacer(v[i], depth + 1)) return true;
    return false;
  }
  for (const k in v) if (needsReplacer((v as Record<string, unknown>)[k], depth + 1)) return true;
  return false;
}

/**
 * Serialises any value to JSON text without crashing on bigints or typed arrays. The
 * replacer costs about 2× on large values, so it is used only when a cheap scan finds a need.
 */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, needsReplacer(value) ? jsonReplacer : undefined) ?? 'null';
}

/**
 * Serialises features as a GeoJSON FeatureCollection. Features are stringified one by one so
 * that only those whose properties need the replacer pay for it (geometry coordinates are
 * validated plain number arrays by normalisation); `properties`/`geometry` are always present.
 */
export function featureCollectionText(features: Feature<Geometry | null>[]): string {
  const parts = new Array<string>(features.length);
  for (let i = 0; i < features.length; i++) {
    let f = features[i];
    if (f.properties === undefined || f.geometry === undefined) {
      f = { ...f, properties: f.properties ?? null, geometry: f.geometry ?? null };
    }
    const slow = typeof f.id === 'bigint' || needsReplacer(f.properties);
    parts[i] = JSON.stringify(f, slow ? jsonReplacer : undefined);
  }
  return `{"type":"FeatureCollection","features":[${parts.join(',')}]}`;
}

const utf8 = new TextEncoder();

/**
 * `application/json`: vector → FeatureCollection, table → array of row objects,
 * json → the value itself, empty → `null`.
 */
export const jsonEncoder: Encoder = {
  name: 'json',
  aliases: [],
  extension: 'json',
  mediaType: 'application/json',
  accepts: ['vector', 'table', 'json', 'empty'],
  encode(result) {
    switch (result.kind) {
      case 'vector':
        return utf8.encode(featureCollectionText(result.features));
      case 'table':
        return utf8.encode(toJsonText(result.table.rows));
      case 'json':
        return utf8.encode(toJsonText(result.value));
      case 'empty':
        return utf8.encode('null');
      default:
        throw new Error(`json encoder cannot encode a ${result.kind} result`);
    }
  },
};
