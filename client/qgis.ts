/**
 * QGIS adapter: data-source URIs for `QgsRasterLayer(uri, name, 'wms')` (XYZ raster) and
 * `QgsVectorTileLayer(uri, name)`, and "Load Connections" XML files.
 *
 * QGIS reads its URI as `key=value&key=value`, so the tile template inside it must be
 * percent-encoded (an unencoded `&` would cut the template short) — which makes a template
 * whose parameters are already encoded doubly encoded, as QGIS expects. QGIS 3.22 sends no
 * custom headers, so a token always travels as `?token=`.
 */
import { styleUrl, tileUrl, type UdfParams } from './index.ts';

/** Options of the QGIS builders. */
export interface QgisOptions {
  server: string;
  udf: string;
  params?: UdfParams;
  /** Sent as `?token=` inside the template (QGIS cannot send headers). */
  token?: string;
  /** Raster tile size; 512 adds `tilePixelRatio=2` so QGIS draws them at the right scale. @default 256 */
  tileSize?: 256 | 512;
  /** @default 0 */
  zmin?: number;
  /** @default 18 for raster, 14 for vector tiles */
  zmax?: number;
  /** Raster format. @default 'png' */
  format?: string;
  /** Vector tiles: the MapLibre style QGIS applies. @default the server's `/udf/{name}/style.json` with the same params */
  styleUrl?: string;
}

/**
 * The URI of an XYZ raster layer (provider `wms`).
 *
 * @example qgisRasterUri({ server: 'http://localhost:8787', udf: 'mandelbrot' })
 * // 'type=xyz&url=http%3A%2F%2Flocalhost%3A8787%2Fudf%2Fmandelbrot%2Ftiles%2F%7Bz%7D%2F%7Bx%7D%2F%7By%7D%3Fformat%3Dpng&zmin=0&zmax=18'
 */
export function qgisRasterUri(options: QgisOptions): string {
  const template = tileUrl({ server: options.server, udf: options.udf, format: options.format ?? 'png', params: options.params, token: options.token, tileSize: options.tileSize });
  let uri = `type=xyz&url=${encodeURIComponent(template)}&zmin=${options.zmin ?? 0}&zmax=${options.zmax ?? 18}`;
  if (options.tileSize === 512) uri += '&tilePixelRatio=2';
  return uri;
}

/** The MVT template and style URL a vector tile layer uses. */
function vectorTemplates(options: QgisOptions): { template: string; style: string } {
  const template = tileUrl({ server: options.server, udf: options.udf, format: 'mvt', params: options.params, token: options.token });
  const style = options.styleUrl ?? styleUrl({ server: options.server, udf: options.udf, params: options.params, token: options.token });
  return { template, style };
}

/**
 * The URI of a vector tile layer (`QgsVectorTileLayer(uri, name)`), styled by the server's
 * style.json. Call `layer.loadDefaultStyle()` in PyQGIS to apply it.
 *
 * @example qgisVectorTileUri({ server: 'http://localhost:8787', udf: 'points', params: { n: 5 } })
 */
export function qgisVectorTileUri(options: QgisOptions): string {
  const { template, style } = vectorTemplates(options);
  return `type=xyz&url=${encodeURIComponent(template)}&zmin=${options.zmin ?? 0}&zmax=${options.zmax ?? 14}&styleUrl=${encodeURIComponent(style)}`;
}

/** Escapes text for an XML attribute value. */
export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Options of {@link qgisConnectionsXml}. */
export interface QgisConnectionsOptions extends QgisOptions {
  /** `raster` → `<qgsXYZTilesConnections>`, `vector` → `<qgsVectorTileConnections>`. */
  kind: 'vector' | 'raster';
  /** Connection name shown in QGIS's browser. @default `tilesmith <udf>` */
  name?: string;
}

/**
 * A "Load Connections" XML file (Browser → XYZ Tiles / Vector Tiles → Load Connections…),
 * one root element per file as QGIS requires. Attribute values are XML-escaped, so the
 * template's `&` become `&amp;` and QGIS reads back the exact URL.
 *
 * @example qgisConnectionsXml({ server: 'http://localhost:8787', udf: 'points', kind: 'vector' })
 */
export function qgisConnectionsXml(options: QgisConnectionsOptions): string {
  const name = xmlEscape(options.name ?? `tilesmith ${options.udf}`);
  const zmin = options.zmin ?? 0;
  if (options.kind === 'raster') {
    const template = tileUrl({ server: options.server, udf: options.udf, format: options.format ?? 'png', params: options.params, token: options.token, tileSize: options.tileSize });
    const ratio = options.tileSize === 512 ? 2 : 0;
    return (
      '<!DOCTYPE connections>\n' +
      '<qgsXYZTilesConnections version="1.0">\n' +
      `  <xyztiles name="${name}" url="${xmlEscape(template)}" zmin="${zmin}" zmax="${options.zmax ?? 18}" tilePixelRatio="${ratio}" authcfg="" username="" password="" referer=""/>\n` +
      '</qgsXYZTilesConnections>\n'
    );
  }
  const { template, style } = vectorTemplates(options);
  return (
    '<!DOCTYPE connections>\n' +
    '<qgsVectorTileConnections version="1.0">\n' +
    `  <vectortile name="${name}" url="${xmlEscape(template)}" zmin="${zmin}" zmax="${options.zmax ?? 14}" serviceType="" styleUrl="${xmlEscape(style)}" authcfg="" username="" password="" referer=""/>\n` +
    '</qgsVectorTileConnections>\n'
  );
}
