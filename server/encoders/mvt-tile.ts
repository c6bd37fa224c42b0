/**
 * Cuts ONE vector tile straight from GeoJSON features, in a single pass per feature.
 *
 * geojson-vt builds an index from zoom 0 and drills down to the tile, clipping every feature
 * again at each zoom on the way (12 times for a z12 tile); a UDF result is computed for one tile
 * and lies mostly inside it, so that work is wasted. Here each feature is projected once to
 * Web-Mercator tile-local coordinates (in extent units), clipped once to the buffered tile square,
 * simplified, rounded, and handed on in the `getTileRaw()` shape that `encodeMvtLayer` writes
 * without copying (flat `[x, y, …]` arrays, single points inline as `type: 4`).
 *
 * geojson-vt 5's semantics are followed so that tiles keep their look (the tests compare both on
 * many tiles and zooms):
 * - projection: x = (lon/360 + 0.5)·2^z, y from the Mercator formula with the result clamped to
 *   the world square [0, 1] (so latitudes beyond ±85.05° land on its edge), in tile units;
 * - clipping to [−buffer, extent + buffer]: points on the half-open range (a point exactly on the
 *   far edge is out), lines split into parts where they leave it, polygon rings Sutherland–Hodgman
 *   against the two x edges, then the two y edges; rings that vanish are dropped;
 * - antimeridian: like geojson-vt's world wrap, a feature reaching past ±180° (e.g. a ring
 *   unwrapped to lon 190) also shows up shifted by ∓360°, as separate copies listed before (+360°)
 *   and after (−360°) all the unshifted features;
 * - simplification with `tolerance` in tile units at the tile's zoom (what geojson-vt applies to
 *   tiles above its maxZoom): Douglas–Peucker keeping each part's end points, and rings whose
 *   (unclipped) area is under tolerance², or lines shorter than tolerance, dropped. 0 keeps every
 *   vertex (what geojson-vt does at its maxZoom). Polygon rings and lines wholly inside the
 *   buffered tile are simplified whole before clipping, like geojson-vt; lines that cross its edge
 *   are clipped first and only their parts inside are simplified (the vertices outside are never
 *   looked at again): the kept vertices may differ slightly, the shape stays within the tolerance
 *   either way;
 * - cost: a feature whose lon/lat bbox misses the tile is dropped before projection (with the
 *   boxes `normalizeResult` recorded while validating, its positions are not even read again),
 *   the Mercator y (a sine and a logarithm) is computed only for rings that reach the tile, and
 *   on lines only for the vertices next to it (see `projectLine`);
 * - winding: outer rings get positive area with y down (clockwise on screen), holes the opposite,
 *   decided from GeoJSON nesting rather than from the input's winding;
 * - coordinates are rounded to integers last (clip intersections are kept exact until then).
 *
 * `cutPrepared` cuts the same tile from a layer `prepareVector()` prepared once (projected,
 * vertices ranked, indexed): the index picks the features, the ranks do the simplifying, and
 * the clip stage (`cutRings`) is shared.
 *
 * Differences from geojson-vt: an unclosed polygon ring is closed before clipping (geojson-vt
 * clips it open and joins its ends afterwards); intersections are not snapped to an intermediate
 * grid, so a vertex may differ by one unit; and the output is not byte-identical.
 */
import Flatbush from 'flatbush';
import type { Feature, Geometry, PreparedVectorData, TileCoord } from '../types.ts';
import type { VtFeature } from './mvt-writer.ts';

export interface CutOptions {
  /** Tile extent in units (MVT's usual 4096). */
  extent: number;
  /** Buffer around the tile in tile units. */
  buffer: number;
  /** Simplification tolerance in tile units; 0 keeps every vertex. */
  tolerance: number;
  /**
   * Lon/lat bbox of each feature, `[minX, minY, maxX, maxY]` at 4·i, NaN where unknown (what
   * `normalizeResult` records while validating): a feature whose box misses the tile is
   * dropped without its positions being read.
   */
  boxes?: Float64Array | null;
}

/** A cut feature: `tags` is the input feature's `properties` object itself (not copied). */
export type CutFeature = VtFeature & { tags: Record<string, unknown> | null };

type Ring = ArrayLike<ArrayLike<number>>;

// ---- per-call settings (module state: cutting is synchronous, so calls never interleave) ----

let z2 = 1;
let tx = 0;
let ty = 0;
let extent = 4096;
/** The clip square's low and high edge, on both axes. */
let lo = -64;
let hi = 4096 + 64;
/** The world's width in tile units: the shift of an antimeridian copy. */
let world = 4096;
let sqTolerance = 0;
let tolerance = 0;
/**
 * The buffered tile in lon/lat, widened by a margin so that the test is conservative: a line
 * whose lon/lat bbox misses it is dropped before any projection (the exact test follows for the
 * others). latLo/latHi are ±Infinity for tiles on the world's top or bottom edge (clamped y).
 */
let lonLo = -Infinity;
let lonHi = Infinity;
let latLo = -Infinity;
let latHi = Infinity;

/**
 * Receives each cut feature as it is made when `cutTile` is given one (nothing is listed then):
 * `group` 0 = listed first (copies shifted by +360°), 1 = unshifted, 2 = last (shifted by −360°);
 * `done` of `total` input features consumed so far (integers: a fraction would be a fresh heap
 * number per feature). The feature object of a single point is reused for the next one: write it
 * (or copy it) before returning, never keep it.
 */
export type CutSink = (f: CutFeature, group: 0 | 1 | 2, done: number, total: number) => void;
/** The object single points are handed to a sink in (reused: a sink must not keep it). */
const scratchPoint: CutFeature & { type: 4 } = { type: 4, x: 0, y: 0, tags: null, id: undefined };
let sink: CutSink | null = null;
/** True while cutting a prepared layer: vertices come ranked (keep flags set), see `cutRings`. */
let ranked = false;
let done = 0;
let total = 0;

/** Features listed first (copies shifted by +360°), the unshifted ones, then copies shifted by −360°. */
let west: CutFeature[] = [];
let center: CutFeature[] = [];
let east: CutFeature[] = [];

// ---- scratch buffers, reused across calls ----

const KEEP_MAX = 1 << 20;
/** Projected coordinates of the current feature, all rings back to back, `x, y` interleaved. */
let P: Float64Array = new Float64Array(4096);
/** After clipping on x, and after clipping on y. */
let A: Float64Array = new Float64Array(4096);
let B: Float64Array = new Float64Array(4096);
/** Parts in A and B: [start, end) index pairs. */
const partsA: number[] = [];
const partsB: number[] = [];
/** Per ring of the current feature: [start, end) in P, size (signed area or length), bbox, simplified yet. */
const META = 8;
let rings: Float64Array = new Float64Array(META * 64);
/** Keep flags (simplification) of the points in P, A and B, by point index. */
let KP = new Uint8Array(2048);
let KA = new Uint8Array(2048);
let KB = new Uint8Array(2048);
let stack = new Int32Array(256);

function grown(a: Float64Array, need: number): Float64Array {
  let n = a.length * 2;
  while (n < need) n *= 2;
  const next = new Float64Array(n);
  next.set(a);
  return next;
}

/**
 * Cuts the tile `tile` (any zoom up to 30: coordinates stay exact in doubles) from `features` (lon/lat GeoJSON, any
 * geometry type, null geometries skipped). Returns the features that have something inside the
 * buffered tile, in input order except for antimeridian copies (see above), each with the input's
 * `id` (when it has one) and `properties` as `tags`.
 */
export function cutTile(features: readonly Feature<Geometry | null>[], tile: TileCoord, o: CutOptions): CutFeature[];
/**
 * The streaming form: each cut feature goes to `to` as soon as it is made, in the order of the
 * input (antimeridian copies flagged with their group rather than reordered), and nothing is
 * kept, so a million-point tile never holds a million cut features at once.
 */
export function cutTile(features: readonly Feature<Geometry | null>[], tile: TileCoord, o: CutOptions, to: CutSink): void;
export function cutTile(features: readonly Feature<Geometry | null>[], tile: TileCoord, o: CutOptions, to?: CutSink): CutFeature[] | void {
  begin(tile, o, to);
  const boxes = o.boxes ?? null;
  try {
    const n = features.length;
    total = n;
    for (let i = 0; i < n; i++) {
      const f = features[i];
      done = i + 1;
      if (!f.geometry) continue;
      boxChecked = false;
      if (boxes !== null) {
        const b = 4 * i;
        const minLon = boxes[b];
        if (minLon === minLon) {
          if (!boxReaches(minLon, boxes[b + 1], boxes[b + 2], boxes[b + 3])) continue;
          boxChecked = true;
        }
      }
      addGeometry(f.geometry, f.id, f.properties ?? null);
    }
    if (to) return;
    return west.length || east.length ? west.concat(center, east) : center;
  } finally {
    end();
  }
}

/** Sets the per-call state for cutting `tile` (see the module variables above). */
function begin(tile: TileCoord, o: CutOptions, to: CutSink | undefined): void {
  z2 = 2 ** tile.z;
  tx = ((tile.x % z2) + z2) % z2; // wrap x like geojson-vt
  ty = tile.y;
  extent = o.extent;
  lo = -o.buffer;
  hi = o.extent + o.buffer;
  world = z2 * o.extent;
  tolerance = o.tolerance > 0 ? o.tolerance : 0;
  sqTolerance = tolerance * tolerance;
  {
    const margin = 1e-9 * 360; // degrees; far below a tile unit at z30, far above rounding noise
    lonLo = ((tx + lo / extent) / z2 - 0.5) * 360 - margin;
    lonHi = ((tx + hi / extent) / z2 - 0.5) * 360 + margin;
    const latOf = (yy: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * (ty + yy / extent)) / z2))) * 180) / Math.PI;
    latHi = ty === 0 ? Infinity : latOf(lo) + margin;
    latLo = ty === z2 - 1 ? -Infinity : latOf(hi) - margin;
  }
  west = [];
  center = [];
  east = [];
  sink = to ?? null;
}

/** Drops the per-call state and scratch buffers grown past KEEP_MAX. */
function end(): void {
  sink = null;
  ranked = false;
  done = total = 0;
  west = center = east = [];
  if (P.length > KEEP_MAX) P = new Float64Array(4096);
  if (A.length > KEEP_MAX) A = new Float64Array(4096);
  if (B.length > KEEP_MAX) B = new Float64Array(4096);
  if (KP.length > KEEP_MAX) KP = new Uint8Array(2048);
  if (KA.length > KEEP_MAX) KA = new Uint8Array(2048);
  if (KB.length > KEEP_MAX) KB = new Uint8Array(2048);
  if (rings.length > KEEP_MAX) rings = new Float64Array(META * 64);
}

function addGeometry(g: Geometry, id: Feature['id'], tags: Record<string, unknown> | null): void {
  switch (g.type) {
    case 'Point':
      if (g.coordinates.length >= 2) addPoint(g.coordinates, id, tags);
      return;
    case 'MultiPoint':
      if (g.coordinates.length) addMultiPoint(g.coordinates, id, tags);
      return;
    case 'LineString':
      if (g.coordinates.length && (boxChecked || reachesTile(g.coordinates))) addRings(2, [g.coordinates], false, id, tags);
      return;
    case 'MultiLineString':
      if (g.coordinates.length) addRings(2, g.coordinates, false, id, tags);
      return;
    case 'Polygon':
      if (g.coordinates.length) addRings(3, g.coordinates, false, id, tags);
      return;
    case 'MultiPolygon':
      if (g.coordinates.length) addRings(3, g.coordinates, true, id, tags);
      return;
    case 'GeometryCollection':
      // like geojson-vt: each member is a feature of its own, with the collection's id and tags
      for (const member of g.geometries) addGeometry(member, id, tags);
      return;
  }
}

/**
 * Whether a line's lon/lat bbox reaches the buffered tile (conservatively, in any of the three
 * world copies): most of a line layer's features miss a given tile, and this costs two
 * comparisons a vertex where projecting costs a sine and a logarithm.
 */
/** Whether the current feature's bbox was tested against the tile already (`CutOptions.boxes`). */
let boxChecked = false;

/** Whether a lon/lat bbox reaches the buffered tile (conservatively, in any of the three world copies). */
function boxReaches(minLon: number, minLat: number, maxLon: number, maxLat: number): boolean {
  if (maxLat < latLo || minLat > latHi) return false;
  for (let s = -1; s <= 1; s++) if (maxLon + 360 * s >= lonLo && minLon + 360 * s <= lonHi) return true;
  return false;
}

function reachesTile(line: Ring): boolean {
  let minLon = Infinity;
  let maxLon = -Infinity;
  let minLat = Infinity;
  let maxLat = -Infinity;
  for (let i = 0, n = line.length; i < n; i++) {
    const c = line[i];
    const lon = c[0];
    const lat = c[1];
    if (lon < minLon) minLon = lon;
    if (lon > maxLon) maxLon = lon;
    if (lat < minLat) minLat = lat;
    if (lat > maxLat) maxLat = lat;
  }
  return boxReaches(minLon, minLat, maxLon, maxLat);
}

// ---- projection ----

/**
 * Projects lon/lat to tile units at out[j], out[j + 1]. Writes rather than returns, so that the
 * doubles need no boxing when the call is not inlined.
 */
function project(out: Float64Array, j: number, lon: number, lat: number): void {
  out[j] = ((lon / 360 + 0.5) * z2 - tx) * extent;
  const sin = Math.sin((lat * Math.PI) / 180);
  const y2 = 0.5 - (0.25 * Math.log((1 + sin) / (1 - sin))) / Math.PI;
  out[j + 1] = ((y2 < 0 ? 0 : y2 > 1 ? 1 : y2) * z2 - ty) * extent;
}

/** Mercator y of a latitude in tile units (the y half of `project`, same arithmetic). */
function projectY(lat: number): number {
  const sin = Math.sin((lat * Math.PI) / 180);
  const y2 = 0.5 - (0.25 * Math.log((1 + sin) / (1 - sin))) / Math.PI;
  return ((y2 < 0 ? 0 : y2 > 1 ? 1 : y2) * z2 - ty) * extent;
}

/** Whether x range [minX, maxX], shifted by `shift` world widths, reaches the clip square. */
function overlaps(minX: number, maxX: number, shift: number): boolean {
  const d = shift * world;
  return maxX + d >= lo && minX + d < hi;
}

/** Hands a cut feature (of world copy `shift`) to the sink, or lists it. */
function put(shift: number, f: CutFeature): void {
  if (sink) sink(f, shift === 0 ? 1 : shift > 0 ? 0 : 2, done, total);
  else (shift === 0 ? center : shift > 0 ? west : east).push(f);
}

const SHIFTS = [1, 0, -1] as const;

// ---- points ----

function addPoint(c: ArrayLike<number>, id: Feature['id'], tags: Record<string, unknown> | null): void {
  project(P, 0, c[0], c[1]);
  addPointAt(P[0], P[1], id, tags);
}

/** A single point at tile units (x, y), in each world copy where it falls inside the clip square. */
function addPointAt(x: number, y: number, id: Feature['id'], tags: Record<string, unknown> | null): void {
  if (!(y >= lo && y < hi)) return;
  for (const s of SHIFTS) {
    const sx = x + s * world;
    if (!(sx >= lo && sx < hi)) continue;
    if (sink) {
      // streaming: one reused object for every single point (the sink writes it and lets go),
      // so a million-point tile makes no million short-lived objects
      scratchPoint.x = Math.round(sx);
      scratchPoint.y = Math.round(y);
      scratchPoint.tags = tags;
      scratchPoint.id = id;
      put(s, scratchPoint);
      scratchPoint.tags = null;
      scratchPoint.id = undefined;
    } else put(s, { type: 4, x: Math.round(sx), y: Math.round(y), tags, id });
  }
}

function addMultiPoint(coords: Ring, id: Feature['id'], tags: Record<string, unknown> | null): void {
  const n = coords.length;
  if (P.length < 2 * n) P = grown(P, 2 * n);
  let minX = Infinity;
  let maxX = -Infinity;
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    project(P, j, coords[i][0], coords[i][1]);
    const x = P[j];
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
  }
  putMultiPoint(n, minX, maxX, id, tags);
}

/** The `n` points projected at P (x from minX to maxX), in each world copy where some fall inside. */
function putMultiPoint(n: number, minX: number, maxX: number, id: Feature['id'], tags: Record<string, unknown> | null): void {
  for (const s of SHIFTS) {
    if (!overlaps(minX, maxX, s)) continue;
    const d = s * world;
    let kept = 0;
    for (let j = 0; j < 2 * n; j += 2) {
      const x = P[j] + d;
      const y = P[j + 1];
      if (x >= lo && x < hi && y >= lo && y < hi) kept++;
    }
    if (kept === 0) continue;
    const out = new Int32Array(kept * 2);
    for (let j = 0, w = 0; j < 2 * n; j += 2) {
      const x = P[j] + d;
      const y = P[j + 1];
      if (x >= lo && x < hi && y >= lo && y < hi) {
        out[w++] = Math.round(x);
        out[w++] = Math.round(y);
      }
    }
    put(s, { type: 1, geometry: out, tags, id });
  }
}

// ---- lines and polygons ----

/**
 * Projects every ring (or line) of a feature into P and records each one's extent, size and
 * bbox in `rings`; then cuts the feature once per world copy that reaches the tile.
 * `groups` is a list of polygons (`nested`: MultiPolygon) or a list of rings / lines.
 */
function addRings(type: 2 | 3, groups: readonly Ring[] | readonly (readonly Ring[])[], nested: boolean, id: Feature['id'], tags: Record<string, unknown> | null): void {
  const polygon = type === 3;
  let nRings = 0;
  let pn = 0;
  let fMinX = Infinity;
  let fMinLat = Infinity;
  let fMaxX = -Infinity;
  let fMaxLat = -Infinity;

  // Pass 1: x projected (linear, cheap), latitude kept raw; bboxes in x and latitude. The
  // Mercator y (a sine and a logarithm per vertex) is computed below only for the rings that
  // reach the tile: lines and rings that miss it (often a third of a layer) never pay for it.
  const nGroups = nested ? groups.length : 1;
  for (let g = 0; g < nGroups; g++) {
    const list = (nested ? groups[g] : groups) as readonly Ring[];
    for (let r = 0; r < list.length; r++) {
      const ring = list[r];
      const n = ring.length;
      if (n === 0) continue;
      if (P.length < pn + 2 * n + 2) P = grown(P, pn + 2 * n + 2);
      if (rings.length < (nRings + 1) * META) {
        const next = new Float64Array(rings.length * 2);
        next.set(rings);
        rings = next;
      }
      const start = pn;
      let minX = Infinity;
      let minLat = Infinity;
      let maxX = -Infinity;
      let maxLat = -Infinity;
      // locals: the loop stores to P, so module state would be reloaded every vertex
      const p = P;
      const zz = z2;
      const xx = tx;
      const ee = extent;
      for (let i = 0; i < n; i++) {
        const c = ring[i];
        const x = ((c[0] / 360 + 0.5) * zz - xx) * ee;
        const lat = c[1];
        p[pn] = x;
        p[pn + 1] = lat;
        pn += 2;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (lat < minLat) minLat = lat;
        if (lat > maxLat) maxLat = lat;
      }
      // an unclosed polygon ring is closed here, so that clipping sees its last edge
      if (polygon && n > 1 && (ring[0][0] !== ring[n - 1][0] || ring[0][1] !== ring[n - 1][1])) {
        P[pn] = P[start];
        P[pn + 1] = P[start + 1];
        pn += 2;
      }
      const m = nRings * META;
      rings[m] = start;
      rings[m + 1] = pn;
      rings[m + 2] = r === 0 ? 1 : 0; // outer ring of its polygon (replaced by the size below)
      rings[m + 3] = minX;
      rings[m + 4] = maxLat; // → min y (y grows southwards)
      rings[m + 5] = maxX;
      rings[m + 6] = minLat; // → max y
      rings[m + 7] = 0;
      nRings++;
      if (minX < fMinX) fMinX = minX;
      if (maxX > fMaxX) fMaxX = maxX;
      if (minLat < fMinLat) fMinLat = minLat;
      if (maxLat > fMaxLat) fMaxLat = maxLat;
    }
  }
  if (nRings === 0) return;
  // y is monotonic (decreasing) in latitude, so the bbox projects through its corners
  if (projectY(fMinLat) < lo || projectY(fMaxLat) >= hi) return;
  if (!overlaps(fMinX, fMaxX, 1) && !overlaps(fMinX, fMaxX, 0) && !overlaps(fMinX, fMaxX, -1)) return;

  // Pass 2: for each ring that reaches the tile (in some world copy): y, size, winding.
  // rings[m + 7]: 0 to simplify, 1 simplified, 2 misses the tile.
  for (let r = 0; r < nRings; r++) {
    const m = r * META;
    const minY = projectY(rings[m + 4]);
    const maxY = projectY(rings[m + 6]);
    rings[m + 4] = minY;
    rings[m + 6] = maxY;
    const minX = rings[m + 3];
    const maxX = rings[m + 5];
    if (maxY < lo || minY >= hi || (!overlaps(minX, maxX, 1) && !overlaps(minX, maxX, 0) && !overlaps(minX, maxX, -1))) {
      rings[m + 7] = 2;
      continue;
    }
    const start = rings[m] | 0; // an int: indexes kept as doubles cost a conversion per access
    const end = rings[m + 1] | 0;
    if (!polygon) {
      rings[m + 2] = projectLine(start, end, minX, maxX, minY, maxY);
      continue;
    }
    for (let i = start + 1; i < end; i += 2) P[i] = projectY(P[i]);
    rings[m + 2] = windRing(P, start, end, rings[m + 2] === 1);
  }

  cutRings(type, nRings, pn, fMinX, fMaxX, id, tags);
}

/**
 * The clip stage of a line or polygon feature whose `nRings` rings are at P[0, pn), described
 * in `rings` (start, end, size, bbox in tile units, state: 0 to simplify, 1 simplified, 2
 * misses the tile): cuts it once per world copy that reaches the tile (x from fMinX to fMaxX).
 */
function cutRings(type: 2 | 3, nRings: number, pn: number, fMinX: number, fMaxX: number, id: Feature['id'], tags: Record<string, unknown> | null): void {
  const polygon = type === 3;
  // `ranked` (a prepared layer): the keep flags in KP are set already and small rings dropped;
  // the flags still travel through clipping (clip points are kept), nothing is simplified here.
  const simplifying = sqTolerance > 0 && !ranked;
  if (simplifying && KP.length < pn >> 1) KP = new Uint8Array(Math.max(pn >> 1, KP.length * 2));
  for (const s of SHIFTS) {
    if (!overlaps(fMinX, fMaxX, s)) continue;
    const d = s * world;
    const parts: number[][] = [];
    for (let r = 0; r < nRings; r++) {
      const m = r * META;
      if (rings[m + 7] === 2) continue;
      const size = rings[m + 2];
      if (simplifying && (polygon ? Math.abs(size) < sqTolerance : size < tolerance)) continue;
      const minX = rings[m + 3] + d;
      const maxX = rings[m + 5] + d;
      const minY = rings[m + 4];
      const maxY = rings[m + 6];
      if (maxX < lo || minX >= hi || maxY < lo || minY >= hi) continue;
      const start = rings[m] | 0; // an int: indexes kept as doubles cost a conversion per access
      const end = rings[m + 1] | 0;
      const inX = minX >= lo && maxX < hi;
      const inY = minY >= lo && maxY < hi;
      // Polygon rings, and lines wholly inside, are simplified whole before clipping, like
      // geojson-vt (clip points are always kept), once for all world copies. Lines that cross
      // the edge are clipped first and only their parts inside are simplified (below): the
      // vertices outside, often most of them, are never looked at again.
      const lineClipped = !polygon && !(inX && inY);
      if (simplifying && rings[m + 7] === 0 && !lineClipped) {
        simplify(P, KP, start, (end - start) >> 1);
        rings[m + 7] = 1;
      }
      if (inX && inY) {
        emit(parts, P, KP, start, end, d);
        continue;
      }
      // clip on x (P → A), then on y (→ B); a side already inside is not clipped
      partsA.length = 0;
      if (inX) partsA.push(start, end);
      else clipAxis(P, KP, start, end, d, 0, polygon, false, 0, partsA);
      const srcY = inX ? P : A;
      const keepY = inX ? KP : KA;
      const dY = inX ? d : 0;
      if (inY) {
        for (let i = 0; i < partsA.length; i += 2) {
          if (simplifying && lineClipped) simplify(srcY, keepY, partsA[i], (partsA[i + 1] - partsA[i]) >> 1);
          emit(parts, srcY, keepY, partsA[i], partsA[i + 1], dY);
        }
        continue;
      }
      partsB.length = 0;
      for (let i = 0, w = 0; i < partsA.length; i += 2) w = clipAxis(srcY, keepY, partsA[i], partsA[i + 1], dY, 1, polygon, true, w, partsB);
      for (let i = 0; i < partsB.length; i += 2) {
        if (simplifying && lineClipped) simplify(B, KB, partsB[i], (partsB[i + 1] - partsB[i]) >> 1);
        emit(parts, B, KB, partsB[i], partsB[i + 1], 0);
      }
    }
    if (parts.length) put(s, { type, geometry: parts, tags, id });
  }
}

// ---- prepared layers (prepareVector) ----

/** Flatbush views of prepared layers' index buffers, made once per layer (per thread). */
const trees = new WeakMap<ArrayBuffer, Flatbush>();

/**
 * Cuts the tile from a layer `prepareVector()` built (server/result/prepare-vector.ts), in the
 * same streaming form as `cutTile`: the index gives the parts whose bbox reaches the buffered
 * tile (in each world copy), and each one keeps the vertices whose Douglas–Peucker importance
 * passes the tile's tolerance (geojson-vt's rule; nothing is simplified here), dropped first
 * when its ring is smaller than the tolerance, then clipped and rounded by the same code as
 * `cutTile`. Parts come out in input order (antimeridian copies flagged by group). `features`
 * are the layer's features: ids and properties are read from them.
 */
export function cutPrepared(features: readonly Feature<Geometry | null>[], layer: PreparedVectorData, tile: TileCoord, o: CutOptions, to: CutSink): void {
  if (!layer.index) return;
  begin(tile, o, to);
  // The tolerance is applied here through the importances and ring sizes: the clip stage
  // below neither simplifies again nor drops rings (`ranked`), it carries the keep flags.
  const scale = world; // tile units per world unit
  const tol = tolerance;
  const sqImportance = tol > 0 ? (tol / scale) * (tol / scale) : -1;
  ranked = true;
  try {
    let tree = trees.get(layer.index);
    if (!tree) {
      tree = Flatbush.from(layer.index);
      trees.set(layer.index, tree);
    }
    // the buffered tile in world units, and the copies of it one world to the east and west
    const x0 = (tx + lo / extent) / z2;
    const x1 = (tx + hi / extent) / z2;
    const y0 = (ty + lo / extent) / z2;
    const y1 = (ty + hi / extent) / z2;
    const nParts = layer.type.length;
    const [bx0, by0, bx1, by1] = layer.bbox;
    let order: Uint32Array;
    if (bx0 >= x0 && bx1 <= x1 && by0 >= y0 && by1 <= y1 && bx0 + 1 > x1 && bx1 - 1 < x0) {
      // the whole layer lies inside the buffered tile (and no copy of it reaches the tile too):
      // every part, in order, without querying the index
      order = new Uint32Array(nParts);
      for (let i = 0; i < nParts; i++) order[i] = i;
    } else {
      let hits: number[] = [];
      let searches = 0;
      for (const s of SHIFTS) {
        if (bx1 < x0 - s || bx0 > x1 - s) continue;
        const found = tree.search(x0 - s, y0, x1 - s, y1);
        if (found.length) hits = searches++ === 0 ? found : hits.concat(found);
      }
      if (hits.length === 0) return;
      // input order, as cutTile; parts found in two world copies once (the copies are made below)
      order = Uint32Array.from(hits).sort();
    }
    const { feature: featureOf, type: typeOf, partRing, partBox, ringVertex, ringSize, xy, importance, chunkBox } = layer;
    const xOff = tx * extent;
    const yOff = ty * extent;
    total = order.length;
    for (let k = 0; k < order.length; k++) {
      const e = order[k];
      if (k > 0 && order[k - 1] === e) continue;
      done = k + 1;
      const f = features[featureOf[e]];
      const id = f.id;
      const tags = f.properties ?? null;
      const type = typeOf[e];
      const r0 = partRing[e];
      const r1 = partRing[e + 1];
      if (type === 4) {
        const v = 2 * ringVertex[r0];
        addPointAt(xy[v] * scale - xOff, xy[v + 1] * scale - yOff, id, tags);
        continue;
      }
      if (type === 1) {
        const v0 = ringVertex[r0];
        const n = ringVertex[r0 + 1] - v0;
        if (P.length < 2 * n) P = grown(P, 2 * n);
        let minX = Infinity;
        let maxX = -Infinity;
        for (let i = 0, v = 2 * v0; i < 2 * n; i += 2, v += 2) {
          const x = xy[v] * scale - xOff;
          P[i] = x;
          P[i + 1] = xy[v + 1] * scale - yOff;
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
        }
        putMultiPoint(n, minX, maxX, id, tags);
        continue;
      }
      const polygon = type === 3;
      let nRings = 0;
      let pn = 0;
      let fMinX = Infinity;
      let fMaxX = -Infinity;
      // the world copies of the tile the part reaches: regions (below) are relative to the one
      const pMinX = partBox[4 * e] * scale - xOff;
      const pMaxX = partBox[4 * e + 2] * scale - xOff;
      const reach = (overlaps(pMinX, pMaxX, 1) ? 1 : 0) + (overlaps(pMinX, pMaxX, 0) ? 1 : 0) + (overlaps(pMinX, pMaxX, -1) ? 1 : 0);
      if (reach === 0) continue; // the index's box test is inclusive; the clip square's far edge is not
      const d = reach !== 1 ? 0 : overlaps(pMinX, pMaxX, 1) ? world : overlaps(pMinX, pMaxX, 0) ? 0 : -world;
      for (let r = r0; r < r1; r++) {
        // rings smaller than the tolerance are dropped, as cutTile and geojson-vt do
        if (tol > 0 && (polygon ? ringSize[r] * scale * scale < tol * tol : ringSize[r] * scale < tol)) continue;
        const v0 = ringVertex[r];
        const v1 = ringVertex[r + 1];
        if (P.length < pn + 2 * (v1 - v0)) P = grown(P, pn + 2 * (v1 - v0));
        if (rings.length < (nRings + 1) * META) {
          const next = new Float64Array(rings.length * 2);
          next.set(rings);
          rings = next;
        }
        if (KP.length < (pn >> 1) + (v1 - v0)) {
          const next = new Uint8Array(Math.max((pn >> 1) + (v1 - v0), KP.length * 2));
          next.set(KP);
          KP = next;
        }
        const p = P;
        const kp = KP;
        const start = pn;
        let minX = Infinity;
        let minY = Infinity;
        let maxX = -Infinity;
        let maxY = -Infinity;
        // geojson-vt clips every vertex and then keeps the clip points and the vertices whose
        // importance passes. The same tile from fewer vertices: a vertex is kept when its
        // importance passes (flag 1) or when it ends a segment that changes Cohen–Sutherland
        // region around the clip square (flag 0: it only makes clipping find the same clip
        // points). Between two vertices of one region a straight segment never enters the
        // square, so the vertices left out change nothing. A ring reaching two world copies
        // (zoom 0–1) keeps every vertex, flagged.
        // (regions in world units, so that only kept vertices are converted to tile units)
        const all = reach !== 1;
        const xLo = (lo - d + xOff) / scale;
        const xHi = (hi - d + xOff) / scale;
        const yLo = (lo + yOff) / scale;
        const yHi = (hi + yOff) / scale;
        if (!polygon && !all && cutTestHooks.preparedSkips) {
          // Lines: a vertex outside the square whose neighbours are in its region is left out
          // even when its importance passes (clipping would drop it; the straight segment that
          // replaces its two stays in that region, outside). Runs of CHUNK vertices whose
          // prepared bbox lies in one region are so handled without reading them one by one:
          // outside, only their ends may be needed; inside, only the importances are read.
          let v = v0;
          let pc = -1; // the previous vertex's region (−1: none yet)
          while (v < v1) {
            if ((v & CHUNK_MASK) === 0 && v + CHUNK <= v1) {
              const c4 = 4 * (v >> CHUNK_SHIFT);
              const cMinX = chunkBox[c4];
              const cMinY = chunkBox[c4 + 1];
              const cMaxX = chunkBox[c4 + 2];
              const cMaxY = chunkBox[c4 + 3];
              const xc = cMaxX < xLo ? 1 : cMinX > xHi ? 2 : cMinX >= xLo && cMaxX <= xHi ? 0 : -1;
              const yc = cMaxY < yLo ? 4 : cMinY > yHi ? 8 : cMinY >= yLo && cMaxY <= yHi ? 0 : -1;
              if (xc >= 0 && yc >= 0) {
                const code = xc | yc;
                const e = v + CHUNK - 1;
                const nextCode = e + 1 < v1 ? regionOf(xy[2 * e + 2], xy[2 * e + 3], xLo, xHi, yLo, yHi) : code;
                if (code !== 0) {
                  if (pc !== -1 && pc !== code) pn = keepVertex(xy, v, importance[v] > sqImportance, pn, scale, xOff, yOff);
                  if (nextCode !== code) pn = keepVertex(xy, e, importance[e] > sqImportance, pn, scale, xOff, yOff);
                } else {
                  for (let u = v; u <= e; u++) {
                    const keep = importance[u] > sqImportance;
                    if (keep || (u === v && pc !== 0 && pc !== -1) || (u === e && nextCode !== 0)) pn = keepVertex(xy, u, keep, pn, scale, xOff, yOff);
                  }
                }
                pc = code;
                v += CHUNK;
                continue;
              }
            }
            const cc = regionOf(xy[2 * v], xy[2 * v + 1], xLo, xHi, yLo, yHi);
            const nc = v + 1 < v1 ? regionOf(xy[2 * v + 2], xy[2 * v + 3], xLo, xHi, yLo, yHi) : cc;
            const keep = importance[v] > sqImportance;
            if ((cc === 0 && keep) || (pc !== -1 && cc !== pc) || cc !== nc) pn = keepVertex(xy, v, keep, pn, scale, xOff, yOff);
            pc = cc;
            v++;
          }
          for (let i = start; i < pn; i += 2) {
            const x = P[i];
            const y = P[i + 1];
            if (x < minX) minX = x;
            if (x > maxX) maxX = x;
            if (y < minY) minY = y;
            if (y > maxY) maxY = y;
          }
        } else {
          let cx = xy[2 * v0];
          let cy = xy[2 * v0 + 1];
          let cc = +(cx < xLo) | (+(cx > xHi) << 1) | (+(cy < yLo) << 2) | (+(cy > yHi) << 3);
          let pc = cc;
          for (let v = v0; v < v1; v++) {
            let nx = 0;
            let ny = 0;
            let nc = cc;
            if (v + 1 < v1) {
              nx = xy[2 * v + 2];
              ny = xy[2 * v + 3];
              // branch-free (a line weaves in and out: branches would be unpredictable)
              nc = +(nx < xLo) | (+(nx > xHi) << 1) | (+(ny < yLo) << 2) | (+(ny > yHi) << 3);
            }
            const keep = importance[v] > sqImportance;
            if (keep || all || cc !== pc || cc !== nc) {
              const x = cx * scale - xOff;
              const y = cy * scale - yOff;
              p[pn] = x;
              p[pn + 1] = y;
              kp[pn >> 1] = keep ? 1 : 0;
              pn += 2;
              if (x < minX) minX = x;
              if (x > maxX) maxX = x;
              if (y < minY) minY = y;
              if (y > maxY) maxY = y;
            }
            pc = cc;
            cx = nx;
            cy = ny;
            cc = nc;
          }
        }
        const m = nRings * META;
        rings[m] = start;
        rings[m + 1] = pn;
        rings[m + 2] = 0;
        rings[m + 3] = minX;
        rings[m + 4] = minY;
        rings[m + 5] = maxX;
        rings[m + 6] = maxY;
        // a ring that reaches no copy of the tile is skipped by the stage (state 2)
        rings[m + 7] = maxY < lo || minY >= hi || (!overlaps(minX, maxX, 1) && !overlaps(minX, maxX, 0) && !overlaps(minX, maxX, -1)) ? 2 : 1;
        nRings++;
        if (minX < fMinX) fMinX = minX;
        if (maxX > fMaxX) fMaxX = maxX;
      }
      if (nRings > 0) cutRings(type as 2 | 3, nRings, pn, fMinX, fMaxX, id, tags);
    }
  } finally {
    end();
  }
}

/** Vertices per run of a prepared layer's `chunkBox` (a power of two). */
export const CHUNK_SHIFT = 4;
const CHUNK = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK - 1;

/** Cohen–Sutherland region of world point (x, y) against a square: 1 west, 2 east, 4 north, 8 south (0 inside). */
function regionOf(x: number, y: number, xLo: number, xHi: number, yLo: number, yHi: number): number {
  return +(x < xLo) | (+(x > xHi) << 1) | (+(y < yLo) << 2) | (+(y > yHi) << 3);
}

/** Appends prepared vertex `v` to P in tile units, with its keep flag; returns the new end of P. */
function keepVertex(xy: Float64Array, v: number, keep: boolean, pn: number, scale: number, xOff: number, yOff: number): number {
  P[pn] = xy[2 * v] * scale - xOff;
  P[pn + 1] = xy[2 * v + 1] * scale - yOff;
  KP[pn >> 1] = keep ? 1 : 0;
  return pn + 2;
}

/**
 * For tests only: `lazyY: false` computes every vertex's y (the reference the lazy path must
 * match byte for byte); `preparedSkips: false` reads every vertex of a prepared line (the
 * reference the run-skipping path of `cutPrepared` must match).
 * @internal
 */
export const cutTestHooks = { lazyY: true, preparedSkips: true };

/** Sentinel y of a line vertex north / south of the clip square whose exact y is never needed. */
const NORTH = -1e9;
const SOUTH = 1e9;

/**
 * The y half of projecting the line at P[start, end) (x projected, latitude raw), for the
 * vertices that matter: a vertex gets its exact Mercator y (a sine and a logarithm) only when a
 * segment it ends may touch the clip square — judged in (x, latitude) by Cohen–Sutherland
 * outcodes against the square's conservative latitude range. The others lie with both their
 * segments wholly outside on one side, where clipping drops them and anything interpolated
 * between them, so they get a y that is merely on the right side (NORTH / SOUTH): the cut
 * comes out exactly as with every y computed. Returns the line's length in tile units, or
 * Infinity when its bbox already proves it longer than the tolerance (the only use of it).
 */
function projectLine(start: number, end: number, minX: number, maxX: number, minY: number, maxY: number): number {
  const n = (end - start) >> 1;
  // Wider than the tolerance in x or y: its length is too (a path is at least as long as its bbox is wide).
  const long = !(sqTolerance > 0) || maxX - minX > tolerance * 1.000001 || maxY - minY > tolerance * 1.000001;
  // One world copy reaches the tile (the usual case): outcodes are relative to it; a line
  // reaching two copies (a world-wide line at zoom 0–1) gets every y.
  const reach = (overlaps(minX, maxX, 1) ? 1 : 0) + (overlaps(minX, maxX, 0) ? 1 : 0) + (overlaps(minX, maxX, -1) ? 1 : 0);
  if (!long || reach !== 1 || n < 2 || !cutTestHooks.lazyY) {
    for (let i = start + 1; i < end; i += 2) P[i] = projectY(P[i]);
    if (long) return Infinity;
    let size = 0;
    for (let i = start + 2; i < end; i += 2) {
      const dx = P[i] - P[i - 2];
      const dy = P[i + 1] - P[i - 1];
      size += Math.sqrt(dx * dx + dy * dy);
    }
    return size;
  }
  const d = overlaps(minX, maxX, 1) ? world : overlaps(minX, maxX, 0) ? 0 : -world;
  const xLo = lo - d;
  const xHi = hi - d;
  const north = latHi;
  const south = latLo;
  // codes: 1 west, 2 east, 4 north, 8 south; a missing neighbour counts as 15 (no segment)
  const p = P;
  const zz = z2;
  const yy = ty;
  const ee = extent;
  let prev = 15;
  let x = p[start];
  let lat = p[start + 1];
  let cur = +(x < xLo) | (+(x > xHi) << 1) | (+(lat > north) << 2) | (+(lat < south) << 3);
  for (let i = start; i < end; i += 2) {
    let next = 15;
    if (i + 2 < end) {
      x = p[i + 2];
      lat = p[i + 3];
      // branch-free (a line weaves in and out: the branches would be unpredictable)
      next = +(x < xLo) | (+(x > xHi) << 1) | (+(lat > north) << 2) | (+(lat < south) << 3);
    }
    if ((prev & cur) === 0 || (cur & next) === 0) {
      // projectY inlined by hand, same arithmetic (locals instead of module state)
      const sin = Math.sin((p[i + 1] * Math.PI) / 180);
      const y2 = 0.5 - (0.25 * Math.log((1 + sin) / (1 - sin))) / Math.PI;
      p[i + 1] = ((y2 < 0 ? 0 : y2 > 1 ? 1 : y2) * zz - yy) * ee;
    } else p[i + 1] = cur & 4 ? NORTH : cur & 8 ? SOUTH : lo;
    prev = cur;
    cur = next;
  }
  return Infinity;
}

/**
 * Clips src[from, to) (x shifted by `d`) to lo ≤ coordinate ≤ hi on `axis` (0: x, 1: y), as
 * geojson-vt's clip.js does: lines are split into parts where they leave the range, a polygon
 * ring stays one ring, closed again if clipping opened it. Output goes to B (`toB`) or A from
 * index `w` on; each part's [start, end) is pushed to `parts`. Returns where the output ends.
 * When simplifying, each point's keep flag (`srcKeep`, by point index) goes along; clip points
 * are always kept.
 */
function clipAxis(src: Float64Array, srcKeep: Uint8Array, from: number, to: number, d: number, axis: 0 | 1, polygon: boolean, toB: boolean, w: number, parts: number[]): number {
  const n = (to - from) >> 1;
  const need = w + 4 * n + 8;
  if (toB) {
    if (B.length < need) B = grown(B, need);
    if (sqTolerance > 0 && KB.length < need >> 1) KB = new Uint8Array(Math.max(need >> 1, KB.length * 2));
  } else {
    if (A.length < need) A = grown(A, need);
    if (sqTolerance > 0 && KA.length < need >> 1) KA = new Uint8Array(Math.max(need >> 1, KA.length * 2));
  }
  const out = toB ? B : A;
  const keep = toB ? KB : KA;
  const flags = sqTolerance > 0;
  const k1 = lo;
  const k2 = hi;
  let sliceStart = w;

  for (let i = from; i < to - 2; i += 2) {
    const ax = src[i] + d;
    const ay = src[i + 1];
    const bx = src[i + 2] + d;
    const by = src[i + 3];
    const a = axis === 0 ? ax : ay;
    const b = axis === 0 ? bx : by;
    let exited = false;

    if (a < k1) {
      if (b >= k1) w = intersect(out, keep, w, ax, ay, bx, by, k1, axis); // enters from below
    } else if (a > k2) {
      if (b <= k2) w = intersect(out, keep, w, ax, ay, bx, by, k2, axis); // enters from above
    } else {
      if (flags) keep[w >> 1] = srcKeep[i >> 1];
      out[w++] = ax;
      out[w++] = ay;
    }
    if (b < k1 && a >= k1) {
      w = intersect(out, keep, w, ax, ay, bx, by, k1, axis); // leaves below
      exited = true;
    }
    if (b > k2 && a <= k2) {
      w = intersect(out, keep, w, ax, ay, bx, by, k2, axis); // leaves above
      exited = true;
    }
    if (!polygon && exited && w > sliceStart) {
      parts.push(sliceStart, w);
      sliceStart = w;
    }
  }

  const lx = src[to - 2] + d;
  const ly = src[to - 1];
  const l = axis === 0 ? lx : ly;
  if (l >= k1 && l <= k2) {
    if (flags) keep[w >> 1] = srcKeep[(to - 2) >> 1];
    out[w++] = lx;
    out[w++] = ly;
  }
  if (polygon && w - sliceStart >= 4 && (out[w - 2] !== out[sliceStart] || out[w - 1] !== out[sliceStart + 1])) {
    if (flags) keep[w >> 1] = keep[sliceStart >> 1];
    out[w] = out[sliceStart];
    out[w + 1] = out[sliceStart + 1];
    w += 2;
  }
  if (w > sliceStart) parts.push(sliceStart, w);
  return w;
}

function intersect(out: Float64Array, keep: Uint8Array, w: number, ax: number, ay: number, bx: number, by: number, k: number, axis: 0 | 1): number {
  if (axis === 0) {
    out[w] = k;
    out[w + 1] = ay + ((by - ay) * (k - ax)) / (bx - ax);
  } else {
    out[w] = ax + ((bx - ax) * (k - ay)) / (by - ay);
    out[w + 1] = k;
  }
  if (sqTolerance > 0) keep[w >> 1] = 1;
  return w + 2;
}

/** Rounds src[start, end) (x shifted by `d`), without the points simplification dropped, into `parts`. */
function emit(parts: number[][], src: Float64Array, keep: Uint8Array, start: number, end: number, d: number): void {
  if (end === start) return;
  const out: number[] = [];
  if (sqTolerance > 0) {
    for (let i = start; i < end; i += 2) {
      if (keep[i >> 1] === 0) continue;
      out.push(Math.round(src[i] + d), Math.round(src[i + 1]));
    }
  } else {
    for (let i = start; i < end; i += 2) out.push(Math.round(src[i] + d), Math.round(src[i + 1]));
  }
  parts.push(out);
}

/**
 * Douglas–Peucker over the `n` points at src[start…]: sets keep[start/2 + i] to 1 for the
 * points to keep (always the first and the last) and 0 for the others.
 */
function simplify(src: Float64Array, keep: Uint8Array, start: number, n: number): void {
  const k0 = start >> 1;
  for (let i = k0 + 1, e = k0 + n - 1; i < e; i++) keep[i] = 0;
  keep[k0] = 1;
  keep[k0 + n - 1] = 1;
  douglasPeucker(src, start, n, sqTolerance, keep);
}

/**
 * Puts the closed ring at src[start…end) in canonical winding (outer rings positive, holes
 * negative, y down) by reversing it in place if needed, and returns its signed area in that
 * winding, computed relative to the first vertex for precision far from the origin. Shared by
 * the per-tile cutter and `prepareVector()`.
 */
export function windRing(src: Float64Array, start: number, end: number, outer: boolean): number {
  const x0 = src[start];
  const y0 = src[start + 1];
  let size = 0;
  for (let i = start + 2; i + 2 < end; i += 2) size += (src[i] - x0) * (src[i + 3] - y0) - (src[i + 2] - x0) * (src[i + 1] - y0);
  size /= 2;
  if ((outer && size < 0) || (!outer && size >= 0)) {
    for (let i = start, j = end - 2; i < j; i += 2, j -= 2) {
      const x = src[i];
      const y = src[i + 1];
      src[i] = src[j];
      src[i + 1] = src[j + 1];
      src[j] = x;
      src[j + 1] = y;
    }
    size = -size;
  }
  return size;
}

/**
 * The Douglas–Peucker walk shared by per-tile simplification and `prepareVector()`'s ranking:
 * over the `n` points at src[start…], every pivot farther than √sqMin from its segment gets
 * `out[start/2 + i]` set — to 1 when `out` is keep flags (a Uint8Array), to its squared distance
 * when `out` is importances (a Float64Array; with sqMin 0 every vertex off its segment is
 * ranked, as geojson-vt's simplify.js does). Same pivot choice and tie-break as geojson-vt;
 * iterative, so a long, degenerate part cannot overflow the stack. Other entries are left as
 * they are (the caller sets the end points).
 */
export function douglasPeucker(src: Float64Array, start: number, n: number, sqMin: number, out: Uint8Array | Float64Array): void {
  const k0 = start >> 1;
  const ranks = out instanceof Float64Array;
  let sp = 0;
  stack[sp++] = 0;
  stack[sp++] = n - 1;
  while (sp > 0) {
    const last = stack[--sp];
    const first = stack[--sp];
    const fa = start + 2 * first;
    const la = start + 2 * last;
    const ax = src[fa];
    const ay = src[fa + 1];
    const bx = src[la];
    const by = src[la + 1];
    const mid = first + ((last - first) >> 1);
    let minPosToMid = last - first;
    let maxSqDist = sqMin;
    let index = -1;
    // sqSegDist inlined, with the segment's terms hoisted out of the loop (same arithmetic)
    const sdx = bx - ax;
    const sdy = by - ay;
    const len2 = sdx * sdx + sdy * sdy;
    for (let i = first + 1; i < last; i++) {
      const px = src[start + 2 * i];
      const py = src[start + 2 * i + 1];
      let qx = ax;
      let qy = ay;
      if (len2 !== 0) {
        const t = ((px - ax) * sdx + (py - ay) * sdy) / len2;
        if (t > 1) {
          qx = bx;
          qy = by;
        } else if (t > 0) {
          qx += sdx * t;
          qy += sdy * t;
        }
      }
      const ex = px - qx;
      const ey = py - qy;
      const dist = ex * ex + ey * ey;
      if (dist > maxSqDist) {
        index = i;
        maxSqDist = dist;
      } else if (dist === maxSqDist) {
        // geojson-vt's tie-break: prefer a pivot near the middle (limits depth on degenerate input)
        const posToMid = Math.abs(i - mid);
        if (posToMid < minPosToMid) {
          index = i;
          minPosToMid = posToMid;
        }
      }
    }
    if (maxSqDist > sqMin) {
      out[k0 + index] = ranks ? maxSqDist : 1;
      if (sp + 4 > stack.length) {
        const next = new Int32Array(stack.length * 2);
        next.set(stack);
        stack = next;
      }
      if (index - first > 1) {
        stack[sp++] = first;
        stack[sp++] = index;
      }
      if (last - index > 1) {
        stack[sp++] = index;
        stack[sp++] = last;
      }
    }
  }
}
