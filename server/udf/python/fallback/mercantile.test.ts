/**
 * tilesmith's mercantile stand-in against the examples in mercantile's documentation, run by
 * the real interpreter with only the fallback folder on the path (never the real package).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cannotRun } from '../../../../test/helpers/skip.ts';

const PYTHON = '/usr/bin/python3';
const FALLBACK = import.meta.dirname;

function py(code: string): any {
  const script = `import sys, json\nsys.path.insert(0, ${JSON.stringify(FALLBACK)})\nimport mercantile as m\nassert m.__file__.startswith(${JSON.stringify(FALLBACK)})\n${code}`;
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }));
}

if (!existsSync(PYTHON)) cannotRun('the fallback mercantile tests', `${PYTHON} is missing (scripts/setup-system.mjs installs it)`);

describe.skipIf(!existsSync(PYTHON))('fallback mercantile', () => {
  it('matches the documented examples', () => {
    const r = py(`print(json.dumps({
  "tile": m.tile(-9.140625, 53.33087298301705, 10),
  "tile1": m.tile(-105.0, 40.0, 1),
  "ul": m.ul(486, 332, 10),
  "bounds": m.bounds(486, 332, 10),
  "bounds_t": m.bounds(m.Tile(486, 332, 10)),
  "xy_bounds": m.xy_bounds(486, 332, 10),
  "tiles": list(m.tiles(-105, 39.99, -104.99, 40, [14])),
  "parent": m.parent(486, 332, 10),
  "parent8": m.parent(486, 332, 10, zoom=8),
  "parent0": m.parent(0, 0, 0),
  "children": m.children(243, 166, 9),
  "bounding": m.bounding_tile(-92.5, 0.5, -90.5, 1.5),
  "quadkey": m.quadkey(486, 332, 10),
  "from_qk": m.quadkey_to_tile("0313102310"),
  "names": [m.bounds(0, 0, 0)._fields, m.Tile._fields, m.LngLatBbox._fields, m.Bbox._fields],
  "antimeridian": sorted(m.tiles(170, -10, -170, 10, 2)),
  "xy": m.xy(0, 0),
}))`);
    expect(r.tile).toEqual([486, 332, 10]);
    expect(r.tile1).toEqual([0, 0, 1]);
    expect(r.ul).toEqual([-9.140625, 53.33087298301705]);
    expect(r.bounds).toEqual([-9.140625, 53.120405283106564, -8.7890625, 53.33087298301705]);
    expect(r.bounds_t).toEqual(r.bounds);
    const xy = [-1017529.7205322663, 7005300.768279833, -978393.962050256, 7044436.526761846];
    r.xy_bounds.forEach((v: number, i: number) => expect(v).toBeCloseTo(xy[i], 6));
    expect(r.tiles).toEqual([[3413, 6202, 14], [3413, 6203, 14]]);
    expect(r.parent).toEqual([243, 166, 9]);
    expect(r.parent8).toEqual([121, 83, 8]);
    expect(r.parent0).toBeNull();
    expect(r.children).toEqual([[486, 332, 10], [487, 332, 10], [487, 333, 10], [486, 333, 10]]);
    expect(r.bounding).toEqual([31, 63, 7]);
    expect(r.quadkey).toBe('0313102310');
    expect(r.from_qk).toEqual([486, 332, 10]);
    expect(r.names).toEqual([['west', 'south', 'east', 'north'], ['x', 'y', 'z'], ['west', 'south', 'east', 'north'], ['left', 'bottom', 'right', 'top']]);
    expect(r.antimeridian).toEqual([[0, 1, 2], [0, 2, 2], [3, 1, 2], [3, 2, 2]]);
    expect(r.xy[0]).toBe(0);
    expect(r.xy[1]).toBeCloseTo(0, 6);
  });

  it('raises mercantile\'s exceptions', () => {
    const r = py(`out = []
for f in (lambda: m.tile(0, 90, 3), lambda: m.parent(1, 1, 2, zoom=3), lambda: m.quadkey_to_tile("04"), lambda: m.bounds(1, 2)):
    try:
        f(); out.append(None)
    except m.MercantileError as e:
        out.append(type(e).__name__)
print(json.dumps(out))`);
    expect(r).toEqual(['InvalidLatitudeError', 'InvalidZoomError', 'QuadKeyError', 'TileArgParsingError']);
  });
});
