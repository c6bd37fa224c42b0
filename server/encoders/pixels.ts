/**
 * Raster data → 8-bit pixels (rescale, colormap, transparency). Kept apart from image.ts, which
 * loads sharp, so encoders that must run without Node (the portable PNG encoder) can use it.
 */
import { BadRequestError } from '../errors.ts';
import type { EncodeContext, RasterData } from '../types.ts';
import { resolveColormap } from './colormap.ts';

/** 8-bit interleaved pixel bytes (an image encoder's raw input). */
export interface Pixels {
  data: Uint8Array;
  channels: 1 | 2 | 3 | 4;
}

/**
 * Turns raster data into 8-bit pixels: values are mapped through `rescale` (required for any
 * type but uint8), a single band through the colormap's lookup table, and NaN / `noData`
 * pixels become transparent (which adds an alpha channel). For non-uint8 data with an alpha
 * band, the alpha band is rescaled with the same range as the colour bands. `alloc` supplies
 * the output bytes (e.g. from a pool; their old contents do not matter), else they are new.
 * @throws BadRequestError when a non-uint8 raster comes without a range, or the range is unusable.
 */
export function rasterToPixels(raster: RasterData, ctx: Pick<EncodeContext, 'rescale' | 'colormap'>, alloc?: (bytes: number) => Uint8Array): Pixels {
  const { width, height, bands, data, noData } = raster;
  const isByte = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  const isFloat = data instanceof Float32Array || data instanceof Float64Array;
  const range = ctx.rescale;
  if (!isByte && !range) {
    throw new BadRequestError(
      `This raster holds ${data.constructor.name} values, which need a value range to become an image: add rescale=min,max to the request (e.g. rescale=0,1000), or declare rescale in the UDF.`,
      'invalid_parameter',
      { parameter: 'rescale' },
    );
  }
  if (range && !(Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[0] !== range[1])) {
    throw new BadRequestError(`rescale=${range.join(',')} is not a usable range: give two different finite numbers, rescale=min,max.`, 'invalid_parameter', {
      parameter: 'rescale',
    });
  }
  const hasAlphaBand = bands === 2 || bands === 4;
  const colorBands = hasAlphaBand ? bands - 1 : bands;
  const lut = ctx.colormap !== undefined && colorBands === 1 ? resolveColormap(ctx.colormap) : undefined;
  const checkNoData = typeof noData === 'number';
  const masking = isFloat || checkNoData;

  // Fast path: uint8 pixels that need no change are handed to sharp as they are (no copy).
  if (isByte && !range && !lut && !masking) {
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), channels: bands };
  }

  const outColor = lut ? 3 : colorBands;
  const outAlpha = hasAlphaBand || masking;
  const channels = (outColor + (outAlpha ? 1 : 0)) as Pixels['channels'];
  const pixels = width * height;
  const bytes = alloc ? alloc(pixels * channels) : new Uint8Array(pixels * channels);
  if (lut && bands === 1) return colormapped(data, pixels, lut, range ? range[0] : 0, range ? (range[1] - range[0]) / 255 : 1, checkNoData ? (noData as number) : undefined, channels, bytes);
  // Uint8ClampedArray assignment rounds and clamps to 0..255 (NaN → 0), which is exactly the
  // rescale we want, without per-value Math calls.
  if (alloc) bytes.fill(0); // masked pixels are skipped below: they must read as zero
  const out = new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const min = range ? range[0] : 0;
  const span = range ? (range[1] - range[0]) / 255 : 1;
  const scaled = new Uint8ClampedArray(bands); // one pixel's bands, already 0..255

  for (let i = 0, src = 0, dst = 0; i < pixels; i++, src += bands, dst += channels) {
    let masked = false;
    if (masking) {
      let nodataBands = 0;
      for (let b = 0; b < colorBands; b++) {
        const v = data[src + b];
        if (v !== v) masked = true; // NaN
        else if (v === noData) nodataBands++;
      }
      // noData masks a pixel only when all its colour bands hold it (an RGB 0 in one band is a colour).
      if (checkNoData && nodataBands === colorBands) masked = true;
    }
    if (masked) {
      // out is zero-initialised: colour 0, alpha 0.
      continue;
    }
    for (let b = 0; b < bands; b++) scaled[b] = (data[src + b] - min) / span;
    if (lut) {
      const j = scaled[0] * 3;
      out[dst] = lut[j];
      out[dst + 1] = lut[j + 1];
      out[dst + 2] = lut[j + 2];
    } else {
      for (let b = 0; b < colorBands; b++) out[dst + b] = scaled[b];
    }
    if (outAlpha) out[dst + outColor] = hasAlphaBand ? scaled[colorBands] : 255;
  }
  return { data: bytes, channels };
}

/** Little-endian platforms can write a pixel's RGBA as one uint32. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Packed RGBA (alpha 255) per colormap entry, per lookup table (LUTs are cached by colormap.ts). */
const packedLuts = new WeakMap<Uint8Array, Uint32Array>();

function packedLut(lut: Uint8Array): Uint32Array {
  let packed = packedLuts.get(lut);
  if (!packed) {
    packed = new Uint32Array(256);
    for (let i = 0; i < 256; i++) packed[i] = (lut[3 * i] | (lut[3 * i + 1] << 8) | (lut[3 * i + 2] << 16) | (255 << 24)) >>> 0;
    packedLuts.set(lut, packed);
  }
  return packed;
}

/**
 * The common single-band + colormap case (e.g. float32 + viridis) as one tight loop: the value
 * is rescaled into a one-element Uint8ClampedArray (the same rounding and clamping as the
 * general path) and its colour written as one packed uint32 (RGBA) per pixel, or three bytes
 * for RGB. Output is identical to the general loop's.
 */
function colormapped(data: RasterData['data'], pixels: number, lut: Uint8Array, min: number, span: number, noData: number | undefined, channels: Pixels['channels'], out: Uint8Array): Pixels {
  const index = new Uint8ClampedArray(1);
  if (channels === 4) {
    const hasNoData = noData !== undefined;
    if (LITTLE_ENDIAN && out.byteOffset % 4 === 0) {
      const out32 = new Uint32Array(out.buffer, out.byteOffset, pixels);
      const packed = packedLut(lut);
      for (let i = 0; i < pixels; i++) {
        const v = data[i];
        if (v !== v || (hasNoData && v === noData)) {
          out32[i] = 0; // transparent (out may hold an earlier tile's pixels)
          continue;
        }
        index[0] = (v - min) / span;
        out32[i] = packed[index[0]];
      }
    } else {
      for (let i = 0, dst = 0; i < pixels; i++, dst += 4) {
        const v = data[i];
        if (v !== v || (hasNoData && v === noData)) {
          out[dst] = out[dst + 1] = out[dst + 2] = out[dst + 3] = 0;
          continue;
        }
        index[0] = (v - min) / span;
        const j = index[0] * 3;
        out[dst] = lut[j];
        out[dst + 1] = lut[j + 1];
        out[dst + 2] = lut[j + 2];
        out[dst + 3] = 255;
      }
    }
  } else {
    for (let i = 0, dst = 0; i < pixels; i++, dst += 3) {
      index[0] = (data[i] - min) / span;
      const j = index[0] * 3;
      out[dst] = lut[j];
      out[dst + 1] = lut[j + 1];
      out[dst + 2] = lut[j + 2];
    }
  }
  return { data: out, channels };
}
