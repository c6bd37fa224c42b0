import type { Sharp } from 'sharp';
import type { EncodeContext, Encoder, NormalizedResult } from '../types.ts';
import { rasterToPixels, type Pixels } from './pixels.ts';

export { rasterToPixels };

type SharpFactory = (typeof import('sharp'))['default'];
let sharpModule: Promise<SharpFactory> | undefined;

/** sharp is native: it is loaded on the first image encode, so the registry itself stays portable. */
function loadSharp(): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then((m) => m.default);
  return sharpModule;
}

/** An image format sharp writes, given to `createImageEncoder`. */
export interface ImageFormat {
  name: string;
  aliases: string[];
  extension: string;
  mediaType: string;
  /** Applies the output format; `hasAlpha` tells whether the pixels carry transparency. */
  output(image: Sharp, hasAlpha: boolean): Sharp;
}

/**
 * Pixel buffers between encodes, by size: a 256² RGBA tile is 256 KB, which as a new
 * allocation costs fresh zeroed pages on every encode (and external-memory GC pressure).
 * A buffer comes back once sharp has finished reading it (`toBuffer` resolved); at most
 * `POOL_BYTES` are kept, per thread (each compute worker has its own module instance).
 */
const pool = new Map<number, Uint8Array[]>();
const pooled = new WeakSet<Uint8Array>();
const POOL_BYTES = 8 * 1024 * 1024;
let poolBytes = 0;

function takePixels(bytes: number): Uint8Array {
  const free = pool.get(bytes)?.pop();
  if (free) {
    poolBytes -= bytes;
    return free;
  }
  const fresh = new Uint8Array(bytes);
  pooled.add(fresh);
  return fresh;
}

function returnPixels(buf: Uint8Array): void {
  if (!pooled.has(buf) || poolBytes + buf.byteLength > POOL_BYTES) return;
  let list = pool.get(buf.byteLength);
  if (!list) pool.set(buf.byteLength, (list = []));
  list.push(buf);
  poolBytes += buf.byteLength;
}

/**
 * An encoder that renders raster results to 8-bit pixels (rescale, colormap, transparency)
 * and writes them with sharp in `format`; tiles are resized to the requested tile size.
 * @example createImageEncoder({ name: 'gif', aliases: [], extension: 'gif', mediaType: 'image/gif', output: (i) => i.gif() })
 */
export function createImageEncoder(format: ImageFormat): Encoder {
  const blankCache = new Map<number, Promise<Uint8Array>>();
  const encodePixels = async ({ data, channels }: Pixels, width: number, height: number, ctx: EncodeContext): Promise<Uint8Array> => {
    const sharp = await loadSharp();
    let image = sharp(data, { raw: { width, height, channels } });
    const size = ctx.tileSize;
    if (ctx.tile && (width !== size || height !== size)) {
      // Within 2× either way, nearest neighbour keeps data pixels crisp and exact;
      // beyond that sharp's default (lanczos3) avoids blocky or aliased tiles.
      const near = [size / width, size / height].every((r) => r >= 0.5 && r <= 2);
      image = image.resize(size, size, { fit: 'fill', kernel: near ? 'nearest' : 'lanczos3' });
    }
    // sharp widens raw 1–2 channel input to sRGB on output unless told the data is grey.
    if (channels <= 2) image = image.toColourspace('b-w');
    const buffer = await format.output(image, channels === 2 || channels === 4).toBuffer();
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  };

  return {
    name: format.name,
    aliases: format.aliases,
    extension: format.extension,
    mediaType: format.mediaType,
    accepts: ['raster', 'empty'],
    async encode(result: NormalizedResult, ctx: EncodeContext): Promise<Uint8Array> {
      if (result.kind === 'empty') {
        // A transparent (black for jpg) square: the same few bytes every time, so build it once.
        const size = ctx.tileSize;
        let blank = blankCache.get(size);
        if (!blank) {
          blank = encodePixels({ data: new Uint8Array(size * size * 4), channels: 4 }, size, size, { ...ctx, tile: null });
          blankCache.set(size, blank);
          blank.catch(() => blankCache.delete(size));
        }
        return blank;
      }
      if (result.kind !== 'raster') throw new Error(`${format.name} encoder cannot encode a ${result.kind} result`);
      const { raster } = result;
      const pixels = rasterToPixels(raster, ctx, takePixels);
      try {
        return await encodePixels(pixels, raster.width, raster.height, ctx);
      } finally {
        returnPixels(pixels.data); // only buffers takePixels made (not a raster's own bytes)
      }
    },
  };
}

/** `image/png`: lossless; fast zlib settings because tiles are encoded on request. */
export const pngEncoder = createImageEncoder({
  name: 'png',
  aliases: [],
  extension: 'png',
  mediaType: 'image/png',
  output: (image) => image.png({ compressionLevel: 4, adaptiveFiltering: false }),
});

/** `image/jpeg`: no alpha, so transparent (NaN / noData) pixels are flattened onto black. */
export const jpegEncoder = createImageEncoder({
  name: 'jpg',
  aliases: ['jpeg'],
  extension: 'jpg',
  mediaType: 'image/jpeg',
  output: (image, hasAlpha) => (hasAlpha ? image.flatten({ background: '#000000' }) : image).jpeg({ quality: 85 }),
});

/** `image/webp`: lossy colour with lossless alpha, low effort for request-time encoding. */
export const webpEncoder = createImageEncoder({
  name: 'webp',
  aliases: [],
  extension: 'webp',
  mediaType: 'image/webp',
  output: (image) => image.webp({ quality: 90, alphaQuality: 100, effort: 2 }),
});
