/**
 * deck.gl adapter: one call turns a tilesmith UDF into a ready deck.gl layer.
 *
 * deck.gl is a peer dependency: this module imports the layer classes from
 * `@deck.gl/geo-layers` / `@deck.gl/layers`, which resolve to the application's own copy
 * (and, in the browser bundle served at `/client/tilesmith-client.js`, to the global `deck`
 * of deck.gl's `dist.min.js`), so layers from here mix with the application's layers.
 *
 * ```ts
 * import { Deck } from '@deck.gl/core';
 * import { udfLayer } from 'tilesmith/client/deckgl';
 * new Deck({
 *   initialViewState: { longitude: 0, latitude: 20, zoom: 2 },
 *   controller: true,
 *   layers: [udfLayer({ server: 'http://localhost:8787', udf: 'points', params: { n: 500 } })],
 * });
 * ```
 */
import { H3HexagonLayer, MVTLayer, TileLayer } from '@deck.gl/geo-layers';
import { BitmapLayer, GeoJsonLayer } from '@deck.gl/layers';
import type { Layer, LayersList } from '@deck.gl/core';
import { authHeaders, fileUrl, normalizeServer, tileUrl, type UdfParams } from './index.ts';

type Color = [number, number, number] | [number, number, number, number];

/** Options of {@link udfLayer}. Any other deck.gl layer prop is passed through. */
export interface UdfLayerOptions {
  /** Server base URL, e.g. `http://localhost:8787`. */
  server: string;
  /** UDF name. */
  udf: string;
  /** `vector` (MVT or GeoJSON tiles) or `raster` (PNG tiles in BitmapLayers). @default 'vector' */
  kind?: 'vector' | 'raster';
  /** Tile format. @default 'mvt' for vector, 'png' for raster */
  format?: 'mvt' | 'geojson' | 'png' | 'jpg' | 'webp';
  params?: UdfParams;
  /** Sent as `Authorization: Bearer` through `loadOptions.core.fetch` (deck.gl ≥ 9.3). */
  token?: string;
  /**
   * Send the token as `?token=` instead of a header (e.g. when a proxy strips headers).
   * @default false
   */
  tokenInQuery?: boolean;
  /** Raster tile size; 512 asks the server for 512 px tiles. @default 256 for raster, 512 for vector */
  tileSize?: 256 | 512;
  /** Layer id. @default `tilesmith-<udf>` */
  id?: string;
  minZoom?: number;
  maxZoom?: number;
  /** Vector fill / point colour. @default [0, 122, 255, 140] */
  fillColor?: Color;
  /** Vector line / outline colour. @default [0, 60, 160, 255] */
  lineColor?: Color;
  /**
   * Where loaders.gl loads its MVT parsing worker from. deck.gl's MVTLayer parses only in a
   * worker, which loaders.gl fetches from unpkg.com by default — unreachable offline or
   * under a strict CSP — so tilesmith serves a copy; `null` restores the CDN default.
   * @default `${server}/vendor/loaders.gl/mvt-worker.js`
   */
  mvtWorkerUrl?: string | null;
  /** Merged into the loadOptions this adapter builds (auth headers, worker URL). */
  loadOptions?: Record<string, any>;
  [prop: string]: unknown;
}

/**
 * deck.gl ≥ 9.3 reads fetch options from `loadOptions.core.fetch` (the old
 * `loadOptions.fetch` is silently ignored). The user's own loadOptions are merged in, one
 * level deep per loader, so adding e.g. `mvt: { coordinates }` keeps the auth header.
 */
function loadOptionsFor(headers: Record<string, string>, extra: Record<string, unknown>, user: Record<string, any> = {}): Record<string, any> {
  const base: Record<string, any> = { core: { fetch: { headers } }, ...extra };
  const out: Record<string, any> = { ...base };
  for (const [key, value] of Object.entries(user)) {
    out[key] = value && typeof value === 'object' && !Array.isArray(value) ? { ...base[key], ...value } : value;
  }
  if (user.core?.fetch) out.core.fetch = { ...user.core.fetch, headers: { ...headers, ...user.core.fetch.headers } };
  return out;
}

/** Fetches a JSON tile; 204 (empty tile) becomes `null` so deck.gl draws nothing and reports no error. */
async function fetchJsonTile(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
  const res = await fetch(url, { headers, signal });
  if (res.status === 204) return null;
  if (!res.ok) throw new Error(`tilesmith: ${url} answered ${res.status}`);
  return res.json();
}

function featuresOf(data: unknown): unknown[] {
  if (!data) return [];
  if (Array.isArray(data)) return data;
  const d = data as { type?: string; features?: unknown[] };
  if (d.type === 'FeatureCollection') return d.features ?? [];
  if (d.type === 'Feature') return [d];
  return [];
}

/**
 * A deck.gl layer for a UDF: `MVTLayer` for vector UDFs (or a `TileLayer` of `GeoJsonLayer`s
 * with `format: 'geojson'`), a `TileLayer` of `BitmapLayer`s for raster UDFs. Extra props
 * (`pickable`, `opacity`, `getFillColor`, `onClick`, …) are passed to the layer.
 *
 * @example
 * udfLayer({ server: 'http://localhost:8787', udf: 'mandelbrot', kind: 'raster', params: { iterations: 128 } })
 */
export function udfLayer(options: UdfLayerOptions): Layer {
  const {
    server,
    udf,
    kind = 'vector',
    format,
    params,
    token,
    tokenInQuery = false,
    tileSize,
    id = `tilesmith-${udf}`,
    fillColor = [0, 122, 255, 140],
    lineColor = [0, 60, 160, 255],
    mvtWorkerUrl = `${normalizeServer(server)}/vendor/loaders.gl/mvt-worker.js`,
    loadOptions: userLoadOptions,
    ...rest
  } = options;
  const queryToken = tokenInQuery ? token : undefined;
  const headers = tokenInQuery ? {} : authHeaders(token);
  const loadOptions = loadOptionsFor(headers, {}, userLoadOptions);

  if (kind === 'raster') {
    const size = tileSize ?? 256;
    return new TileLayer({
      id,
      data: tileUrl({ server, udf, format: format ?? 'png', params, token: queryToken, tileSize: size }),
      tileSize: size,
      loadOptions,
      renderSubLayers: (props: any) => {
        if (!props.data) return null;
        // boundingBox is [[west, south], [east, north]] in degrees for geospatial viewports.
        const [[west, south], [east, north]] = props.tile.boundingBox;
        return new BitmapLayer(props, { data: undefined, image: props.data, bounds: [west, south, east, north] });
      },
      ...rest,
    } as any);
  }

  const vectorStyle = {
    pickable: true,
    stroked: true,
    filled: true,
    getFillColor: fillColor,
    getLineColor: lineColor,
    getPointRadius: 4,
    pointRadiusUnits: 'pixels',
    pointRadiusMinPixels: 2,
    getLineWidth: 1,
    lineWidthUnits: 'pixels',
    lineWidthMinPixels: 1,
  };

  if (format === 'geojson') {
    return new TileLayer({
      id,
      data: tileUrl({ server, udf, format: 'geojson', params, token: queryToken }),
      tileSize: tileSize ?? 512,
      getTileData: (tile: any) => fetchJsonTile(tile.url, headers, tile.signal),
      renderSubLayers: (props: any) =>
        // Sublayer props are the TileLayer's own (style, pickable, …) plus the tile's data.
        props.data ? new GeoJsonLayer({ ...props, data: featuresOf(props.data) } as any) : null,
      ...vectorStyle,
      ...rest,
    } as any);
  }

  return new MVTLayer({
    id,
    data: tileUrl({ server, udf, format: format ?? 'mvt', params, token: queryToken }),
    loadOptions: loadOptionsFor(headers, mvtWorkerUrl ? { mvt: { workerUrl: mvtWorkerUrl } } : {}, userLoadOptions),
    ...vectorStyle,
    ...rest,
  } as any);
}

/** Options of {@link h3Layer}. */
export interface H3LayerOptions {
  server: string;
  udf: string;
  params?: UdfParams;
  token?: string;
  /** Row property holding the H3 cell id. @default 'hex' */
  hexagonField?: string;
  /**
   * Fetch per tile (`/tiles/{z}/{x}/{y}?format=json`) instead of one file run
   * (`/file.json`). Use for UDFs that compute cells for the requested bounds. @default false
   */
  tiled?: boolean;
  id?: string;
  /** @default [255, 140, 0, 160] */
  fillColor?: Color;
  /** deck.gl's H3HexagonLayer extrudes by default; flat hexagons are what a map usually wants. @default false */
  extruded?: boolean;
  [prop: string]: unknown;
}

/** Rows from whatever JSON shape the UDF produced: an array, `{ rows }`, or a FeatureCollection. */
function rowsOf(data: unknown): Record<string, unknown>[] {
  if (!data) return [];
  if (Array.isArray(data)) return data as Record<string, unknown>[];
  const d = data as { rows?: unknown[]; type?: string; features?: { properties?: Record<string, unknown> }[] };
  if (Array.isArray(d.rows)) return d.rows as Record<string, unknown>[];
  if (d.type === 'FeatureCollection') return (d.features ?? []).map((f) => f.properties ?? {});
  return [];
}

/**
 * An `H3HexagonLayer` for a UDF that returns rows with an H3 cell id (a table or JSON array,
 * e.g. `[{ hex: '8928308280fffff', count: 3 }]`). Flat (`extruded: false`) by default.
 *
 * @example h3Layer({ server: 'http://localhost:8787', udf: 'hexbins', hexagonField: 'h3' })
 */
export function h3Layer(options: H3LayerOptions): Layer {
  const { server, udf, params, token, hexagonField = 'hex', tiled = false, id = `tilesmith-${udf}-h3`, fillColor = [255, 140, 0, 160], extruded = false, ...rest } =
    options;
  const headers = authHeaders(token);
  const hexProps = {
    getHexagon: (d: Record<string, unknown>) => d[hexagonField] as string,
    getFillColor: fillColor,
    extruded,
    pickable: true,
    ...rest,
  };
  if (!tiled) {
    return new H3HexagonLayer({
      id,
      data: fileUrl({ server, udf, format: 'json', params }),
      loadOptions: loadOptionsFor(headers, {}),
      dataTransform: (data: unknown) => rowsOf(data),
      ...hexProps,
    } as any);
  }
  return new TileLayer({
    id,
    data: tileUrl({ server, udf, format: 'json', params }),
    getTileData: (tile: any) => fetchJsonTile(tile.url, headers, tile.signal),
    renderSubLayers: (props: any): Layer | LayersList | null =>
      props.data ? new H3HexagonLayer({ ...hexProps, id: props.id, data: rowsOf(props.data) } as any) : null,
  } as any);
}
