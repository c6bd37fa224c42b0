import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import { COLORMAP_NAMES, resolveColormap } from './colormap.ts';

const rgb = (lut: Uint8Array, i: number) => [...lut.subarray(i * 3, i * 3 + 3)];

describe('resolveColormap', () => {
  it('builds 768-byte LUTs whose ends match the matplotlib colours', () => {
    for (const name of ['viridis', 'magma', 'inferno', 'plasma', 'greys', 'terrain', 'turbo', 'rdylgn']) {
      expect(COLORMAP_NAMES).toContain(name);
      expect(resolveColormap(name)).toHaveLength(768);
    }
    expect(rgb(resolveColormap('viridis'), 0)).toEqual([0x44, 0x01, 0x54]);
    expect(rgb(resolveColormap('viridis'), 255)).toEqual([0xfd, 0xe7, 0x25]);
    expect(rgb(resolveColormap('magma'), 255)).toEqual([0xfc, 0xfd, 0xbf]);
    expect(rgb(resolveColormap('greys'), 0)).toEqual([255, 255, 255]);
    expect(rgb(resolveColormap('greys'), 255)).toEqual([0, 0, 0]);
    expect(rgb(resolveColormap('terrain'), 0)).toEqual([0x33, 0x33, 0x99]);
    // viridis mid-point (matplotlib: #21918c) stays within a couple of units
    const mid = rgb(resolveColormap('viridis'), 128);
    [0x21, 0x91, 0x8c].forEach((v, i) => expect(Math.abs(mid[i] - v)).toBeLessThanOrEqual(3));
  });

  it('is case-insensitive, cached, and reverses with _r', () => {
    expect(resolveColormap('VIRIDIS')).toBe(resolveColormap('viridis'));
    expect(rgb(resolveColormap('viridis_r'), 0)).toEqual([0xfd, 0xe7, 0x25]);
    expect(rgb(resolveColormap('viridis_r'), 255)).toEqual([0x44, 0x01, 0x54]);
  });

  it('accepts custom stops: comma-separated hex, JSON array, or string[]', () => {
    for (const spec of ['#000000,#ff0000,#ffffff', '["#000000","#ff0000","#ffffff"]', ['#000', 'ff0000', '#FFFFFF']]) {
      const lut = resolveColormap(spec);
      expect(rgb(lut, 0)).toEqual([0, 0, 0]);
      expect(rgb(lut, 255)).toEqual([255, 255, 255]);
      expect(rgb(lut, 64)).toEqual([128, 0, 0]); // a quarter of the way: half-way to red
    }
  });

  it('rejects unknown names (listing the known ones) and malformed colours with 400', () => {
    const err = (() => {
      try {
        resolveColormap('rainbowz');
      } catch (e) {
        return e as BadRequestError;
      }
    })()!;
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.status).toBe(400);
    expect(err.message).toContain(COLORMAP_NAMES.join(', '));
    expect(() => resolveColormap('#12345,#000000')).toThrow(/not a hex colour/);
    expect(() => resolveColormap('#000000')).toThrow(/at least two/);
    expect(() => resolveColormap('[1,2]')).toThrow(BadRequestError);
    expect(() => resolveColormap('[oops')).toThrow(/not a valid JSON array/);
  });
});
