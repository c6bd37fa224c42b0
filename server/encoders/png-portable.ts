/**
 * PNG without sharp: the encoder used where a native addon cannot load (Cloudflare Workers,
 * Deno, Bun builds of the edge bundle). fast-png (image-js) is pure TypeScript over fflate's
 * deflate, is maintained, has types and no Node imports; UPNG.js was the alternative but has
 * had no release since 2019 and pulls in pako. Same pixels as the sharp encoder (rescale,
 * colormap, transparency come from pixels.ts); tiles of another size are resized with nearest
 * neighbour (sharp switches to lanczos3 beyond 2×, which has no pure-JS equivalent here).
 */
import { encode } from 'fast-png';
import { NotAcceptableError } from '../errors.ts';
import type { EncodeContext, Encoder, NormalizedResult } from '../types.ts';
import { rasterToPixels, type Pixels } from './pixels.ts';

/** Nearest-neighbour resample of interleaved pixels to `size`×`size`. */
function resizeNearest({ data, channels }: Pixels, width: number, height: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / size));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / size));
      const src = (sy * width + sx) * channels;
      const dst = (y * size + x) * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = data[src + c]!;
    }
  }
  return out;
}

function encodePng(pixels: Pixels, width: number, height: number, ctx: EncodeContext): Uint8Array {
  let data = pixels.data;
  const size = ctx.tileSize;
  if (ctx.tile && (width !== size || height !== size)) {
    data = resizeNearest(pixels, width, height, size);
    width = height = size;
  }
  // Level 4 matches the sharp encoder's compressionLevel: tiles are encoded on request.
  return encode({ width, height, data, channels: pixels.channels, depth: 8 }, { zlib: { level: 4 } });
}

/**
 * `image/png` in pure JavaScript (fast-png): the PNG encoder of the edge bundles.
 * @example createEncoderRegistry([mvtEncoder, portablePngEncoder])
 */
export const portablePngEncoder: Encoder = (() => {
  const blank = new Map<number, Uint8Array>();
  return {
    name: 'png',
    aliases: [],
    extension: 'png',
    mediaType: 'image/png',
    accepts: ['raster', 'empty'],
    encode(result: NormalizedResult, ctx: EncodeContext): Uint8Array {
      if (result.kind === 'empty') {
        let png = blank.get(ctx.tileSize);
        if (!png) {
          const s = ctx.tileSize;
          png = encodePng({ data: new Uint8Array(s * s * 4), channels: 4 }, s, s, { ...ctx, tile: null });
          blank.set(s, png);
        }
        return png;
      }
      if (result.kind !== 'raster') throw new Error(`png encoder cannot encode a ${result.kind} result`);
      const { raster } = result;
      return encodePng(rasterToPixels(raster, ctx), raster.width, raster.height, ctx);
    },
  };
})();

/**
 * A format that exists but cannot run on this target: it keeps its name (so `?format=jpg` is
 * not an "unknown format" 400) and every encode is a 406 that says why and what to use instead.
 * @example unavailableEncoder({ name: 'webp', aliases: [], extension: 'webp', mediaType: 'image/webp', accepts: ['raster'] }, 'it needs sharp, a native Node addon', 'Cloudflare Workers')
 */
export function unavailableEncoder(format: Omit<Encoder, 'encode'>, reason: string, target: string, instead: string[] = ['png']): Encoder {
  return {
    ...format,
    encode() {
      throw new NotAcceptableError(
        `The ${format.name} format is not available on ${target}: ${reason}. Ask for ${instead.join(' or ')} instead, or serve this UDF from a Node tilesmith (the edge bundle's --origin).`,
        instead,
      );
    },
  };
}
