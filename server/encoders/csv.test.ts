import { describe, expect, it } from 'vitest';
import type { EncodeContext, Feature, Geometry } from '../types.ts';
import { csvEncoder } from './csv.ts';
import { ALL_GEOMETRIES, parseCsv } from './test-utils.ts';

const ctx = { udfName: 't', tile: null, bounds: null, tileSize: 256, layerName: 't', extent: 4096, buffer: 64 } as EncodeContext;
const text = async (r: Parameters<typeof csvEncoder.encode>[0]) => new TextDecoder().decode(await csvEncoder.encode(r, ctx));

describe('csv encoder', () => {
  it('writes the union of property keys plus a WKT geometry column, quoting per RFC 4180', async () => {
    const features: Feature<Geometry | null>[] = [
      { type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { name: 'plain', note: 'a, b', n: 1 } },
      { type: 'Feature', geometry: null, properties: { name: 'say "hi"', extra: true, nested: { k: 'v,w' } } },
      { type: 'Feature', geometry: { type: 'LineString', coordinates: [[0, 0], [1, 1]] }, properties: { name: 'two\r\nlines', n: 2.5 } },
    ];
    const body = await text({ kind: 'vector', features });
    expect(body.endsWith('\r\n')).toBe(true);
    expect(parseCsv(body)).toEqual([
      ['name', 'note', 'n', 'extra', 'nested', 'geometry'],
      ['plain', 'a, b', '1', '', '', 'POINT (1 2)'],
      ['say "hi"', '', '', 'true', '{"k":"v,w"}', ''],
      ['two\r\nlines', '', '2.5', '', '', 'LINESTRING (0 0, 1 1)'],
    ]);
    expect(body.split('\r\n')[2]).toBe('"say ""hi""",,,true,"{""k"":""v,w""}",');
  });

  it('writes correct WKT for every geometry type (quoted when it holds commas)', async () => {
    const features = ALL_GEOMETRIES.map(([g], i): Feature => ({ type: 'Feature', geometry: g, properties: { i } }));
    const rows = parseCsv(await text({ kind: 'vector', features }));
    expect(rows[0]).toEqual(['i', 'geometry']);
    expect(rows.slice(1).map((r) => r[1])).toEqual(ALL_GEOMETRIES.map(([, wkt]) => wkt));
  });

  it('writes tables with their columns and empty results as a header only', async () => {
    const rows = parseCsv(await text({ kind: 'table', table: { columns: ['a', 'b,c'], rows: [{ a: 1, 'b,c': 'x' }, { a: 10n, 'b,c': null }] } }));
    expect(rows).toEqual([['a', 'b,c'], ['1', 'x'], ['10', '']]);
    expect(await text({ kind: 'empty' })).toBe('geometry\r\n');
    expect(await text({ kind: 'vector', features: [] })).toBe('geometry\r\n');
  });

  it('adds longitude and latitude columns (before geometry) when every geometry is a point, for Felt', async () => {
    const points: [number, number, ...number[]][] = [[2.3522, 48.8566], [-122.41941550000001, 37.7749295], [0, -0.5], [1.5e-7, -3e-9], [10, 20, 30]];
    const features: Feature<Geometry | null>[] = [
      ...points.map((coordinates, i): Feature => ({ type: 'Feature', id: i, geometry: { type: 'Point', coordinates }, properties: { name: `p${i}` } })),
      { type: 'Feature', id: 9, geometry: null, properties: { name: 'nowhere' } },
      { type: 'Feature', id: 10, geometry: { type: 'Point', coordinates: [] }, properties: { name: 'empty' } },
    ];
    const rows = parseCsv(await text({ kind: 'vector', features }));
    expect(rows[0]).toEqual(['id', 'name', 'longitude', 'latitude', 'geometry']);
    const col = (name: string) => rows[0].indexOf(name);
    points.forEach(([lon, lat], i) => {
      const row = rows[i + 1];
      expect(row[col('name')]).toBe(`p${i}`);
      expect(Number(row[col('longitude')])).toBeCloseTo(lon, 12);
      expect(Number(row[col('latitude')])).toBeCloseTo(lat, 12);
      expect(row[col('longitude')]).not.toMatch(/e/i); // plain decimals, no exponent notation
      expect(row[col('latitude')]).not.toMatch(/e/i);
    });
    expect(Number(rows[2][col('longitude')])).toBe(-122.41941550000001); // full precision otherwise
    expect(rows[4].slice(2, 4)).toEqual(['0.00000015', '-0.000000003']);
    expect(rows[5].slice(2)).toEqual(['10', '20', 'POINT Z (10 20 30)']);
    expect(rows[6]).toEqual(['9', 'nowhere', '', '', '']);
    expect(rows[7]).toEqual(['10', 'empty', '', '', 'POINT EMPTY']);
  });

  it('adds no longitude/latitude columns for mixed geometries, multipoints, no points, or when the names are taken', async () => {
    const pt = (coordinates: number[], properties: Record<string, unknown> = {}): Feature => ({ type: 'Feature', geometry: { type: 'Point', coordinates }, properties });
    const header = async (features: Feature<Geometry | null>[]) => parseCsv(await text({ kind: 'vector', features }))[0];
    expect(await header([pt([1, 2]), { type: 'Feature', geometry: { type: 'LineString', coordinates: [[0, 0], [1, 1]] }, properties: {} }])).toEqual(['geometry']);
    expect(await header([pt([1, 2]), { type: 'Feature', geometry: { type: 'MultiPoint', coordinates: [[0, 0]] }, properties: {} }])).toEqual(['geometry']);
    expect(await header([{ type: 'Feature', geometry: null, properties: { a: 1 } }])).toEqual(['a', 'geometry']);
    expect(await header([pt([1, 2], { latitude: 5 })])).toEqual(['latitude', 'geometry']);
    expect(await header([pt([1, 2], { Longitude: 5 })])).toEqual(['Longitude', 'geometry']);
    const rows = parseCsv(await text({ kind: 'vector', features: [pt([1, 2], { latitude: 5, longitude: 6 })] }));
    expect(rows).toEqual([['latitude', 'longitude', 'geometry'], ['5', '6', 'POINT (1 2)']]); // the properties' own values win
  });

  it('declares text/csv', () => {
    expect(csvEncoder).toMatchObject({ mediaType: 'text/csv; charset=utf-8', extension: 'csv', accepts: ['vector', 'table', 'empty'] });
  });
});
