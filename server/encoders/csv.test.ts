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

  it('declares text/csv', () => {
    expect(csvEncoder).toMatchObject({ mediaType: 'text/csv; charset=utf-8', extension: 'csv', accepts: ['vector', 'table', 'empty'] });
  });
});
