/**
 * The portable PNG encoder gives the same pixels as the sharp encoder (both decoded by sharp):
 * colormaps, rescale, NaN/noData transparency, grey, RGB, and tiles resized to the tile size.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { EncodeContext, NormalizedResult, RasterData } from '../types.ts';
import { pngEncoder } from './image.ts';
import { portablePngEncoder, unavailableEncoder } from './png-portable.ts';

const ctx = (o: Partial<EncodeContext> = {}): EncodeContext => ({ udfName: 't', tile: { z: 1, x: 0, y: 0 }, bounds: null, tileSize: 64, layerName: 't', extent: 4096, buffer: 64, ...o });
const rgba = async (png: Uint8Array) => sharp(Buffer.from(png)).ensureAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });

function field(width: number, height: number, bands: 1 | 2 | 3 | 4, make: (i: number) => number, Type: typeof Float32Array | typeof Uint8Array = Float32Array): RasterData {
  const data = new Type(width * height * bands);
  for (let i = 0; i < data.length; i++) data[i] = make(i);
  return { width, height, bands, data } as RasterData;
}

describe('portable PNG encoder', () => {
  const cases: [string, RasterData, Partial<EncodeContext>][] = [
    ['float through viridis with NaN', field(64, 64, 1, (i) => (i % 97 === 0 ? NaN : (i % 64) / 63)), { rescale: [0, 1], colormap: 'viridis' }],
    ['uint8 RGB', field(64, 64, 3, (i) => (i * 37) % 256, Uint8Array), {}],
    ['uint8 grey + alpha', field(64, 64, 2, (i) => (i % 2 ? 255 : (i * 5) % 256), Uint8Array), {}],
    ['uint8 grey with noData', { ...field(64, 64, 1, (i) => i % 256, Uint8Array), noData: 0 }, {}],
    ['32×32 resized ×2 (nearest)', field(32, 32, 3, (i) => (i * 11) % 256, Uint8Array), {}],
  ];
  for (const [label, raster, extra] of cases) {
    it(`${label}: same pixels as sharp`, async () => {
      const result: NormalizedResult = { kind: 'raster', raster };
      const a = await rgba(await pngEncoder.encode(result, ctx(extra)));
      const b = await rgba(portablePngEncoder.encode(result, ctx(extra)) as Uint8Array);
      expect([b.info.width, b.info.height]).toEqual([a.info.width, a.info.height]);
      expect(b.data.equals(a.data)).toBe(true);
    });
  }

  it('an empty result is a transparent tile of the tile size', async () => {
    const { data, info } = await rgba(portablePngEncoder.encode({ kind: 'empty' }, ctx({ tileSize: 512 })) as Uint8Array);
    expect([info.width, info.height]).toEqual([512, 512]);
    expect(data.every((v) => v === 0)).toBe(true);
  });

  it('an unavailable format is a 406 naming the target, the reason and what to use', () => {
    const jpg = unavailableEncoder({ name: 'jpg', aliases: ['jpeg'], extension: 'jpg', mediaType: 'image/jpeg', accepts: ['raster'] }, 'it needs sharp', 'Bun');
    expect(() => jpg.encode({ kind: 'empty' }, ctx())).toThrow(expect.objectContaining({ status: 406, message: expect.stringMatching(/jpg format is not available on Bun: it needs sharp\. Ask for png/) }));
  });
});
