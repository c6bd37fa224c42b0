import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tileToBounds } from '../tiling/bounds.ts';
import type { CacheEntry, ResultCache, TileCoord } from '../types.ts';
import { createDiskCache, diskCachePath } from './disk.ts';
import { cacheKey } from './key.ts';
import { createMemoryCache } from './memory.ts';
import { matchesPurge, scopeOf } from './purge.ts';
import { createTieredCache } from './tiered.ts';
import { makeEntry } from './test-helpers.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tilesmith-purge-'));
  dirs.push(dir);
  return dir;
}

function tileKey(udf: string, tile: TileCoord, params: Record<string, unknown> = {}): string {
  return cacheKey({ udf, codeHash: 'c1', params, tile, format: 'mvt', tileSize: 256 });
}
function tileEntry(udf: string, tile: TileCoord): CacheEntry {
  return makeEntry(`${udf} ${tile.z}/${tile.x}/${tile.y}`, undefined, { scope: { udf, tile, bounds: tileToBounds(tile) } });
}
function fileKey(udf: string, bounds: [number, number, number, number] | null): string {
  return cacheKey({ udf, codeHash: 'c1', params: {}, bounds, format: 'geojson', tileSize: 256 });
}

/** Tiles of 'roads' at z0..z4 over Europe and over Australia, a 'rivers' tile and two 'roads' files. */
async function fill(cache: ResultCache): Promise<{ europe: TileCoord[]; australia: TileCoord[] }> {
  // (lon, lat) → tile at each zoom
  const at = (lon: number, lat: number, z: number): TileCoord => {
    const n = 2 ** z;
    const x = Math.floor(((lon + 180) / 360) * n);
    const r = (lat * Math.PI) / 180;
    const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
    return { z, x, y };
  };
  const europe = [2, 3, 4].map((z) => at(10, 50, z));
  const australia = [2, 3, 4].map((z) => at(135, -25, z));
  for (const t of [...europe, ...australia]) await cache.set(tileKey('roads', t), tileEntry('roads', t));
  await cache.set(tileKey('rivers', europe[2]!), tileEntry('rivers', europe[2]!));
  await cache.set(fileKey('roads', [5, 45, 15, 55]), makeEntry('file', undefined, { scope: { udf: 'roads', tile: null, bounds: [5, 45, 15, 55] } }));
  await cache.set(fileKey('roads', null), makeEntry('file nb', undefined, { scope: { udf: 'roads', tile: null, bounds: null } }));
  return { europe, australia };
}

const EUROPE: [number, number, number, number] = [0, 40, 20, 60];

describe('matchesPurge / scopeOf', () => {
  it('reads UDF and tile from keys of entries without a scope', () => {
    const key = tileKey('roads', { z: 3, x: 4, y: 2 });
    expect(scopeOf(key)).toEqual({ udf: 'roads', tile: { z: 3, x: 4, y: 2 }, bounds: tileToBounds({ z: 3, x: 4, y: 2 }) });
    expect(scopeOf(fileKey('roads', [0, 0, 1, 1]))).toEqual({ udf: 'roads', tile: null, bounds: null });
    expect(scopeOf('not a result key')).toBeUndefined();
  });

  it('selects by UDF, zoom range and intersecting area (antimeridian boxes too)', () => {
    const s = { udf: 'a', tile: { z: 5, x: 0, y: 0 }, bounds: [170, 0, 180, 10] as [number, number, number, number] };
    expect(matchesPurge({ udf: 'a' }, s)).toBe(true);
    expect(matchesPurge({ udf: 'b' }, s)).toBe(false);
    expect(matchesPurge({ udf: 'a', minzoom: 6 }, s)).toBe(false);
    expect(matchesPurge({ udf: 'a', maxzoom: 4 }, s)).toBe(false);
    expect(matchesPurge({ udf: 'a', minzoom: 5, maxzoom: 5 }, s)).toBe(true);
    expect(matchesPurge({ udf: 'a', bbox: [0, 0, 10, 10] }, s)).toBe(false);
    expect(matchesPurge({ udf: 'a', bbox: [175, 5, -170, 8] }, s)).toBe(true);
    // a file result (no zoom) is not selected by a zoom range; unknown area matches any bbox
    expect(matchesPurge({ udf: 'a', minzoom: 0 }, { udf: 'a', tile: null, bounds: null })).toBe(false);
    expect(matchesPurge({ udf: 'a', bbox: [0, 0, 1, 1] }, { udf: 'a', tile: null, bounds: null })).toBe(true);
  });
});

for (const kind of ['memory', 'disk', 'tiered'] as const) {
  describe(`purge on the ${kind} cache`, () => {
    async function make(): Promise<ResultCache & { close?(): Promise<void> }> {
      if (kind === 'memory') return createMemoryCache({});
      const dir = await tempDir();
      if (kind === 'disk') return createDiskCache({ dir });
      return createTieredCache([createMemoryCache({}), createDiskCache({ dir })]);
    }

    it('removes only the UDF asked for and returns how many entries went', async () => {
      const cache = await make();
      const { europe } = await fill(cache);
      expect(await cache.purge({ udf: 'roads' })).toBe(8);
      for (const t of europe) expect(await cache.get(tileKey('roads', t))).toBeUndefined();
      expect(await cache.get(tileKey('rivers', europe[2]!))).toBeDefined();
      expect(await cache.purge({ udf: 'roads' })).toBe(0);
      await cache.close?.();
    });

    it('narrows by bbox and zoom range', async () => {
      const cache = await make();
      const { europe, australia } = await fill(cache);
      // Europe at z3..z4: two tiles; files match no zoom range
      expect(await cache.purge({ udf: 'roads', bbox: EUROPE, minzoom: 3, maxzoom: 4 })).toBe(2);
      expect(await cache.get(tileKey('roads', europe[0]!))).toBeDefined();
      expect(await cache.get(tileKey('roads', europe[1]!))).toBeUndefined();
      for (const t of australia) expect(await cache.get(tileKey('roads', t))).toBeDefined();
      // Europe, any zoom: the z2 tile, the file over Europe and the file of unknown area
      expect(await cache.purge({ udf: 'roads', bbox: EUROPE })).toBe(3);
      expect(await cache.get(fileKey('roads', [5, 45, 15, 55]))).toBeUndefined();
      expect(await cache.get(fileKey('roads', null))).toBeUndefined();
      for (const t of australia) expect(await cache.get(tileKey('roads', t))).toBeDefined();
      await cache.close?.();
    });

    it('does not store a compute that was running when the purge came', async () => {
      const cache = await make();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const key = tileKey('roads', { z: 1, x: 0, y: 0 });
      const running = cache.getOrCompute(key, async () => {
        await gate;
        return { entry: tileEntry('roads', { z: 1, x: 0, y: 0 }), store: true };
      });
      await new Promise((r) => setTimeout(r, 10));
      await cache.purge({ udf: 'roads' });
      release();
      expect((await running).hit).toBe(false);
      expect(await cache.get(key)).toBeUndefined();
      await cache.close?.();
    });
  });
}

describe('disk purge after a restart', () => {
  it('finds entries by the scope persisted in the file header', async () => {
    const dir = await tempDir();
    const first = createDiskCache({ dir });
    const { europe } = await fill(first);
    await first.close();
    const reopened = createDiskCache({ dir });
    const entry = await reopened.get(tileKey('roads', europe[0]!));
    expect(entry?.scope).toEqual({ udf: 'roads', tile: europe[0], bounds: tileToBounds(europe[0]!) });
    expect(await reopened.purge({ udf: 'roads', bbox: EUROPE, minzoom: 0, maxzoom: 30 })).toBe(3);
    await reopened.close();
    const again = createDiskCache({ dir });
    for (const t of europe) expect(await again.get(tileKey('roads', t))).toBeUndefined();
    await again.close();
  });

  it('purges files written before scopes existed by what their key says', async () => {
    const dir = await tempDir();
    const first = createDiskCache({ dir });
    const tile = { z: 4, x: 8, y: 5 };
    const key = tileKey('roads', tile);
    await first.set(key, makeEntry('old')); // no scope, like a file of an older version
    await first.close();
    const header = await readFile(diskCachePath(dir, key));
    expect(header.toString('latin1')).not.toContain('"scope"');
    const reopened = createDiskCache({ dir });
    expect(await reopened.purge({ udf: 'roads', bbox: [-180, -85, 180, 85], minzoom: 4, maxzoom: 4 })).toBe(1);
    expect(await reopened.get(key)).toBeUndefined();
    await reopened.close();
  });

  it('skips a file whose header is unreadable instead of failing the purge', async () => {
    const dir = await tempDir();
    const first = createDiskCache({ dir });
    const a = tileKey('roads', { z: 1, x: 0, y: 0 });
    const b = tileKey('roads', { z: 1, x: 1, y: 0 });
    await first.set(a, tileEntry('roads', { z: 1, x: 0, y: 0 }));
    await first.set(b, tileEntry('roads', { z: 1, x: 1, y: 0 }));
    await first.close();
    await writeFile(diskCachePath(dir, a), 'garbage');
    const reopened = createDiskCache({ dir });
    expect(await reopened.purge({ udf: 'roads' })).toBe(1);
    await reopened.close();
  });
});

describe('tier tags', () => {
  it('says which tier answered without changing what equality sees', async () => {
    const dir = await tempDir();
    const disk = createDiskCache({ dir });
    const entry = makeEntry('x');
    await disk.set('k', entry);
    const cache = createTieredCache([createMemoryCache({}), disk]);
    const fromDisk = await cache.get('k');
    expect(fromDisk?.tier).toBe('disk');
    expect(fromDisk).toEqual(entry);
    expect((await cache.get('k'))?.tier).toBe('memory');
    await cache.close();
  });
});
