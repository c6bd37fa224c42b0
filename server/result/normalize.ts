import type { Feature, Geometry } from 'geojson';
import { UdfError } from '../errors.ts';
import type { NormalizedResult, PreparedVectorData, RasterData, TableData } from '../types.ts';

// Looked up by the global registry key (as define.ts does) rather than imported: stage
// modules share only types.ts and errors.ts, and Symbol.for() is identical across copies.
const RASTER_BRAND = Symbol.for('tilesmith.raster');
const TABLE_BRAND = Symbol.for('tilesmith.table');
const HTML_BRAND = Symbol.for('tilesmith.html');
/** prepareVector()'s data on a FeatureCollection (server/result/prepare-vector.ts). */
const PREPARED_BRAND = Symbol.for('tilesmith.prepared');
/** A string that is a whole HTML document (what Fused serves as a page rather than JSON). */
const HTML_DOCUMENT = /^\s*(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html)[\s>]/i;

const SUPPORTED =
  'GeoJSON (FeatureCollection, Feature, Feature[] or a Geometry), raster() or { width, height, data: TypedArray }, ' +
  'table(), a string, number, boolean, plain object or array, or null';

const GEOMETRY_TYPES = new Set([
  'Point',
  'MultiPoint',
  'LineString',
  'MultiLineString',
  'Polygon',
  'MultiPolygon',
  'GeometryCollection',
]);

type PixelArray = RasterData['data'];
const PIXEL_ARRAYS: Function[] = [
  Uint8Array,
  Uint8ClampedArray,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
];

/**
 * Turns whatever a UDF returned into one of the result kinds the encoders understand.
 * Nothing is copied: features, rows and pixel buffers are passed through by reference, and
 * validation is a single pass over the coordinates (this runs for every uncached tile).
 * @throws UdfError when the value cannot be served (a function, a Map, a bigint, malformed GeoJSON…).
 * @example
 * normalizeResult({ type: 'Point', coordinates: [1, 2] });
 * // → { kind: 'vector', features: [{ type: 'Feature', geometry: {…}, properties: {} }] }
 */
export function normalizeResult(value: unknown): NormalizedResult {
  if (value === null || value === undefined) return { kind: 'empty' };
  switch (typeof value) {
    case 'string':
      if (HTML_DOCUMENT.test(value)) return { kind: 'html', html: value };
      return { kind: 'json', value };
    case 'number':
    case 'boolean':
      return { kind: 'json', value };
    case 'object':
      break;
    default:
      throw unsupported(value);
  }
  const obj = value as Record<PropertyKey, unknown>;
  if (obj[RASTER_BRAND] === true) return { kind: 'raster', raster: checkRaster(obj) };
  if (obj[TABLE_BRAND] === true) return { kind: 'table', table: checkTable(obj) };
  if (obj[HTML_BRAND] === true && typeof obj.html === 'string') return { kind: 'html', html: obj.html };
  // A prepareVector() result was validated when it was built: O(1) here, whatever its size.
  // Its data must still describe its features (same count); otherwise it is validated below
  // as the ordinary FeatureCollection it also is.
  const prepared = obj[PREPARED_BRAND] as PreparedVectorData | undefined;
  if (prepared !== undefined && typeof prepared === 'object' && prepared !== null && prepared.version === 1) {
    const features = obj.features;
    if (Array.isArray(features) && prepared.featureCount === features.length) {
      return { kind: 'vector', features: features as Feature<Geometry | null>[], prepared };
    }
  }

  if (Array.isArray(obj)) {
    if (obj.length === 0) return { kind: 'vector', features: [] };
    if (!isFeature(obj[0])) return { kind: 'json', value: obj };
    const boxes = checkFeatures(obj, (i, f) => `The UDF returned an array that starts with Features but item ${i} is ${describe(f)}; return only Features, or plain JSON values.`);
    return vector(obj as Feature<Geometry | null>[], boxes);
  }

  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) throw unsupported(value);

  const type = obj.type;
  if (type === 'FeatureCollection') {
    const features = obj.features;
    if (!Array.isArray(features)) {
      throw new UdfError(`The UDF returned a FeatureCollection whose "features" is ${describe(features)}, not an array.`);
    }
    const boxes = checkFeatures(features, (i, f) => `Feature ${i} of the UDF result is ${describe(f)}, not a GeoJSON Feature.`);
    return vector(features as Feature<Geometry | null>[], boxes);
  }
  if (type === 'Feature') {
    checkFeature(obj as unknown as FeatureLike, 0);
    return { kind: 'vector', features: [obj as unknown as Feature<Geometry | null>] };
  }
  if (typeof type === 'string' && GEOMETRY_TYPES.has(type)) {
    checkGeometry(obj, BARE);
    return { kind: 'vector', features: [{ type: 'Feature', geometry: obj as unknown as Geometry, properties: {} }] };
  }
  if ('width' in obj && 'height' in obj && ArrayBuffer.isView(obj.data)) {
    return { kind: 'raster', raster: checkRaster(obj) };
  }
  return { kind: 'json', value: obj };
}

/*
 * The per-feature checks below run 10,000s of times per tile, so they allocate nothing on
 * success: no closures (tsx/esbuild's keep-names turns every arrow into an
 * Object.defineProperty call), no destructuring into fresh objects, and no error-prefix
 * strings. The feature index travels as a number; sentences are built only when throwing.
 */

/**
 * The bbox of the positions the last `checkGeometry` read, kept while validating (it reads every
 * position anyway): `boxed` is true when it covers a whole line or polygon geometry. The mvt
 * cutter uses these boxes to drop features that miss the tile without reading their positions
 * again (memory-bound: a second pass over a large result costs as much as the first).
 */
let boxed = false;
/** minX, minY, maxX, maxY: a typed array, since doubles stored in module variables are boxed (one allocation per store). */
const box = new Float64Array(4);

function resetBox(): void {
  box[0] = box[1] = Infinity;
  box[2] = box[3] = -Infinity;
}

/** Boxes of `n` features, all unknown (NaN) until recorded (the current box is copied in as feature i's). */
function newBoxes(n: number): Float64Array {
  return new Float64Array(4 * n).fill(NaN);
}

function vector(features: Feature<Geometry | null>[], boxes: Float64Array | null): NormalizedResult {
  return boxes ? { kind: 'vector', features, boxes } : { kind: 'vector', features };
}

/** `index` value for a geometry returned on its own rather than inside a Feature. */
const BARE = -1;

interface FeatureLike {
  type: unknown;
  geometry?: unknown;
  properties?: unknown;
}

interface GeometryLike {
  type?: unknown;
  coordinates?: unknown;
  geometries?: unknown;
}

function isFeature(v: unknown): v is FeatureLike {
  return typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Feature';
}

/** `f` is known to be an object with `type: 'Feature'`. */
/**
 * Checks every item of `list` as a Feature (`notFeature` words the error for an item that is
 * not one) and returns the lon/lat bbox of each line and polygon feature that `checkFeature`
 * recorded, four numbers per feature (null when there were none), for the MVT cutter.
 */
function checkFeatures(list: unknown[], notFeature: (i: number, item: unknown) => string): Float64Array | null {
  let boxes: Float64Array | null = null;
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    if (!isFeature(f)) throw new UdfError(notFeature(i, f));
    checkFeature(f, i);
    if (boxed) {
      boxes ??= newBoxes(list.length);
      const b = 4 * i;
      boxes[b] = box[0];
      boxes[b + 1] = box[1];
      boxes[b + 2] = box[2];
      boxes[b + 3] = box[3];
    }
  }
  return boxes;
}

function checkFeature(f: FeatureLike, index: number): void {
  boxed = false;
  const geometry = f.geometry;
  if (geometry !== null && geometry !== undefined) checkGeometry(geometry, index);
  const properties = f.properties;
  if (properties !== null && properties !== undefined && (typeof properties !== 'object' || Array.isArray(properties))) {
    throw new UdfError(`Feature ${index} of the UDF result has properties of type ${describe(properties)}; GeoJSON properties must be an object or null.`);
  }
}

/** Start of an error sentence about the geometry of feature `index` (or a bare geometry). */
function where(index: number): string {
  return index === BARE ? 'The UDF returned' : `Feature ${index} of the UDF result has`;
}

function badCoordinates(index: number, type: unknown, needs: string, got: unknown): UdfError {
  return new UdfError(`${where(index)} an invalid ${String(type)}: its coordinates must be ${needs}, got ${preview(got)}.`);
}

/** Validates shape and finiteness of every position; `index` names the feature in errors. */
function checkGeometry(g: unknown, index: number): void {
  if (typeof g !== 'object' || g === null) {
    throw new UdfError(`${where(index)} a geometry of type ${describe(g)}; expected a GeoJSON geometry object.`);
  }
  const type = (g as GeometryLike).type;
  switch (type) {
    case 'Point': {
      const c = (g as GeometryLike).coordinates;
      if (!isPosition(c)) throw badCoordinates(index, type, 'a position [x, y] of finite numbers', c);
      return;
    }
    case 'Polygon':
    case 'MultiLineString': {
      const c = (g as GeometryLike).coordinates;
      resetBox();
      boxed = true;
      if (!isRings(c)) throw badCoordinates(index, type, 'an array of arrays of positions [x, y]', c);
      return;
    }
    case 'LineString':
    case 'MultiPoint': {
      const c = (g as GeometryLike).coordinates;
      resetBox();
      boxed = type === 'LineString';
      if (!isPositions(c)) throw badCoordinates(index, type, 'an array of positions [x, y]', c);
      if (type === 'LineString' && c.length === 1) throw badCoordinates(index, type, 'empty or at least 2 positions', c);
      return;
    }
    case 'MultiPolygon': {
      const c = (g as GeometryLike).coordinates;
      resetBox();
      boxed = true;
      if (!isPolygons(c)) throw badCoordinates(index, type, 'an array of polygons (arrays of rings of positions [x, y])', c);
      return;
    }
    case 'GeometryCollection': {
      const geometries = (g as GeometryLike).geometries;
      if (!Array.isArray(geometries)) {
        throw new UdfError(`${where(index)} an invalid GeometryCollection: "geometries" must be an array, got ${preview(geometries)}.`);
      }
      for (let i = 0; i < geometries.length; i++) checkGeometry(geometries[i], index);
      boxed = false;
      return;
    }
    default:
      throw new UdfError(`${where(index)} a geometry of unknown type ${preview(type)}; GeoJSON types are ${[...GEOMETRY_TYPES].join(', ')}.`);
  }
}

/** `[x, y]` or `[x, y, z, …]`: x and y finite, a third value (if any) a number. */
function isPosition(p: unknown): boolean {
  if (!Array.isArray(p)) return false;
  const n = p.length;
  return n >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]) && (n === 2 || typeof p[2] === 'number');
}

/** Also widens the current box (see `boxed`) by each position. */
function isPositions(a: unknown): a is unknown[] {
  if (!Array.isArray(a)) return false;
  // local doubles (not the module's boxes) so that the loop keeps them unboxed
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0, n = a.length; i < n; i++) {
    const p = a[i];
    // isPosition, inlined so that x and y are read once
    if (!Array.isArray(p)) return false;
    const m = p.length;
    const x = p[0];
    const y = p[1];
    if (m < 2 || !Number.isFinite(x) || !Number.isFinite(y) || (m !== 2 && typeof p[2] !== 'number')) return false;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  if (minX < box[0]) box[0] = minX;
  if (minY < box[1]) box[1] = minY;
  if (maxX > box[2]) box[2] = maxX;
  if (maxY > box[3]) box[3] = maxY;
  return true;
}

function isRings(a: unknown): boolean {
  if (!Array.isArray(a)) return false;
  for (let i = 0, n = a.length; i < n; i++) if (!isPositions(a[i])) return false;
  return true;
}

function isPolygons(a: unknown): boolean {
  if (!Array.isArray(a)) return false;
  for (let i = 0, n = a.length; i < n; i++) if (!isRings(a[i])) return false;
  return true;
}

function checkRaster(obj: Record<PropertyKey, unknown>): RasterData {
  const { width, height, data, bands, noData, bounds } = obj;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) <= 0 || (height as number) <= 0) {
    throw new UdfError(`The UDF returned a raster with width ${preview(width)} and height ${preview(height)}; both must be positive integers.`);
  }
  if (!PIXEL_ARRAYS.some((ctor) => data instanceof ctor)) {
    throw new UdfError(
      `The UDF returned a raster whose data is ${describe(data)}; use a Uint8Array, Uint8ClampedArray, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array or Float64Array.`,
    );
  }
  const pixels = (width as number) * (height as number);
  const length = (data as PixelArray).length;
  const n = bands ?? length / pixels;
  if (n !== 1 && n !== 2 && n !== 3 && n !== 4) {
    throw new UdfError(`The UDF returned a ${width}×${height} raster with ${length} values, which is not 1, 2, 3 or 4 bands per pixel.`);
  }
  if (length !== pixels * n) {
    throw new UdfError(`The UDF returned a ${width}×${height}×${n} raster whose data has ${length} values; expected ${pixels * n}.`);
  }
  if (noData !== undefined && noData !== null && typeof noData !== 'number') {
    throw new UdfError(`The UDF returned a raster with noData ${preview(noData)}; it must be a number.`);
  }
  // Branded rasters already are RasterData; plain objects get a fresh (shallow) record so
  // that stray keys do not travel on, while the pixel buffer itself is shared.
  if (bands === n && obj[RASTER_BRAND] === true) return obj as unknown as RasterData;
  const out: RasterData = { width: width as number, height: height as number, bands: n, data: data as PixelArray };
  if (typeof noData === 'number') out.noData = noData;
  if (Array.isArray(bounds)) out.bounds = bounds as RasterData['bounds'];
  return out;
}

function checkTable(obj: Record<PropertyKey, unknown>): TableData {
  if (!Array.isArray(obj.rows) || !Array.isArray(obj.columns) || !obj.columns.every((c) => typeof c === 'string')) {
    throw new UdfError('The UDF returned a table whose "rows" or "columns" is not an array (build it with table(rows, columns?)).');
  }
  return obj as unknown as TableData;
}

function unsupported(value: unknown): UdfError {
  return new UdfError(`The UDF returned ${describe(value)}, which cannot be served. Supported: ${SUPPORTED}.`);
}

/** A short, human name for the type of a value, e.g. "a function", "a Map instance". */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  const t = typeof v;
  if (t === 'bigint') return 'a bigint';
  if (t === 'symbol') return 'a symbol';
  if (t === 'function') return 'a function';
  if (t !== 'object') return `a ${t}`;
  if (Array.isArray(v)) return 'an array';
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== 'Object' ? `a ${name} instance` : 'a plain object';
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  } catch {
    s = describe(v);
  }
  if (s === undefined) s = describe(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
