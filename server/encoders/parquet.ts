import { parquetWriteBuffer, type BasicType, type ColumnSource } from 'hyparquet-writer';
import type { Encoder, Geometry } from '../types.ts';
import { geometriesBbox, tabulate, type ColumnType } from './tabular.ts';
import { geometryHasZ, geometryToWkb } from './wkb.ts';

const PARQUET_TYPES: Record<ColumnType, BasicType> = {
  int32: 'INT32',
  int64: 'INT64',
  double: 'DOUBLE',
  bool: 'BOOLEAN',
  string: 'STRING',
};

/**
 * `application/vnd.apache.parquet`: GeoParquet 1.1 for vector results — a `geometry` BYTE_ARRAY
 * column of ISO WKB plus the `geo` key/value metadata (encoding, sorted geometry types, bbox; no
 * `crs`, which means OGC:CRS84). Table results are plain Parquet without `geo`.
 * Note: hyparquet-writer's `GEOMETRY` type is Parquet's native logical type, not GeoParquet, so
 * the column is written as plain BYTE_ARRAY on purpose.
 */
export const parquetEncoder: Encoder = {
  name: 'parquet',
  aliases: ['geoparquet'],
  extension: 'parquet',
  mediaType: 'application/vnd.apache.parquet',
  accepts: ['vector', 'table', 'empty'],
  encode(result) {
    const { columns, geometries, rowCount } = tabulate(result);
    const columnData: ColumnSource[] = columns.map((c) => ({
      name: c.name,
      data: c.values as ColumnSource['data'],
      type: PARQUET_TYPES[c.type],
      nullable: true,
    }));
    const kvMetadata = [];
    if (geometries) {
      columnData.push({
        name: 'geometry',
        data: geometries.map((g) => (g ? geometryToWkb(g) : null)),
        type: 'BYTE_ARRAY',
        nullable: true,
      });
      kvMetadata.push({ key: 'geo', value: JSON.stringify(geoMetadata(geometries)) });
    }
    // An empty key_value_metadata list hits the writer bug fixed below: leave it out instead.
    const written = parquetWriteBuffer({ columnData, kvMetadata: kvMetadata.length ? kvMetadata : undefined, createdBy: 'tilesmith' });
    const bytes = new Uint8Array(written);
    if (rowCount === 0) fixEmptyRowGroupList(bytes);
    return bytes;
  },
};

// Thrift compact protocol type ids (the footer is a compact-encoded FileMetaData struct).
const T_BOOL_TRUE = 1;
const T_BOOL_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
const T_I64 = 6;
const T_DOUBLE = 7;
const T_BINARY = 8;
const T_LIST = 9;
const T_SET = 10;
const T_MAP = 11;
const T_STRUCT = 12;

/**
 * hyparquet-writer 0.17 writes the empty `row_groups` list of a zero-row file with element type
 * 0 instead of STRUCT, which arrow-rs (parquet-wasm, DuckDB via arrow, pyarrow) refuses to read.
 * The fix is one byte in the footer: walk FileMetaData to field 4 and set the element type.
 */
function fixEmptyRowGroupList(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = bytes.length - 8 - view.getUint32(bytes.length - 8, true);
  const varint = () => {
    let shift = 0;
    let v = 0;
    let b: number;
    do {
      b = bytes[o++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  const unzigzag = (z: number) => (z >>> 1) ^ -(z & 1);
  const skip = (type: number): void => {
    switch (type) {
      case T_BOOL_TRUE:
      case T_BOOL_FALSE:
        return;
      case T_BYTE:
        o += 1;
        return;
      case T_I16:
      case T_I32:
      case T_I64:
        varint();
        return;
      case T_DOUBLE:
        o += 8;
        return;
      case T_BINARY: {
        const n = varint(); // not `o += varint()`: that would read `o` before varint() advances it
        o += n;
        return;
      }
      case T_LIST:
      case T_SET: {
        const head = bytes[o++];
        const size = head >> 4 === 15 ? varint() : head >> 4;
        const elem = head & 15;
        // booleans inside lists take one byte each
        for (let i = 0; i < size; i++) elem === T_BOOL_TRUE || elem === T_BOOL_FALSE ? o++ : skip(elem);
        return;
      }
      case T_MAP: {
        const size = varint();
        if (size === 0) return;
        const kv = bytes[o++];
        for (let i = 0; i < size; i++) {
          skip(kv >> 4);
          skip(kv & 15);
        }
        return;
      }
      case T_STRUCT:
        for (;;) {
          const head = bytes[o++];
          if (head === 0) return;
          if (!(head >> 4)) varint(); // long-form field id; the id itself is not needed here
          skip(head & 15);
        }
      default:
        throw new Error(`unexpected thrift type ${type} in parquet footer`);
    }
  };
  for (let fid = 0; ; ) {
    const head = bytes[o++];
    if (head === 0) return; // end of FileMetaData without row_groups: nothing to fix
    const type = head & 15;
    fid = head >> 4 ? fid + (head >> 4) : unzigzag(varint());
    if (fid === 4 && type === T_LIST) {
      if (bytes[o] === 0) bytes[o] = T_STRUCT; // size 0, element type STRUCT
      return;
    }
    skip(type);
  }
}

/** The GeoParquet 1.1 `geo` metadata for one WKB column named `geometry`. */
export function geoMetadata(geometries: (Geometry | null)[]) {
  const types = new Set<string>();
  for (const g of geometries) if (g) types.add(geometryHasZ(g) ? `${g.type} Z` : g.type);
  const bbox = geometriesBbox(geometries);
  return {
    version: '1.1.0',
    primary_column: 'geometry',
    columns: {
      geometry: {
        encoding: 'WKB',
        geometry_types: [...types].sort(),
        ...(bbox ? { bbox } : {}),
      },
    },
  };
}
