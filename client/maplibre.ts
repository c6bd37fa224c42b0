/**
 * MapLibre GL JS adapter: sources, layers and whole styles for tilesmith UDFs.
 * maplibre-gl is imported by type only; `addUdfLayer` works on any map object with
 * `addSource` / `addLayer` / `getSource` (MapLibre v4–v6).
 *
 * ```js
 * import * as maplibregl from 'maplibre-gl';
 * import { addUdfLayer } from 'tilesmith/client/maplibre';
 * const map = new maplibregl.Map({ container: 'map', style: { version: 8, sources: {}, layers: [] }, center: [0, 20], zoom: 2 });
 * map.on('load', () => {
 *   const points = addUdfLayer(map, { server: 'http://localhost:8787', udf: 'points', params: { n: 500 } });
 *   points.setParams({ n: 50 }); // re-points the source at new tiles
 * });
 * ```
 */
import type {
  LayerSpecification,
  RasterSourceSpecification,
  RequestParameters,
  ResourceType,
  SourceSpecification,
  StyleSpecification,
  VectorSourceSpecification,
} from 'maplibre-gl';
import { authHeaders, normalizeServer, tileUrl, type Bounds, type UdfParams } from './index.ts';

/** Options of the source / layer / style builders. */
export interface UdfSourceOptions {
  /** Server base URL. Not needed when `tiles` is given. */
  server?: string;
  udf: string;
  /** @default 'vector' */
  kind?: 'vector' | 'raster';
  params?: UdfParams;
  /** Sent as `?token=` (use {@link transformRequest} in the Map constructor to send a header instead). */
  token?: string;
  /** Raster tile size. Sources default to 512 in MapLibre; tilesmith rasters to 256. @default 256 */
  tileSize?: 256 | 512;
  /** Raster tile format. @default 'png' */
  format?: string;
  /** Use these tile templates instead of building one from `server`/`params`. */
  tiles?: string[];
  minzoom?: number;
  maxzoom?: number;
  bounds?: Bounds;
  attribution?: string;
  /** Source id. @default `tilesmith-<udf>` */
  sourceId?: string;
  /** Vector colour (fill, line and circle). @default '#0a7cff' */
  color?: string;
  /** Raster layer opacity. @default 1 */
  opacity?: number;
}

function sourceIdOf(options: UdfSourceOptions): string {
  return options.sourceId ?? `tilesmith-${options.udf}`;
}

function tilesOf(options: UdfSourceOptions): string[] {
  if (options.tiles) return options.tiles;
  if (!options.server) throw new TypeError('tilesmith: give `server` (or explicit `tiles`) to build a UDF source');
  const kind = options.kind ?? 'vector';
  return [
    tileUrl({
      server: options.server,
      udf: options.udf,
      format: kind === 'raster' ? (options.format ?? 'png') : 'mvt',
      params: options.params,
      token: options.token,
      tileSize: kind === 'raster' ? options.tileSize : undefined,
    }),
  ];
}

/**
 * A MapLibre source for a UDF: vector (MVT) or raster (`tileSize` 256 unless told, because
 * MapLibre assumes 512 and tilesmith serves 256 px unless asked for 512).
 */
export function udfSource(options: UdfSourceOptions): VectorSourceSpecification | RasterSourceSpecification {
  const common = {
    tiles: tilesOf(options),
    ...(options.minzoom !== undefined ? { minzoom: options.minzoom } : {}),
    ...(options.maxzoom !== undefined ? { maxzoom: options.maxzoom } : {}),
    ...(options.bounds ? { bounds: options.bounds } : {}),
    ...(options.attribution ? { attribution: options.attribution } : {}),
  };
  if ((options.kind ?? 'vector') === 'raster') return { type: 'raster', tileSize: options.tileSize ?? 256, ...common };
  return { type: 'vector', ...common };
}

/**
 * The layers that draw a UDF's source. Vector: a `fill` for polygons, a `line` for lines and
 * a `circle` for points, each filtered by `$type` and reading `source-layer` = the UDF name
 * (the MVT layer name tilesmith writes). Raster: one `raster` layer.
 */
export function udfLayers(options: UdfSourceOptions): LayerSpecification[] {
  const source = sourceIdOf(options);
  const { udf } = options;
  if ((options.kind ?? 'vector') === 'raster') {
    return [{ id: `${udf}-raster`, type: 'raster', source, paint: { 'raster-opacity': options.opacity ?? 1 } }];
  }
  const color = options.color ?? '#0a7cff';
  return [
    {
      id: `${udf}-fill`,
      type: 'fill',
      source,
      'source-layer': udf,
      filter: ['==', '$type', 'Polygon'],
      paint: { 'fill-color': color, 'fill-opacity': 0.4, 'fill-outline-color': '#08306b' },
    },
    {
      id: `${udf}-line`,
      type: 'line',
      source,
      'source-layer': udf,
      filter: ['==', '$type', 'LineString'],
      paint: { 'line-color': color, 'line-width': 2 },
    },
    {
      id: `${udf}-circle`,
      type: 'circle',
      source,
      'source-layer': udf,
      filter: ['==', '$type', 'Point'],
      paint: { 'circle-color': color, 'circle-radius': 4, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1 },
    },
  ];
}

/** Options of {@link udfStyle}. */
export interface UdfStyleOptions extends UdfSourceOptions {
  /** Background colour under the UDF. @default '#f4f1ea' */
  background?: string;
  /** Style name. @default the UDF name */
  name?: string;
  /** Initial view. */
  center?: [number, number];
  zoom?: number;
}

/**
 * A complete MapLibre style (version 8) showing one UDF over a plain background, valid under
 * `@maplibre/maplibre-gl-style-spec`'s `validateStyleMin`. tilesmith serves it as
 * `/udf/{name}/style.json`, which QGIS uses as `styleUrl`.
 */
export function udfStyle(options: UdfStyleOptions): StyleSpecification {
  const style: StyleSpecification = {
    version: 8,
    name: options.name ?? options.udf,
    sources: { [sourceIdOf(options)]: udfSource(options) as SourceSpecification },
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': options.background ?? '#f4f1ea' } }, ...udfLayers(options)],
  };
  if (options.center) style.center = options.center;
  if (options.zoom !== undefined) style.zoom = options.zoom;
  return style;
}

/** The subset of a MapLibre `Map` that {@link addUdfLayer} uses. */
export interface MapLike {
  addSource(id: string, source: SourceSpecification): unknown;
  addLayer(layer: LayerSpecification, beforeId?: string): unknown;
  getSource(id: string): unknown;
  getLayer(id: string): unknown;
  removeLayer(id: string): unknown;
  removeSource(id: string): unknown;
}

/** Options of {@link addUdfLayer}. */
export interface AddUdfLayerOptions extends UdfSourceOptions {
  server: string;
  /** Insert the layers before this existing layer id. */
  beforeId?: string;
}

/** What {@link addUdfLayer} returns. */
export interface UdfLayerHandle {
  sourceId: string;
  layerIds: string[];
  /** Current tile template. */
  tiles: string[];
  /** Re-points the source at tiles for new parameters (keeps the layers and their paint). */
  setParams(params: UdfParams): void;
  /** Removes the layers and the source. */
  remove(): void;
}

/**
 * Adds a UDF to a MapLibre map as a source plus its layers, in one call (call it after the
 * map's `load` event). Returns a handle to change parameters or remove it.
 *
 * @example
 * map.on('load', () => addUdfLayer(map, { server: 'http://localhost:8787', udf: 'mandelbrot', kind: 'raster' }));
 */
export function addUdfLayer(map: MapLike, options: AddUdfLayerOptions): UdfLayerHandle {
  let current: AddUdfLayerOptions = { ...options };
  const sourceId = sourceIdOf(current);
  map.addSource(sourceId, udfSource(current) as SourceSpecification);
  const layers = udfLayers(current);
  for (const layer of layers) map.addLayer(layer, options.beforeId);
  const handle: UdfLayerHandle = {
    sourceId,
    layerIds: layers.map((l) => l.id),
    tiles: tilesOf(current),
    setParams(params) {
      current = { ...current, params, tiles: undefined };
      handle.tiles = tilesOf(current);
      const source = map.getSource(sourceId) as { setTiles?: (tiles: string[]) => unknown } | undefined;
      if (source?.setTiles) {
        source.setTiles(handle.tiles);
      } else {
        // MapLibre < 3 has no setTiles: replace the source, re-adding its layers.
        for (const id of handle.layerIds) map.removeLayer(id);
        map.removeSource(sourceId);
        map.addSource(sourceId, udfSource(current) as SourceSpecification);
        for (const layer of udfLayers(current)) map.addLayer(layer, options.beforeId);
      }
    },
    remove() {
      for (const id of handle.layerIds) if (map.getLayer(id)) map.removeLayer(id);
      if (map.getSource(sourceId)) map.removeSource(sourceId);
    },
  };
  return handle;
}

/**
 * A `transformRequest` for the MapLibre `Map` constructor that adds
 * `Authorization: Bearer <token>` to requests going to the tilesmith server (and only those,
 * so the token never leaks to other tile hosts).
 *
 * @example new maplibregl.Map({ container: 'map', style, transformRequest: transformRequest(token, 'http://localhost:8787') })
 */
export function transformRequest(token: string, serverPrefix: string): (url: string, resourceType?: ResourceType) => RequestParameters {
  const prefix = normalizeServer(serverPrefix);
  return (url: string) => {
    const ours = url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
    return ours ? { url, headers: authHeaders(token) } : { url };
  };
}
