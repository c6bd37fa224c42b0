/**
 * Felt adapter: the URLs to paste into Felt's "Upload from URL" (or send to its API).
 * Felt fetches them server-side, so the server must be publicly reachable and a token must
 * be in the query string. Felt recognises a URL by its extension, hence `{y}.png` and
 * `file.geojson` / `file.csv` / `file.parquet`. Vector-tile templates are not a Felt import
 * type: vector UDFs go in as files.
 */
import { fileUrl, tileUrl, type Bounds, type UdfParams } from './index.ts';

/** Options of the Felt builders. */
export interface FeltOptions {
  server: string;
  udf: string;
  params?: UdfParams;
  /** Sent as `?token=` (Felt fetches the URL itself, without your headers). */
  token?: string;
}

/**
 * The raster tile template for a raster UDF, with the format as the extension.
 *
 * @example feltRasterUrl({ server: 'https://tiles.example.com', udf: 'mandelbrot' })
 * // 'https://tiles.example.com/udf/mandelbrot/tiles/{z}/{x}/{y}.png'
 */
export function feltRasterUrl(options: FeltOptions & { tileSize?: 256 | 512; format?: 'png' | 'jpg' | 'webp' }): string {
  return tileUrl({ ...options, format: options.format ?? 'png', extension: true });
}

/** File formats Felt imports from a URL. */
export type FeltFileFormat = 'geojson' | 'csv' | 'parquet';

/**
 * A file URL for one UDF run (optionally over `bounds`), ending in a recognisable extension.
 *
 * @example feltFileUrl({ server: 'https://tiles.example.com', udf: 'countries', format: 'geojson' })
 * // 'https://tiles.example.com/udf/countries/file.geojson'
 */
export function feltFileUrl(options: FeltOptions & { format?: FeltFileFormat; bounds?: Bounds }): string {
  return fileUrl({ ...options, format: options.format ?? 'geojson' });
}

/** Every URL Felt can import for a UDF, by kind. */
export function feltUrls(options: FeltOptions & { kind: 'vector' | 'raster' | 'json' | 'table'; bounds?: Bounds }): Record<string, string> {
  if (options.kind === 'raster') return { raster: feltRasterUrl(options) };
  if (options.kind === 'table') return { csv: feltFileUrl({ ...options, format: 'csv' }) };
  return {
    geojson: feltFileUrl({ ...options, format: 'geojson' }),
    csv: feltFileUrl({ ...options, format: 'csv' }),
    parquet: feltFileUrl({ ...options, format: 'parquet' }),
  };
}

/** The JSON body of Felt's `POST /api/v2/maps/{map_id}/upload`. */
export interface FeltUploadBody {
  name: string;
  import_url: string;
}

/**
 * The body for Felt's upload-from-URL API.
 *
 * @example
 * await fetch(`https://felt.com/api/v2/maps/${mapId}/upload`, {
 *   method: 'POST',
 *   headers: { Authorization: `Bearer ${feltApiKey}`, 'Content-Type': 'application/json' },
 *   body: JSON.stringify(feltUploadBody('Countries', feltFileUrl({ server, udf: 'countries' }))),
 * });
 */
export function feltUploadBody(name: string, importUrl: string): FeltUploadBody {
  return { name, import_url: importUrl };
}

/** The endpoint of Felt's upload-from-URL API for a map. */
export function feltUploadEndpoint(mapId: string): string {
  return `https://felt.com/api/v2/maps/${encodeURIComponent(mapId)}/upload`;
}
