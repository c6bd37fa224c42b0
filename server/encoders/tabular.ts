/**
 * Shared by the columnar encoders (csv, parquet, arrow): turns features or table rows into
 * typed columns. One place decides how a mixed or nested property becomes a column type.
 */
import type { Geometry, NormalizedResult } from '../types.ts';
import { toJsonText } from './json.ts';

/** Column types every columnar format here can represent. */
export type ColumnType = 'int32' | 'int64' | 'double' | 'bool' | 'string';

export interface Column {
  name: string;
  type: ColumnType;
  /** One value per row: number (int32/double), bigint (int64), boolean, string, or null. */
  values: (number | bigint | boolean | string | null)[];
}

export interface Tabular {
  columns: Column[];
  /** One geometry per row for vector results (null where a feature has none), else null. */
  geometries: (Geometry | null)[] | null;
  rowCount: number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Columns for a vector, table or empty result. For features: an `id` column when any feature
 * has an id (and no property is called `id`), then the union of property keys in order of
 * first appearance; a property that collides with `geometryColumn` is renamed with a `_` suffix.
 */
export function tabulate(result: NormalizedResult, geometryColumn = 'geometry'): Tabular {
  if (result.kind === 'table') {
    const { columns, rows } = result.table;
    return {
      columns: columns.map((name) => inferColumn(name, rows.map((r) => r[name]))),
      geometries: null,
      rowCount: rows.length,
    };
  }
  if (result.kind === 'empty') return { columns: [], geometries: [], rowCount: 0 };
  if (result.kind !== 'vector') throw new Error(`cannot tabulate a ${result.kind} result`);

  const { features } = result;
  const keys = new Set<string>();
  let hasId = false;
  for (const f of features) {
    if (f.id !== undefined && f.id !== null) hasId = true;
    const p = f.properties;
    if (p) for (const k in p) keys.add(k);
  }
  const columns: Column[] = [];
  if (hasId && !keys.has('id')) columns.push(inferColumn('id', features.map((f) => f.id)));
  const taken = new Set([geometryColumn, ...keys]);
  for (const key of keys) {
    let name = key;
    if (name === geometryColumn) while (taken.has(name)) name += '_';
    taken.add(name);
    columns.push(inferColumn(name, features.map((f) => f.properties?.[key])));
  }
  return { columns, geometries: features.map((f) => f.geometry ?? null), rowCount: features.length };
}

/**
 * Picks the narrowest column type that holds every value: all integers → int32 (or int64 when
 * out of range), numbers → double, booleans → bool; anything mixed or nested → string, with
 * objects and arrays written as JSON text. null/undefined stay null.
 */
export function inferColumn(name: string, raw: unknown[]): Column {
  let numbers = 0;
  let bigints = 0;
  let bools = 0;
  let nonNull = 0;
  let allInt = true;
  let int32 = true;
  let safe = true;
  for (const v of raw) {
    if (v === null || v === undefined) continue;
    nonNull++;
    if (typeof v === 'number') {
      numbers++;
      if (!Number.isInteger(v)) allInt = false;
      else if (v < INT32_MIN || v > INT32_MAX) {
        int32 = false;
        if (!Number.isSafeInteger(v)) safe = false;
      }
    } else if (typeof v === 'bigint') {
      bigints++;
      int32 = false;
      if (v < INT64_MIN || v > INT64_MAX) safe = false;
    } else if (typeof v === 'boolean') bools++;
  }
  const nullish = (v: unknown) => v === null || v === undefined;
  if (nonNull > 0 && numbers + bigints === nonNull) {
    if (allInt && int32 && bigints === 0) return { name, type: 'int32', values: raw.map((v) => (nullish(v) ? null : (v as number))) };
    if (allInt && safe) return { name, type: 'int64', values: raw.map((v) => (nullish(v) ? null : BigInt(v as number | bigint))) };
    if (bigints === 0 || safe) return { name, type: 'double', values: raw.map((v) => (nullish(v) ? null : Number(v))) };
  }
  if (nonNull > 0 && bools === nonNull) return { name, type: 'bool', values: raw.map((v) => (nullish(v) ? null : (v as boolean))) };
  return { name, type: 'string', values: raw.map(toText) };
}

/** A cell as text: strings as they are, objects/arrays as JSON, dates as ISO 8601. */
export function toText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(v);
    case 'object':
      return v instanceof Date ? (Number.isNaN(v.getTime()) ? null : v.toISOString()) : toJsonText(v);
    default:
      return null; // functions and symbols have no data to write
  }
}

/** `[west, south, east, north]` over all positions, or null when there are none. */
export function geometriesBbox(geometries: (Geometry | null)[]): [number, number, number, number] | null {
  const b = [Infinity, Infinity, -Infinity, -Infinity] as [number, number, number, number];
  const visit = (p: number[]) => {
    if (p.length < 2) return;
    if (p[0] < b[0]) b[0] = p[0];
    if (p[1] < b[1]) b[1] = p[1];
    if (p[0] > b[2]) b[2] = p[0];
    if (p[1] > b[3]) b[3] = p[1];
  };
  const walk = (g: Geometry): void => {
    switch (g.type) {
      case 'Point':
        return visit(g.coordinates);
      case 'MultiPoint':
      case 'LineString':
        return g.coordinates.forEach(visit);
      case 'MultiLineString':
      case 'Polygon':
        return g.coordinates.forEach((r) => r.forEach(visit));
      case 'MultiPolygon':
        return g.coordinates.forEach((poly) => poly.forEach((r) => r.forEach(visit)));
      case 'GeometryCollection':
        return g.geometries.forEach(walk);
    }
  };
  for (const g of geometries) if (g) walk(g);
  return b[0] <= b[2] ? b : null;
}
