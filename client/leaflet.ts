/**
 * Leaflet adapter. Leaflet and protomaps-leaflet are passed in (imported by type only), so
 * the page's own copies are used — globals from `<script>` tags or ES imports alike.
 *
 * ```js
 * import L from 'leaflet';
 * import * as protomapsL from 'protomaps-leaflet';
 * import { udfTileLayer, udfVectorLayer } from 'tilesmith/client/leaflet';
 * const map = L.map('map').setView([20, 0], 2);
 * udfTileLayer(L, { server: 'http://localhost:8787', udf: 'mandelbrot', params: { iterations: 128 } }).addTo(map);
 * udfVectorLayer(protomapsL, { server: 'http://localhost:8787', udf: 'points', params: { n: 500 } }).addTo(map);
 * ```
 *
 * Leaflet loads tiles as `<img>` and protomaps-leaflet with plain `fetch`: neither can send
 * headers, so a token travels as `?token=`.
 */
import type * as Leaflet from 'leaflet';
import type * as ProtomapsLeaflet from 'protomaps-leaflet';
import { tileUrl, type UdfParams } from './index.ts';

/** Options of {@link udfTileLayer}. Other `L.TileLayerOptions` are passed through. */
export interface UdfTileLayerOptions extends Omit<Leaflet.TileLayerOptions, 'tileSize'> {
  server: string;
  udf: string;
  params?: UdfParams;
  /** Sent as `?token=` (an `<img>` cannot send headers). */
  token?: string;
  /** 512 asks the server for 512 px tiles and sets `zoomOffset: -1` so the map scale stays right. @default 256 */
  tileSize?: 256 | 512;
  /** Tile format. @default 'png' */
  format?: string;
}

/** The Leaflet tile layer options {@link udfTileLayer} uses, exposed for unit tests and other wrappers. */
export function udfTileLayerArgs(options: UdfTileLayerOptions): { url: string; options: Leaflet.TileLayerOptions } {
  const { server, udf, params, token, tileSize = 256, format = 'png', ...rest } = options;
  const url = tileUrl({ server, udf, format, params, token, tileSize });
  // No errorTileUrl: empty raster tiles are 204, which must stay blank rather than show an error image.
  const layerOptions: Leaflet.TileLayerOptions = tileSize === 512 ? { tileSize: 512, zoomOffset: -1, ...rest } : { tileSize: 256, ...rest };
  return { url, options: layerOptions };
}

/**
 * A raster UDF as an `L.tileLayer` (256 px, or 512 px with `zoomOffset: -1`).
 *
 * @example udfTileLayer(L, { server: 'http://localhost:8787', udf: 'mandelbrot', tileSize: 512 }).addTo(map);
 */
export function udfTileLayer(L: Pick<typeof Leaflet, 'tileLayer'>, options: UdfTileLayerOptions): Leaflet.TileLayer {
  const { url, options: layerOptions } = udfTileLayerArgs(options);
  return L.tileLayer(url, layerOptions);
}

/** Options of {@link udfVectorLayer}. Other protomaps-leaflet `leafletLayer` options pass through. */
export interface UdfVectorLayerOptions {
  server: string;
  udf: string;
  params?: UdfParams;
  /** Sent as `?token=` (protomaps-leaflet cannot send headers). */
  token?: string;
  /** Fill / stroke colour. @default '#0a7cff' */
  color?: string;
  /** Highest zoom the server is asked for; deeper zooms overzoom. @default 15 */
  maxDataZoom?: number;
  [option: string]: unknown;
}

type ProtomapsLike = Pick<typeof ProtomapsLeaflet, 'leafletLayer' | 'PolygonSymbolizer' | 'LineSymbolizer' | 'CircleSymbolizer'>;

/** protomaps-leaflet's `GeomType` values (Point = 1, Line = 2, Polygon = 3), the MVT geometry types. */
const GEOM = { Point: 1, Line: 2, Polygon: 3 } as const;

/**
 * Paint rules drawing every geometry type of the UDF's MVT layer: protomaps-leaflet draws
 * nothing without rules, and a rule applies its symbolizer to any geometry unless filtered.
 */
export function udfPaintRules(pm: ProtomapsLike, udf: string, color = '#0a7cff'): ProtomapsLeaflet.PaintRule[] {
  return [
    {
      dataLayer: udf,
      symbolizer: new pm.PolygonSymbolizer({ fill: color, opacity: 0.45, stroke: '#08306b', width: 1 }),
      filter: (_z, f) => f.geomType === GEOM.Polygon,
    },
    {
      dataLayer: udf,
      symbolizer: new pm.LineSymbolizer({ color, width: 2 }),
      filter: (_z, f) => f.geomType === GEOM.Line,
    },
    {
      dataLayer: udf,
      symbolizer: new pm.CircleSymbolizer({ radius: 4, fill: color, stroke: '#ffffff', width: 1 }),
      filter: (_z, f) => f.geomType === GEOM.Point,
    },
  ];
}

/**
 * A vector UDF drawn in Leaflet by protomaps-leaflet from the server's MVT tiles, with paint
 * rules for polygons, lines and points.
 *
 * @example udfVectorLayer(protomapsL, { server: 'http://localhost:8787', udf: 'countries' }).addTo(map);
 */
export function udfVectorLayer(pm: ProtomapsLike, options: UdfVectorLayerOptions): ReturnType<typeof ProtomapsLeaflet.leafletLayer> {
  const { server, udf, params, token, color, maxDataZoom = 15, ...rest } = options;
  return pm.leafletLayer({
    url: tileUrl({ server, udf, format: 'mvt', params, token }),
    maxDataZoom,
    paintRules: udfPaintRules(pm, udf, color),
    labelRules: [],
    // protomaps-leaflet credits OpenStreetMap by default, which is wrong for UDF data.
    attribution: 'tilesmith',
    ...rest,
  });
}
