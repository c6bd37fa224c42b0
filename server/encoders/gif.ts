import { createImageEncoder } from './image.ts';

/**
 * `image/gif`: 256-colour palette (libvips' quantiser) with one-bit transparency; what Fused
 * serves for `dtype_out_raster=gif`. Rendered like png (rescale, colormap, NaN → transparent).
 */
export const gifEncoder = createImageEncoder({
  name: 'gif',
  aliases: [],
  extension: 'gif',
  mediaType: 'image/gif',
  output: (image) => image.gif({ effort: 3 }),
});
