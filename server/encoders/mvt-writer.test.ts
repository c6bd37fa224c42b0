import { VectorTile, type VectorTileFeature } from '@mapbox/vector-tile';
import GeoJSONVT, { type LegacyFeature } from 'geojson-vt';
import { PbfReader } from 'pbf';
import vtpbf from 'vt-pbf';
import { describe, expect, it } from 'vitest';
import type { Feature, Geometry, TileCoord } from '../types.ts';
import { encodeMvtLayer, type VtFeature } from './mvt-writer.ts';

const tile: TileCoord = { z: 10, x: 300, y: 400 };

/** lon/lat at fraction (fx, fy) across `t` (fy in Mercator space, from the north edge). */
function at(fx: number, fy: number, t = tile): [number, number] {
  const n = 2 ** t.z;
  const lon = ((t.x + fx) / n) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (t.y + fy)) / n))) * 180) / Math.PI;
  return [lon, lat];
}

const closed = (...pts: [number, number][]): [number, number][] => {
  const r = pts.map(([fx, fy]) => at(fx, fy));
  return [...r, r[0]];
};

/** A regular polygon with `n` vertices around (cx, cy), radius r (tile fractions). */
function circle(cx: number, cy: number, r: number, n: number, reverse = false): [number, number][] {
  const pts = Array.from({ length: n }, (_, i): [number, number] => {
    const a = ((reverse ? -i : i) / n) * 2 * Math.PI;
    return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  });
  return closed(...pts);
}

/** Cuts `features` like the mvt encoder does and returns both geojson-vt tile shapes. */
function cut(features: Feature<Geometry | null>[], extent = 4096, t = tile) {
  const index = new GeoJSONVT({ type: 'FeatureCollection', features: features as Feature[] }, { maxZoom: t.z, indexMaxZoom: 0, extent, buffer: 64, tolerance: 3 });
  const legacy = index.getTile(t.z, t.x, t.y)!;
  const raw = index.getTileRaw(t.z, t.x, t.y)!;
  return { legacy: legacy.features, raw: raw.features };
}

const reference = (features: LegacyFeature[], extent = 4096, name = 'layer') =>
  vtpbf.fromGeojsonVt({ [name]: { features } }, { version: 2, extent });

function layerOf(bytes: Uint8Array, name = 'layer') {
  const vt = new VectorTile(new PbfReader(bytes));
  expect(Object.keys(vt.layers)).toEqual([name]);
  return vt.layers[name];
}

const featuresOf = (bytes: Uint8Array, name = 'layer') => {
  const layer = layerOf(bytes, name);
  return Array.from({ length: layer.length }, (_, i) => layer.feature(i));
};

type Pt = { x: number; y: number };
const same = (a: Pt, b: Pt) => a.x === b.x && a.y === b.y;

/**
 * vt-pbf's geometry as this writer should give it: consecutive repeated vertices removed (MVT
 * forbids zero-length LineTo), then parts too short to be a line / ring dropped.
 */
function withoutRepeats(f: VectorTileFeature): Pt[][] {
  const parts = f.loadGeometry().map((p) => p.map(({ x, y }) => ({ x, y })));
  if (f.type === 1) return parts;
  return parts
    .map((p) => p.filter((q, i) => i === 0 || !same(q, p[i - 1])))
    .filter((p) => p.length >= (f.type === 3 ? 4 : 2));
}

const plain = (f: VectorTileFeature) => ({
  id: f.id,
  type: f.type,
  properties: f.properties,
  geometry: f.loadGeometry().map((p) => p.map(({ x, y }) => ({ x, y }))),
});

/** Asserts that `ours` decodes to what vt-pbf's `theirs` decodes to (modulo repeated vertices). */
function expectSameTile(ours: Uint8Array, theirs: Uint8Array, name = 'layer') {
  const a = layerOf(ours, name);
  const b = layerOf(theirs, name);
  expect({ version: a.version, extent: a.extent, length: a.length }).toEqual({ version: b.version, extent: b.extent, length: b.length });
  const key = (f: VectorTileFeature, geometry: Pt[][]) => JSON.stringify({ id: f.id, type: f.type, properties: f.properties, geometry });
  const ours_ = Array.from({ length: a.length }, (_, i) => key(a.feature(i), plain(a.feature(i)).geometry));
  const theirs_ = Array.from({ length: b.length }, (_, i) => key(b.feature(i), withoutRepeats(b.feature(i))));
  // compared as one array of JSON strings: thousands of deep-equal assertions are slow
  const firstDiff = ours_.findIndex((s, i) => s !== theirs_[i]);
  if (firstDiff >= 0) expect(ours_[firstDiff]).toBe(theirs_[firstDiff]);
}

// ---- a minimal protobuf walker (BigInt varints), to check what the decoders above gloss over ----

function* fields(bytes: Uint8Array, start = 0, end = bytes.length): Generator<{ field: number; wire: number; value: bigint; start: number; end: number }> {
  let p = start;
  const varint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[p++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (p < end) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint(), start: p, end: p };
    else if (wire === 2) {
      const len = Number(varint());
      yield { field, wire, value: BigInt(len), start: p, end: p + len };
      p += len;
    } else if (wire === 1) {
      yield { field, wire, value: 0n, start: p, end: p + 8 };
      p += 8;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
}

const only = <T>(it: Iterable<T>, pred: (x: T) => boolean) => [...it].filter(pred);
const layerBytes = (bytes: Uint8Array) => only(fields(bytes), (f) => f.field === 3)[0];

/** The layer's values as (field number, raw value): 1 string, 3 double, 5 uint, 6 sint (zigzag), 7 bool. */
function rawValues(bytes: Uint8Array) {
  const layer = layerBytes(bytes);
  return only(fields(bytes, layer.start, layer.end), (f) => f.field === 4).map((v) => {
    const [inner] = fields(bytes, v.start, v.end);
    if (inner.field === 1) return [1, new TextDecoder().decode(bytes.subarray(inner.start, inner.end))] as const;
    if (inner.field === 3) return [3, new DataView(bytes.buffer, bytes.byteOffset + inner.start, 8).getFloat64(0, true)] as const;
    return [inner.field, inner.value] as const;
  });
}

/** The packed geometry integers of every feature. */
function rawGeometries(bytes: Uint8Array): number[][] {
  const layer = layerBytes(bytes);
  return only(fields(bytes, layer.start, layer.end), (f) => f.field === 2).map((feat) => {
    const g = only(fields(bytes, feat.start, feat.end), (f) => f.field === 4)[0];
    const ints: number[] = [];
    let v = 0;
    let shift = 0;
    for (let p = g.start; p < g.end; p++) {
      v += (bytes[p] & 0x7f) * 2 ** shift;
      shift += 7;
      if (bytes[p] < 0x80) {
        ints.push(v);
        v = 0;
        shift = 0;
      }
    }
    return ints;
  });
}

/** Checks a command stream (zigzag parameters): counts are positive, LineTo never stays in place. */
function expectValidCommands(type: number, ints: number[]) {
  let i = 0;
  while (i < ints.length) {
    const cmd = ints[i] & 7;
    const count = ints[i] >> 3;
    i++;
    expect(count).toBeGreaterThan(0);
    if (cmd === 7) {
      expect(count).toBe(1);
      continue;
    }
    expect([1, 2]).toContain(cmd);
    if (type !== 1 && cmd === 1) expect(count).toBe(1);
    for (let k = 0; k < count; k++, i += 2) {
      if (cmd === 2) expect(ints[i] === 0 && ints[i + 1] === 0).toBe(false);
    }
  }
  expect(i).toBe(ints.length);
}

// ---- fixtures ----

const allTypes: Feature<Geometry | null>[] = [
  { type: 'Feature', id: 7, geometry: { type: 'Point', coordinates: at(0.5, 0.5) }, properties: { kind: 'point', n: -7, d: 1.25, b: true, s: 'hé 🗺', big: 2 ** 40 } },
  { type: 'Feature', id: 0, geometry: { type: 'MultiPoint', coordinates: [at(0.1, 0.1), at(0.2, 0.15), at(0.1, 0.1)] }, properties: { kind: 'mpoint', n: -7, b: false } },
  { type: 'Feature', id: 2 ** 40, geometry: { type: 'LineString', coordinates: [at(0.1, 0.9), at(0.5, 0.6), at(0.9, 0.9)] }, properties: { kind: 'line', d: 1.25 } },
  {
    type: 'Feature',
    geometry: { type: 'MultiLineString', coordinates: [[at(0.6, 0.3), at(0.9, 0.3)], [at(0.6, 0.4), at(0.7, 0.45), at(0.9, 0.45)]] },
    properties: { kind: 'mline', s: 'hé 🗺' },
  },
  {
    type: 'Feature',
    id: 3,
    geometry: { type: 'Polygon', coordinates: [closed([0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]), closed([0.2, 0.2], [0.2, 0.3], [0.3, 0.3], [0.3, 0.2])] },
    properties: { kind: 'poly', b: true, zero: 0, neg0: -0 },
  },
  {
    type: 'Feature',
    geometry: {
      type: 'MultiPolygon',
      coordinates: [
        [closed([0.05, 0.6], [0.15, 0.7], [0.05, 0.7]), closed([0.07, 0.67], [0.1, 0.68], [0.08, 0.69])],
        [closed([0.2, 0.6], [0.3, 0.7], [0.2, 0.7])],
      ],
    },
    properties: { kind: 'mpoly', long: 'x'.repeat(100) },
  },
  // crosses the tile edge: clipped by geojson-vt
  { type: 'Feature', id: 9, geometry: { type: 'Polygon', coordinates: [closed([0.8, 0.8], [1.3, 0.8], [1.3, 1.3], [0.8, 1.3])] }, properties: { kind: 'clipped' } },
];

describe('encodeMvtLayer', () => {
  it('is byte-identical to vt-pbf on a tile of every geometry type (no repeated vertices, all features with properties)', () => {
    const { legacy, raw } = cut(allTypes);
    expect(legacy.length).toBe(7);
    const theirs = reference(legacy);
    expect(Buffer.from(encodeMvtLayer('layer', legacy, 4096)).equals(Buffer.from(theirs))).toBe(true);
    expect(Buffer.from(encodeMvtLayer('layer', raw, 4096)).equals(Buffer.from(theirs))).toBe(true);
  });

  it('decodes to the same ids, types, properties and geometry as vt-pbf', () => {
    const { legacy, raw } = cut(allTypes);
    const theirs = reference(legacy);
    expectSameTile(encodeMvtLayer('layer', legacy, 4096), theirs);
    expectSameTile(encodeMvtLayer('layer', raw, 4096), theirs);
    const decoded = featuresOf(encodeMvtLayer('layer', raw, 4096)).map(plain);
    expect(decoded.map((f) => [f.properties.kind, f.type, f.id])).toEqual([
      ['point', 1, 7],
      ['mpoint', 1, 0],
      ['line', 2, 2 ** 40],
      ['mline', 2, undefined],
      ['poly', 3, 3],
      ['mpoly', 3, undefined],
      ['clipped', 3, 9],
    ]);
    expect(decoded[0].properties).toEqual({ kind: 'point', n: -7, d: 1.25, b: true, s: 'hé 🗺', big: 2 ** 40 });
    expect(decoded[1].geometry.map((p) => p.length)).toEqual([1, 1, 1]); // a repeated MultiPoint position is kept
    expect(decoded[3].geometry.map((p) => p.length)).toEqual([2, 3]);
    expect(decoded[4].geometry.map((p) => p.length)).toEqual([5, 5]);
    expect(decoded[5].geometry.map((p) => p.length)).toEqual([4, 4, 4]);
  });

  it('types values as MVT wants and stores each key and value once', () => {
    const features: VtFeature[] = [
      { type: 4, x: 1, y: 1, tags: { a: 'x', b: 1, c: -1, d: 1.5, e: true, f: false, g: 2 ** 53 - 1, h: -(2 ** 53 - 1), i: 2 ** 60, j: -(2 ** 40) } },
      { type: 4, x: 2, y: 2, tags: { a: 'x', b: 1, c: -1, d: 1.5, e: true, f: false, k: '1', l: null, m: undefined, n: { o: 1 } as unknown, p: 1n as unknown } },
      { type: 4, x: 3, y: 3, tags: { b: 'x', c: 1 } },
    ];
    const bytes = encodeMvtLayer('layer', features, 4096);
    expect(rawValues(bytes)).toEqual([
      [1, 'x'],
      [5, 1n],
      [6, 1n], // zigzag(-1)
      [3, 1.5],
      [7, 1n],
      [7, 0n],
      [5, 2n ** 53n - 1n],
      [6, 2n * (2n ** 53n - 1n) - 1n],
      [3, 2 ** 60], // not a safe integer: a double, exactly
      [6, 2n ** 41n - 1n],
      [1, '1'], // the string '1' is not the number 1
    ]);
    const layer = layerBytes(bytes);
    const keys = only(fields(bytes, layer.start, layer.end), (f) => f.field === 3).map((k) => new TextDecoder().decode(bytes.subarray(k.start, k.end)));
    expect(keys).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']); // null, undefined, objects and bigints are skipped
    const decoded = featuresOf(bytes).map((f) => f.properties);
    expect(decoded[0]).toMatchObject({ a: 'x', b: 1, c: -1, d: 1.5, e: true, f: false, g: 2 ** 53 - 1, i: 2 ** 60, j: -(2 ** 40) });
    expect(decoded[1]).toEqual({ a: 'x', b: 1, c: -1, d: 1.5, e: true, f: false, k: '1' });
    expect(decoded[2]).toEqual({ b: 'x', c: 1 });
  });

  it('stops deduplicating a key whose first 4,096 values were all new (a name column), keeps deduplicating the others', () => {
    const n = 15_000;
    const features: VtFeature[] = Array.from({ length: n }, (_, i) => ({
      type: 4,
      x: i % 4096,
      y: 7,
      // `name`: distinct until feature 6,000, then repeating earlier names; `kind`: 3 values;
      // `sometimes`: in 1 feature of 3, 4,500 distinct values then repeats
      tags: { name: `n-${i < 6000 ? i : i - 6000}`, kind: ['a', 'b', 'c'][i % 3], ...(i % 3 === 0 ? { sometimes: `s-${(i / 3) % 4500}` } : {}) },
    }));
    const bytes = encodeMvtLayer('layer', features, 4096);
    const values = rawValues(bytes).map(([, v]) => v);
    // every name is written where it occurs once the key stopped deduplicating (repeats included),
    // the 3 kinds once, and `sometimes` — its 4,096th new value comes ~12,300 features in, not
    // "nearly all distinct" by the feature count — stays deduplicated: each of its values once
    expect(values.filter((v) => typeof v === 'string' && v.startsWith('n-'))).toHaveLength(n);
    expect(values.filter((v) => v === 'a' || v === 'b' || v === 'c')).toHaveLength(3);
    expect(values.filter((v) => typeof v === 'string' && v.startsWith('s-'))).toHaveLength(4500);
    // and every feature decodes to its own properties (@mapbox/vector-tile)
    const decoded = featuresOf(bytes).map((f) => f.properties);
    expect(decoded).toHaveLength(n);
    for (let i = 0; i < n; i += 997) expect(decoded[i]).toEqual(features[i].tags);
    expect(decoded[n - 1]).toEqual(features[n - 1].tags);
  });

  it('writes strings as UTF-8 (lone surrogates as U+FFFD, like TextEncoder) in keys, values and the layer name', () => {
    const weird = `a\ud800b\udc00c${'é'.repeat(50)}🗺`;
    const long = 'ü'.repeat(30_000);
    const bytes = encodeMvtLayer('naïve 🗺', [{ type: 4, x: 0, y: 0, tags: { [weird]: weird, long } }], 4096);
    const f = featuresOf(bytes, 'naïve 🗺')[0];
    const roundTrip = new TextDecoder().decode(new TextEncoder().encode(weird));
    expect(f.properties).toEqual({ [roundTrip]: roundTrip, long });
  });

  it('keeps only non-negative safe integer ids', () => {
    const ids = [0, 1, 127, 128, 2 ** 32, 2 ** 53 - 1, -1, 1.5, 2 ** 53, 'abc', undefined];
    const features = ids.map((id, i): VtFeature => ({ type: 4, x: i, y: i, tags: { i }, id: id as number | undefined }));
    expect(featuresOf(encodeMvtLayer('layer', features, 4096)).map((f) => f.id)).toEqual([0, 1, 127, 128, 2 ** 32, 2 ** 53 - 1, ...Array(5).fill(undefined)]);
  });

  it('writes outer rings with positive area and holes with negative area (MVT winding), whatever the input winding', () => {
    const cw = circle(0.5, 0.5, 0.3, 12);
    const ccw = circle(0.5, 0.5, 0.3, 12, true);
    const holeCw = circle(0.5, 0.5, 0.1, 8);
    const holeCcw = circle(0.5, 0.5, 0.1, 8, true);
    const input: Feature[] = [
      { type: 'Feature', geometry: { type: 'Polygon', coordinates: [cw, holeCw] }, properties: {} },
      { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ccw, holeCcw] }, properties: {} },
    ];
    const area = (r: Pt[]) => r.reduce((s, p, i) => (i === 0 ? s : s + (r[i - 1].x * p.y - p.x * r[i - 1].y)), 0) / 2;
    for (const f of featuresOf(encodeMvtLayer('layer', cut(input).raw, 4096))) {
      const [outer, hole] = f.loadGeometry();
      expect(area(outer)).toBeGreaterThan(0);
      expect(area(hole)).toBeLessThan(0);
      expect(f.toGeoJSON(tile.x, tile.y, tile.z).geometry.type).toBe('Polygon');
    }
  });

  it('drops zero-length segments and degenerate parts that vt-pbf would write', () => {
    // dense geometry rounded to the tile grid repeats vertices
    const dense: Feature[] = [
      { type: 'Feature', geometry: { type: 'Polygon', coordinates: [circle(0.5, 0.5, 0.01, 2000)] }, properties: { k: 'dense poly' } },
      { type: 'Feature', geometry: { type: 'LineString', coordinates: Array.from({ length: 3000 }, (_, i) => at(0.1 + i / 100_000, 0.2)) }, properties: { k: 'dense line' } },
    ];
    const hand: LegacyFeature[] = [
      { type: 2, tags: { k: 'line' }, geometry: [[[0, 0], [0, 0], [5, 5], [5, 5], [5, 5], [9, 0]], [[3, 3], [3, 3]], [[1, 1], [2, 2]]] },
      { type: 3, tags: { k: 'ring' }, geometry: [[[0, 0], [10, 0], [10, 10], [10, 10], [0, 0], [0, 0]], [[1, 1], [2, 2], [1, 1]], [[20, 20], [30, 20], [20, 30]]] },
      { type: 2, tags: { k: 'gone' }, geometry: [[[4, 4], [4, 4]]] },
      { type: 3, tags: { k: 'gone too', only: 'here' }, geometry: [[[4, 4], [5, 5], [4, 4]]] },
      { type: 1, tags: { k: 'empty points' }, geometry: [] },
    ];
    const { legacy, raw } = cut(dense);
    const theirs = reference(legacy);
    const ours = encodeMvtLayer('layer', raw, 4096);
    expectSameTile(ours, theirs);
    expect(ours.length).toBeLessThan(theirs.length);
    expect(withoutRepeats(featuresOf(theirs)[0])[0].length).toBeLessThan(featuresOf(theirs)[0].loadGeometry()[0].length); // the case is exercised

    const mine = encodeMvtLayer('layer', hand, 4096);
    const decoded = featuresOf(mine).map(plain);
    expect(decoded.map((f) => f.properties.k)).toEqual(['line', 'ring']);
    expect(decoded[0].geometry).toEqual([
      [{ x: 0, y: 0 }, { x: 5, y: 5 }, { x: 9, y: 0 }],
      [{ x: 1, y: 1 }, { x: 2, y: 2 }],
    ]);
    expect(decoded[1].geometry).toEqual([
      [{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 0, y: 0 }],
      [{ x: 20, y: 20 }, { x: 30, y: 20 }, { x: 20, y: 30 }, { x: 20, y: 20 }],
    ]);
    // the dropped features' keys and values are not left in the dictionaries
    expect(rawValues(mine)).toEqual([[1, 'line'], [1, 'ring']]);
    for (const [i, ints] of rawGeometries(mine).entries()) expectValidCommands(decoded[i].type, ints);
    for (const [i, ints] of rawGeometries(ours).entries()) expectValidCommands(featuresOf(ours)[i].type, ints);
  });

  it('round-trips lon/lat through toGeoJSON within tile precision', () => {
    const { raw } = cut(allTypes);
    const unit = 360 / (2 ** tile.z * 4096);
    const decoded = featuresOf(encodeMvtLayer('layer', raw, 4096)).map((f) => f.toGeoJSON(tile.x, tile.y, tile.z));
    const close = (a: unknown, b: unknown): void => {
      if (typeof b === 'number') return void expect(Math.abs((a as number) - b)).toBeLessThanOrEqual(unit);
      expect((a as unknown[]).length).toBe((b as unknown[]).length);
      (b as unknown[]).forEach((x, i) => close((a as unknown[])[i], x));
    };
    const coords = (g: Geometry | null) => (g as { coordinates: unknown }).coordinates;
    close(coords(decoded[0].geometry), coords(allTypes[0].geometry));
    close(coords(decoded[1].geometry), coords(allTypes[1].geometry));
    close(coords(decoded[2].geometry), coords(allTypes[2].geometry));
    close(coords(decoded[3].geometry), coords(allTypes[3].geometry));
    expect(decoded[4].geometry.type).toBe('Polygon');
    expect(decoded[5].geometry.type).toBe('MultiPolygon');
    // polygon rings come back with the same vertices (MVT may start a ring elsewhere)
    const poly = coords(decoded[4].geometry) as number[][][];
    const input = coords(allTypes[4].geometry) as number[][][];
    expect(poly.map((r) => r.length)).toEqual(input.map((r) => r.length));
    input.forEach((r, i) =>
      r.forEach(([x, y]) => expect(poly[i].some(([px, py]) => Math.abs(px - x) <= unit && Math.abs(py - y) <= unit)).toBe(true)),
    );
  });

  it('encodes an empty layer', () => {
    const bytes = encodeMvtLayer('empty', [], 512);
    expect(Buffer.from(bytes).equals(Buffer.from(reference([], 512, 'empty')))).toBe(true);
    // @mapbox/vector-tile hides layers without features, so read the fields directly
    const layer = layerBytes(bytes);
    expect(layer.end).toBe(bytes.length);
    const layerFields = [...fields(bytes, layer.start, layer.end)];
    expect(layerFields.map((f) => [f.field, f.field === 1 ? new TextDecoder().decode(bytes.subarray(f.start, f.end)) : f.value])).toEqual([
      [15, 2n],
      [1, 'empty'],
      [5, 512n],
    ]);
  });

  it('handles huge extents and coordinates beyond ±2^30', () => {
    // geojson-vt at extent 2^24 (int32 coordinates): matches vt-pbf
    const { legacy, raw } = cut(allTypes, 2 ** 24);
    expectSameTile(encodeMvtLayer('layer', raw, 2 ** 24), reference(legacy, 2 ** 24));

    // deltas up to ~2^32 (vt-pbf's 32-bit zigzag cannot write these)
    const big = 2 ** 31 - 1;
    const hand: VtFeature[] = [
      { type: 2, tags: { k: 1 }, geometry: [Int32Array.from([-big, -big, big, big, -big, big])] },
      { type: 3, tags: { k: 2 }, geometry: [[[-big, -big], [big, -big], [big, big], [-big, -big]]] },
      { type: 4, x: big, y: -big, tags: { k: 3 } },
    ];
    const decoded = featuresOf(encodeMvtLayer('layer', hand, 2 ** 32)).map(plain);
    expect(layerOf(encodeMvtLayer('layer', hand, 2 ** 32)).extent).toBe(2 ** 32);
    expect(decoded[0].geometry).toEqual([[{ x: -big, y: -big }, { x: big, y: big }, { x: -big, y: big }]]);
    expect(decoded[1].geometry).toEqual([[{ x: -big, y: -big }, { x: big, y: -big }, { x: big, y: big }, { x: -big, y: -big }]]);
    expect(decoded[2].geometry).toEqual([[{ x: big, y: -big }]]);
  });

  it('matches vt-pbf on a large tile and on geometries whose lengths need multi-byte prefixes', () => {
    const many: Feature[] = Array.from({ length: 1500 }, (_, i) => {
      const fx = (i % 60) / 60 + 0.004;
      const fy = Math.floor(i / 60) / 25 + 0.004;
      const kind = i % 3;
      const geometry: Geometry =
        kind === 0
          ? { type: 'Point', coordinates: at(fx, fy) }
          : kind === 1
            ? { type: 'LineString', coordinates: [at(fx, fy), at(fx + 0.01, fy + 0.005), at(fx + 0.012, fy + 0.015)] }
            : { type: 'Polygon', coordinates: [closed([fx, fy], [fx + 0.01, fy], [fx + 0.01, fy + 0.01], [fx, fy + 0.01])] };
      return { type: 'Feature', id: i, geometry, properties: { i, group: `g${i % 17}`, even: i % 2 === 0, ratio: i / 7, neg: -i } };
    });
    many.push({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [circle(0.5, 0.5, 0.45, 10_000)] }, properties: { i: -1 } });
    const { legacy, raw } = cut(many);
    const theirs = reference(legacy);
    const ours = encodeMvtLayer('layer', raw, 4096);
    expectSameTile(ours, theirs);
    expectSameTile(encodeMvtLayer('layer', legacy, 4096), theirs);
    const layer = layerBytes(ours);
    const featureSizes = only(fields(ours, layer.start, layer.end), (f) => f.field === 2).map((f) => f.end - f.start);
    expect(Math.max(...featureSizes)).toBeGreaterThan(2 ** 14); // a 3-byte length prefix
    expect(featureSizes.length).toBe(1501);
    // successive calls do not leak dictionary entries or bytes into each other
    expect(Buffer.from(encodeMvtLayer('layer', raw, 4096)).equals(Buffer.from(ours))).toBe(true);
  });
});
