import { tableFromIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import type { EncodeContext, Feature, Geometry } from '../types.ts';
import { arrowEncoder } from './arrow.ts';
import { readWkb } from './test-utils.ts';

const ctx = { udfName: 't', tile: null, bounds: null, tileSize: 256, layerName: 't', extent: 4096, buffer: 64 } as EncodeContext;

const features: Feature<Geometry | null>[] = [
  { type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { name: 'a', n: 1, v: 0.5, ok: true } },
  { type: 'Feature', geometry: { type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] }, properties: { name: null, n: 2, nested: [1, 2] } },
  { type: 'Feature', geometry: null, properties: { name: 'c', n: 2 ** 35 } },
];

describe('arrow encoder', () => {
  it('writes an IPC stream with a geoarrow.wkb geometry column', async () => {
    const bytes = await arrowEncoder.encode({ kind: 'vector', features }, ctx);
    // stream format: starts with a continuation marker, not the "ARROW1" file magic
    expect([...bytes.subarray(0, 4)]).toEqual([0xff, 0xff, 0xff, 0xff]);
    const table = tableFromIPC(bytes);
    expect(table.numRows).toBe(3);
    const geom = table.schema.fields.find((f) => f.name === 'geometry')!;
    expect(String(geom.type)).toBe('Binary');
    expect(geom.metadata.get('ARROW:extension:name')).toBe('geoarrow.wkb');
    const wkb = table.getChild('geometry')!.toArray() as (Uint8Array | null)[];
    expect(wkb.map((b) => (b ? readWkb(b) : null))).toEqual(features.map((f) => f.geometry));
  });

  it('round-trips typed property columns', async () => {
    const table = tableFromIPC(await arrowEncoder.encode({ kind: 'vector', features }, ctx));
    expect(table.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([
      ['name', 'Utf8'],
      ['n', 'Int64'],
      ['v', 'Float64'],
      ['ok', 'Bool'],
      ['nested', 'Utf8'],
      ['geometry', 'Binary'],
    ]);
    expect(table.toArray().map((r) => { const { geometry, ...rest } = r.toJSON(); return rest; })).toEqual([
      { name: 'a', n: 1n, v: 0.5, ok: true, nested: null },
      { name: null, n: 2n, v: null, ok: null, nested: '[1,2]' },
      { name: 'c', n: 2n ** 35n, v: null, ok: null, nested: null },
    ]);
  });

  it('writes tables without geometry and empty results with zero rows', async () => {
    const t = tableFromIPC(await arrowEncoder.encode({ kind: 'table', table: { columns: ['a'], rows: [{ a: 'x' }, { a: 'y' }] } }, ctx));
    expect(t.schema.fields.map((f) => f.name)).toEqual(['a']);
    expect(t.toArray().map((r) => r.toJSON())).toEqual([{ a: 'x' }, { a: 'y' }]);
    const e = tableFromIPC(await arrowEncoder.encode({ kind: 'empty' }, ctx));
    expect(e.numRows).toBe(0);
    expect(e.schema.fields.map((f) => f.name)).toEqual(['geometry']);
  });

  it('declares its media type, extension and aliases', () => {
    expect(arrowEncoder).toMatchObject({ mediaType: 'application/vnd.apache.arrow.stream', extension: 'arrow', aliases: ['arrows', 'ipc'] });
  });
});
