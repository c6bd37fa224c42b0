/**
 * tilesmith client core: builds tile, file and TileJSON URLs for a tilesmith server and
 * fetches its catalog. No dependencies, no map library: the per-client adapters
 * (`tilesmith/client/deckgl`, `…/maplibre`, `…/leaflet`, `…/qgis`, `…/felt`) build on it.
 *
 * Parameters are serialised the way the server parses them (see `encodeParamValue`), and
 * `{z}/{x}/{y}` stay literal in templates because every map client substitutes them itself.
 */

/** `[west, south, east, north]` in EPSG:4326 degrees. */
export type Bounds = [number, number, number, number];

/** Values a UDF parameter can be given. `null`/`undefined` leave the parameter out. */
export type ParamValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly unknown[]
  | { readonly [key: string]: unknown };

/** UDF parameters by name. */
export type UdfParams = Record<string, ParamValue>;

/** What a UDF returns, as the catalog and the server report it. */
export type UdfKind = 'vector' | 'raster' | 'json' | 'table';

/** Options shared by every URL builder. */
export interface UdfUrlOptions {
  /** Server base URL, e.g. `http://localhost:8787` (a trailing slash or path prefix is fine). */
  server: string;
  /** UDF name (the file name of the UDF on the server). */
  udf: string;
  /** UDF parameters; undeclared ones are ignored by the server. */
  params?: UdfParams;
  /**
   * Auth token sent as `?token=` — for clients that cannot send headers (Leaflet `<img>`,
   * QGIS, Felt). Clients that can should use {@link authHeaders} instead.
   */
  token?: string;
}

/** Options of {@link tileUrl}. */
export interface TileUrlOptions extends UdfUrlOptions {
  /** `mvt`, `png`, `geojson`, `jpg`, `webp`, … @default the server's default for the UDF (mvt / png) */
  format?: string;
  /** Raster tile size in pixels. 512 adds `tile_size=512`. @default 256 */
  tileSize?: 256 | 512;
  /**
   * Put the format in the path (`{y}.png`) instead of `?format=`. Felt and some other
   * importers recognise a template by its extension. @default false
   */
  extension?: boolean;
}

/** Options of {@link fileUrl}. */
export interface FileUrlOptions extends UdfUrlOptions {
  /** Output format, also used as the file extension. @default 'geojson' */
  format?: string;
  /** Area passed to the UDF as `bounds=w,s,e,n`. Omit for a bounds-less run. */
  bounds?: Bounds;
}

/** Options of {@link tilejsonUrl}. */
export interface TileJSONUrlOptions extends UdfUrlOptions {
  /** Tile format the TileJSON's `tiles` template should carry. */
  format?: string;
  tileSize?: 256 | 512;
}

function isPrimitive(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * Serialises one parameter value into the string the server parses:
 * booleans → `true`/`false`; arrays of primitives → comma-separated (so bounds become
 * `w,s,e,n`) unless an element contains a comma or the array nests, then JSON; objects
 * (dicts, GeoJSON) → JSON. Returns `undefined` for `null`/`undefined` (parameter omitted).
 *
 * @example encodeParamValue([1, 2, 3]) // '1,2,3'
 * @example encodeParamValue(['a,b', 'c']) // '["a,b","c"]'
 */
export function encodeParamValue(value: ParamValue): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    // NaN/Infinity have no JSON form and the server would reject them anyway: fail early.
    if (!Number.isFinite(value)) throw new TypeError(`tilesmith: parameter value ${value} is not a finite number`);
    return String(value);
  }
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const flat = value.every(isPrimitive) && !value.some((v) => typeof v === 'string' && v.includes(','));
    return flat ? value.map((v) => String(v)).join(',') : JSON.stringify(value);
  }
  return JSON.stringify(value);
}

/**
 * Percent-encodes a query component like `encodeURIComponent`, but leaves `,` readable:
 * commas are legal in a query, the server splits lists on them after decoding either way,
 * and `n=1,2,3` is what a person expects to see in a copied URL.
 */
function encodeComponent(s: string): string {
  return encodeURIComponent(s).replace(/%2C/gi, ',');
}

/**
 * Turns parameters into a query string (without the leading `?`). Keys keep their order;
 * `null`/`undefined` values are left out; `&`, `#`, `+`, `=` and spaces are percent-encoded.
 *
 * @example encodeParams({ n: 500, tags: ['a', 'b'], opts: { k: 1 } })
 * // 'n=500&tags=a,b&opts=%7B%22k%22%3A1%7D'
 */
export function encodeParams(params: UdfParams | undefined): string {
  if (!params) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    const encoded = encodeParamValue(value);
    if (encoded === undefined) continue;
    parts.push(`${encodeComponent(key)}=${encodeComponent(encoded)}`);
  }
  return parts.join('&');
}

/** Base URL without trailing slashes, so `http://h/` and `http://h` give the same URLs. */
export function normalizeServer(server: string): string {
  return server.replace(/\/+$/, '');
}

/** The `/udf/{name}` prefix of every per-UDF endpoint. */
export function udfBaseUrl(server: string, udf: string): string {
  return `${normalizeServer(server)}/udf/${encodeURIComponent(udf)}`;
}

function joinQuery(...parts: string[]): string {
  const q = parts.filter((p) => p.length > 0).join('&');
  return q ? `?${q}` : '';
}

function tokenQuery(token: string | undefined): string {
  return token ? `token=${encodeComponent(token)}` : '';
}

/**
 * The XYZ tile URL template of a UDF, with literal `{z}/{x}/{y}` for the map client to fill.
 * Query order: format, tile size, UDF parameters, token.
 *
 * @example tileUrl({ server: 'http://localhost:8787', udf: 'points', format: 'mvt', params: { n: 500 } })
 * // 'http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=500'
 */
export function tileUrl(options: TileUrlOptions): string {
  const { format, tileSize, extension = false } = options;
  let path = `${udfBaseUrl(options.server, options.udf)}/tiles/{z}/{x}/{y}`;
  const formatQuery = format && !extension ? `format=${encodeComponent(format)}` : '';
  if (format && extension) path += `.${format}`;
  const sizeQuery = tileSize === 512 ? 'tile_size=512' : '';
  return path + joinQuery(formatQuery, sizeQuery, encodeParams(options.params), tokenQuery(options.token));
}

/**
 * The URL of one UDF run as a file, with the format as the file extension
 * (`/udf/x/file.geojson?…`) so that importers such as Felt recognise it.
 *
 * @example fileUrl({ server: 'http://localhost:8787', udf: 'countries', format: 'csv', bounds: [-10, 35, 30, 60] })
 * // 'http://localhost:8787/udf/countries/file.csv?bounds=-10,35,30,60'
 */
export function fileUrl(options: FileUrlOptions): string {
  const format = options.format ?? 'geojson';
  const boundsQuery = options.bounds ? `bounds=${encodeParamValue(options.bounds)}` : '';
  return (
    `${udfBaseUrl(options.server, options.udf)}/file.${encodeURIComponent(format)}` +
    joinQuery(boundsQuery, encodeParams(options.params), tokenQuery(options.token))
  );
}

/**
 * The TileJSON 3.0.0 URL of a UDF. The server copies this URL's query (parameters, token)
 * into the `tiles` template it returns, so `?n=500` reaches every tile.
 *
 * @example tilejsonUrl({ server: 'http://localhost:8787', udf: 'points', params: { n: 5 } })
 * // 'http://localhost:8787/udf/points/tilejson.json?n=5'
 */
export function tilejsonUrl(options: TileJSONUrlOptions): string {
  const formatQuery = options.format ? `format=${encodeComponent(options.format)}` : '';
  const sizeQuery = options.tileSize === 512 ? 'tile_size=512' : '';
  return (
    `${udfBaseUrl(options.server, options.udf)}/tilejson.json` +
    joinQuery(formatQuery, sizeQuery, encodeParams(options.params), tokenQuery(options.token))
  );
}

/**
 * The MapLibre style.json the server generates for a UDF (also QGIS's `styleUrl`).
 *
 * @example styleUrl({ server: 'http://localhost:8787', udf: 'points', params: { n: 5 } })
 * // 'http://localhost:8787/udf/points/style.json?n=5'
 */
export function styleUrl(options: UdfUrlOptions): string {
  return `${udfBaseUrl(options.server, options.udf)}/style.json` + joinQuery(encodeParams(options.params), tokenQuery(options.token));
}

/**
 * `Authorization: Bearer …` headers for clients that can send headers (fetch, deck.gl,
 * MapLibre's `transformRequest`). Empty when there is no token.
 */
export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** One declared parameter as the catalog lists it. */
export interface CatalogParam {
  type: string;
  default?: unknown;
  required?: boolean;
  description?: string;
}

/** One entry of `GET /udfs`. */
export interface CatalogEntry {
  name: string;
  language: string;
  kind?: UdfKind;
  params: Record<string, CatalogParam>;
  description?: string;
  /** Set when the UDF failed to load. */
  error?: unknown;
}

/** TileJSON 3.0.0 as tilesmith serves it. */
export interface TileJSON {
  tilejson: string;
  tiles: string[];
  vector_layers: { id: string; fields?: Record<string, string>; description?: string }[];
  name?: string;
  description?: string;
  minzoom?: number;
  maxzoom?: number;
  bounds?: Bounds;
  center?: [number, number, number];
  attribution?: string;
  scheme?: 'xyz' | 'tms';
  [key: string]: unknown;
}

/** Options of the fetch helpers. */
export interface FetchOptions {
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  /** Replaces the global `fetch` (tests, proxies). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

async function getJson<T>(url: string, options: FetchOptions): Promise<T> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const res = await doFetch(url, { headers: { Accept: 'application/json', ...authHeaders(options.token) }, signal: options.signal });
  if (!res.ok) {
    // The server answers errors as { error, message }: surface the sentence, not just the status.
    let detail = '';
    try {
      const body = (await res.json()) as { message?: string };
      detail = body.message ? `: ${body.message}` : '';
    } catch {
      /* not JSON */
    }
    throw new Error(`tilesmith: GET ${url} failed with ${res.status}${detail}`);
  }
  return (await res.json()) as T;
}

/**
 * Fetches the server's UDF catalog (`GET /udfs`).
 *
 * @example const udfs = await fetchCatalog('http://localhost:8787');
 */
export function fetchCatalog(server: string, options: FetchOptions = {}): Promise<CatalogEntry[]> {
  return getJson<CatalogEntry[]>(`${normalizeServer(server)}/udfs`, options);
}

/**
 * Fetches a UDF's TileJSON. The token goes as a header here; pass `params` to have them
 * carried into the returned `tiles` template.
 *
 * @example const tj = await fetchTileJSON({ server: 'http://localhost:8787', udf: 'points' });
 */
export function fetchTileJSON(options: TileJSONUrlOptions & Omit<FetchOptions, 'token'>): Promise<TileJSON> {
  const { token, ...rest } = options;
  return getJson<TileJSON>(tilejsonUrl(rest), { token, fetch: options.fetch, signal: options.signal });
}
