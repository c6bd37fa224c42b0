/**
 * The byte protocol between Node and a Python worker (worker.py), and the decoding of
 * result payloads into values the server's normaliser accepts.
 *
 * ## Frames (both directions, over the worker's stdin / stdout)
 * ```
 * u32 LE   n        length of everything after these 4 bytes
 * u8       type     'L' load, 'C' call, 'P' echo        (Node → worker)
 *                   'H' hello, 'R' result, 'E' error,   (worker → Node)
 *                   'S' status (mid-call, any number before the R/E answer)
 * u32 LE   h        length of the JSON header
 * h bytes  header   UTF-8 JSON; carries `id`, and for bulk data `buffers: [[offset, length], …]`
 * n-5-h    payload  the buffers, each starting at an 8-byte aligned offset into the payload
 * ```
 * A result ('R') of a call or echo whose payload is 64 KiB or more travels without it: the worker
 * writes the payload to a file in its pool's result folder (result-files.ts) and the header says
 * `payloadFile: <length>`; the pool replaces that with `{path, length}` (the path is the pool's
 * own, named for the request id) and `takePayload` reads and removes the file.
 *
 * ## Result descriptors (`header.result`) — bulk data is never JSON
 * - `{t:'json', value}`: str / int / float / bool / dict / list / None.
 * - `{t:'html', value}`: an HTML page (fastapi `HTMLResponse`, or a `Response` of type text/html).
 * - `{t:'raster', dtype, width, height, bands, data, bounds?}`: `data` is a buffer index of
 *   pixel-interleaved (band-last), C-ordered, little-endian samples of `dtype` (uint8, int8,
 *   uint16, int16, uint32, int32, float32, float64). Python already transposed bands-first input.
 * - `{t:'table', rows, columns}` and `{t:'features', rows, columns, geometry: {offsets, data}}`
 *   (a GeoDataFrame, already in EPSG:4326). Each column is `{name, type, data, offsets?, valid?}`:
 *   - `float`: `data` = rows × float64; `int`: rows × int64; `int32`: rows × int32 (an integer column
 *     whose values all fit); `bool`: rows × uint8 (0/1);
 *   - `str` / `json`: `offsets` = (rows + 1) × uint32 byte offsets into `data` (UTF-8); `json`
 *     cells hold JSON text (mixed or nested Python objects);
 *   - `valid` (present only when a column has nulls): rows × uint8, 0 = null. NaN floats are null.
 *   - geometry: `offsets` (rows + 1) × uint32 into `data`, the concatenated WKB (ISO or EWKB,
 *     2-D or 3-D) of each row; an empty slice is a null geometry. Or, when every geometry is a
 *     Point (or null/empty), `{t:'points', dims, data, valid?}`: rows × dims (2 or 3) float64
 *     coordinates, `valid` rows × uint8 (0 = null/empty) when any is missing.
 */
import { isAscii } from 'node:buffer';
import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import type { Feature, FeatureCollection, Geometry, Position } from 'geojson';
import { html, raster, table } from '../define.ts';
import type { Bounds, RasterData } from '../../types.ts';

/** Frame type bytes. */
export const FrameType = {
  load: 0x4c, // 'L'
  call: 0x43, // 'C'
  echo: 0x50, // 'P'
  hello: 0x48, // 'H'
  result: 0x52, // 'R'
  error: 0x45, // 'E'
  /** A UDF's status()/progress() report, sent mid-call: `{id, status?, progress?}`. */
  status: 0x53, // 'S'
} as const;

/** One decoded frame. `payload` is a view into the received bytes (empty while it waits in a result file). */
export interface Frame {
  type: number;
  header: Record<string, any>;
  payload: Uint8Array;
}

/**
 * Scratch memory for payloads read from result files and fully copied out while decoding
 * (features, tables): reused, because fresh memory for every 420 KB result costs as much in
 * page faults as reading it (measured: 0.31 ms into fresh memory vs 0.16 ms into reused
 * memory). One per thread (module state), kept up to SCRATCH_MAX bytes.
 */
let scratch: Buffer | undefined;
const SCRATCH_MAX = 8 * 2 ** 20;
const EMPTY = new Uint8Array(0);

/**
 * The frame's payload: `frame.payload`, or — when it travelled through a result file
 * (`header.payloadFile = {path, length}`) — the file's bytes, read in one `readSync` and kept as
 * `frame.payload`. The file is removed before it is read: whatever happens next, it is never
 * left behind or read a second time (`payloadFile` becomes null: taken).
 *
 * `reuse`: read into this thread's scratch memory instead of memory of its own; the payload is
 * then valid only until the next `takePayload(…, true)`, so only a caller that copies
 * everything out at once may ask for it (`decodeResult` for features and tables).
 */
export function takePayload(frame: Frame, reuse = false): Uint8Array {
  const f = frame.header.payloadFile as { path?: unknown; length?: unknown } | null | undefined;
  if (f === undefined) return frame.payload;
  if (f === null) throw new Error('its payload was read already (a result is decoded once)');
  frame.header.payloadFile = null;
  if (typeof f.path !== 'string' || typeof f.length !== 'number' || !Number.isSafeInteger(f.length) || f.length < 0) {
    throw new TypeError('the frame names no readable result file');
  }
  let fd: number;
  try {
    fd = openSync(f.path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    throw new Error(`its result file is gone (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): was the Python worker pool closed?`);
  }
  try {
    unlinkSync(f.path);
    let buf: Buffer;
    if (reuse && f.length <= SCRATCH_MAX) {
      if (!scratch || scratch.length < f.length) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(f.length, 2 * (scratch?.length ?? 0))));
      buf = scratch.subarray(0, f.length);
    } else {
      buf = Buffer.allocUnsafeSlow(f.length);
    }
    let at = 0;
    while (at < f.length) {
      const n = readSync(fd, buf, at, f.length - at, at);
      if (n <= 0) throw new Error(`its result file holds ${at} of ${f.length} bytes`);
      at += n;
    }
    frame.payload = buf;
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Removes the result file of a frame that will not be decoded (its consumer failed first). */
export function discardPayload(frame: { header: Record<string, any> }): void {
  const f = frame.header.payloadFile as { path?: unknown } | undefined;
  if (!f || typeof f.path !== 'string') return;
  frame.header.payloadFile = undefined;
  try {
    unlinkSync(f.path);
  } catch {
    // already read
  }
}

/**
 * Encodes one frame. Payload parts are laid out at 8-byte aligned offsets and their
 * `[offset, length]` pairs are added to the header as `buffers`.
 * @example proc.stdin.write(encodeFrame(FrameType.call, { id: 1, params: {} }));
 */
export function encodeFrame(type: number, header: Record<string, unknown>, parts: Uint8Array[] = []): Buffer {
  let pos = 0;
  const buffers: [number, number][] = [];
  for (const p of parts) {
    buffers.push([pos, p.byteLength]);
    pos += p.byteLength + ((8 - (p.byteLength % 8)) % 8);
  }
  const json = Buffer.from(JSON.stringify(parts.length ? { ...header, buffers } : header));
  const out = Buffer.alloc(9 + json.length + pos);
  out.writeUInt32LE(5 + json.length + pos, 0);
  out[4] = type;
  out.writeUInt32LE(json.length, 5);
  json.copy(out, 9);
  let at = 9 + json.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength + ((8 - (p.byteLength % 8)) % 8);
  }
  return out;
}

/**
 * Splits a byte stream into frames. Chunks are kept in a list and joined once per frame, so a
 * large frame arriving in many 64 KiB pipe reads costs one copy, not one per read.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  /** Adds bytes and returns every frame they complete. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.length < 4) break;
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.join();
      const n = head.readUInt32LE(0);
      if (this.length < 4 + n) break;
      const buf = this.chunks.length === 1 ? this.chunks[0] : this.join();
      const body = buf.subarray(4, 4 + n);
      const h = body.readUInt32LE(1);
      frames.push({
        type: body[0],
        header: JSON.parse(body.toString('utf8', 5, 5 + h)),
        payload: body.subarray(5 + h),
      });
      const rest = buf.subarray(4 + n);
      this.chunks = rest.length ? [rest] : [];
      this.length = rest.length;
    }
    return frames;
  }

  private join(): Buffer {
    const b = Buffer.concat(this.chunks, this.length);
    this.chunks = [b];
    return b;
  }
}

type TypedArrayCtor =
  | Uint8ArrayConstructor | Int8ArrayConstructor | Uint16ArrayConstructor | Int16ArrayConstructor
  | Uint32ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;

const DTYPES: Record<string, TypedArrayCtor> = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
};

/** Buffer `i` of a frame's payload copied into fresh memory, so any typed array can view it aligned. */
function copy(frame: Frame, i: number): ArrayBuffer {
  const [offset, length] = frame.header.buffers[i] as [number, number];
  const out = new ArrayBuffer(length);
  new Uint8Array(out).set(frame.payload.subarray(offset, offset + length));
  return out;
}

/**
 * Buffer `i` as a typed array for reading while decoding: a view when it is aligned in the
 * payload (always, for a payload read from a result file), else an aligned copy.
 */
function buffer<T extends TypedArrayCtor>(frame: Frame, i: number, Ctor: T): InstanceType<T> {
  const [offset, length] = frame.header.buffers[i] as [number, number];
  const at = frame.payload.byteOffset + offset;
  const size = Ctor.BYTES_PER_ELEMENT;
  if (at % size === 0 && length % size === 0 && offset + length <= frame.payload.byteLength) {
    return new Ctor(frame.payload.buffer as ArrayBuffer, at, length / size) as InstanceType<T>;
  }
  return new Ctor(copy(frame, i)) as InstanceType<T>;
}

/**
 * Buffer `i` as a typed array the decoded value keeps (raster pixels): the payload's own memory
 * when the buffer is all of it, else a copy, so a value never holds on to more than its data.
 */
function owned<T extends TypedArrayCtor>(frame: Frame, i: number, Ctor: T): InstanceType<T> {
  const [offset, length] = frame.header.buffers[i] as [number, number];
  const p = frame.payload;
  if (offset === 0 && p.byteOffset === 0 && length === p.buffer.byteLength && length % Ctor.BYTES_PER_ELEMENT === 0) {
    return new Ctor(p.buffer as ArrayBuffer, 0, length / Ctor.BYTES_PER_ELEMENT) as InstanceType<T>;
  }
  return new Ctor(copy(frame, i)) as InstanceType<T>;
}

/** Buffer `i` as a view (no copy) for byte-wise reads. */
function bytes(frame: Frame, i: number): Uint8Array {
  const [offset, length] = frame.header.buffers[i] as [number, number];
  return frame.payload.subarray(offset, offset + length);
}

const utf8 = new TextDecoder();

/** UTF-8 slice to string: Buffer#toString is several times faster than TextDecoder for short cells. */
function text(data: Uint8Array, start: number, end: number): string {
  return Buffer.isBuffer(data) ? data.toString('utf8', start, end) : utf8.decode(data.subarray(start, end));
}

interface ColumnDesc {
  name: string;
  type: 'float' | 'int' | 'int32' | 'bool' | 'str' | 'json';
  data: number;
  offsets?: number;
  valid?: number;
}

/** One column of a frame, ready for a row builder: its buffers as typed arrays, no values yet. */
interface ColumnData {
  /** float: float64 values; int: int64 as int32 pairs (lo, hi); int32: the values; bool: uint8 0/1. */
  d?: Float64Array | Int32Array | Uint8Array;
  /** str / json: (rows + 1) byte offsets into `r`. */
  o?: Uint32Array;
  /** str / json: the UTF-8 bytes. */
  r?: Uint8Array;
  /** str / json whose bytes are all ASCII: the column's text as one string, sliced per row. */
  s?: string;
  /** 0 = null, when the column has nulls. */
  v?: Uint8Array;
}

/** The buffers of one column, checked against the row count (a short buffer would read as undefined). */
function columnData(frame: Frame, col: ColumnDesc, rows: number): ColumnData {
  const c: ColumnData = {};
  if (col.valid !== undefined) c.v = bytes(frame, col.valid);
  let n: number;
  if (col.type === 'float') n = (c.d = buffer(frame, col.data, Float64Array)).length;
  else if (col.type === 'int') n = (c.d = buffer(frame, col.data, Int32Array)).length / 2;
  else if (col.type === 'int32') n = (c.d = buffer(frame, col.data, Int32Array)).length;
  else if (col.type === 'bool') n = (c.d = bytes(frame, col.data)).length;
  else if (col.type === 'str' || col.type === 'json') {
    c.o = buffer(frame, col.offsets!, Uint32Array);
    c.r = bytes(frame, col.data);
    n = c.o.length - 1;
    if (rows > 0 && c.o[rows] > c.r.length) throw new TypeError(`column ${JSON.stringify(col.name)}: offsets past its ${c.r.length} bytes`);
    // ASCII (byte offsets = character offsets): one string for the column, sliced per row,
    // instead of one UTF-8 decode call per cell.
    if (isAscii(c.r)) c.s = Buffer.from(c.r.buffer, c.r.byteOffset, c.r.byteLength).toString('latin1');
  } else {
    throw new TypeError(`column ${JSON.stringify(col.name)} has unknown type ${JSON.stringify(col.type)}`);
  }
  if (n < rows || (c.v && c.v.length < rows)) throw new TypeError(`column ${JSON.stringify(col.name)} holds ${n} values for ${rows} rows`);
  return c;
}

/** The JS expression for row `i` of column `k` (its locals are d<k>, o<k>, r<k>, s<k>, v<k>). */
function cellExpr(col: ColumnDesc, k: number, ascii: boolean): string {
  let e: string;
  switch (col.type) {
    case 'float': // NaN is null, as pandas' missing value
      e = `((t = d${k}[i]) === t ? t : null)`;
      break;
    case 'int': // hi · 2^32 + lo: one correctly rounded addition, = Number(BigInt), without a BigInt per row
      e = `d${k}[2 * i + 1] * 4294967296 + (d${k}[2 * i] >>> 0)`;
      break;
    case 'int32':
      e = `d${k}[i]`;
      break;
    case 'bool':
      e = `d${k}[i] !== 0`;
      break;
    default: {
      const str = ascii ? `s${k}.slice(o${k}[i], o${k}[i + 1])` : `text(r${k}, o${k}[i], o${k}[i + 1])`;
      e = col.type === 'json' ? `JSON.parse(${str})` : str;
    }
  }
  return col.valid !== undefined ? `(v${k}[i] ? ${e} : null)` : e;
}

/** Geometry of one row: g = coordinates (points) or WKB bytes, go = WKB offsets, gv = validity. */
type GeometryMode = 'none' | 'p2' | 'p3' | 'p2v' | 'p3v' | 'wkb';

function geometryExpr(mode: GeometryMode): string {
  switch (mode) {
    case 'p2':
    case 'p2v': {
      const e = `{ type: 'Point', coordinates: [g[2 * i], g[2 * i + 1]] }`;
      return mode === 'p2v' ? `(gv[i] ? ${e} : null)` : e;
    }
    case 'p3':
    case 'p3v': {
      // A NaN z (a 2-D point in a 3-D column) is left out of the position.
      const e = `{ type: 'Point', coordinates: (z = g[3 * i + 2]) === z ? [g[3 * i], g[3 * i + 1], z] : [g[3 * i], g[3 * i + 1]] }`;
      return mode === 'p3v' ? `(gv[i] ? ${e} : null)` : e;
    }
    case 'wkb':
      return `(go[i + 1] > go[i] ? parseWkb(g.subarray(go[i], go[i + 1])) : null)`;
    default:
      return 'null';
  }
}

type RowsBuilder = (cols: ColumnData[], g: Float64Array | Uint8Array | null, go: Uint32Array | null, gv: Uint8Array | null, rows: number) => unknown[];
const builders = new Map<string, RowsBuilder>();

/**
 * A function that builds every row (a table's row objects, or a FeatureCollection's features)
 * in one loop straight from the frame's typed arrays: each row is an object literal with the
 * columns' names as keys, so V8 gives all rows one shape up front (~2× faster than adding keys
 * one by one), and no column is first turned into an array of values (measured on 10,000
 * points × 3 columns: 0.46 → 0.30 ms). Names are embedded as JSON string literals, so any name
 * is data, never code; `__proto__` is a computed key, an own property as with assignment. Kept
 * per layout: the same UDF answers with the same columns.
 */
function rowsBuilder(columns: ColumnDesc[], ascii: boolean[], geometry: GeometryMode | null): RowsBuilder {
  const key = JSON.stringify([columns.map((c) => [c.name, c.type, c.valid !== undefined]), ascii, geometry]);
  let build = builders.get(key);
  if (!build) {
    const locals = columns
      .map((c, k) => (c.type === 'str' || c.type === 'json' ? `const o${k} = cols[${k}].o, r${k} = cols[${k}].r, s${k} = cols[${k}].s` : `const d${k} = cols[${k}].d`) + (c.valid !== undefined ? `, v${k} = cols[${k}].v;` : ';'))
      .join('\n');
    const fields = columns
      .map((c, k) => {
        const name = JSON.stringify(String(c.name));
        return `${String(c.name) === '__proto__' ? `[${name}]` : name}: ${cellExpr(c, k, ascii[k])}`;
      })
      .join(', ');
    const row = geometry === null ? `{ ${fields} }` : `{ type: 'Feature', geometry: ${geometryExpr(geometry)}, properties: { ${fields} } }`;
    const body = `${locals}
const out = new Array(rows);
let t, z;
for (let i = 0; i < rows; i++) out[i] = ${row};
return out;`;
    build = new Function('text', 'parseWkb', `return function buildRows(cols, g, go, gv, rows) {\n${body}\n};`)(text, parseWkb) as RowsBuilder;
    if (builders.size >= 256) builders.delete(builders.keys().next().value!);
    builders.set(key, build);
  }
  return build;
}

function readRows(frame: Frame, columns: ColumnDesc[], rows: number): Record<string, unknown>[] {
  const cols = columns.map((c) => columnData(frame, c, rows));
  return rowsBuilder(columns, cols.map((c) => c.s !== undefined), null)(cols, null, null, null, rows) as Record<string, unknown>[];
}

/**
 * The features of a GeoDataFrame: properties from the columns and, per row, a Point straight
 * from the coordinate column (`{t:'points', dims, data, valid?}`: rows × dims float64, x y [z];
 * `valid` 0 = null or empty point) or a geometry parsed from its WKB (`{offsets, data}`; an
 * empty slice is null).
 */
function readFeatures(frame: Frame, columns: ColumnDesc[], geom: Record<string, any>, rows: number): Feature<Geometry | null>[] {
  const cols = columns.map((c) => columnData(frame, c, rows));
  const ascii = cols.map((c) => c.s !== undefined);
  if (geom.t === 'points') {
    const dims = geom.dims;
    const xyz = buffer(frame, geom.data, Float64Array);
    const valid = geom.valid !== undefined ? bytes(frame, geom.valid) : null;
    if ((dims !== 2 && dims !== 3) || xyz.length !== rows * dims || (valid && valid.length < rows)) {
      throw new TypeError(`bad point column: ${xyz.length} values for ${rows} rows of ${dims}`);
    }
    const mode = `p${dims}${valid ? 'v' : ''}` as GeometryMode;
    return rowsBuilder(columns, ascii, mode)(cols, xyz, null, valid, rows) as Feature<Geometry | null>[];
  }
  const offs = buffer(frame, geom.offsets, Uint32Array);
  const wkb = bytes(frame, geom.data);
  if (offs.length < rows + 1 || (rows > 0 && offs[rows] > wkb.length)) throw new TypeError(`bad geometry column: ${offs.length} offsets for ${rows} rows`);
  return rowsBuilder(columns, ascii, 'wkb')(cols, wkb, offs, null, rows) as Feature<Geometry | null>[];
}

/**
 * Turns a result frame into the value a TypeScript UDF would have returned: a GeoJSON
 * FeatureCollection, `raster()`, `table()` or a plain JSON value. A payload in a result file is
 * read (and the file removed) here, in whichever thread decodes; such a frame decodes once.
 */
export function decodeResult(frame: Frame): unknown {
  const r = frame.header.result as Record<string, any>;
  if (frame.header.payloadFile && (r?.t === 'features' || r?.t === 'table')) {
    // Every value is copied out of the payload while decoding: scratch memory will do, and the
    // frame keeps no view of it once decoded.
    takePayload(frame, true);
    try {
      return decodeValue(frame, r);
    } finally {
      frame.payload = EMPTY;
    }
  }
  takePayload(frame);
  return decodeValue(frame, r);
}

function decodeValue(frame: Frame, r: Record<string, any>): unknown {
  switch (r.t) {
    case 'json':
      return r.value ?? null;
    case 'html':
      return html(String(r.value));
    case 'raster': {
      const Ctor = DTYPES[r.dtype];
      if (!Ctor) throw new TypeError(`unsupported raster dtype ${r.dtype}`);
      const data = owned(frame, r.data, Ctor) as RasterData['data'];
      return raster({ width: r.width, height: r.height, bands: r.bands, data, ...(r.bounds ? { bounds: r.bounds as Bounds } : {}) });
    }
    case 'table':
      return table(readRows(frame, r.columns, r.rows), (r.columns as ColumnDesc[]).map((c) => c.name));
    case 'features':
      return { type: 'FeatureCollection', features: readFeatures(frame, r.columns, r.geometry, r.rows) } satisfies FeatureCollection<Geometry | null>;
    case 'echo':
      return frame.header.buffers ? bytes(frame, 0) : null;
    default:
      throw new TypeError(`unknown result descriptor ${JSON.stringify(r.t)}`);
  }
}

/** Parses one WKB geometry (ISO or PostGIS EWKB flags, 2-D / Z / M / ZM) into GeoJSON. */
export function parseWkb(buf: Uint8Array): Geometry {
  return new WkbReader(buf).geometry();
}

/** Plain loops and no closures: this runs once per feature of every vector tile. */
class WkbReader {
  private view: DataView;
  private pos = 0;
  private le = true;
  private dims = 2;

  constructor(buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  geometry(): Geometry {
    const v = this.view;
    this.le = v.getUint8(this.pos) === 1;
    let type = v.getUint32(this.pos + 1, this.le);
    this.pos += 5;
    let dims = 2;
    if (type & 0x20000000) this.pos += 4; // EWKB SRID: coordinates are in 4326 already
    if (type & 0x80000000) dims++;
    if (type & 0x40000000) dims++;
    type &= 0x0fffffff;
    if (type >= 1000) {
      dims += type >= 3000 ? 2 : 1;
      type %= 1000;
    }
    this.dims = dims;
    switch (type) {
      case 1: {
        const p = this.point();
        return { type: 'Point', coordinates: Number.isNaN(p[0]) ? [] : p };
      }
      case 2: return { type: 'LineString', coordinates: this.line() };
      case 3: return { type: 'Polygon', coordinates: this.rings() };
      case 4: return { type: 'MultiPoint', coordinates: this.parts<Position>() };
      case 5: return { type: 'MultiLineString', coordinates: this.parts<Position[]>() };
      case 6: return { type: 'MultiPolygon', coordinates: this.parts<Position[][]>() };
      case 7: {
        const n = this.count();
        const geometries: Geometry[] = new Array(n);
        for (let i = 0; i < n; i++) geometries[i] = this.geometry();
        return { type: 'GeometryCollection', geometries };
      }
      default: throw new TypeError(`unsupported WKB geometry type ${type}`);
    }
  }

  private count(): number {
    const n = this.view.getUint32(this.pos, this.le);
    this.pos += 4;
    return n;
  }

  private point(): Position {
    const v = this.view;
    const p = this.dims >= 3
      ? [v.getFloat64(this.pos, this.le), v.getFloat64(this.pos + 8, this.le), v.getFloat64(this.pos + 16, this.le)]
      : [v.getFloat64(this.pos, this.le), v.getFloat64(this.pos + 8, this.le)];
    this.pos += 8 * this.dims;
    return p;
  }

  private line(): Position[] {
    const n = this.count();
    const out: Position[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.point();
    return out;
  }

  private rings(): Position[][] {
    const n = this.count();
    const out: Position[][] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.line();
    return out;
  }

  /** Members of a Multi*: each is a full WKB geometry with its own header. */
  private parts<T>(): T[] {
    const n = this.count();
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.geometry() as unknown as { coordinates: T }).coordinates;
    return out;
  }
}
