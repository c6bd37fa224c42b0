import { tableFromIPC } from 'apache-arrow';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { readParquet } from 'parquet-wasm';
import { describe, expect, it } from 'vitest';
import type { EncodeContext, Feature, Geometry, NormalizedResult } from '../types.ts';
import { parquetEncoder } from './parquet.ts';
import { ALL_GEOMETRIES, hex, readWkb } from './test-utils.ts';

const ctx = { udfName: 't', tile: null, bounds: null, tileSize: 256, layerName: 't', extent: 4096, buffer: 64 } as EncodeContext;

async function encode(result: NormalizedResult): Promise<{ bytes: Uint8Array; ab: ArrayBuffer }> {
  const bytes = await parquetEncoder.encode(result, ctx);
  expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('PAR1');
  return { bytes, ab: bytes.slice().buffer };
}

/** Reads the file with parquet-wasm (Rust arrow-rs/parquet) into an apache-arrow Table. */
function readWithParquetWasm(bytes: Uint8Array) {
  return tableFromIPC(readParquet(bytes).intoIPCStream());
}

const features: Feature<Geometry | null>[] = [
  { type: 'Feature', id: 1, geometry: { type: 'Point', coordinates: [1, 2] }, properties: { name: 'a', n: 1, x: 0.5, ok: true, big: 2 ** 40, tags: { k: [1] } } },
  { type: 'Feature', id: 2, geometry: { type: 'LineString', coordinates: [[-10, -5], [3, 40]] }, properties: { name: 'b, "c"', n: null, x: 2, ok: false } },
  { type: 'Feature', id: 3, geometry: null, properties: { name: null, n: 3, x: -1.25, mixed: 'm' } },
  { type: 'Feature', id: 4, geometry: { type: 'Polygon', coordinates: [[[0, 0], [5, 0], [5, 5], [0, 0]]] }, properties: { mixed: 7 } },
];

describe('parquet encoder (GeoParquet 1.1)', () => {
  it('writes valid geo metadata: version, primary column, WKB, sorted types, bbox', async () => {
    const { ab, bytes } = await encode({ kind: 'vector', features });
    const kv = parquetMetadata(ab).key_value_metadata ?? [];
    const geo = JSON.parse(kv.find((e) => e.key === 'geo')!.value!);
    expect(geo).toEqual({
      version: '1.1.0',
      primary_column: 'geometry',
      columns: { geometry: { encoding: 'WKB', geometry_types: ['LineString', 'Point', 'Polygon'], bbox: [-10, -5, 5, 40] } },
    });
    // the second reader sees the same metadata on the Arrow schema
    expect(JSON.parse(readWithParquetWasm(bytes).schema.metadata.get('geo')!)).toEqual(geo);
  });

  it('stores geometry as a BYTE_ARRAY column of ISO WKB', async () => {
    const { ab, bytes } = await encode({ kind: 'vector', features });
    const schema = parquetMetadata(ab).schema;
    expect(schema.find((s) => s.name === 'geometry')).toMatchObject({ type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' });
    const table = readWithParquetWasm(bytes);
    const wkb = table.getChild('geometry')!.toArray() as (Uint8Array | null)[];
    expect(hex(wkb[0]!)).toBe('0101000000000000000000F03F0000000000000040');
    expect(wkb[2]).toBeNull();
    expect(readWkb(wkb[1]!)).toEqual(features[1].geometry);
    expect(readWkb(wkb[3]!)).toEqual(features[3].geometry);
    // hyparquet decodes GeoParquet WKB to GeoJSON by itself when `geo` is present
    const rows = await parquetReadObjects({ file: ab, columns: ['geometry'] });
    expect(rows.map((r) => r.geometry)).toEqual(features.map((f) => f.geometry));
  });

  it('round-trips typed property columns through both readers', async () => {
    const { ab, bytes } = await encode({ kind: 'vector', features });
    const types = Object.fromEntries(parquetMetadata(ab).schema.slice(1).map((s) => [s.name, s.type]));
    expect(types).toEqual({ id: 'INT32', name: 'BYTE_ARRAY', n: 'INT32', x: 'DOUBLE', ok: 'BOOLEAN', big: 'INT64', tags: 'BYTE_ARRAY', mixed: 'BYTE_ARRAY', geometry: 'BYTE_ARRAY' });

    const expected = [
      { id: 1, name: 'a', n: 1, x: 0.5, ok: true, big: 2n ** 40n, tags: '{"k":[1]}', mixed: null },
      { id: 2, name: 'b, "c"', n: null, x: 2, ok: false, big: null, tags: null, mixed: null },
      { id: 3, name: null, n: 3, x: -1.25, ok: null, big: null, tags: null, mixed: 'm' },
      { id: 4, name: null, n: null, x: null, ok: null, big: null, tags: null, mixed: '7' },
    ];
    const rows = await parquetReadObjects({ file: ab });
    expect(rows.map(({ geometry, ...rest }) => rest)).toEqual(expected);

    const table = readWithParquetWasm(bytes);
    expect(table.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([
      ['id', 'Int32'],
      ['name', 'Utf8'],
      ['n', 'Int32'],
      ['x', 'Float64'],
      ['ok', 'Bool'],
      ['big', 'Int64'],
      ['tags', 'Utf8'],
      ['mixed', 'Utf8'],
      ['geometry', 'Binary'],
    ]);
    expect(table.toArray().map((r) => { const { geometry, ...rest } = r.toJSON(); return rest; })).toEqual(expected);
  });

  it('records every geometry type (with Z suffix) and keeps Z in WKB', async () => {
    const all = ALL_GEOMETRIES.map(([g]): Feature => ({ type: 'Feature', geometry: g, properties: {} }));
    const { ab, bytes } = await encode({ kind: 'vector', features: all });
    const geo = JSON.parse(parquetMetadata(ab).key_value_metadata!.find((e) => e.key === 'geo')!.value!);
    expect(geo.columns.geometry.geometry_types).toEqual([
      'GeometryCollection',
      'LineString',
      'MultiLineString',
      'MultiLineString Z',
      'MultiPoint',
      'MultiPolygon',
      'Point',
      'Point Z',
      'Polygon',
    ]);
    const wkb = readWithParquetWasm(bytes).getChild('geometry')!.toArray() as Uint8Array[];
    expect(wkb.map(readWkb)).toEqual(ALL_GEOMETRIES.map(([g]) => g));
  });

  it('writes tables without geo metadata, and empty results as a zero-row GeoParquet', async () => {
    const t = await encode({ kind: 'table', table: { columns: ['a', 'b', 'c'], rows: [{ a: 1, b: 'x' }, { a: 2.5, b: null }] } });
    expect(parquetMetadata(t.ab).key_value_metadata ?? []).toEqual([]);
    const expected = [{ a: 1, b: 'x', c: null }, { a: 2.5, b: null, c: null }];
    expect(await parquetReadObjects({ file: t.ab })).toEqual(expected);
    expect(readWithParquetWasm(t.bytes).toArray().map((r) => r.toJSON())).toEqual(expected);

    for (const zero of [{ kind: 'vector', features: [] }, { kind: 'table', table: { columns: ['a'], rows: [] } }] as NormalizedResult[]) {
      expect(readWithParquetWasm((await encode(zero)).bytes).numRows).toBe(0);
    }

    const e = await encode({ kind: 'empty' });
    const md = parquetMetadata(e.ab);
    expect(Number(md.num_rows)).toBe(0);
    expect(JSON.parse(md.key_value_metadata!.find((k) => k.key === 'geo')!.value!).columns.geometry).toEqual({ encoding: 'WKB', geometry_types: [] });
    expect(readWithParquetWasm(e.bytes).numRows).toBe(0);
  });

  it('declares its media type, extension and alias', () => {
    expect(parquetEncoder).toMatchObject({ name: 'parquet', mediaType: 'application/vnd.apache.parquet', extension: 'parquet', aliases: ['geoparquet'] });
  });
});
