/**
 * A Mapbox Vector Tile (v2) writer for one layer, fed by `cutTile()` (mvt-tile.ts), which emits
 * the same feature shapes as geojson-vt's tiles (so geojson-vt output can be written too).
 *
 * It replaces vt-pbf, which wraps every feature in vector-tile-js objects, builds a `Point` per
 * vertex and goes through a generic protobuf writer. Here the protobuf is written by hand into one
 * reusable, growable byte buffer: varints are written inline, length-delimited fields reserve the
 * bytes their length will probably need and are shifted in the rare case the guess was wrong, and
 * nothing is allocated per vertex.
 *
 * Both geojson-vt shapes are accepted:
 * - `getTile()` (legacy): `type` 1 with `geometry: [x, y][]`, `type` 2/3 with `[x, y][][]`;
 * - `getTileRaw()`: flat `[x, y, x, y, …]` typed arrays (`type` 1, or one per ring for 2/3) and
 *   `type` 4 single points with inline `x`/`y` — the zero-copy shape, cheaper still.
 *
 * Output rules (MVT spec 2.1):
 * - `tags` values: strings → `string_value`, booleans → `bool_value`, non-negative safe integers →
 *   `uint_value`, negative safe integers → `sint_value` (zigzag), any other number → `double_value`.
 *   Other values (null, undefined, objects, bigints) are skipped: adapt them before calling.
 *   Keys and values are deduplicated into the layer's dictionaries.
 * - Feature ids are written (uint64) only when they are non-negative safe integers.
 * - Geometry is written in the order given. `cutTile()` (like geojson-vt) already canonicalises
 *   polygon winding (outer rings positive area in tile coordinates with y down, i.e. clockwise on
 *   screen; holes the opposite), as the MVT spec wants, so rings are not rewound here.
 * - Unlike vt-pbf, zero-length LineTo segments (consecutive repeated vertices, common once dense
 *   geometry is rounded to the tile grid) are dropped, as the spec requires; a line part left
 *   with fewer than two vertices, or a ring with fewer than three, is left out, and a feature
 *   left without geometry is left out entirely. Points are written as given (MultiPoint may
 *   repeat a position).
 * - Coordinates must be integers (the cutter rounds them); any int32 range works, including
 *   deltas beyond ±2^30 that vt-pbf's 32-bit zigzag gets wrong.
 */

/** One feature as geojson-vt's `getTile()` or `getTileRaw()` returns it. */
export type VtFeature = {
  id?: number | string;
  tags?: Record<string, unknown> | null;
} & (
  | { type: 1; geometry: ArrayLike<number> | readonly (readonly number[])[] }
  | { type: 2 | 3; geometry: readonly (ArrayLike<number> | readonly (readonly number[])[])[] }
  | { type: 4; x: number; y: number }
);

type Value = string | number | boolean;

// ---- the output buffer (module state: encoding is synchronous, so calls never interleave) ----

const INITIAL = 64 * 1024;
/** A scratch buffer bigger than this is dropped after use rather than kept for the next call. */
const KEEP_MAX = 8 * 1024 * 1024;
/** Room kept in front of the layer for the Tile message's tag and length (≤ 1 + 5 bytes). */
const HEAD = 8;

let buf = new Uint8Array(INITIAL);
let view = new DataView(buf.buffer);
let pos = 0;

/**
 * Share of the input written so far (0 = unknown), set by the streaming caller: lets the buffer
 * grow straight to the projected final size instead of doubling, so a big tile is not built
 * through a chain of ever larger copies (each growth holds the old and the new buffer at once).
 */
let progress = 0;
/** Input features consumed so far, of `progressTotal` (integers; `progress` is computed when growing). */
let progressDone = 0;
let progressTotal = 0;
/** Bytes the layer's dictionaries will take (estimated as values are added), for that projection. */
let dictBytes = 0;

function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  if (progressTotal > 0) progress = progressDone / progressTotal;
  let size = buf.length * 2;
  // 15 % over the projection: later features tend to be a little bigger (longer ids and values)
  if (progress > 0.02) size = Math.max(pos + n, Math.ceil(((pos + dictBytes) / progress) * 1.15) + 1024);
  while (size < pos + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf.subarray(0, pos));
  buf = next;
  view = new DataView(buf.buffer);
}

/** Bytes a varint of `v` (a non-negative integer) takes. */
function varintLen(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v >= 1) {
    n++;
    v = Math.floor(v / 0x80);
  }
  return n;
}

/** Writes a varint of a non-negative integer up to 2^53 (capacity must be ensured). */
function varint(v: number): void {
  if (v < 0x80) {
    buf[pos++] = v;
  } else if (v < 0x4000) {
    buf[pos++] = (v & 0x7f) | 0x80;
    buf[pos++] = v >>> 7;
  } else if (v <= 0x7fffffff) {
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
  } else {
    while (v >= 0x80) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[pos++] = v;
  }
}

/** Zigzag of an integer delta, exact for |d| < 2^52. */
function zz(d: number): number {
  return d >= 0 ? d * 2 : -d * 2 - 1;
}

/** Reserves `n` bytes for a length prefix; returns where the field's data starts. */
function reserve(n: number): number {
  ensure(n);
  pos += n;
  return pos;
}

/** Writes the length of the data since `mark` into the `n` bytes reserved before it. */
function finish(mark: number, n: number): void {
  const len = pos - mark;
  const need = varintLen(len);
  if (need !== n) {
    ensure(need - n);
    buf.copyWithin(mark + need - n, mark, pos);
    mark += need - n;
    pos += need - n;
  }
  const end = pos;
  pos = mark - need;
  varint(len);
  pos = end;
}

/** Writes a length-prefixed UTF-8 string (invalid surrogates become U+FFFD, as TextEncoder does). */
function string(s: string): void {
  const n = varintLen(s.length * 3);
  const mark = reserve(n);
  ensure(s.length * 3);
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else c = 0xfffd;
    }
    if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
    } else {
      if (c < 0x10000) buf[pos++] = 0xe0 | (c >> 12);
      else {
        buf[pos++] = 0xf0 | (c >> 18);
        buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
      }
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
    }
    buf[pos++] = 0x80 | (c & 0x3f);
  }
  finish(mark, n);
}

// ---- layer dictionaries ----

let keys: string[] = [];
let keyIndex = new Map<string, number>();
/**
 * Values, deduplicated through an open-addressing hash table of value indices (linear probing,
 * load ≤ 1/2, each slot's hash kept next to it) rather than a Map: ~16 bytes per hashed value on
 * top of the `values` array, against ~40–60 in a Map. Equality is `===` (the string '1' and the
 * number 1 stay apart), NaN has its own slot.
 *
 * A key whose first DISTINCT_PROBE values were (nearly) all new — a name or an id column — stops
 * being deduplicated: its values are appended as they come. Hashing them would only find misses,
 * and at a million values the table outgrows the CPU caches (each probe a cache miss, each growth
 * a rehash of everything), which made the cost per feature of a 1M-feature tile ~1.5–2× that of
 * a 10k one. MVT allows repeated values in a layer's `values` (spec 4.4 asks only that indices
 * be in range); the rare repeat of such a key then costs a few bytes.
 */
let values: Value[] = [];
let table = new Int32Array(1024).fill(-1);
let slotHashes = new Int32Array(1024);
/** Values added through the table (the others were appended): what its load is measured on. */
let hashedCount = 0;
let nanIndex = -1;
const f64 = new Float64Array(1);
const i32 = new Int32Array(f64.buffer);

/**
 * Per key index: how many new values it brought, the number of features written when it first
 * appeared (so features since then bound how many values it had), and whether it stopped
 * deduplicating (its values are appended).
 */
let keyFresh: number[] = [];
let keyFirst: number[] = [];
let keyAppends: boolean[] = [];
/** Features written to the current layer (the bound above). */
let featureCount = 0;
const DISTINCT_PROBE = 4096;
/** Share of new values among (at most) a key's first values that stops its deduplication. */
const DISTINCT_SHARE = 0.99;

/**
 * A 32-bit hash of a value (FNV-1a over UTF-16 units for strings, the bits of numbers), finished
 * with murmur3's avalanche: the table takes the hash's low bits, and without the finish those
 * depend only on the low bits of the input — decimal fractions such as 12.3 share their low
 * mantissa bits (…9999A, …33333), so a thousand of them landed in a few slots and every lookup
 * walked a probe chain hundreds of slots long (~170 ns a value instead of ~40).
 */
function hashValue(v: Value): number {
  let h: number;
  if (typeof v === 'string') {
    h = 0x811c9dc5 | 0;
    for (let i = 0; i < v.length; i++) h = Math.imul(h ^ v.charCodeAt(i), 16777619);
  } else if (typeof v === 'boolean') return v ? 0x5bd1e995 : 0x27d4eb2f;
  else if ((v | 0) === v) h = v ^ 0x3c6ef372;
  else {
    f64[0] = v;
    h = i32[0] ^ Math.imul(i32[1], 0x85ebca6b);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function addKey(k: string): number {
  const ki = keys.push(k) - 1;
  keyIndex.set(k, ki);
  keyFresh[ki] = 0;
  keyFirst[ki] = featureCount;
  keyAppends[ki] = false;
  return ki;
}

/** Appends `v` to `values` without looking for it (a key of distinct values); returns its index. */
function appendValue(v: Value): number {
  dictBytes += typeof v === 'string' ? v.length + 4 : 11;
  return values.push(v) - 1;
}

/** Index of `v` (a value of key `ki`) in `values`, adding it when new. */
function valueIndexOf(v: Value, ki: number): number {
  if (v !== v) {
    if (nanIndex < 0) nanIndex = addValue(v);
    return nanIndex;
  }
  const h = hashValue(v);
  const mask = table.length - 1;
  let slot = h & mask;
  for (;;) {
    const i = table[slot];
    if (i < 0) break;
    if (slotHashes[slot] === h && values[i] === v) return i;
    slot = (slot + 1) & mask;
  }
  // DISTINCT_PROBE new values within (at most) DISTINCT_PROBE / DISTINCT_SHARE features: stop looking
  if (++keyFresh[ki] === DISTINCT_PROBE && featureCount - keyFirst[ki] + 1 <= DISTINCT_PROBE / DISTINCT_SHARE) keyAppends[ki] = true;
  const index = addValue(v);
  table[slot] = index;
  slotHashes[slot] = h;
  if (++hashedCount * 2 > table.length) rehash(table.length * 2);
  return index;
}

function addValue(v: Value): number {
  dictBytes += typeof v === 'string' ? v.length + 4 : 11;
  return values.push(v) - 1;
}

function rehash(size: number): void {
  const oldTable = table;
  const oldHashes = slotHashes;
  table = new Int32Array(size).fill(-1);
  slotHashes = new Int32Array(size);
  const mask = size - 1;
  for (let s = 0; s < oldTable.length; s++) {
    const i = oldTable[s];
    if (i < 0) continue;
    const h = oldHashes[s];
    let slot = h & mask;
    while (table[slot] >= 0) slot = (slot + 1) & mask;
    table[slot] = i;
    slotHashes[slot] = h;
  }
}

/**
 * Removes the last value added (values are removed in reverse order of adding only, which keeps
 * every probe chain intact). An appended value (or NaN) has no slot: the probe meets an empty one.
 */
function popValue(): void {
  const i = values.length - 1;
  const v = values.pop()!;
  dictBytes -= typeof v === 'string' ? v.length + 4 : 11;
  if (i === nanIndex) {
    nanIndex = -1;
    return;
  }
  const mask = table.length - 1;
  let slot = hashValue(v) & mask;
  while (table[slot] >= 0 && table[slot] !== i) slot = (slot + 1) & mask;
  if (table[slot] === i) {
    table[slot] = -1;
    hashedCount--;
  }
}
/**
 * The key seen at each property position of the previous feature, and its index: features
 * usually list the same keys in the same order, and comparing interned strings is cheaper than
 * a Map lookup.
 */
let recentKeys: string[] = [];
let recentKeyIndex: number[] = [];

function resetDictionaries(): void {
  keys = [];
  keyIndex = new Map();
  keyFresh = [];
  keyFirst = [];
  keyAppends = [];
  featureCount = 0;
  // Tables up to 64K slots are kept for the next layer (clearing them, ≤ 256 KB, is cheaper than
  // growing through several rehashes again); bigger ones are dropped.
  if (table.length > 1 << 16) {
    table = new Int32Array(1 << 16).fill(-1);
    slotHashes = new Int32Array(1 << 16);
  } else table.fill(-1);
  values = [];
  hashedCount = 0;
  nanIndex = -1;
  dictBytes = 0;
  recentKeys = [];
  recentKeyIndex = [];
}

/** Forgets keys and values added after the dictionaries had `nKeys` keys and `nValues` values. */
function rollbackDictionaries(nKeys: number, nValues: number): void {
  if (keys.length > nKeys) {
    recentKeys = [];
    recentKeyIndex = [];
  }
  while (keys.length > nKeys) keyIndex.delete(keys.pop()!);
  keyFresh.length = Math.min(keyFresh.length, nKeys);
  keyFirst.length = Math.min(keyFirst.length, nKeys);
  keyAppends.length = Math.min(keyAppends.length, nKeys);
  while (values.length > nValues) popValue();
}

/** One `Value` message body. */
function writeValue(v: Value): void {
  ensure(12);
  if (typeof v === 'string') {
    buf[pos++] = 0x0a; // string_value = 1
    string(v);
  } else if (typeof v === 'boolean') {
    buf[pos++] = 0x38; // bool_value = 7
    buf[pos++] = v ? 1 : 0;
  } else if (Number.isSafeInteger(v)) {
    if (v >= 0) {
      buf[pos++] = 0x28; // uint_value = 5
      varint(v);
    } else {
      buf[pos++] = 0x30; // sint_value = 6
      sintVarint(v);
    }
  } else {
    buf[pos++] = 0x19; // double_value = 3
    view.setFloat64(pos, v, true);
    pos += 8;
  }
}

/** Zigzag varint of a negative safe integer (its zigzag can exceed 2^53, so large ones go via BigInt). */
function sintVarint(v: number): void {
  if (v >= -0x40000000) {
    varint(-2 * v - 1);
    return;
  }
  let z = -2n * BigInt(v) - 1n;
  while (z >= 0x80n) {
    buf[pos++] = Number(z & 0x7fn) | 0x80;
    z >>= 7n;
  }
  buf[pos++] = Number(z);
}

// ---- geometry ----

/** Cursor of the geometry being written (deltas are relative to the previous vertex of the feature). */
let cx = 0;
let cy = 0;
/** Legacy `[x, y]` rings are copied here first, so one flat code path serves both shapes. */
let flat = new Float64Array(1024);

function toFlat(ring: ArrayLike<number> | readonly (readonly number[])[]): ArrayLike<number> {
  if (ring.length === 0 || typeof ring[0] === 'number') return ring as ArrayLike<number>;
  const pairs = ring as readonly (readonly number[])[];
  if (flat.length < pairs.length * 2) flat = new Float64Array(pairs.length * 4);
  for (let i = 0, j = 0; i < pairs.length; i++, j += 2) {
    flat[j] = pairs[i][0];
    flat[j + 1] = pairs[i][1];
  }
  return flat;
}

/** MoveTo(n) and the points of a (multi)point; `n` points in `xy[0 .. 2n)`. */
function writePoints(xy: ArrayLike<number>, n: number): void {
  ensure(10 + n * 20);
  varint(n * 8 + 1);
  for (let i = 0; i < 2 * n; i += 2) {
    const x = xy[i];
    const y = xy[i + 1];
    varint(zz(x - cx));
    varint(zz(y - cy));
    cx = x;
    cy = y;
  }
}

/**
 * One line part (`closed` false) or polygon ring (`closed` true) of `n` vertices in `xy`:
 * MoveTo, LineTo without zero-length segments, then ClosePath for rings. A ring's closing vertex
 * (and any repeats of the first vertex before it) are implied by ClosePath. Writes nothing when
 * too few vertices remain.
 */
function writePart(xy: ArrayLike<number>, n: number, closed: boolean): void {
  if (n === 0) return;
  const x0 = xy[0];
  const y0 = xy[1];
  let m = n;
  if (closed) while (m > 1 && xy[2 * m - 2] === x0 && xy[2 * m - 1] === y0) m--;
  if (m < (closed ? 3 : 2)) return;

  const start = pos;
  const sx = cx;
  const sy = cy;
  ensure(30 + m * 20);
  buf[pos++] = 9; // MoveTo(1)
  varint(zz(x0 - cx));
  varint(zz(y0 - cy));
  cx = x0;
  cy = y0;
  const reserved = varintLen((m - 1) * 8 + 2);
  pos += reserved;
  const mark = pos;
  let count = 0;
  for (let i = 2; i < 2 * m; i += 2) {
    const x = xy[i];
    const y = xy[i + 1];
    if (x === cx && y === cy) continue;
    varint(zz(x - cx));
    varint(zz(y - cy));
    cx = x;
    cy = y;
    count++;
  }
  if (count < (closed ? 2 : 1)) {
    pos = start;
    cx = sx;
    cy = sy;
    return;
  }
  const cmd = count * 8 + 2; // LineTo(count)
  const need = varintLen(cmd);
  if (need !== reserved) {
    buf.copyWithin(mark - reserved + need, mark, pos);
    pos -= reserved - need;
  }
  const end = pos;
  pos = mark - reserved;
  varint(cmd);
  pos = end;
  if (closed) buf[pos++] = 15; // ClosePath(1)
}

/** Geometry bytes of one feature; returns false when nothing was written. */
function writeGeometry(f: VtFeature): boolean {
  cx = 0;
  cy = 0;
  const start = pos;
  if (f.type === 4) {
    ensure(25);
    buf[pos++] = 9; // MoveTo(1)
    varint(zz(f.x));
    varint(zz(f.y));
  } else if (f.type === 1) {
    const g = f.geometry;
    const n = typeof g[0] === 'number' ? g.length >> 1 : g.length;
    if (n > 0) writePoints(toFlat(g), n);
  } else {
    const closed = f.type === 3;
    for (const part of f.geometry) {
      const n = typeof part[0] === 'number' ? part.length >> 1 : part.length;
      writePart(toFlat(part), n, closed);
    }
  }
  return pos > start;
}

/** A rough size of a feature's geometry, for the length prefixes' reservations. */
function estimate(f: VtFeature): number {
  if (f.type === 4) return 8;
  if (f.type === 1) return f.geometry.length * 2 + 4;
  const parts = f.geometry;
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length * 2 + 6;
  return n;
}

// ---- features and layer ----

function writeFeature(f: VtFeature): void {
  featureCount++;
  const start = pos;
  const nKeys = keys.length;
  const nValues = values.length;
  const est = estimate(f);
  const geomReserve = varintLen(est);
  const featReserve = varintLen(est + 24);
  ensure(32);
  buf[pos++] = 0x12; // Layer.features = 2
  const featMark = reserve(featReserve);

  const id = f.id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) {
    buf[pos++] = 0x08; // id = 1
    varint(id);
  }

  const tags = f.tags;
  if (tags) {
    const tagsStart = pos;
    buf[pos++] = 0x12; // tags = 2 (packed)
    const mark = reserve(1);
    let j = 0;
    for (const k in tags) {
      const v = tags[k];
      const t = typeof v;
      if (t !== 'string' && t !== 'number' && t !== 'boolean') continue;
      let ki: number | undefined;
      if (recentKeys[j] === k) ki = recentKeyIndex[j];
      else {
        ki = keyIndex.get(k);
        if (ki === undefined) ki = addKey(k);
        recentKeys[j] = k;
        recentKeyIndex[j] = ki;
      }
      j++;
      const vi = keyAppends[ki] ? appendValue(v as Value) : valueIndexOf(v as Value, ki);
      ensure(10);
      varint(ki);
      varint(vi);
    }
    if (pos === mark) pos = tagsStart;
    else finish(mark, 1);
  }

  ensure(8);
  buf[pos++] = 0x18; // type = 3
  buf[pos++] = f.type === 4 ? 1 : f.type;
  buf[pos++] = 0x22; // geometry = 4 (packed)
  const geomMark = reserve(geomReserve);
  if (!writeGeometry(f)) {
    pos = start;
    rollbackDictionaries(nKeys, nValues);
    return;
  }
  finish(geomMark, geomReserve);
  finish(featMark, featReserve);
}

/**
 * Encodes one MVT v2 layer named `name` holding `features` (geojson-vt tile features, in tile
 * coordinates for `extent`) as a complete tile. An empty `features` gives a tile with an empty layer.
 */
export function encodeMvtLayer(name: string, features: readonly VtFeature[], extent: number): Uint8Array {
  beginLayer(name, extent);
  try {
    for (let i = 0; i < features.length; i++) writeFeature(features[i]);
    return endLayer();
  } finally {
    cleanup();
  }
}

/**
 * Streaming form of `encodeMvtLayer`, for a producer that cuts features one at a time (mvt.ts
 * with `cutTile`'s sink), so that no array of cut features is ever held: `write(f, group)` adds a
 * feature to the front (0), middle (1) or back (2) of the layer — antimeridian copies go first or
 * last, like geojson-vt's, and are rare, so they are written to small side buffers — and `done`,
 * of `total` input features consumed so far, lets the output buffer grow straight to its projected
 * size. One layer is written at a time (per thread): `build` must not be re-entered.
 */
export function streamMvtLayer(name: string, extent: number, build: (write: (f: VtFeature, group: 0 | 1 | 2, done: number, total: number) => void) => void): Uint8Array {
  beginLayer(name, extent);
  try {
    build(streamWrite);
    return endLayer();
  } finally {
    cleanup();
  }
}

/** The front and back side buffers of the current layer, and the main buffer while one is active. */
let sides: [Uint8Array<ArrayBuffer> | null, Uint8Array<ArrayBuffer> | null] = [null, null];
let sideLengths = [0, 0];

function streamWrite(f: VtFeature, group: 0 | 1 | 2, done: number, total: number): void {
  if (group === 1) {
    progressDone = done;
    progressTotal = total;
    writeFeature(f);
    return;
  }
  // Swap the side buffer in, write, swap it out again (the dictionaries are shared).
  const side = group === 0 ? 0 : 1;
  const mainBuf = buf;
  const mainPos = pos;
  const mainTotal = progressTotal;
  buf = sides[side] ?? new Uint8Array(1024);
  view = new DataView(buf.buffer);
  pos = sideLengths[side];
  progress = 0;
  progressTotal = 0;
  try {
    writeFeature(f);
  } finally {
    sides[side] = buf;
    sideLengths[side] = pos;
    buf = mainBuf;
    view = new DataView(buf.buffer);
    pos = mainPos;
    progressTotal = mainTotal;
  }
}

/** Where the current layer's features start in `buf` (after its version, name and extent). */
let featuresStart = 0;

function beginLayer(name: string, extent: number): void {
  pos = HEAD;
  progress = progressDone = progressTotal = 0;
  sides = [null, null];
  sideLengths = [0, 0];
  resetDictionaries();
  ensure(16);
  buf[pos++] = 0x78; // version = 15
  buf[pos++] = 2;
  buf[pos++] = 0x0a; // name = 1
  string(name);
  ensure(12);
  buf[pos++] = 0x28; // extent = 5
  varint(extent);
  featuresStart = pos;
}

function endLayer(): Uint8Array {
  progress = progressDone = progressTotal = 0;
  // Side buffers (antimeridian copies): the rare case, assembled with one extra copy.
  const front = sideLengths[0];
  const back = sideLengths[1];
  if (front || back) {
    ensure(front + back);
    buf.copyWithin(featuresStart + front, featuresStart, pos);
    if (front) buf.set(sides[0]!.subarray(0, front), featuresStart);
    pos += front;
    if (back) buf.set(sides[1]!.subarray(0, back), pos);
    pos += back;
  }
  for (const k of keys) {
    ensure(1);
    buf[pos++] = 0x1a; // keys = 3
    string(k);
  }
  // an index loop: this runs once per layer, often before it is optimised, where for…of would
  // make an iterator result object per value (a million for a million-feature tile)
  for (let i = 0; i < values.length; i++) {
    ensure(2);
    buf[pos++] = 0x22; // values = 4
    const mark = reserve(1);
    writeValue(values[i]);
    finish(mark, 1);
  }

  // Tile.layers = 3, written right before the layer so that nothing has to move.
  const len = pos - HEAD;
  const headerStart = HEAD - 1 - varintLen(len);
  const end = pos;
  pos = headerStart;
  buf[pos++] = 0x1a;
  varint(len);
  if (buf.length > KEEP_MAX) {
    // A big tile: hand the buffer over instead of copying it (it was grown to about this size),
    // and start the next layer with a fresh scratch buffer.
    const out = buf.subarray(headerStart, end);
    buf = new Uint8Array(INITIAL);
    view = new DataView(buf.buffer);
    return out;
  }
  return buf.slice(headerStart, end);
}

function cleanup(): void {
  resetDictionaries();
  progress = progressDone = progressTotal = 0;
  sides = [null, null];
  sideLengths = [0, 0];
  if (buf.length > KEEP_MAX) {
    buf = new Uint8Array(INITIAL);
    view = new DataView(buf.buffer);
  }
  if (flat.length > KEEP_MAX / 8) flat = new Float64Array(1024);
}
