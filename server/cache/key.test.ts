import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cacheKey, etagFor, type CacheKeyParts } from './key.ts';

const base: CacheKeyParts = {
  udf: 'roads',
  codeHash: 'c0de',
  params: { min: 2, tags: ['a', 'b'], filter: { kind: 'road', level: 1 } },
  tile: { x: 1, y: 2, z: 3 },
  bounds: [-10, -5, 10, 5],
  format: 'mvt',
  tileSize: 512,
};

describe('cacheKey', () => {
  it('is deterministic and shaped udf/z/x/y/<sha256>', () => {
    const key = cacheKey(base);
    expect(cacheKey(structuredClone(base))).toBe(key);
    expect(key).toMatch(/^roads\/3\/1\/2\/[0-9a-f]{64}$/);
    expect(cacheKey({ ...base, tile: null })).toMatch(/^roads\/[0-9a-f]{64}$/);
  });

  it('ignores key order at every depth, and undefined-valued keys', () => {
    const reordered = { ...base, params: { filter: { level: 1, kind: 'road' }, tags: ['a', 'b'], min: 2, extra: undefined } };
    expect(cacheKey(reordered)).toBe(cacheKey(base));
  });

  it('keeps array order and value types apart', () => {
    const variants: Record<string, unknown>[] = [
      { ...base.params, tags: ['b', 'a'] },
      { ...base.params, min: '2' },
      { ...base.params, min: null },
      { ...base.params, min: NaN },
      { ...base.params, min: Infinity },
      { ...base.params, filter: { kind: 'road', level: [1] } },
      { ...base.params, tags: ['a,b'] },
    ];
    const keys = new Set([cacheKey(base), ...variants.map((params) => cacheKey({ ...base, params }))]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('changes with every part', () => {
    const changes: Partial<CacheKeyParts>[] = [
      { udf: 'rivers' },
      { codeHash: 'c0df' },
      { params: { ...base.params, min: 3 } },
      { params: {} },
      { tile: { x: 2, y: 2, z: 3 } },
      { tile: { x: 1, y: 3, z: 3 } },
      { tile: { x: 1, y: 2, z: 4 } },
      { tile: null },
      { bounds: [-10, -5, 10, 6] },
      { bounds: null },
      { format: 'geojson' },
      { tileSize: 256 },
    ];
    const keys = changes.map((change) => cacheKey({ ...base, ...change }));
    expect(new Set([cacheKey(base), ...keys]).size).toBe(changes.length + 1);
  });

  it('does not let a tile and a swapped tile collide through the readable prefix', () => {
    // z/x/y = 3/1/2 vs 3/2/1 differ in the prefix *and* the hash.
    const a = cacheKey(base).split('/').pop();
    const b = cacheKey({ ...base, tile: { x: 2, y: 1, z: 3 } }).split('/').pop();
    expect(a).not.toBe(b);
  });

  it('rejects UDF names that are not file-name safe, and unencodable params', () => {
    for (const udf of ['../etc', 'a/b', '', 'a b', 'ü']) expect(() => cacheKey({ ...base, udf })).toThrow(TypeError);
    expect(() => cacheKey({ ...base, params: { f: () => 1 } })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => cacheKey({ ...base, params: cyclic })).toThrow(/cycle/);
    // The same object twice is not a cycle.
    const shared = { a: 1 };
    expect(() => cacheKey({ ...base, params: { x: shared, y: shared } })).not.toThrow();
  });
});

describe('etagFor', () => {
  it('is a quoted strong ETag of the body bytes', () => {
    const body = new TextEncoder().encode('hello');
    const etag = etagFor(body);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(etag).toBe(`"${createHash('sha1').update('hello').digest('base64url')}"`);
    expect(etagFor(new TextEncoder().encode('hello'))).toBe(etag);
    expect(etagFor(new TextEncoder().encode('hellp'))).not.toBe(etag);
    expect(etagFor(new Uint8Array())).not.toBe(etag);
  });
});
