import type { Encoder } from '../types.ts';
import { arrowEncoder } from './arrow.ts';
import { csvEncoder } from './csv.ts';
import { geojsonEncoder } from './geojson.ts';
import { jpegEncoder, pngEncoder, webpEncoder } from './image.ts';
import { jsonEncoder } from './json.ts';
import { mvtEncoder } from './mvt.ts';
import { parquetEncoder } from './parquet.ts';
import { createEncoderRegistry, type EncoderRegistry } from './registry.ts';

export { createEncoderRegistry, type EncoderRegistry } from './registry.ts';
export { arrowEncoder, csvEncoder, geojsonEncoder, jpegEncoder, jsonEncoder, mvtEncoder, parquetEncoder, pngEncoder, webpEncoder };
export { COLORMAP_NAMES, resolveColormap } from './colormap.ts';

/** Every built-in format: mvt, geojson, json, csv, parquet, arrow, png, jpg, webp. */
export const defaultEncoders: Encoder[] = [
  mvtEncoder,
  geojsonEncoder,
  jsonEncoder,
  csvEncoder,
  parquetEncoder,
  arrowEncoder,
  pngEncoder,
  jpegEncoder,
  webpEncoder,
];

/**
 * The registry of built-in formats; pass it to the app factory.
 * @example createDefaultEncoderRegistry().select('png', 'raster', 'tile')
 */
export function createDefaultEncoderRegistry(): EncoderRegistry {
  return createEncoderRegistry(defaultEncoders);
}
