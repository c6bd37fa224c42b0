import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPyCacheSweeper, type PyCacheSweeper } from './cache-sweeper.ts';

describe('Python @cache sweeper', () => {
  let dir: string;
  let sweeper: PyCacheSweeper | undefined;
  afterEach(async () => {
    await sweeper?.stop();
    sweeper = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** A 10 kB cache file last used `ageS` seconds ago (atime), created long ago (mtime). */
  const file = (rel: string, ageS: number, size = 10_000) => {
    const p = path.join(dir, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, Buffer.alloc(size, 1));
    const now = Date.now() / 1000;
    utimesSync(p, now - ageS, now - 100_000);
    return p;
  };

  it('evicts the least recently used files until the folder is under 90 % of its cap, sparing locks, zips and the accelerator', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pysweep-'));
    const files = Array.from({ length: 10 }, (_, i) => file(`load/${i}.pkl`, 1000 - i * 10)); // 0 is the oldest
    const lock = file('load/0.pkl.lock', 5000, 0);
    const zip = file('_zips/u-1/main.py', 5000, 50_000);
    const accel = file('_accel/_tilesmith_accel-0123456789abcdef.so', 5000, 50_000);
    sweeper = createPyCacheSweeper({ dir, maxBytes: 45_000, intervalMs: 60_000 });
    const r = await sweeper.sweep();
    expect(r.bytes).toBeLessThanOrEqual(45_000 * 0.9);
    expect(r.removed).toBe(6);
    expect(files.map((f) => existsSync(f))).toEqual([false, false, false, false, false, false, true, true, true, true]);
    expect(existsSync(lock)).toBe(true);
    expect(existsSync(zip)).toBe(true);
    expect(existsSync(accel)).toBe(true);
  });

  it('leaves a folder under its cap alone and removes abandoned temp files', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pysweep-'));
    const keep = file('f/a.pkl', 10);
    const stale = file('f/a.pkl.123.tmp', 10);
    utimesSync(stale, Date.now() / 1000, Date.now() / 1000 - 7200);
    const fresh = file('f/b.pkl.124.tmp', 10);
    utimesSync(fresh, Date.now() / 1000, Date.now() / 1000);
    sweeper = createPyCacheSweeper({ dir, maxBytes: 1_000_000 });
    const r = await sweeper.sweep();
    expect(r).toEqual({ bytes: 20_000, files: 2, removed: 0 });
    expect([existsSync(keep), existsSync(stale), existsSync(fresh)]).toEqual([true, false, true]);
  });

  it('sweeps on its own at start and then every intervalMs', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tilesmith-pysweep-'));
    const old = file('g/old.pkl', 500);
    sweeper = createPyCacheSweeper({ dir, maxBytes: 15_000, intervalMs: 50 });
    file('g/new1.pkl', 1);
    for (let i = 0; i < 100 && existsSync(old); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(old)).toBe(false);
    expect(existsSync(path.join(dir, 'g/new1.pkl'))).toBe(true);
  });
});
