import { writeArrayBuffer, type GeotiffWriterMetadata } from 'geotiff';
import type { Bounds, EncodeContext, Encoder, NormalizedResult, RasterData } from '../types.ts';

const R = 6378137; // WGS 84 / Pseudo-Mercator sphere radius
const MAX_LAT = 85.0511287798066;

function mercator(lon: number, lat: number): [number, number] {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return [(lon * Math.PI * R) / 180, R * Math.log(Math.tan(Math.PI / 4 + phi / 2))];
}

/**
 * The georeferencing tags of a raster covering `bounds`: on tile calls the pixel grid is the
 * tile's, which is regular in Web Mercator, so the file is in EPSG:3857 with the tile's bounds
 * in metres; elsewhere (file calls) in EPSG:4326 degrees.
 */
function georeference(bounds: Bounds, width: number, height: number, mercatorGrid: boolean): GeotiffWriterMetadata {
  let [w, s, e, n] = bounds;
  if (mercatorGrid) {
    [w, s] = mercator(w, s);
    [e, n] = mercator(e, n);
  }
  const common = {
    ModelPixelScale: [(e - w) / width, (n - s) / height, 0],
    ModelTiepoint: [0, 0, 0, w, n, 0],
    GTRasterTypeGeoKey: 1, // PixelIsArea: the tie point is the north-west corner of the first pixel
  };
  return mercatorGrid
    ? { ...common, GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 3857, GTCitationGeoKey: 'WGS 84 / Pseudo-Mercator' }
    : { ...common, GTModelTypeGeoKey: 2, GeographicTypeGeoKey: 4326, GeogCitationGeoKey: 'WGS 84' };
}

function blank(size: number): RasterData {
  return { width: size, height: size, bands: 4, data: new Uint8Array(size * size * 4) };
}

/**
 * Writes a raster as a GeoTIFF: the UDF's own sample values and type (uint8 … float64, not a
 * rendered image, so GIS tools can analyse them), pixel-interleaved, uncompressed, with the
 * georeferencing GDAL and QGIS read (see `georeference`) and `GDAL_NODATA` when the raster
 * sets `noData` (float NaN is GDAL's default no-data for floats already). 3 or 4 bands of
 * uint8 are tagged RGB(A). Written with geotiff.js's writer, which handles the TIFF/GeoKey
 * directory layout; an empty result is a transparent tile-size RGBA image.
 */
export function encodeGeoTiff(result: NormalizedResult, ctx: EncodeContext): Uint8Array {
  const raster = result.kind === 'raster' ? result.raster : result.kind === 'empty' ? blank(ctx.tileSize) : undefined;
  if (!raster) throw new Error(`tif encoder cannot encode a ${result.kind} result`);
  const { width, height, bands } = raster;
  let data = raster.data;
  if (data instanceof Uint8ClampedArray) data = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const bounds = raster.bounds ?? ctx.bounds ?? [-180, -85.0511287798066, 180, 85.0511287798066];
  const bytes = data instanceof Uint8Array;
  const rgb = bytes && bands >= 3;
  const meta: GeotiffWriterMetadata = {
    width,
    height,
    SamplesPerPixel: bands,
    PhotometricInterpretation: rgb ? 2 : 1,
    // Bands beyond the colour ones: 4th of RGBA is unassociated alpha (2), others unspecified (0).
    ExtraSamples: rgb ? (bands === 4 ? [2] : []) : bands === 2 && bytes ? [2] : new Array(bands - 1).fill(0),
    ...georeference(bounds, width, height, ctx.tile !== null),
    ...(typeof raster.noData === 'number' ? { GDAL_NODATA: String(raster.noData) } : {}),
  };
  if ((meta.ExtraSamples as number[]).length === 0) delete meta.ExtraSamples;
  return new Uint8Array(writeArrayBuffer(data as Parameters<typeof writeArrayBuffer>[0], meta));
}

/** `image/tiff; application=geotiff`: see `encodeGeoTiff`. Also answers `tiff` and `geotiff`. */
export const tiffEncoder: Encoder = {
  name: 'tif',
  aliases: ['tiff', 'geotiff'],
  extension: 'tif',
  mediaType: 'image/tiff; application=geotiff',
  accepts: ['raster', 'empty'],
  encode: encodeGeoTiff,
};
