/**
 * Decoding result frames into the values a TypeScript UDF returns, from frames laid out by hand
 * as protocol.ts documents them (the Python side is covered by accel.test.ts and
 * result-files.test.ts with a real worker): every column type (int64 and int32 included) with and without nulls, ASCII and
 * non-ASCII text, JSON cells, awkward column names, 2-D / 3-D / missing points and WKB.
 */
import { describe, expect, it } from 'vitest';
import { FrameReader, FrameType, decodeResult, encodeFrame, type Frame } from './protocol.ts';

/** A result frame as the worker sends it, read back through the frame reader. */
function frame(result: Record<string, unknown>, parts: Uint8Array[]): Frame {
  const [f] = new FrameReader().push(encodeFrame(FrameType.result, { id: 1, logs: [], result }, parts));
  return f;
}

const f64 = (...v: number[]) => new Uint8Array(new Float64Array(v).buffer);
const i64 = (...v: bigint[]) => new Uint8Array(new BigInt64Array(v).buffer);
const u8 = (...v: number[]) => new Uint8Array(v);
function strings(values: (string | null)[]): [Uint8Array, Uint8Array] {
  const enc = values.map((v) => Buffer.from(v ?? '', 'utf8'));
  const offs = new Uint32Array(values.length + 1);
  enc.forEach((b, i) => (offs[i + 1] = offs[i] + b.length));
  return [new Uint8Array(offs.buffer), Buffer.concat(enc)];
}
/** WKB (little-endian ISO) of a 2-D point and of a 2-point line. */
function wkbPoint(x: number, y: number): Uint8Array {
  const b = Buffer.alloc(21);
  b[0] = 1;
  b.writeUInt32LE(1, 1);
  b.writeDoubleLE(x, 5);
  b.writeDoubleLE(y, 13);
  return b;
}
function wkbLine(a: [number, number], c: [number, number]): Uint8Array {
  const b = Buffer.alloc(41);
  b[0] = 1;
  b.writeUInt32LE(2, 1);
  b.writeUInt32LE(2, 5);
  b.writeDoubleLE(a[0], 9);
  b.writeDoubleLE(a[1], 17);
  b.writeDoubleLE(c[0], 25);
  b.writeDoubleLE(c[1], 33);
  return b;
}

describe('decodeResult', () => {
  it('builds table rows from every column type, with nulls, NaN, large ints, non-ASCII text, JSON cells and awkward names', () => {
    const [so, sd] = strings(['a', '', 'é€', null]);
    const [ao, ad] = strings(['x', 'yy', 'zzz', '']);
    const [jo, jd] = strings(['{"k":[1,2]}', 'null', '"s"', '3.5']);
    const parts = [
      f64(1.5, NaN, -0, 4), u8(1, 1, 1, 0), // 0 data, 1 valid
      i64(-1n, 2n ** 53n, 7n, -(2n ** 40n)), // 2
      u8(1, 0, 1, 1), u8(1, 1, 0, 1), // 3 bool data, 4 valid
      so, sd, u8(1, 1, 1, 0), // 5, 6, 7
      ao, ad, // 8, 9
      jo, jd, // 10, 11
    ];
    const columns = [
      { name: 'f', type: 'float', data: 0, valid: 1 },
      { name: '__proto__', type: 'int', data: 2 },
      { name: 'b"\n', type: 'bool', data: 3, valid: 4 },
      { name: 'text', type: 'str', offsets: 5, data: 6, valid: 7 },
      { name: '0', type: 'str', offsets: 8, data: 9 },
      { name: 'j', type: 'json', offsets: 10, data: 11 },
    ];
    const t = decodeResult(frame({ t: 'table', rows: 4, columns }, parts)) as { rows: Record<string, unknown>[]; columns: string[] };
    expect(t.columns).toEqual(['f', '__proto__', 'b"\n', 'text', '0', 'j']);
    const want = [
      { f: 1.5, ['__proto__']: -1, 'b"\n': true, text: 'a', 0: 'x', j: { k: [1, 2] } },
      { f: null, ['__proto__']: 2 ** 53, 'b"\n': false, text: '', 0: 'yy', j: null },
      { f: -0, ['__proto__']: 7, 'b"\n': null, text: 'é€', 0: 'zzz', j: 's' },
      { f: null, ['__proto__']: -(2 ** 40), 'b"\n': true, text: null, 0: '', j: 3.5 },
    ];
    t.rows.forEach((row, i) => {
      expect(Object.getPrototypeOf(row)).toBe(Object.prototype); // '__proto__' is an own property
      expect(Object.keys(row)).toEqual(['0', 'f', '__proto__', 'b"\n', 'text', 'j']);
      for (const [k, v] of Object.entries(want[i])) expect(row[k], `row ${i} ${k}`).toEqual(v);
      expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe(Object.getOwnPropertyDescriptor(want[i], '__proto__')?.value);
    });
    expect(Object.is(t.rows[2].f, -0)).toBe(true);
  });

  it('builds point features from 2-D and 3-D coordinate columns, missing points as null geometries', () => {
    const i32 = new Uint8Array(new Int32Array([-2147483648, 2147483647]).buffer);
    const fc2 = decodeResult(frame({
      t: 'features', rows: 2,
      columns: [{ name: 'id', type: 'int', data: 0 }, { name: 'small', type: 'int32', data: 2, valid: 3 }],
      geometry: { t: 'points', dims: 2, data: 1 },
    }, [i64(5n, 6n), f64(1, 2, 3, 4), i32, u8(1, 0)]));
    expect(fc2).toEqual({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2] }, properties: { id: 5, small: -2147483648 } },
        { type: 'Feature', geometry: { type: 'Point', coordinates: [3, 4] }, properties: { id: 6, small: null } },
      ],
    });
    const fc3 = decodeResult(frame({ t: 'features', rows: 3, columns: [], geometry: { t: 'points', dims: 3, data: 0, valid: 1 } }, [f64(1, 2, 3, 4, 5, NaN, NaN, NaN, NaN), u8(1, 1, 0)])) as any;
    expect(fc3.features.map((f: any) => f.geometry)).toEqual([{ type: 'Point', coordinates: [1, 2, 3] }, { type: 'Point', coordinates: [4, 5] }, null]);
    expect(fc3.features[0]).toEqual({ type: 'Feature', geometry: { type: 'Point', coordinates: [1, 2, 3] }, properties: {} });
  });

  it('builds WKB features (an empty slice is a null geometry) and refuses buffers shorter than the rows', () => {
    const geoms = [wkbPoint(1, 2), new Uint8Array(0), wkbLine([0, 0], [3, 4])];
    const offs = new Uint32Array([0, 21, 21, 62]);
    const fc = decodeResult(frame({ t: 'features', rows: 3, columns: [{ name: 'v', type: 'float', data: 0 }], geometry: { offsets: 1, data: 2 } }, [f64(1, 2, 3), new Uint8Array(offs.buffer), Buffer.concat(geoms)])) as any;
    expect(fc.features.map((f: any) => f.geometry)).toEqual([{ type: 'Point', coordinates: [1, 2] }, null, { type: 'LineString', coordinates: [[0, 0], [3, 4]] }]);
    expect(fc.features.map((f: any) => f.properties.v)).toEqual([1, 2, 3]);
    expect(() => decodeResult(frame({ t: 'table', rows: 3, columns: [{ name: 'v', type: 'float', data: 0 }] }, [f64(1, 2)]))).toThrow(/holds 2 values for 3 rows/);
    expect(() => decodeResult(frame({ t: 'features', rows: 2, columns: [], geometry: { t: 'points', dims: 2, data: 0 } }, [f64(1, 2, 3)]))).toThrow(/bad point column/);
  });
});
