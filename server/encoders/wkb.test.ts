import { describe, expect, it } from 'vitest';
import { ALL_GEOMETRIES, hex, readWkb } from './test-utils.ts';
import { geometryToWkb } from './wkb.ts';
import { geometryToWkt } from './wkt.ts';

describe('geometryToWkb', () => {
  it('matches known ISO WKB for points', () => {
    expect(hex(geometryToWkb({ type: 'Point', coordinates: [1, 2] }))).toBe('0101000000000000000000F03F0000000000000040');
    // POINT Z (1 2 3): type 1001
    expect(hex(geometryToWkb({ type: 'Point', coordinates: [1, 2, 3] }))).toBe('01E9030000000000000000F03F00000000000000400000000000000840');
    // LINESTRING (0 0, 1 1)
    expect(hex(geometryToWkb({ type: 'LineString', coordinates: [[0, 0], [1, 1]] }))).toBe(
      '010200000002000000' + '0'.repeat(32) + '000000000000F03F000000000000F03F',
    );
  });

  it('round-trips every geometry type through an independent reader', () => {
    for (const [g] of ALL_GEOMETRIES) expect(readWkb(geometryToWkb(g))).toEqual(g);
  });
});

describe('geometryToWkt', () => {
  it('writes every geometry type', () => {
    for (const [g, wkt] of ALL_GEOMETRIES) expect(geometryToWkt(g)).toBe(wkt);
  });
});
