/**
 * Shared types of the tilesmith pipeline. Stage modules import only this file and
 * `errors.ts`; the app factory and the routes put the stages together.
 */
import type { Feature, FeatureCollection, Geometry } from 'geojson';

/** `[west, south, east, north]` in EPSG:4326 degrees. */
export type Bounds = [number, number, number, number];

/** A Web-Mercator XYZ tile address (`y` counts down from the north, as in XYZ/slippy maps). */
export interface TileCoord {
  x: number;
  y: number;
  z: number;
}

/** The parameter types a UDF can declare. */
export type ParamType = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'json' | 'geojson' | 'bounds';

/** One declared UDF parameter. */
export interface ParamSpec {
  type: ParamType;
  /** Used when the request does not carry the parameter. */
  default?: unknown;
  /** A request without the parameter (and no default) is answered 400. @default false */
  required?: boolean;
  description?: string;
}

export type ParamSpecs = Record<string, ParamSpec>;

/** What a UDF can read about the run it is in (TypeScript `request`, Python `tilesmith.context()`). */
export interface RunRequest {
  runId: string;
  udf: string;
  tile: TileCoord | null;
  bounds: Bounds | null;
  params: Record<string, unknown>;
  /** The requested format (`?format=` or the URL extension), or null. */
  format: string | null;
  /** 1 for the first attempt of this run (tilesmith does not retry runs yet). */
  attempt: number;
  /** The id of the API token that started the run (never the token itself); null without auth. */
  tokenId: string | null;
  /** The server instance running it (`--instance-id`, else host-pid-random). */
  instanceId: string;
}

/** A status update a UDF sends while it runs. */
export interface RunUpdate {
  status?: string;
  /** A fraction from 0 to 1. */
  progress?: number;
}

/** What a UDF's `run` receives. */
export interface UdfContext<P = Record<string, unknown>> {
  /** The area to compute, or `null` for a file call without bounds. */
  bounds: Bounds | null;
  /** The tile on tile calls, `null` otherwise. */
  tile: TileCoord | null;
  /** Requested raster size in pixels (256 or 512). */
  tileSize: number;
  /** Declared parameters, typed and with defaults applied. */
  params: P;
  /** Aborted on timeout or when the client disconnects. */
  signal: AbortSignal;
  /** Adds a line to the UDF's log (returned with errors, printed by the server). */
  log: (...args: unknown[]) => void;
  /** This run: id, UDF name, tile/bounds, params, format, attempt, token id, instance id. */
  request: RunRequest;
  /** Reports a status line (`GET /runs/{id}` shows the last one, even after a kill). */
  status: (message: string) => void;
  /** Reports progress as a fraction from 0 to 1. */
  progress: (fraction: number) => void;
}

/** Per-UDF options shared by TypeScript and Python UDFs. */
export interface UdfOptions {
  /** Result cache lifetime, e.g. `'1h'`, `'90d'`, `'0s'` (off). @default '90d' */
  cacheMaxAge?: string | number;
  /** Wall-clock limit for one run, e.g. `'30s'`. @default the server's (120 s) */
  timeout?: string | number;
  /** Zoom range advertised in TileJSON and enforced on tile calls. @default 0 / 22 */
  minzoom?: number;
  maxzoom?: number;
  /** Area advertised in TileJSON. @default the whole world */
  bounds?: Bounds;
  /** MVT tile extent. @default 4096 */
  extent?: number;
  /** MVT buffer in tile units. @default 64 */
  buffer?: number;
  /** Value range mapped onto 0–255 for non-uint8 rasters (request `rescale=` overrides). */
  rescale?: [number, number];
  /** Default colormap for single-band rasters (request `colormap=` overrides). */
  colormap?: string;
  /** Shown in the catalog and TileJSON. */
  description?: string;
  attribution?: string;
  /**
   * What the UDF returns, for metadata (style.json, QGIS, TileJSON) built before any run.
   * When absent the server learns it from the first successful run (or a probe run).
   */
  kind?: 'vector' | 'raster' | 'json' | 'table';
  /**
   * Most runs of this UDF computing at once on this server; more wait in the queue.
   * @default the server's --max-concurrency
   */
  concurrency?: number;
  /** Memory cap in MB for a run (V8 heap of its thread for TypeScript). @default the server's --udf-memory */
  memory?: number;
  /**
   * Under `--auth`, anyone may run this UDF without a token (every other UDF is private).
   * Without `--auth` every UDF is public anyway. @default false
   */
  public?: boolean;
}

/** A TypeScript UDF definition, as returned by `defineUdf()`. */
export interface UdfDefinition<P = any> extends UdfOptions {
  params?: ParamSpecs;
  run: (ctx: UdfContext<P>) => unknown | Promise<unknown>;
}

/** Pixel data returned by a raster UDF. `data` is pixel-interleaved (band last). */
export interface RasterData {
  width: number;
  height: number;
  bands: 1 | 2 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
  /** The area the pixels cover; defaults to the request's bounds. */
  bounds?: Bounds;
  /** Pixels with this value become transparent. */
  noData?: number;
}

/** A table without geometry (e.g. a pandas DataFrame). */
export interface TableData {
  columns: string[];
  rows: Record<string, unknown>[];
}

/**
 * What `prepareVector()` computes once for a vector layer: every geometry projected to Web
 * Mercator world units (x and y in 0…1 across the world, y down), each vertex's
 * Douglas–Peucker importance, and a Flatbush index of the parts' bboxes. A "part" is a
 * feature's geometry, or one member of a GeometryCollection (as the cutter treats them).
 * Plain typed arrays only: it crosses threads by structured clone unchanged.
 */
export interface PreparedVectorData {
  /** Format version of this record (a mismatch is ignored: the features are cut unprepared). */
  version: 1;
  /** How many features it was built from (a mismatch with `features.length` disables it). */
  featureCount: number;
  /** Per part: the index of its feature. Parts are in input order. */
  feature: Uint32Array;
  /** Per part: 4 single Point, 1 MultiPoint, 2 (Multi)LineString, 3 (Multi)Polygon. */
  type: Uint8Array;
  /** Per part: its first ring in `ringVertex`/`ringSize` (length parts + 1). */
  partRing: Uint32Array;
  /** Per part: its bbox in world units, [minX, minY, maxX, maxY] at 4·part. */
  partBox: Float64Array;
  /** Per ring (a MultiPoint's points are one ring): its first vertex (length rings + 1). */
  ringVertex: Uint32Array;
  /** Per ring: line length, or absolute polygon-ring area, in world units (¹ or ²). */
  ringSize: Float64Array;
  /** Per vertex: x, y in world units (polygon rings closed and wound: outer rings clockwise on screen). */
  xy: Float64Array;
  /**
   * Per vertex: the squared distance (world units²) at which Douglas–Peucker keeps it — a tile
   * whose tolerance is t keeps the vertices with importance > t² (geojson-vt's rule); ends
   * of lines and rings are Infinity.
   */
  importance: Float64Array;
  /**
   * Bbox of each run of 16 vertices (vertex 16·c to 16·c + 15, across ring boundaries: a
   * superset is still a bound), world units at 4·c: lets a tile skip runs that lie wholly in
   * one region around it.
   */
  chunkBox: Float64Array;
  /** Bbox of every part together, world units [minX, minY, maxX, maxY] (x may pass 0…1 near the antimeridian). */
  bbox: [number, number, number, number];
  /** The Flatbush index of the parts' bboxes (`Flatbush.from(index)`); null without parts. */
  index: ArrayBuffer | null;
}

/** A UDF return value after normalisation. */
export type NormalizedResult =
  | {
      kind: 'vector';
      features: Feature<Geometry | null>[];
      /**
       * Lon/lat bbox of each feature's geometry as validated, `[minX, minY, maxX, maxY]` at 4·i
       * (NaN: not recorded — points, collections): lets the mvt cutter drop the features that
       * miss a tile without reading their positions again. Absent when nothing was recorded.
       */
      boxes?: Float64Array;
      /**
       * The layer `prepareVector()` built from these features (projected, simplified once,
       * indexed): the mvt encoder cuts tiles from it instead of from `features`. Plain data
       * (typed arrays), so it survives a structured clone.
       */
      prepared?: PreparedVectorData;
    }
  | { kind: 'table'; table: TableData }
  | { kind: 'raster'; raster: RasterData }
  | { kind: 'json'; value: unknown }
  /** An HTML document (a string that is one, `html()`, or a Python `HTMLResponse`). */
  | { kind: 'html'; html: string }
  | { kind: 'empty' };

export type ResultKind = NormalizedResult['kind'];

export type { Feature, FeatureCollection, Geometry };

/** What the encoders need to know about the request besides the result. */
export interface EncodeContext {
  udfName: string;
  tile: TileCoord | null;
  bounds: Bounds | null;
  tileSize: number;
  /** MVT layer name. */
  layerName: string;
  extent: number;
  buffer: number;
  rescale?: [number, number];
  /** A colormap name or a custom one given as a list of `#rrggbb` stops. */
  colormap?: string | string[];
}

/** One output format. Formats are values: they carry their media type and extensions. */
export interface Encoder {
  /** Canonical name used in `?format=`, e.g. `mvt`. */
  name: string;
  /** Other names accepted in `?format=` and as URL extensions, e.g. `pbf`. */
  aliases: string[];
  /** Extension used when the server builds a URL or a download file name. */
  extension: string;
  mediaType: string;
  /** Result kinds this format can encode. */
  accepts: ResultKind[];
  encode(result: NormalizedResult, ctx: EncodeContext): Promise<Uint8Array> | Uint8Array;
}

/** A call handed to a UDF runtime. */
export interface UdfCall {
  bounds: Bounds | null;
  tile: TileCoord | null;
  tileSize: number;
  params: Record<string, unknown>;
  signal: AbortSignal;
  /**
   * Time left for this call in ms (the UDF's timeout minus what the request already waited
   * for admission). Overrides the runtime's own timeout when given.
   */
  timeoutMs?: number;
  /** The run this call belongs to (what the UDF reads as its request info). */
  request?: RunRequest;
  /** Receives the UDF's status/progress reports while it runs. */
  onUpdate?: (u: RunUpdate) => void;
}

/** What to encode a result as: everything the encoder stage needs, all structured-cloneable. */
export interface EncodeRequest {
  mode: 'tile' | 'file';
  /** `?format=` (any kind), `dtype_out_vector` / `dtype_out_raster` (per kind). */
  format?: string;
  formatVector?: string;
  formatRaster?: string;
  ctx: EncodeContext;
  /** Larger encoded results are refused (500 naming the limit). @default no limit */
  maxResultBytes?: number;
}

/** An encoded result plus what the server learns from it. */
export interface ComputedResult {
  status: 200 | 204;
  body: Uint8Array;
  mediaType: string;
  etag: string;
  kind: ResultKind;
  /** Property names → MVT field types of a vector result (TileJSON `vector_layers`). */
  fields?: Record<string, string>;
  /** What the UDF printed during this run. */
  logs: string[];
  /** Milliseconds: `udf` running the UDF, `encode` normalising + encoding. */
  timings: { udf: number; encode: number };
}

/** What a runtime returns: the UDF's raw value (normalised later) and its log lines. */
export interface UdfOutput {
  value: unknown;
  logs: string[];
}

/** Runs one loaded UDF. TypeScript and Python implement the same interface; routes never ask which. */
export interface UdfRuntime {
  run(call: UdfCall): Promise<UdfOutput>;
  /**
   * Runs the UDF and normalises + encodes its result away from the caller's thread (the Node
   * compute pool). Runtimes without it are run with `run()` and encoded in-process.
   */
  compute?(call: UdfCall, encode: EncodeRequest): Promise<ComputedResult>;
  /** Releases processes or watchers held for this UDF. */
  close?(): Promise<void>;
}

export type UdfLanguage = 'typescript' | 'python';

/** A UDF as the registry holds it, loaded or failed. */
export interface LoadedUdf {
  name: string;
  language: UdfLanguage;
  /** The file or folder it came from. */
  source: string;
  /** Hash of the UDF's code: part of every cache key, so an edit invalidates results. */
  codeHash: string;
  params: ParamSpecs;
  options: UdfOptions;
  runtime?: UdfRuntime;
  /** The UDF's timeout in ms (its own option, else the server's). */
  timeoutMs?: number;
  /**
   * Set when the UDF failed to load: shown in the catalog, answered on use (see
   * `udfLoadFailure`: 503 when `unavailable` — the server, not the code, cannot run it now —
   * else 500).
   */
  loadError?: { message: string; detail?: string; unavailable?: boolean };
}

/** Loads one kind of UDF file (TypeScript module, Python file, Fused folder, zip). */
export interface UdfLoader {
  /** Returns the UDF name if this loader handles the directory entry, else null. */
  match(entryPath: string, isDirectory: boolean): string | null;
  load(name: string, entryPath: string): Promise<LoadedUdf>;
  /** Files whose change should reload this entry (defaults to the entry itself). */
  watchPaths?(entryPath: string): string[];
  close?(): Promise<void>;
}

/** A stored result. `body` is the encoded response body (empty for 204). */
export interface CacheEntry {
  status: 200 | 204;
  body: Uint8Array;
  mediaType: string;
  /** Strong ETag (quoted) of the body. */
  etag: string;
  /** Epoch ms when stored and when it stops being served. */
  createdAt: number;
  expiresAt: number;
  /** Milliseconds the UDF and the encoder took when the entry was made. */
  timings?: Record<string, number>;
  /** The run that computed this entry (cached hits answer with its `X-Run-Id`). */
  runId?: string;
  /**
   * What the entry is a result of, so a purge can select entries by UDF and area without
   * reversing hashed keys. Absent on entries written before it existed.
   */
  scope?: { udf: string; tile: TileCoord | null; bounds: Bounds | null };
  /**
   * The tier that returned this entry (`memory`, `redis`, `disk`), set by the tier on the way
   * out and never persisted: what the `X-Cache-Tier` header says on a hit.
   */
  tier?: CacheTier;
}

/**
 * Which entries `ResultCache.purge` removes: every entry of the UDF `udf` (all code versions
 * and parameters), narrowed to those whose area intersects `bbox` and, for tile entries,
 * whose zoom is within `minzoom`..`maxzoom`. With a zoom bound, only tile entries match
 * (file results have no zoom). An entry whose area is unknown matches any `bbox`, so a purge
 * may remove more than asked but never leaves a matching entry behind.
 */
export interface CachePurgeFilter {
  udf: string;
  bbox?: Bounds;
  minzoom?: number;
  maxzoom?: number;
}

/** The tier that answered a lookup, e.g. `memory`, `redis`, `disk` (see `X-Cache`). */
export type CacheTier = string;

/** A result cache. `getOrCompute` gives single-flight: concurrent identical misses compute once. */
export interface ResultCache {
  get(key: string): Promise<CacheEntry | undefined>;
  /**
   * The live entry of `key` in the fastest tier (memory), looked up synchronously, without
   * I/O or copying into other tiers; undefined when it is not there. The cached-hit fast path
   * answers from it. Caches without an in-process tier omit it.
   */
  peek?(key: string): CacheEntry | undefined;
  set(key: string, entry: CacheEntry): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Returns the cached entry, or runs `compute` once for all concurrent callers of `key`
   * and stores what it returns (unless it throws or returns `store: false`).
   */
  getOrCompute(
    key: string,
    compute: () => Promise<{ entry: CacheEntry; store: boolean }>,
    options?: {
      reset?: boolean;
      /**
       * How long this caller may wait for another instance computing the same key (a shared
       * tier's cross-instance lock) before computing itself: the request's timeout.
       */
      waitMs?: number;
    },
  ): Promise<{ entry: CacheEntry; hit: boolean }>;
  /**
   * Removes every entry matching `filter` (from every tier, and for a shared tier from every
   * instance) and resolves to how many entries this cache removed.
   */
  purge(filter: CachePurgeFilter): Promise<number>;
  close?(): Promise<void>;
}
