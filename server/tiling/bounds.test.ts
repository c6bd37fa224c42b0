import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import { parseBounds, parseTile, tileAt, tileToBounds } from './bounds.ts';
import { thrown } from '../../test/helpers/thrown.ts';

/** The 400 a call throws. */
const refusal = (fn: () => unknown): BadRequestError => thrown(fn, BadRequestError);

describe('parseTile', () => {
  it('accepts integers inside the zoom’s grid', () => {
    expect(parseTile('0', '0', '0')).toEqual({ z: 0, x: 0, y: 0 });
    expect(parseTile('3', '7', '0')).toEqual({ z: 3, x: 7, y: 0 });
    expect(parseTile('30', String(2 ** 30 - 1), '0')).toEqual({ z: 30, x: 2 ** 30 - 1, y: 0 });
  });

  it('refuses signs, decimals, leading zeros, text and huge numbers, saying what is accepted', () => {
    for (const [z, x, y] of [['-1', '0', '0'], ['1', '+1', '0'], ['1', '0', '0.5'], ['01', '0', '0'], ['1', 'a', '0'], ['1', '0', ''], ['1', '0', '12345678901']]) {
      const r = refusal(() => parseTile(z!, x!, y!));
      expect(r.code).toBe('invalid_tile');
      expect(r.message).toMatch(/must be non-negative integers without signs, decimals or leading zeros/);
    }
  });

  it('refuses zooms above the maximum and x/y outside 0..2^z-1, naming the range', () => {
    expect(refusal(() => parseTile('15', '0', '0', 14)).message).toBe('Invalid tile: zoom 15 is above the maximum zoom 14; accepted zooms are 0 to 14.');
    expect(refusal(() => parseTile('2', '4', '0')).message).toBe('Invalid tile 2/4/0: at zoom 2, x and y must be between 0 and 3.');
    expect(refusal(() => parseTile('2', '0', '4')).code).toBe('invalid_tile');
  });

  it('never echoes more than 40 characters of the input', () => {
    const msg = refusal(() => parseTile('1', 'x'.repeat(500), '0')).message;
    expect(msg.length).toBeLessThan(200);
  });
});

describe('tileToBounds', () => {
  it('gives west, south, east, north in degrees (Web Mercator tile grid)', () => {
    const [w, s, e, n] = tileToBounds({ z: 0, x: 0, y: 0 });
    expect([w, e]).toEqual([-180, 180]);
    // atan(sinh(π)) in degrees: the Web Mercator latitude limit.
    expect(n).toBeCloseTo((Math.atan(Math.sinh(Math.PI)) * 180) / Math.PI, 9);
    expect(s).toBeCloseTo(-n, 9);
    const ne = tileToBounds({ z: 1, x: 1, y: 0 });
    expect(ne[0]).toBe(0);
    expect(ne[1]).toBeCloseTo(0, 9);
    expect(ne[2]).toBe(180);
  });

  it('puts a known point inside its tile (Berlin, 10/550/335)', () => {
    const [w, s, e, n] = tileToBounds({ z: 10, x: 550, y: 335 });
    expect(w <= 13.4 && 13.4 <= e && s <= 52.52 && 52.52 <= n).toBe(true);
    expect(e - w).toBeCloseTo(360 / 1024, 9);
  });
});

describe('parseBounds', () => {
  it('reads w,s,e,n and a JSON array, with spaces', () => {
    expect(parseBounds('-10,35,5,45')).toEqual([-10, 35, 5, 45]);
    expect(parseBounds(' -10 , 35 , 5 , 45 ')).toEqual([-10, 35, 5, 45]);
    expect(parseBounds('[-10, 35, 5, 45]')).toEqual([-10, 35, 5, 45]);
  });

  it('allows west > east (a box across the antimeridian)', () => {
    expect(parseBounds('170,-10,-170,10')).toEqual([170, -10, -170, 10]);
  });

  it('refuses the wrong count, non-numbers, empty parts and bad JSON with an example', () => {
    for (const v of ['1,2,3', '1,2,3,4,5', 'a,b,c,d', '1,,3,4', '[1,2,3', '{"w":1}', '', '1,2,3,Infinity']) {
      const r = refusal(() => parseBounds(v, 'bbox'));
      expect(r.code).toBe('invalid_parameter');
      expect(r.message).toMatch(/^Invalid bbox=.*expected four numbers west,south,east,north in degrees, e\.g\. bbox=-10,35,5,45\.$/);
    }
  });

  it('refuses south > north and coordinates off the globe, saying the ranges', () => {
    for (const v of ['0,10,1,5', '0,-91,1,5', '0,0,1,91', '-181,0,1,1', '0,0,181,1']) {
      expect(refusal(() => parseBounds(v)).message).toMatch(/longitudes must be within -180\.\.180, latitudes within -90\.\.90, and south ≤ north\.$/);
    }
  });
});

describe('tileAt', () => {
  it('finds the tile holding a point, the inverse of tileToBounds', () => {
    expect(tileAt(13.4, 52.52, 10)).toEqual({ z: 10, x: 550, y: 335 });
    expect(tileAt(0, 0, 0)).toEqual({ z: 0, x: 0, y: 0 });
    for (const t of [{ z: 3, x: 5, y: 2 }, { z: 14, x: 8800, y: 5370 }]) {
      const [w, s, e, n] = tileToBounds(t);
      expect(tileAt((w + e) / 2, (s + n) / 2, t.z)).toEqual(t);
    }
  });

  it('clamps the world’s edges into the grid', () => {
    expect(tileAt(180, -90, 2)).toEqual({ z: 2, x: 3, y: 3 });
    expect(tileAt(-180, 90, 2)).toEqual({ z: 2, x: 0, y: 0 });
  });
});
