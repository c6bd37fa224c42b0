import { describe, expect, it } from 'vitest';
import type { Feature, Geometry, TileCoord } from '../types.ts';
import { normalizeResult } from '../result/normalize.ts';
import { cutTestHooks, cutTile } from './mvt-tile.ts';
import { encodeMvtLayer, streamMvtLayer, type VtFeature } from './mvt-writer.ts';
import { BUFFER, EXTENT, TILES, at, decode, expectSameTile, feature, lines, oddFeatures, ours, points, polygons, ring, rng, star } from '../../test/helpers/mvt-parity.ts';

describe('cutTile matches geojson-vt', () => {
  for (const t of TILES) {
    for (const tolerance of [0, 3]) {
      // at z24 geojson-vt cannot simplify (it has no deeper maxZoom): compare unsimplified only
      if (t.z === 24 && tolerance > 0) continue;
      describe(`tile ${t.z}/${t.x}/${t.y}, tolerance ${tolerance}`, () => {
        it('points and multipoints: the same point sets', () => {
          const r = expectSameTile(points(t, t.z + 1), t, tolerance);
          expect(r.features).toBeGreaterThan(100);
        });
        it('lines crossing the tile many times', () => {
          const r = expectSameTile(lines(t, t.z + 2), t, tolerance);
          expect(r.features).toBeGreaterThan(20);
        });
        it('polygons, holes, a tile-covering polygon', () => {
          const r = expectSameTile(polygons(t, t.z + 3), t, tolerance);
          expect(r.features).toBeGreaterThan(20);
        });
      });
    }
  }

  it('a world-spanning polygon and line at z0', () => {
    const world = feature({ type: 'Polygon', coordinates: [[[-180, -85], [180, -85], [180, 85], [-180, 85], [-180, -85]]] }, { kind: 'world' }, 1);
    const poles = feature({ type: 'Polygon', coordinates: [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]] }, { kind: 'poles' }, 2);
    const equator = feature({ type: 'LineString', coordinates: [[-180, 0], [0, 0], [180, 0]] }, { kind: 'equator' }, 3);
    for (const tolerance of [0, 3]) {
      const r = expectSameTile([world, poles, equator], { z: 0, x: 0, y: 0 }, tolerance);
      expect(r.features).toBe(9); // each one, plus its copies reaching into the buffer across ±180°
    }
  });

  it('features on the buffer edge', () => {
    for (const t of TILES) {
      const b = BUFFER / EXTENT;
      const fs = [
        // just inside and just outside the buffered square on each side (a tenth of a unit)
        ...[-b + 0.1 / EXTENT, -b - 0.1 / EXTENT, 1 + b - 0.1 / EXTENT, 1 + b + 0.1 / EXTENT].flatMap((f, i) => [
          feature({ type: 'Point', coordinates: at(t, f, 0.5) }, { i, axis: 'x' }),
          feature({ type: 'Point', coordinates: at(t, 0.5, f) }, { i, axis: 'y' }),
        ]),
        // a polygon and a line touching the buffer edge from outside, and lying along it
        feature({ type: 'Polygon', coordinates: [ring(t, [[1 + b, 0.2], [1.2, 0.2], [1.2, 0.4], [1 + b, 0.4]])] }, { kind: 'touching' }),
        feature({ type: 'LineString', coordinates: [at(t, -b, 0.1), at(t, -b, 0.9)] }, { kind: 'along' }),
        feature({ type: 'Polygon', coordinates: [ring(t, [[-b - 0.1, 0.2], [1.1, 0.2], [1.1, 0.4], [-b - 0.1, 0.4]])] }, { kind: 'across' }),
      ];
      for (const tolerance of t.z === 24 ? [0] : [0, 3]) expectSameTile(fs, t, tolerance);
    }
  });

  it('antimeridian: rings unwrapped past ±180° show up on the other side', () => {
    // like examples/udfs/countries.ts: Russia's far east, unwrapped to lon 190
    const east = feature({ type: 'Polygon', coordinates: [[[170, 60], [190, 60], [190, 80], [170, 80], [170, 60]]] }, { kind: 'east' }, 1);
    const west = feature({ type: 'Polygon', coordinates: [[[-190, -20], [-170, -20], [-170, -10], [-190, -10], [-190, -20]]] }, { kind: 'west' }, 2);
    const line = feature({ type: 'LineString', coordinates: [[160, 10], [200, 15]] }, { kind: 'line' }, 3);
    const point = feature({ type: 'Point', coordinates: [185, 75] }, { kind: 'point' }, 4);
    const fs = [east, west, line, point];
    const tiles: TileCoord[] = [
      { z: 0, x: 0, y: 0 },
      { z: 1, x: 0, y: 0 },
      { z: 1, x: 1, y: 0 },
      { z: 2, x: 0, y: 0 },
      { z: 2, x: 3, y: 0 },
      { z: 2, x: 0, y: 2 },
      { z: 2, x: 3, y: 2 },
      { z: 3, x: 0, y: 1 },
      { z: 3, x: 7, y: 2 },
    ];
    for (const t of tiles) for (const tolerance of [0, 3]) expectSameTile(fs, t, tolerance);
    // the part east of 180° is in the westernmost tile, the part west of -180° in the easternmost
    const z2west = ours(fs, { z: 2, x: 0, y: 0 }, 3).map((f) => f.properties.kind);
    expect(z2west).toContain('east');
    expect(z2west).toContain('point');
    expect(ours(fs, { z: 2, x: 3, y: 2 }, 3).map((f) => f.properties.kind)).toContain('west');
  });

  it('GeometryCollections, null geometries, empty and unclosed rings', () => {
    const t = TILES[2];
    const fs = oddFeatures(t);
    expectSameTile(fs, t, 0);
    expectSameTile(fs, t, 3);
    // an unclosed ring is cut as if closed (geojson-vt joins its ends only after clipping)
    const open = [at(t, -0.2, 0.3), at(t, 0.5, 0.3), at(t, 0.5, 0.6)];
    const closed = [...open, open[0]];
    const a = ours([feature({ type: 'Polygon', coordinates: [open] })], t, 0);
    const b = ours([feature({ type: 'Polygon', coordinates: [closed] })], t, 0);
    expect(a).toEqual(b);
  });
});

describe('cutTile', () => {
  const t = TILES[2];

  it('passes ids and properties through as given (same properties object)', () => {
    const props = { a: 1, nested: { b: 2 } };
    const [f] = cutTile([feature({ type: 'Point', coordinates: at(t, 0.5, 0.5) }, props, 'x')], t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 });
    expect(f.tags).toBe(props);
    expect(f.id).toBe('x');
    expect(f).toMatchObject({ type: 4, x: 2048, y: 2048 });
  });

  it('gives outer rings positive area (y down) and holes negative, whatever the input winding, at any zoom', () => {
    const area = (r: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i + 3 < r.length; i += 2) s += r[i] * r[i + 3] - r[i + 2] * r[i + 1];
      return s / 2;
    };
    // large and small (~40 units) rings: the small ones are where geojson-vt goes wrong from z20 on
    for (const t of TILES) for (const r of [0.4, 0.005]) for (const reverse of [false, true]) {
      const outer = ring(t, [[0.5 - r, 0.5 - r], [0.5 - r, 0.5 + r], [0.5 + r, 0.5 + r], [0.5 + r, 0.5 - r]]);
      const hole = ring(t, [[0.5 - r / 2, 0.5 - r / 2], [0.5 + r / 2, 0.5 - r / 2], [0.5 + r / 2, 0.5 + r / 2], [0.5 - r / 2, 0.5 + r / 2]]);
      const coords = reverse ? [outer.reverse(), hole.reverse()] : [outer, hole];
      const [f] = cutTile([feature({ type: 'Polygon', coordinates: coords })], t, { extent: EXTENT, buffer: BUFFER, tolerance: 0 });
      if (f.type !== 3) throw new Error('expected a polygon');
      const [o, h] = f.geometry as ArrayLike<number>[];
      expect(area(o)).toBeGreaterThan(0);
      expect(area(h)).toBeLessThan(0);
    }
  });

  it('simplifies with the tolerance and drops rings and lines smaller than it', () => {
    const n = 2000;
    const circle = Array.from({ length: n }, (_, i): [number, number] => [0.5 + 0.3 * Math.cos((i / n) * 2 * Math.PI), 0.5 + 0.3 * Math.sin((i / n) * 2 * Math.PI)]);
    const fs = [
      feature({ type: 'Polygon', coordinates: [ring(t, circle)] }, { kind: 'circle' }),
      feature({ type: 'Polygon', coordinates: [ring(t, [[0.1, 0.1], [0.1 + 2 / 4096, 0.1], [0.1, 0.1 + 2 / 4096]])] }, { kind: 'tiny' }),
      feature({ type: 'LineString', coordinates: [at(t, 0.2, 0.2), at(t, 0.2 + 2 / 4096, 0.2)] }, { kind: 'short' }),
    ];
    const exact = cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 0 });
    const simple = cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 });
    expect(exact.map((f) => f.tags?.kind)).toEqual(['circle', 'tiny', 'short']);
    expect(simple.map((f) => f.tags?.kind)).toEqual(['circle']);
    const vertices = (f: (typeof simple)[number]) => (f.type === 3 ? (f.geometry as ArrayLike<number>[])[0].length / 2 : 0);
    expect(vertices(exact[0])).toBe(n + 1);
    expect(vertices(simple[0])).toBeLessThan(100);
    expect(vertices(simple[0])).toBeGreaterThan(20);
  });

  it('wraps the tile x like geojson-vt', () => {
    const fs = [feature({ type: 'Point', coordinates: at(t, 0.5, 0.5) }, { a: 1 })];
    const wrapped = { ...t, x: t.x + 2 ** t.z };
    expect(cutTile(fs, wrapped, { extent: EXTENT, buffer: BUFFER, tolerance: 3 })).toEqual(cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }));
  });

  it('cuts a deep tile from many features in one pass', () => {
    const deep = TILES[4];
    const rand = rng(5);
    const fs = Array.from({ length: 5000 }, (_, i) =>
      i % 2 ? feature({ type: 'Point', coordinates: at(deep, rand(), rand()) }, { i }, i) : feature({ type: 'Polygon', coordinates: [star(deep, rand(), rand(), 0.01, 8, rand)] }, { i }, i),
    );
    expect(cutTile(fs, deep, { extent: EXTENT, buffer: BUFFER, tolerance: 3 })).toHaveLength(5000);
  });

  it('streams (cut → write one feature at a time) to the same bytes as cut-then-write, antimeridian copies and big tiles included', () => {
    const streamed = (fs: Feature<Geometry | null>[], t: TileCoord) =>
      streamMvtLayer('t', EXTENT, (write) => cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }, (f, group, done, total) => write(f, group, done, total)));
    const listed = (fs: Feature<Geometry | null>[], t: TileCoord) => encodeMvtLayer('t', cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance: 3 }), EXTENT);
    const wrap = [
      feature({ type: 'Polygon', coordinates: [[[170, 60], [190, 60], [190, 80], [170, 80], [170, 60]]] }, { kind: 'east' }, 1),
      feature({ type: 'Polygon', coordinates: [[[-190, -20], [-170, -20], [-170, -10], [-190, -10], [-190, -20]]] }, { kind: 'west' }, 2),
      feature({ type: 'LineString', coordinates: [[160, 10], [200, 15]] }, { kind: 'line' }, 3),
      feature({ type: 'Point', coordinates: [185, 75] }, { kind: 'point' }, 4),
      feature({ type: 'Point', coordinates: [0, 0] }, { kind: 'middle' }, 5),
    ];
    for (const t of [{ z: 0, x: 0, y: 0 }, { z: 1, x: 0, y: 0 }, { z: 1, x: 1, y: 1 }, { z: 2, x: 0, y: 0 }, { z: 2, x: 3, y: 2 }]) {
      // same features in the same order (the dictionaries are numbered in input order when
      // streaming, in output order otherwise, so the bytes differ when copies move to the front)
      expect(decode(streamed(wrap, t)), `tile ${t.z}/${t.x}/${t.y}`).toEqual(decode(listed(wrap, t)));
    }
    for (const t of TILES.slice(1, 3)) {
      const fs = [...points(t, 1), ...lines(t, 2), ...polygons(t, 3)];
      expect(Buffer.from(streamed(fs, t)).equals(Buffer.from(listed(fs, t)))).toBe(true);
    }
    // past the writer's 8 MB scratch size: the buffer grows to its projected size and is handed over
    const t = TILES[2];
    const rand = rng(9);
    const many = Array.from({ length: 300_000 }, (_, i) => feature({ type: 'Point', coordinates: at(t, rand(), rand()) }, { name: `n-${i}`, v: rand() }, i));
    const big = streamed(many, t);
    expect(big.byteLength).toBeGreaterThan(8 * 1024 * 1024);
    expect(Buffer.from(big).equals(Buffer.from(listed(many, t)))).toBe(true);
    expect(decode(big)).toHaveLength(300_000);
  });

  it('skips lines and polygons by their validated bbox and computes y only where it matters, to the same bytes', () => {
    // The fast path (normalizeResult's boxes, y only for vertices next to the tile) against the
    // plain one (no boxes, every vertex projected): byte-identical tiles.
    const write = (fs: Feature<Geometry | null>[], t: TileCoord, fast: boolean, tolerance: number) => {
      cutTestHooks.lazyY = fast;
      try {
        const r = normalizeResult(fs);
        const boxes = fast && r.kind === 'vector' ? r.boxes : undefined;
        if (fast) expect(boxes).toBeInstanceOf(Float64Array);
        return Buffer.from(encodeMvtLayer('t', cutTile(fs, t, { extent: EXTENT, buffer: BUFFER, tolerance, boxes }), EXTENT));
      } finally {
        cutTestHooks.lazyY = true;
      }
    };
    const wanderers = (t: TileCoord, seed: number) => {
      const rand = rng(seed);
      return Array.from({ length: 200 }, (_, i) => {
        let fx = -0.6 + 2.2 * rand();
        let fy = -0.6 + 2.2 * rand();
        let heading = rand() * 2 * Math.PI;
        const coords = Array.from({ length: 2 + Math.floor(rand() * 300) }, () => {
          const c = at(t, fx, fy);
          heading += (rand() - 0.5) * 0.3;
          fx += 0.01 * Math.cos(heading);
          fy += 0.01 * Math.sin(heading);
          return c;
        });
        return feature({ type: 'LineString', coordinates: coords }, { i }, i);
      });
    };
    const wrap = [
      feature({ type: 'LineString', coordinates: [[160, 10], [200, 15], [175, 40]] }, {}, 1),
      feature({ type: 'MultiLineString', coordinates: [[[-200, -60], [-150, 70]], [[-179, 0], [181, 1]]] }, {}, 2),
      feature({ type: 'LineString', coordinates: [[-180, 85.5], [180, -89], [0, 89]] }, {}, 3),
    ];
    let compared = 0;
    for (const t of [...TILES, { z: 1, x: 0, y: 0 }, { z: 2, x: 3, y: 3 }, { z: 14, x: 8299, y: 5636 }]) {
      const fs = [...lines(t, 7), ...wanderers(t, t.z + 11), ...polygons(t, 8), ...wrap];
      for (const tolerance of [0, 3]) {
        const fast = write(fs, t, true, tolerance);
        expect(fast.equals(write(fs, t, false, tolerance)), `tile ${t.z}/${t.x}/${t.y} tolerance ${tolerance}`).toBe(true);
        compared += decode(fast).length;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
