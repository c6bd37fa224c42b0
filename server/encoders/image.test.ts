import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import type { EncodeContext, NormalizedResult, RasterData } from '../types.ts';
import { resolveColormap } from './colormap.ts';
import { jpegEncoder, pngEncoder, rasterToPixels, webpEncoder } from './image.ts';

const ctx = (over: Partial<EncodeContext> = {}): EncodeContext => ({
  udfName: 'test',
  tile: null,
  bounds: null,
  tileSize: 256,
  layerName: 'test',
  extent: 4096,
  buffer: 64,
  ...over,
});

const rasterResult = (width: number, height: number, data: RasterData['data'], extra: Partial<RasterData> = {}): NormalizedResult => ({
  kind: 'raster',
  raster: { width, height, bands: (data.length / (width * height)) as RasterData['bands'], data, ...extra },
});

/**
 * Decoded pixels in the file's own channel layout. sharp's raw output widens grey to sRGB, so
 * grey files are folded back (after checking that R = G = B).
 */
async function pixels(bytes: Uint8Array) {
  const meta = await sharp(bytes).metadata();
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  let values = [...data];
  if (meta.space === 'b-w') {
    const folded: number[] = [];
    let grey = true;
    for (let i = 0; i < values.length; i += info.channels) {
      grey &&= values[i + 1] === values[i] && values[i + 2] === values[i];
      folded.push(values[i]);
      if (meta.hasAlpha) folded.push(values[i + 3]);
    }
    expect(grey).toBe(true);
    values = folded;
  }
  return { data: values, width: info.width, height: info.height, channels: meta.channels };
}

async function rejection(p: Promise<unknown> | unknown): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('png encoder', () => {
  it('writes uint8 grey pixels exactly', async () => {
    const data = new Uint8Array([0, 50, 100, 150, 200, 255]);
    const png = await pngEncoder.encode(rasterResult(3, 2, data), ctx());
    expect((await sharp(png).metadata()).format).toBe('png');
    expect(await pixels(png)).toEqual({ data: [...data], width: 3, height: 2, channels: 1 });
  });

  it('writes uint8 grey+alpha, RGB and RGBA pixels exactly', async () => {
    const ga = new Uint8Array([10, 255, 20, 0]);
    expect(await pixels(await pngEncoder.encode(rasterResult(2, 1, ga), ctx()))).toMatchObject({ data: [...ga], channels: 2 });
    const rgb = new Uint8ClampedArray([255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3]);
    expect(await pixels(await pngEncoder.encode(rasterResult(2, 2, rgb), ctx()))).toEqual({ data: [...rgb], width: 2, height: 2, channels: 3 });
    const rgba = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 128]);
    expect(await pixels(await pngEncoder.encode(rasterResult(2, 1, rgba), ctx()))).toMatchObject({ data: [...rgba], channels: 4 });
  });

  it('rescales float data with ctx.rescale; NaN becomes transparent', async () => {
    const data = new Float32Array([0, 50, 100, 200, NaN, -10]);
    const png = await pngEncoder.encode(rasterResult(3, 2, data), ctx({ rescale: [0, 200] }));
    const out = await pixels(png);
    expect(out.channels).toBe(2); // grey + alpha, because NaN needs transparency
    expect(out.data).toEqual([0, 255, 64, 255, 128, 255, 255, 255, 0, 0, 0, 255]);
  });

  it('masks noData pixels (all colour bands equal to it) as transparent', async () => {
    const data = new Uint16Array([0, 0, 0, 1000, 0, 500]);
    const out = await pixels(await pngEncoder.encode(rasterResult(2, 1, data, { noData: 0 }), ctx({ rescale: [0, 1000] })));
    expect(out.channels).toBe(4);
    expect(out.data).toEqual([0, 0, 0, 0, 255, 0, 128, 255]);
  });

  it('asks for rescale=min,max when a non-uint8 raster has no range', async () => {
    const err = await rejection(pngEncoder.encode(rasterResult(1, 1, new Float32Array([1])), ctx()));
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).status).toBe(400);
    expect(err.message).toMatch(/Float32Array/);
    expect(err.message).toMatch(/rescale=min,max/);
    expect(await rejection(pngEncoder.encode(rasterResult(1, 1, new Int16Array([1])), ctx({ rescale: [5, 5] })))).toBeInstanceOf(BadRequestError);
  });

  it('applies a named colormap after rescale: first and last entries', async () => {
    const data = new Float64Array([0, 1, 0.5]);
    const out = await pixels(await pngEncoder.encode(rasterResult(3, 1, data), ctx({ rescale: [0, 1], colormap: 'viridis' })));
    expect(out.channels).toBe(4); // float → alpha for possible NaN
    expect(out.data.slice(0, 4)).toEqual([0x44, 0x01, 0x54, 255]);
    expect(out.data.slice(4, 8)).toEqual([0xfd, 0xe7, 0x25, 255]);
    const lut = resolveColormap('viridis');
    expect(out.data.slice(8, 11)).toEqual([...lut.subarray(128 * 3, 128 * 3 + 3)]);
  });

  it('applies a custom hex colormap to uint8 data', async () => {
    const data = new Uint8Array([0, 255]);
    const out = await pixels(await pngEncoder.encode(rasterResult(2, 1, data), ctx({ colormap: '#ff0000,#0000ff' })));
    expect(out).toMatchObject({ channels: 3, data: [255, 0, 0, 0, 0, 255] });
    const arr = await pixels(await pngEncoder.encode(rasterResult(2, 1, data), ctx({ colormap: ['#00ff00', '#000000'] })));
    expect(arr.data).toEqual([0, 255, 0, 0, 0, 0]);
  });

  it('rejects an unknown colormap with the list of known names', async () => {
    const err = await rejection(pngEncoder.encode(rasterResult(1, 1, new Uint8Array([1])), ctx({ colormap: 'nope' })));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toMatch(/Unknown colormap "nope".*viridis/);
  });

  it('resizes to tileSize on tile calls only (nearest neighbour within 2×)', async () => {
    const data = new Uint8Array([0, 255, 255, 0]);
    const tileCtx = ctx({ tile: { z: 1, x: 0, y: 0 }, tileSize: 4 });
    const out = await pixels(await pngEncoder.encode(rasterResult(2, 2, data), tileCtx));
    expect(out).toMatchObject({ width: 4, height: 4 });
    expect(out.data).toEqual([0, 0, 255, 255, 0, 0, 255, 255, 255, 255, 0, 0, 255, 255, 0, 0]);
    expect(await pixels(await pngEncoder.encode(rasterResult(2, 2, data), ctx({ tileSize: 4 })))).toMatchObject({ width: 2, height: 2 });
    const big = await pixels(await pngEncoder.encode(rasterResult(2, 2, data), ctx({ tile: { z: 1, x: 0, y: 0 }, tileSize: 256 })));
    expect(big).toMatchObject({ width: 256, height: 256 });
  });

  it('encodes an empty result as a fully transparent tileSize image', async () => {
    const out = await pixels(await pngEncoder.encode({ kind: 'empty' }, ctx({ tileSize: 512 })));
    expect(out).toMatchObject({ width: 512, height: 512, channels: 4 });
    expect(out.data.every((v) => v === 0)).toBe(true);
  });
});

describe('jpg and webp encoders', () => {
  it('writes JPEG, flattening transparent pixels onto black', async () => {
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 16 * 16; i++) rgba.set(i < 128 ? [200, 100, 50, 255] : [255, 255, 255, 0], i * 4);
    const jpg = await jpegEncoder.encode(rasterResult(16, 16, rgba), ctx());
    expect((await sharp(jpg).metadata()).format).toBe('jpeg');
    const out = await pixels(jpg);
    expect(out.channels).toBe(3);
    const [r, g, b] = out.data.slice(0, 3);
    expect(Math.abs(r - 200) + Math.abs(g - 100) + Math.abs(b - 50)).toBeLessThan(15);
    expect(out.data.slice(-3).every((v) => v < 10)).toBe(true);
  });

  it('writes WebP with alpha, close to the source colours', async () => {
    const rgba = new Uint8Array(16 * 16 * 4);
    for (let i = 0; i < 16 * 16; i++) rgba.set(i < 128 ? [30, 144, 255, 255] : [0, 0, 0, 0], i * 4);
    const webp = await webpEncoder.encode(rasterResult(16, 16, rgba), ctx());
    expect((await sharp(webp).metadata()).format).toBe('webp');
    const out = await pixels(webp);
    expect(out.channels).toBe(4);
    const [r, g, b, a] = out.data.slice(0, 4);
    expect(Math.abs(r - 30) + Math.abs(g - 144) + Math.abs(b - 255)).toBeLessThan(15);
    expect(a).toBe(255);
    expect(out.data[out.data.length - 1]).toBe(0);
  });

  it('declares media types, extensions and aliases', () => {
    expect([pngEncoder, jpegEncoder, webpEncoder].map((e) => [e.name, e.mediaType, e.extension, e.aliases])).toEqual([
      ['png', 'image/png', 'png', []],
      ['jpg', 'image/jpeg', 'jpg', ['jpeg']],
      ['webp', 'image/webp', 'webp', []],
    ]);
    expect(pngEncoder.accepts).not.toContain('vector');
  });
});

describe('rasterToPixels: single band + colormap', () => {
  /** The per-pixel rule, written out plainly: NaN / noData transparent, else clamp-round to an index. */
  function reference(values: number[], min: number, max: number, noData: number | undefined, lut: Uint8Array, alpha: boolean): number[] {
    const out: number[] = [];
    for (const v of values) {
      if (alpha && (Number.isNaN(v) || v === noData)) {
        out.push(0, 0, 0, 0);
        continue;
      }
      const i = Uint8ClampedArray.of((v - min) / ((max - min) / 255))[0];
      out.push(lut[3 * i], lut[3 * i + 1], lut[3 * i + 2]);
      if (alpha) out.push(255);
    }
    return out;
  }

  it('maps float32 through rescale and the LUT with NaN and noData transparent, out-of-range values clamped, halves rounded to even', () => {
    const values = [NaN, -5, 0, 0.5, 1.5, 2.5, 127.5, 128.5, 254.5, 255, 300, -9999, 42.25, Infinity, -Infinity];
    const lut = resolveColormap('viridis');
    const px = rasterToPixels({ width: values.length, height: 1, bands: 1, data: Float32Array.from(values), noData: -9999 }, { rescale: [0, 255], colormap: 'viridis' });
    expect(px.channels).toBe(4);
    expect([...px.data]).toEqual(reference([...Float32Array.from(values)], 0, 255, -9999, lut, true));
  });

  it('maps uint8 without a range or noData to RGB (no alpha), and a reversed range', () => {
    const lut = resolveColormap('magma');
    const values = [0, 1, 128, 255];
    const px = rasterToPixels({ width: 4, height: 1, bands: 1, data: Uint8Array.from(values) }, { colormap: 'magma' });
    expect(px.channels).toBe(3);
    expect([...px.data]).toEqual(reference(values, 0, 255, undefined, lut, false));
    const rev = rasterToPixels({ width: 4, height: 1, bands: 1, data: Float64Array.from(values) }, { rescale: [255, 0], colormap: 'magma' });
    expect([...rev.data]).toEqual(reference(values, 255, 0, undefined, lut, true));
  });
});

describe('pixel buffers reused between encodes', () => {
  /** An allocator handing out a buffer full of stale bytes (as a pooled one may be). */
  const dirty = (bytes: number) => new Uint8Array(bytes).fill(0xab);

  it('rasterToPixels writes every byte of a supplied buffer: masked pixels come out transparent, not stale', () => {
    const values = Float32Array.from([NaN, 0.2, -9999, 0.9, NaN, 1]);
    const raster = { width: 3, height: 2, bands: 1 as const, data: values, noData: -9999 };
    for (const c of [{ rescale: [0, 1] as [number, number], colormap: 'viridis' }, { rescale: [0, 1] as [number, number] }]) {
      const fresh = rasterToPixels(raster, c);
      const reused = rasterToPixels(raster, c, dirty);
      expect([...reused.data]).toEqual([...fresh.data]);
      expect(reused.channels).toBe(fresh.channels);
    }
    // Multi-band (general loop) too.
    const rgb = { width: 2, height: 1, bands: 3 as const, data: Float32Array.from([NaN, NaN, NaN, 0.1, 0.5, 0.9]) };
    expect([...rasterToPixels(rgb, { rescale: [0, 1] }, dirty).data]).toEqual([...rasterToPixels(rgb, { rescale: [0, 1] }).data]);
  });

  it('the png encoder gives the same bytes for a tile encoded after others (its pixel buffer is reused)', async () => {
    const size = 64;
    const tile = (hole: boolean) => {
      const data = new Float32Array(size * size);
      for (let i = 0; i < data.length; i++) data[i] = hole && i % 7 === 0 ? NaN : (i % size) / size;
      return rasterResult(size, size, data);
    };
    const c = ctx({ tileSize: size, rescale: [0, 1], colormap: 'viridis' });
    const holes = tile(true);
    const first = Buffer.from(await pngEncoder.encode(holes, c));
    // Full tiles fill the pooled buffer with colour; the holes must still come out transparent.
    for (let i = 0; i < 3; i++) await pngEncoder.encode(tile(false), c);
    const again = await Promise.all([pngEncoder.encode(holes, c), pngEncoder.encode(tile(false), c), pngEncoder.encode(holes, c)]);
    expect(Buffer.from(again[0]).equals(first)).toBe(true);
    expect(Buffer.from(again[2]).equals(first)).toBe(true);
    const decoded = await pixels(first);
    expect(decoded.data.slice(0, 4)).toEqual([0, 0, 0, 0]);
    // A uint8 raster handed to sharp as it is (no copy) is never taken into the pool.
    const grey = new Uint8Array(size * size).fill(7);
    await pngEncoder.encode(rasterResult(size, size, grey), ctx({ tileSize: size }));
    await pngEncoder.encode(tile(false), c);
    await pngEncoder.encode(rasterResult(size, size, new Float32Array(size * size).fill(0.5)), ctx({ tileSize: size, rescale: [0, 1] }));
    expect(grey.every((v) => v === 7)).toBe(true);
  });
});
