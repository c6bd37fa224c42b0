import { VectorTile } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import type { EncodeContext, Feature, Geometry, NormalizedResult, TileCoord } from '../types.ts';
import { mvtEncoder } from './mvt.ts';

const tile: TileCoord = { z: 8, x: 135, y: 86 };
const ctx = (over: Partial<EncodeContext> = {}): EncodeContext => ({
  udfName: 'test',
  tile,
  bounds: null,
  tileSize: 512,
  layerName: 'test',
  extent: 4096,
  buffer: 64,
  ...over,
});

/** lon/lat at fraction (fx, fy) across the tile (fy in Mercator space, from the north edge). */
function at(fx: number, fy: number, t = tile): [number, number] {
  const n = 2 ** t.z;
  const lon = ((t.x + fx) / n) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (t.y + fy)) / n))) * 180) / Math.PI;
  return [lon, lat];
}

function ring(...pts: [number, number][]): [number, number][] {
  const r = pts.map(([fx, fy]) => at(fx, fy));
  return [...r, r[0]];
}

async function decode(result: NormalizedResult, c = ctx()) {
  const bytes = await mvtEncoder.encode(result, c);
  return { bytes, vt: new VectorTile(new PbfReader(bytes)) };
}

const vector = (features: Feature<Geometry | null>[]): NormalizedResult => ({ kind: 'vector', features });

/** Precision of one tile unit in degrees of longitude (latitudes are finer here). */
const unit = 360 / (2 ** tile.z * 4096);

function expectPositions(actual: unknown, expected: unknown): void {
  if (typeof expected === 'number') {
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(unit);
    return;
  }
  expect(Array.isArray(actual)).toBe(true);
  expect((actual as unknown[]).length).toBe((expected as unknown[]).length);
  (expected as unknown[]).forEach((e, i) => expectPositions((actual as unknown[])[i], e));
}

/** Rings come back with MVT winding (outer CW on screen): compare ignoring orientation and start. */
function normRing(r: number[][]): string[] {
  return r
    .slice(0, -1)
    .map(([x, y]) => `${Math.round(x / unit)},${Math.round(y / unit)}`)
    .sort();
}

describe('mvt encoder', () => {
  const polygonWithHole = [ring([0.1, 0.1], [0.1, 0.4], [0.4, 0.4], [0.4, 0.1]), ring([0.2, 0.2], [0.3, 0.2], [0.3, 0.3], [0.2, 0.3])];
  const features: Feature<Geometry | null>[] = [
    {
      type: 'Feature',
      id: 42,
      geometry: { type: 'Point', coordinates: at(0.5, 0.5) },
      properties: { name: 'a, "b"', n: 1.5, i: -7, flag: true, nested: { k: [1, 2] }, arr: [1, 'x'], nil: null, undef: undefined },
    },
    { type: 'Feature', id: 'abc', geometry: { type: 'LineString', coordinates: [at(0.1, 0.9), at(0.5, 0.6), at(0.9, 0.9)] }, properties: { kind: 'line' } },
    { type: 'Feature', id: -3, geometry: { type: 'Polygon', coordinates: polygonWithHole }, properties: { kind: 'poly' } },
    { type: 'Feature', geometry: { type: 'MultiPoint', coordinates: [at(0.6, 0.1), at(0.7, 0.2)] }, properties: { kind: 'mpoint' } },
    {
      type: 'Feature',
      geometry: { type: 'MultiLineString', coordinates: [[at(0.6, 0.3), at(0.9, 0.3)], [at(0.6, 0.4), at(0.9, 0.45)]] },
      properties: { kind: 'mline' },
    },
    {
      type: 'Feature',
      geometry: {
        type: 'MultiPolygon',
        coordinates: [[ring([0.05, 0.6], [0.05, 0.7], [0.15, 0.7])], [ring([0.2, 0.6], [0.2, 0.7], [0.3, 0.7])]],
      },
      properties: { kind: 'mpoly' },
    },
    { type: 'Feature', geometry: { type: 'Point', coordinates: [-120, -40] }, properties: { kind: 'elsewhere' } },
    { type: 'Feature', geometry: null, properties: { kind: 'no geometry' } },
  ];

  it('writes one v2 layer named after ctx.layerName with the tile extent', async () => {
    const { vt } = await decode(vector(features), ctx({ layerName: 'my_udf' }));
    expect(Object.keys(vt.layers)).toEqual(['my_udf']);
    const layer = vt.layers.my_udf;
    expect(layer.version).toBe(2);
    expect(layer.extent).toBe(4096);
    expect(layer.length).toBe(6); // the far-away point and the null geometry are not in this tile
  });

  it('keeps scalar properties, stringifies nested ones, drops null/undefined', async () => {
    const { vt } = await decode(vector(features));
    const f = vt.layers.test.feature(0);
    expect(f.properties).toEqual({ name: 'a, "b"', n: 1.5, i: -7, flag: true, nested: '{"k":[1,2]}', arr: '[1,"x"]' });
    // the caller's properties object is left alone
    expect(features[0].properties!.nested).toEqual({ k: [1, 2] });
  });

  it('preserves non-negative integer ids and drops ids MVT cannot hold', async () => {
    const { vt } = await decode(vector(features));
    const layer = vt.layers.test;
    const byKind = new Map(Array.from({ length: layer.length }, (_, i) => layer.feature(i)).map((f) => [f.properties.kind ?? 'point', f]));
    expect(byKind.get('point')!.id).toBe(42);
    expect(byKind.get('line')!.id).toBeUndefined(); // string id
    expect(byKind.get('poly')!.id).toBeUndefined(); // negative id
  });

  it('round-trips coordinates of every geometry type within tile precision', async () => {
    const { vt } = await decode(vector(features));
    const layer = vt.layers.test;
    const decoded = new Map(
      Array.from({ length: layer.length }, (_, i) => layer.feature(i).toGeoJSON(tile.x, tile.y, tile.z)).map((f) => [f.properties?.kind ?? 'point', f.geometry]),
    );
    expect(decoded.get('point')).toMatchObject({ type: 'Point' });
    expectPositions((decoded.get('point') as any).coordinates, at(0.5, 0.5));
    expect(decoded.get('line')!.type).toBe('LineString');
    expectPositions((decoded.get('line') as any).coordinates, features[1].geometry!.type === 'LineString' && features[1].geometry!.coordinates);
    expect(decoded.get('mpoint')!.type).toBe('MultiPoint');
    expectPositions((decoded.get('mpoint') as any).coordinates, [at(0.6, 0.1), at(0.7, 0.2)]);
    expect(decoded.get('mline')!.type).toBe('MultiLineString');
    expectPositions((decoded.get('mline') as any).coordinates, [[at(0.6, 0.3), at(0.9, 0.3)], [at(0.6, 0.4), at(0.9, 0.45)]]);

    const poly = decoded.get('poly') as any;
    expect(poly.type).toBe('Polygon');
    expect(poly.coordinates).toHaveLength(2); // outer ring + hole
    expect(normRing(poly.coordinates[0])).toEqual(normRing(polygonWithHole[0]));
    expect(normRing(poly.coordinates[1])).toEqual(normRing(polygonWithHole[1]));

    const mpoly = decoded.get('mpoly') as any;
    expect(mpoly.type).toBe('MultiPolygon');
    expect(mpoly.coordinates).toHaveLength(2);
    expect(normRing(mpoly.coordinates[1][0])).toEqual(normRing(ring([0.2, 0.6], [0.2, 0.7], [0.3, 0.7])));
  });

  it('includes features within the buffer and honours a custom extent', async () => {
    const justOutside = vector([{ type: 'Feature', geometry: { type: 'Point', coordinates: at(1 + 32 / 4096, 0.5) }, properties: {} }]);
    const { vt } = await decode(justOutside, ctx({ buffer: 64 }));
    expect(vt.layers.test.length).toBe(1);
    expect(vt.layers.test.feature(0).loadGeometry()[0][0].x).toBe(4096 + 32);
    expect((await decode(justOutside, ctx({ buffer: 0 }))).bytes.length).toBe(0);

    const small = await decode(vector(features.slice(0, 1)), ctx({ extent: 512 }));
    expect(small.vt.layers.test.extent).toBe(512);
    expect(small.vt.layers.test.feature(0).loadGeometry()[0][0]).toMatchObject({ x: 256, y: 256 });
  });

  it('cuts only the requested tile at high zoom without indexing the world', async () => {
    const deep: TileCoord = { z: 20, x: Math.floor(0.5 * 2 ** 20) + 3, y: Math.floor(0.5 * 2 ** 20) - 5 };
    const many = Array.from({ length: 10_000 }, (_, i): Feature => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: at((i % 100) / 100, Math.floor(i / 100) / 100, deep) },
      properties: { i },
    }));
    const { vt } = await decode(vector(many), ctx({ tile: deep }));
    expect(vt.layers.test.length).toBe(10_000);
  });

  it('simplifies dense geometry (tolerance 3 units) and writes no repeated vertices', async () => {
    const n = 4000;
    const dense = Array.from({ length: n }, (_, i): [number, number] => [0.5 + 0.02 * Math.cos((i / n) * 2 * Math.PI), 0.5 + 0.02 * Math.sin((i / n) * 2 * Math.PI)]);
    const { vt } = await decode(vector([{ type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring(...dense)] }, properties: {} }]));
    const [outer] = vt.layers.test.feature(0).loadGeometry();
    // a circle of radius ~82 units drawn within 3 units needs a dozen or so vertices, not 4000
    expect(outer.length).toBeGreaterThan(8);
    expect(outer.length).toBeLessThan(40);
    for (let i = 1; i < outer.length; i++) expect(outer[i].equals(outer[i - 1])).toBe(false);
    expect(outer[0].equals(outer[outer.length - 1])).toBe(true);
    for (const p of outer) expect(Math.hypot(p.x - 2048, p.y - 2048)).toBeCloseTo(0.02 * 4096, -1);
  });

  it('winds small polygons right at deep zooms (outer rings positive area with y down, holes negative)', async () => {
    const deep: TileCoord = { z: 22, x: Math.floor(0.52 * 2 ** 22), y: Math.floor(0.34 * 2 ** 22) };
    const sq = (c: number, r: number, cw: boolean): [number, number][] => {
      const pts: [number, number][] = [[c - r, c - r], [c + r, c - r], [c + r, c + r], [c - r, c + r]].map(([fx, fy]) => at(fx, fy, deep));
      if (cw) pts.reverse();
      return [...pts, pts[0]];
    };
    const polys = Array.from({ length: 20 }, (_, i): Feature => ({
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [sq(0.1 + i * 0.04, 0.01, i % 2 === 0), sq(0.1 + i * 0.04, 0.005, i % 3 === 0)] },
      properties: { i },
    }));
    const { vt } = await decode(vector(polys), ctx({ tile: deep }));
    const area = (r: { x: number; y: number }[]) => r.reduce((s, p, i) => s + p.x * r[(i + 1) % r.length].y - r[(i + 1) % r.length].x * p.y, 0);
    expect(vt.layers.test.length).toBe(20);
    for (let i = 0; i < 20; i++) {
      const [outer, hole] = vt.layers.test.feature(i).loadGeometry();
      expect(area(outer)).toBeGreaterThan(0);
      expect(area(hole)).toBeLessThan(0);
    }
  });

  it('answers an empty result, or a tile without features, with a zero-length body', async () => {
    expect((await mvtEncoder.encode({ kind: 'empty' }, ctx())).length).toBe(0);
    expect((await mvtEncoder.encode(vector([]), ctx())).length).toBe(0);
    expect((await mvtEncoder.encode(vector([features[6]]), ctx())).length).toBe(0);
  });

  it('refuses a call without a tile with a 400', () => {
    expect(() => mvtEncoder.encode(vector(features), ctx({ tile: null }))).toThrow(BadRequestError);
    expect(() => mvtEncoder.encode(vector(features), ctx({ tile: null }))).toThrow(/mvt format needs a tile/);
  });
});

describe('deep zooms', () => {
  it.each([25, 28, 30])('encodes zoom %i tiles (beyond geojson-vt’s 24) at the right place', async (z) => {
    const deep: TileCoord = { z, x: Math.floor(0.53 * 2 ** z), y: Math.floor(0.31 * 2 ** z) };
    const point = at(0.25, 0.75, deep);
    const square = [at(0.1, 0.1, deep), at(0.4, 0.1, deep), at(0.4, 0.4, deep), at(0.1, 0.4, deep), at(0.1, 0.1, deep)];
    const { vt } = await decode(
      vector([
        { type: 'Feature', geometry: { type: 'Point', coordinates: point }, properties: { k: 'p' } },
        { type: 'Feature', geometry: { type: 'Polygon', coordinates: [square] }, properties: { k: 's' } },
      ]),
      ctx({ tile: deep }),
    );
    const layer = vt.layers.test;
    expect(layer.length).toBe(2);
    expect(layer.feature(0).loadGeometry()[0][0]).toMatchObject({ x: 1024, y: 3072 });
    const ringPts = layer.feature(1).loadGeometry()[0].map((p) => [p.x, p.y]);
    expect(ringPts).toEqual(expect.arrayContaining([[410, 410], [1638, 410], [1638, 1638], [410, 1638]]));
    const back = layer.feature(0).toGeoJSON(deep.x, deep.y, deep.z).geometry as { coordinates: number[] };
    const deepUnit = 360 / (2 ** z * 4096);
    expect(Math.abs(back.coordinates[0] - point[0])).toBeLessThanOrEqual(deepUnit);
  });
});
