import type { Encoder } from '../types.ts';
import { arrowEncoder } from './arrow.ts';
import { csvEncoder } from './csv.ts';
import { excelEncoder } from './excel.ts';
import { featherEncoder } from './feather.ts';
import { geojsonEncoder } from './geojson.ts';
import { gifEncoder } from './gif.ts';
import { htmlEncoder } from './html.ts';
import { jpegEncoder, pngEncoder, webpEncoder } from './image.ts';
import { jsonEncoder } from './json.ts';
import { mvtEncoder } from './mvt.ts';
import { parquetEncoder } from './parquet.ts';
import { createEncoderRegistry, type EncoderRegistry } from './registry.ts';
import { tiffEncoder } from './tiff.ts';
import { xmlEncoder } from './xml.ts';

export { createEncoderRegistry, type EncoderRegistry } from './registry.ts';
export {
  arrowEncoder,
  csvEncoder,
  excelEncoder,
  featherEncoder,
  geojsonEncoder,
  gifEncoder,
  htmlEncoder,
  jpegEncoder,
  jsonEncoder,
  mvtEncoder,
  parquetEncoder,
  pngEncoder,
  tiffEncoder,
  webpEncoder,
  xmlEncoder,
};
export { COLORMAP_NAMES, resolveColormap } from './colormap.ts';

/** Every built-in format: mvt, geojson, json, csv, parquet, arrow, feather, html, excel, xml, png, jpg, webp, gif, tif. */
export const defaultEncoders: Encoder[] = [
  mvtEncoder,
  geojsonEncoder,
  jsonEncoder,
  csvEncoder,
  parquetEncoder,
  arrowEncoder,
  featherEncoder,
  htmlEncoder,
  excelEncoder,
  xmlEncoder,
  pngEncoder,
  jpegEncoder,
  webpEncoder,
  gifEncoder,
  tiffEncoder,
];

/**
 * The registry of built-in formats; pass it to the app factory.
 * @example createDefaultEncoderRegistry().select('png', 'raster', 'tile')
 */
export function createDefaultEncoderRegistry(): EncoderRegistry {
  return createEncoderRegistry(defaultEncoders);
}
