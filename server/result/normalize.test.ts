import { describe, expect, it } from 'vitest';
import { UdfError } from '../errors.ts';
import { html, raster, table } from '../udf/define.ts';
import { normalizeResult } from './normalize.ts';
import { thrown } from '../../test/helpers/thrown.ts';

const point = { type: 'Point', coordinates: [1, 2] } as const;
const feature = (geometry: unknown, properties: unknown = { a: 1 }, id?: unknown) => ({ type: 'Feature', id, geometry, properties });

const udfError = (value: unknown): UdfError => thrown(() => normalizeResult(value), UdfError);

describe('normalizeResult', () => {
  it('treats a string that is a whole HTML document, and html(), as an html result; other strings stay JSON', () => {
    const doc = '<!DOCTYPE html><html><body>hi</body></html>';
    expect(normalizeResult(doc)).toEqual({ kind: 'html', html: doc });
    expect(normalizeResult('\n <!-- generated -->\n<html lang="en"><p>x</p></html>').kind).toBe('html');
    expect(normalizeResult(html('<div>fragment</div>'))).toEqual({ kind: 'html', html: '<div>fragment</div>' });
    expect(normalizeResult('<div>fragment</div>')).toEqual({ kind: 'json', value: '<div>fragment</div>' });
    expect(normalizeResult('html is fun')).toEqual({ kind: 'json', value: 'html is fun' });
    expect(normalizeResult('<htmlx>')).toEqual({ kind: 'json', value: '<htmlx>' });
  });

  it('passes a FeatureCollection through without copying features', () => {
    const features = [feature(point, { a: 1 }, 7), feature(null)];
    const r = normalizeResult({ type: 'FeatureCollection', features });
    expect(r.kind).toBe('vector');
    if (r.kind !== 'vector') return;
    expect(r.features).toBe(features);
    expect(r.features[0].id).toBe(7);
    expect(r.features[0].properties).toEqual({ a: 1 });
  });

  it('wraps a single Feature and an array of Features', () => {
    const f = feature(point);
    expect(normalizeResult(f)).toEqual({ kind: 'vector', features: [f] });
    const arr = [f, feature({ type: 'LineString', coordinates: [[0, 0], [1, 1]] })];
    // lines and polygons get their lon/lat bbox recorded while validated (NaN: not recorded)
    expect(normalizeResult(arr)).toEqual({ kind: 'vector', features: arr, boxes: new Float64Array([NaN, NaN, NaN, NaN, 0, 0, 1, 1]) });
  });

  it('records each line or polygon feature\'s lon/lat bbox while validating (for the mvt cutter)', () => {
    const features = [
      feature({ type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, -3], [6, -3], [6, 2], [5, -3]]]] }),
      feature({ type: 'MultiLineString', coordinates: [[[-10, 4], [3, 5]], [[2, -7], [0, 0, 9]]] }),
      feature({ type: 'GeometryCollection', geometries: [{ type: 'LineString', coordinates: [[0, 0], [1, 1]] }] }),
      feature({ type: 'MultiPoint', coordinates: [[1, 2]] }),
      feature(null),
    ];
    const r = normalizeResult({ type: 'FeatureCollection', features });
    expect(r.kind === 'vector' && Array.from(r.boxes ?? [])).toEqual([0, -3, 6, 2, -10, -7, 3, 5, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
    // only points: no boxes at all (a million points pay nothing)
    expect(normalizeResult([feature(point), feature(point)])).not.toHaveProperty('boxes');
  });

  it('wraps bare geometries, including GeometryCollection', () => {
    for (const g of [
      point,
      { type: 'MultiPoint', coordinates: [[1, 2], [3, 4, 5]] },
      { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] },
      { type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] },
      { type: 'MultiLineString', coordinates: [[[0, 0], [1, 1]]] },
      { type: 'GeometryCollection', geometries: [point, { type: 'LineString', coordinates: [[0, 0], [1, 1]] }] },
    ]) {
      const r = normalizeResult(g);
      expect(r).toEqual({ kind: 'vector', features: [{ type: 'Feature', geometry: g, properties: {} }] });
      if (r.kind === 'vector') expect(r.features[0].geometry).toBe(g);
    }
  });

  it('maps an empty FeatureCollection or [] to an empty vector result', () => {
    expect(normalizeResult({ type: 'FeatureCollection', features: [] })).toEqual({ kind: 'vector', features: [] });
    expect(normalizeResult([])).toEqual({ kind: 'vector', features: [] });
  });

  it('maps null and undefined to empty', () => {
    expect(normalizeResult(null)).toEqual({ kind: 'empty' });
    expect(normalizeResult(undefined)).toEqual({ kind: 'empty' });
  });

  it('recognises branded and plain rasters and infers bands', () => {
    const branded = raster({ width: 2, height: 2, data: new Uint8Array(12) });
    const r1 = normalizeResult(branded);
    expect(r1).toEqual({ kind: 'raster', raster: branded });
    if (r1.kind === 'raster') expect(r1.raster.bands).toBe(3);

    const data = new Float32Array(8);
    const r2 = normalizeResult({ width: 2, height: 2, data, noData: -1, extra: 'dropped' });
    expect(r2.kind).toBe('raster');
    if (r2.kind !== 'raster') return;
    expect(r2.raster).toEqual({ width: 2, height: 2, bands: 2, data, noData: -1 });
    expect(r2.raster.data).toBe(data); // no copy of the pixels
  });

  it('rejects rasters whose data does not fit width × height × bands', () => {
    expect(udfError({ width: 2, height: 2, data: new Uint8Array(5) }).message).toMatch(/2×2 raster with 5 values/);
    expect(udfError({ width: 2, height: 2, bands: 3, data: new Uint8Array(8) }).message).toMatch(/expected 12/);
    expect(udfError({ width: 0, height: 2, data: new Uint8Array(0) }).message).toMatch(/positive integers/);
    expect(udfError({ width: 1, height: 1, data: new BigInt64Array(1) }).message).toMatch(/BigInt64Array/);
  });

  it('recognises tables made with table()', () => {
    const t = table([{ a: 1 }, { b: 'x' }]);
    expect(normalizeResult(t)).toEqual({ kind: 'table', table: t });
  });

  it('maps primitives, plain objects and non-feature arrays to json', () => {
    for (const v of ['hi', 0, 3.5, true, false, { a: 1 }, [1, 2], [{ a: 1 }], { type: 'Unknown' }]) {
      expect(normalizeResult(v)).toEqual({ kind: 'json', value: v });
    }
  });

  it('names the received type and the supported ones for unservable values', () => {
    const cases: [unknown, RegExp][] = [
      [() => 1, /a function/],
      [Symbol('s'), /a symbol/],
      [10n, /a bigint/],
      [new Map(), /a Map instance/],
      [new Date(0), /a Date instance/],
      [new (class Thing {})(), /a Thing instance/],
      [new Float32Array(4), /a Float32Array instance/],
    ];
    for (const [value, type] of cases) {
      const err = udfError(value);
      expect(err.message).toMatch(type);
      expect(err.message).toMatch(/Supported: GeoJSON/);
      expect(err.status).toBe(500);
      expect(err.code).toBe('udf_error');
    }
  });

  it('rejects invalid geometry shapes with a clear sentence', () => {
    expect(udfError({ type: 'Point', coordinates: 'x' }).message).toBe(
      'The UDF returned an invalid Point: its coordinates must be a position [x, y] of finite numbers, got "x".',
    );
    expect(udfError({ type: 'Point', coordinates: [1, NaN] }).message).toMatch(/finite numbers/);
    expect(udfError({ type: 'LineString', coordinates: [[0, 0]] }).message).toMatch(/at least 2 positions/);
    expect(udfError({ type: 'Polygon', coordinates: [[0, 0], [1, 1]] }).message).toMatch(/invalid Polygon/);
    expect(udfError({ type: 'MultiPolygon', coordinates: [[[0, 0]]] }).message).toMatch(/invalid MultiPolygon/);
    expect(udfError({ type: 'GeometryCollection', geometries: [{ type: 'Point' }] }).message).toMatch(/invalid Point/);
    expect(udfError({ type: 'GeometryCollection' }).message).toMatch(/"geometries" must be an array/);
  });

  it('rejects malformed features, naming the index', () => {
    expect(udfError({ type: 'FeatureCollection', features: [feature(point), feature({ type: 'Blob', coordinates: [] })] }).message).toMatch(
      /^Feature 1 of the UDF result has a geometry of unknown type "Blob"/,
    );
    expect(udfError({ type: 'FeatureCollection', features: [feature(point), 'x'] }).message).toMatch(/Feature 1 .* is a string/);
    expect(udfError({ type: 'FeatureCollection', features: {} }).message).toMatch(/not an array/);
    expect(udfError([feature(point), 3]).message).toMatch(/item 1 is a number/);
    expect(udfError(feature(point, 'props')).message).toMatch(/properties of type a string/);
  });

  it('validates every position, however deep, and names the feature', () => {
    const square = (x: number) => [[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]];
    const polygons = (bad: unknown) =>
      Array.from({ length: 6 }, (_, i) => feature({ type: 'Polygon', coordinates: i === 4 ? bad : [square(i), square(i + 0.1)] }));
    // NaN / Infinity / a string in the middle of the second ring of feature 4.
    for (const v of [NaN, Infinity, -Infinity, '3', null, undefined]) {
      const ring = square(4);
      ring[3] = [4, v as number];
      const err = udfError({ type: 'FeatureCollection', features: polygons([square(4), ring]) });
      expect(err.message).toMatch(/^Feature 4 of the UDF result has an invalid Polygon: its coordinates must be an array of arrays of positions \[x, y\], got /);
      expect(err.status).toBe(500);
    }
    // Same for x, for a position that is too short or not an array, and for a bad z.
    for (const p of [[NaN, 0], [1], 7, 'x', [1, 2, 'z'], { 0: 1, 1: 2, length: 2 }]) {
      const ring = square(4);
      ring[2] = p as number[];
      expect(udfError({ type: 'FeatureCollection', features: polygons([ring]) }).message).toMatch(/^Feature 4 .* invalid Polygon/);
    }
    // MultiPolygon: the last position of the last ring of the last polygon; also as a Feature[].
    const multi = [[square(0)], [square(1), [...square(2).slice(0, 4), [2, Infinity]]]];
    const features = [feature(point), feature(point), feature({ type: 'MultiPolygon', coordinates: multi })];
    expect(udfError({ type: 'FeatureCollection', features }).message).toMatch(/^Feature 2 of the UDF result has an invalid MultiPolygon: .*polygons/);
    expect(udfError(features).message).toMatch(/^Feature 2 of the UDF result has an invalid MultiPolygon/);
    // Line-like geometries, deep in the array.
    const line = [[0, 0], [1, 1], [2, NaN], [3, 3]];
    expect(udfError([feature(point), feature({ type: 'LineString', coordinates: line })]).message).toMatch(/^Feature 1 .* invalid LineString/);
    expect(udfError([feature({ type: 'MultiPoint', coordinates: line })]).message).toMatch(/^Feature 0 .* invalid MultiPoint/);
    expect(udfError([feature({ type: 'MultiLineString', coordinates: [[[0, 0], [1, 1]], line] })]).message).toMatch(/^Feature 0 .* invalid MultiLineString/);
    // Holes in a sparse coordinates array are missing positions, not skipped.
    const sparse: unknown[] = [];
    sparse[1] = [square(0)];
    expect(udfError({ type: 'MultiPolygon', coordinates: sparse }).message).toMatch(/^The UDF returned an invalid MultiPolygon/);
  });

  it('names the feature for bad geometries inside GeometryCollections and for a lone Feature', () => {
    const gc = { type: 'GeometryCollection', geometries: [point, { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, NaN], [0, 0]]] }] };
    expect(udfError({ type: 'FeatureCollection', features: [feature(point), feature(point), feature(gc)] }).message).toMatch(
      /^Feature 2 of the UDF result has an invalid Polygon/,
    );
    expect(udfError(gc).message).toMatch(/^The UDF returned an invalid Polygon/);
    expect(udfError(feature({ type: 'Point', coordinates: [0, Infinity] })).message).toBe(
      'Feature 0 of the UDF result has an invalid Point: its coordinates must be a position [x, y] of finite numbers, got [0,null].',
    );
    expect(udfError([feature(point), feature('x')]).message).toBe(
      'Feature 1 of the UDF result has a geometry of type a string; expected a GeoJSON geometry object.',
    );
    expect(udfError({ type: 'FeatureCollection', features: [feature(point), feature(point, [1])] }).message).toMatch(
      /^Feature 1 of the UDF result has properties of type an array/,
    );
  });

  it('accepts valid edge cases: 3D positions, empty geometries, null geometry and properties', () => {
    const features = [
      feature({ type: 'Point', coordinates: [1, 2, 3] }),
      feature({ type: 'Polygon', coordinates: [[[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]]] }),
      feature({ type: 'LineString', coordinates: [] }),
      feature({ type: 'MultiPolygon', coordinates: [] }),
      feature({ type: 'GeometryCollection', geometries: [] }),
      feature(null, null),
      { type: 'Feature', properties: undefined },
    ];
    const r = normalizeResult({ type: 'FeatureCollection', features });
    const empty = [Infinity, Infinity, -Infinity, -Infinity]; // an empty geometry's box misses every tile
    const boxes = new Float64Array([NaN, NaN, NaN, NaN, 0, 0, 1, 1, ...empty, ...empty, ...Array(12).fill(NaN)]);
    expect(r).toEqual({ kind: 'vector', features, boxes });
    if (r.kind === 'vector') expect(r.features).toBe(features);
  });

  it('passes 10,000 features through without copying them', () => {
    const features = Array.from({ length: 10_000 }, (_, i) =>
      feature({ type: 'Polygon', coordinates: [[[i, 0], [i + 1, 0], [i + 1, 1], [i, 1], [i, 0]]] }, { i }),
    );
    const r = normalizeResult({ type: 'FeatureCollection', features });
    expect(r.kind).toBe('vector');
    // Speed lives in `npm run bench`; here: the hot path hands the caller's objects on as they are.
    if (r.kind === 'vector') {
      expect(r.features).toHaveLength(10_000);
      expect(r.features[9_999]).toBe(features[9_999]);
    }
  });
});
