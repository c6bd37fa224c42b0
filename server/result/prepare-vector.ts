/**
 * `prepareVector()`: "index once, tile many" (geojson-vt's and supercluster's habit) for a UDF
 * that serves the same features on every tile — the tilesmith counterpart of loading a table
 * into PostGIS once (projected to EPSG:3857, GiST-indexed) and querying it per tile.
 *
 * Everything that does not depend on the tile is done here, once:
 * - validation, by `normalizeResult` itself (same rules, same errors as returning the features);
 * - projection of every vertex to Web Mercator world units (geojson-vt's formulas, the cutter's
 *   arithmetic: a tile's coordinates come out as the same doubles as from lon/lat);
 * - polygon rings closed and wound (outer rings clockwise on screen, holes the other way), ring
 *   areas and line lengths;
 * - each vertex's Douglas–Peucker importance (geojson-vt's `simplify.js` run to the end: the
 *   squared distance at which the vertex is chosen), so a tile at any zoom keeps the vertices
 *   whose importance passes its tolerance without running Douglas–Peucker again;
 * - a Flatbush index (mourner's packed static R-tree) over every part's bbox.
 *
 * The result IS a GeoJSON FeatureCollection (the same features, not copied), carrying the
 * prepared data under a non-enumerable symbol: files (GeoJSON, Parquet, CSV…) are written from
 * its features as before, `JSON.stringify` sees a plain collection, and the mvt encoder cuts
 * tiles from the prepared data. Where the symbol is lost (a copy by spread or structured
 * clone), the value is an ordinary collection again and is validated and cut as one.
 */
import Flatbush from 'flatbush';
import type { Feature, FeatureCollection, Geometry, Position } from 'geojson';
import { UdfError } from '../errors.ts';
import type { PreparedVectorData } from '../types.ts';
import { normalizeResult } from './normalize.ts';
import { CHUNK_SHIFT, douglasPeucker, windRing } from '../encoders/mvt-tile.ts';

/** The symbol `normalizeResult` looks the prepared data up by (Symbol.for: the same in every copy of the package). */
export const PREPARED_BRAND = Symbol.for('tilesmith.prepared');

/**
 * A FeatureCollection with its tiling work done once (see `prepareVector`). Treat it as
 * immutable: the prepared data describes the features as they were when it was built (a
 * changed feature count turns the preparation off; edited coordinates would not be seen).
 */
export interface PreparedVector extends FeatureCollection<Geometry | null> {
  readonly [PREPARED_BRAND]: PreparedVectorData;
}

/** True for a value made by `prepareVector()` whose prepared data still matches its features. */
export function isPreparedVector(value: unknown): value is PreparedVector {
  if (typeof value !== 'object' || value === null) return false;
  const data = (value as Record<PropertyKey, unknown>)[PREPARED_BRAND] as PreparedVectorData | undefined;
  const features = (value as { features?: unknown }).features;
  return typeof data === 'object' && data !== null && data.version === 1 && Array.isArray(features) && data.featureCount === features.length;
}

/**
 * Prepares vector features for tiling many times: validates them (as a UDF result would be),
 * projects them to Web Mercator, ranks every vertex for simplification and indexes them.
 * Build it once in module state (per compute thread) and return it from `run()`; each tile is
 * then an index query, a scan of the kept vertices and a clip — no validation, projection or
 * Douglas–Peucker per tile. Tiles keep the meaning of unprepared ones (layer, ids, properties,
 * extent and buffer rules); vertices are chosen as geojson-vt chooses them (see README).
 * @param input what a UDF may return as vector data: a FeatureCollection, a Feature, an array
 *   of Features, or a Geometry (a prepared vector is returned as is).
 * @throws UdfError with the sentence returning the same value would get (malformed GeoJSON),
 *   or when the input is not vector data.
 * @example
 * import { defineUdf, prepareVector } from 'tilesmith';
 * const roads = prepareVector(JSON.parse(readFileSync('roads.geojson', 'utf8')));
 * export default defineUdf({ run: () => roads });
 */
export function prepareVector(input: unknown): PreparedVector {
  if (isPreparedVector(input)) return input;
  const result = normalizeResult(input);
  let features: Feature<Geometry | null>[];
  if (result.kind === 'vector') features = result.features;
  else if (result.kind === 'empty') features = [];
  else {
    throw new UdfError(
      `prepareVector() takes GeoJSON vector data (a FeatureCollection, a Feature, an array of Features or a Geometry); it was given a value that serves as ${result.kind}.`,
    );
  }
  const data = buildPrepared(features);
  const out = { type: 'FeatureCollection', features } as FeatureCollection<Geometry | null>;
  Object.defineProperty(out, PREPARED_BRAND, { value: data, enumerable: false });
  return out as PreparedVector;
}

// ---- building ----

/** Growable typed arrays (the sizes are not known before the geometries are walked). */
class F64 {
  a: Float64Array;
  n = 0;
  constructor(size: number) {
    this.a = new Float64Array(Math.max(size, 16));
  }
  reserve(extra: number): void {
    if (this.n + extra <= this.a.length) return;
    let size = this.a.length * 2;
    while (size < this.n + extra) size *= 2;
    const next = new Float64Array(size);
    next.set(this.a.subarray(0, this.n));
    this.a = next;
  }
  push(v: number): void {
    this.reserve(1);
    this.a[this.n++] = v;
  }
  done(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

class U32 {
  a: Uint32Array;
  n = 0;
  constructor(size: number) {
    this.a = new Uint32Array(Math.max(size, 16));
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const next = new Uint32Array(this.a.length * 2);
      next.set(this.a);
      this.a = next;
    }
    this.a[this.n++] = v;
  }
  done(): Uint32Array {
    return this.a.slice(0, this.n);
  }
}

interface Builder {
  feature: U32;
  type: number[];
  partRing: U32;
  ringVertex: U32;
  ringSize: F64;
  xy: F64;
  importance: F64;
  boxes: F64;
}

function buildPrepared(features: Feature<Geometry | null>[]): PreparedVectorData {
  const b: Builder = {
    feature: new U32(features.length),
    type: [],
    partRing: new U32(features.length + 1),
    ringVertex: new U32(features.length + 1),
    ringSize: new F64(features.length),
    xy: new F64(features.length * 4),
    importance: new F64(features.length * 2),
    boxes: new F64(features.length * 4),
  };
  for (let i = 0; i < features.length; i++) {
    const g = features[i].geometry;
    if (g) addGeometry(b, g, i);
  }
  const parts = b.type.length;
  b.partRing.push(b.ringSize.n);
  b.ringVertex.push(b.xy.n >> 1);
  const boxes = b.boxes.a;
  const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  let index: ArrayBuffer | null = null;
  if (parts > 0) {
    const tree = new Flatbush(parts);
    for (let p = 0; p < parts; p++) {
      const k = 4 * p;
      tree.add(boxes[k], boxes[k + 1], boxes[k + 2], boxes[k + 3]);
      if (boxes[k] < bbox[0]) bbox[0] = boxes[k];
      if (boxes[k + 1] < bbox[1]) bbox[1] = boxes[k + 1];
      if (boxes[k + 2] > bbox[2]) bbox[2] = boxes[k + 2];
      if (boxes[k + 3] > bbox[3]) bbox[3] = boxes[k + 3];
    }
    tree.finish();
    index = tree.data as ArrayBuffer;
  }
  // bboxes of runs of 2^CHUNK_SHIFT vertices (see PreparedVectorData.chunkBox)
  const xy = b.xy.done();
  const nv = xy.length >> 1;
  const chunkBox = new Float64Array(4 * Math.ceil(nv / (1 << CHUNK_SHIFT)));
  for (let c = 0, v = 0; v < nv; c += 4) {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const e = Math.min(nv, v + (1 << CHUNK_SHIFT)); v < e; v++) {
      const x = xy[2 * v];
      const y = xy[2 * v + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    chunkBox[c] = minX;
    chunkBox[c + 1] = minY;
    chunkBox[c + 2] = maxX;
    chunkBox[c + 3] = maxY;
  }
  return {
    version: 1,
    featureCount: features.length,
    feature: b.feature.done(),
    type: Uint8Array.from(b.type),
    partRing: b.partRing.done(),
    partBox: b.boxes.done(),
    ringVertex: b.ringVertex.done(),
    ringSize: b.ringSize.done(),
    xy,
    chunkBox,
    importance: b.importance.done(),
    bbox,
    index,
  };
}

/** Parts as the cutter makes them: a GeometryCollection's members are parts of their own (same feature). */
function addGeometry(b: Builder, g: Geometry, feature: number): void {
  switch (g.type) {
    case 'Point':
      if (g.coordinates.length >= 2) addPart(b, feature, 4, [[[g.coordinates]]]);
      return;
    case 'MultiPoint':
      if (g.coordinates.length) addPart(b, feature, 1, [[g.coordinates]]);
      return;
    case 'LineString':
      if (g.coordinates.length) addPart(b, feature, 2, [[g.coordinates]]);
      return;
    case 'MultiLineString':
      if (g.coordinates.length) addPart(b, feature, 2, [g.coordinates]);
      return;
    case 'Polygon':
      if (g.coordinates.length) addPart(b, feature, 3, [g.coordinates]);
      return;
    case 'MultiPolygon':
      if (g.coordinates.length) addPart(b, feature, 3, g.coordinates);
      return;
    case 'GeometryCollection':
      for (const member of g.geometries) addGeometry(b, member, feature);
      return;
  }
}

/** `groups`: polygons (lists of rings), or one list of lines / of a MultiPoint's points. */
function addPart(b: Builder, feature: number, type: 1 | 2 | 3 | 4, groups: readonly (readonly Position[])[][]): void {
  const firstRing = b.ringSize.n;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const rings of groups) {
    for (let r = 0; r < rings.length; r++) {
      const ring = rings[r];
      const n = ring.length;
      if (n === 0) continue;
      const polygon = type === 3;
      const close = polygon && n > 1 && (ring[0][0] !== ring[n - 1][0] || ring[0][1] !== ring[n - 1][1]);
      const m = n + (close ? 1 : 0);
      const start = b.xy.n;
      b.ringVertex.push(start >> 1);
      b.xy.reserve(2 * m);
      b.importance.reserve(m);
      const xy = b.xy.a;
      for (let i = 0; i < n; i++) {
        const c = ring[i];
        const x = c[0] / 360 + 0.5;
        const sin = Math.sin((c[1] * Math.PI) / 180);
        const y2 = 0.5 - (0.25 * Math.log((1 + sin) / (1 - sin))) / Math.PI;
        const y = y2 < 0 ? 0 : y2 > 1 ? 1 : y2;
        xy[start + 2 * i] = x;
        xy[start + 2 * i + 1] = y;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
      if (close) {
        xy[start + 2 * n] = xy[start];
        xy[start + 2 * n + 1] = xy[start + 1];
      }
      b.xy.n += 2 * m;
      const end = start + 2 * m;
      let size = 0;
      if (polygon) {
        size = Math.abs(windRing(xy, start, end, r === 0));
      } else if (type === 2) {
        for (let i = start + 2; i < end; i += 2) {
          const dx = xy[i] - xy[i - 2];
          const dy = xy[i + 1] - xy[i - 1];
          size += Math.sqrt(dx * dx + dy * dy);
        }
      }
      b.ringSize.push(size);
      const imp = b.importance.a;
      const k0 = start >> 1;
      if (type === 2 || type === 3) {
        for (let i = 0; i < m; i++) imp[k0 + i] = 0;
        imp[k0] = Infinity;
        imp[k0 + m - 1] = Infinity;
        if (m > 2) rank(xy, imp, start, m);
      } else {
        for (let i = 0; i < m; i++) imp[k0 + i] = Infinity; // points are never simplified
      }
      b.importance.n += m;
    }
  }
  if (b.ringSize.n === firstRing) return; // nothing but empty rings
  b.feature.push(feature);
  b.type.push(type);
  b.partRing.push(firstRing);
  b.boxes.push(minX);
  b.boxes.push(minY);
  b.boxes.push(maxX);
  b.boxes.push(maxY);
}

/**
 * geojson-vt's `simplify.js` with a zero tolerance (so every vertex that is not exactly on its
 * segment gets ranked): importance[start/2 + i] = the squared distance (world units²) at which
 * Douglas–Peucker picks point i of the `n` at xy[start…] (the same walk as a tile's
 * simplification). The end points are set by the caller.
 */
function rank(xy: Float64Array, importance: Float64Array, start: number, n: number): void {
  douglasPeucker(xy, start, n, 0, importance);
}
