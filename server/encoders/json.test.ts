import { describe, expect, it } from 'vitest';
import type { EncodeContext, Feature } from '../types.ts';
import { geojsonEncoder } from './geojson.ts';
import { jsonEncoder } from './json.ts';

const ctx = { udfName: 't', tile: null, bounds: null, tileSize: 256, layerName: 't', extent: 4096, buffer: 64 } as EncodeContext;
const parse = async (bytes: Uint8Array | Promise<Uint8Array>) => JSON.parse(new TextDecoder().decode(await bytes));

const features: Feature[] = [
  { type: 'Feature', id: 'a', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { n: 1, big: 12n, arr: new Float32Array([0.5, 1]) } },
  { type: 'Feature', geometry: { type: 'Point', coordinates: [3, 4] }, properties: { s: 'x' } },
];

describe('json encoder', () => {
  it('writes vector results as a FeatureCollection, converting bigints and typed arrays', async () => {
    expect(await parse(jsonEncoder.encode({ kind: 'vector', features }, ctx))).toEqual({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', id: 'a', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { n: 1, big: 12, arr: [0.5, 1] } },
        features[1],
      ],
    });
  });

  it('writes tables as row arrays, json values as themselves and empty as null', async () => {
    expect(await parse(jsonEncoder.encode({ kind: 'table', table: { columns: ['a'], rows: [{ a: 1 }, { a: 2 }] } }, ctx))).toEqual([{ a: 1 }, { a: 2 }]);
    const value = { h3: ['8928308280fffff'], count: 2n ** 70n, pixels: new Uint8Array([1, 2]), nested: [{ m: new Map([['k', 1]]) }] };
    expect(await parse(jsonEncoder.encode({ kind: 'json', value }, ctx))).toEqual({
      h3: ['8928308280fffff'],
      count: '1180591620717411303424',
      pixels: [1, 2],
      nested: [{ m: { k: 1 } }],
    });
    expect(await parse(jsonEncoder.encode({ kind: 'json', value: 'text' }, ctx))).toBe('text');
    expect(await parse(jsonEncoder.encode({ kind: 'empty' }, ctx))).toBeNull();
  });
});

describe('geojson encoder', () => {
  it('writes a FeatureCollection with properties and geometry always present', async () => {
    const bare = { type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] } } as unknown as Feature;
    const fc = await parse(geojsonEncoder.encode({ kind: 'vector', features: [...features, bare] }, ctx));
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(3);
    expect(fc.features[0].properties.arr).toEqual([0.5, 1]);
    expect(fc.features[2]).toEqual({ type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] }, properties: null });
  });

  it('writes table rows as features without geometry, and empty as an empty collection', async () => {
    expect(await parse(geojsonEncoder.encode({ kind: 'table', table: { columns: ['a'], rows: [{ a: 1 }] } }, ctx))).toEqual({
      type: 'FeatureCollection',
      features: [{ type: 'Feature', geometry: null, properties: { a: 1 } }],
    });
    expect(await parse(geojsonEncoder.encode({ kind: 'empty' }, ctx))).toEqual({ type: 'FeatureCollection', features: [] });
    expect(geojsonEncoder).toMatchObject({ mediaType: 'application/geo+json', extension: 'geojson' });
  });
});
