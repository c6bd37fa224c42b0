import { describe, expect, it } from 'vitest';
import { RunRegistry } from './runs.ts';
import type { CacheEntry } from '../types.ts';

const base = { udf: 'u', mode: 'sync' as const, tile: null, bounds: null, params: {}, format: null };
const entry = (bytes: number): CacheEntry => ({ status: 200, body: new Uint8Array(bytes), mediaType: 'application/json', etag: '"x"', createdAt: 0, expiresAt: 0 });

describe('RunRegistry', () => {
  it('keeps a bounded history, dropping the oldest finished runs but never a live one', () => {
    const runs = new RunRegistry({ maxRuns: 3 });
    const live = runs.create(base);
    runs.start(live.id);
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const r = runs.create({ ...base, udf: `u${i}` });
      runs.finish(r.id, 'done');
      ids.push(r.id);
    }
    expect(runs.get(live.id)?.state).toBe('running');
    expect(runs.list().map((r) => r.id)).toEqual([ids[4], ids[3], live.id]);
    expect(runs.list({ udf: 'u4' }).map((r) => r.id)).toEqual([ids[4]]);
  });

  it('keeps the last status after a kill and the error with it after a failure; updates after the end are ignored', () => {
    const runs = new RunRegistry();
    const r = runs.create(base);
    runs.start(r.id);
    runs.update(r.id, { status: '25% complete' });
    runs.update(r.id, { progress: 7 });
    expect(runs.get(r.id)?.progress).toBe(1);
    runs.update(r.id, { progress: 0.25 });
    runs.finish(r.id, 'failed', { code: 'udf_error', message: 'boom' });
    runs.update(r.id, { status: 'late' });
    expect(runs.get(r.id)).toMatchObject({ state: 'failed', status: '25% complete', progress: 0.25, error: { code: 'udf_error', message: 'boom' } });
    expect(runs.get(r.id)?.timings.run).toBeGreaterThanOrEqual(0);
  });

  it('streams changes to subscribers until the run ends', () => {
    const runs = new RunRegistry();
    const r = runs.create(base);
    const seen: string[] = [];
    runs.subscribe(r.id, (x) => seen.push(`${x.state}:${x.progress}`));
    runs.start(r.id);
    runs.update(r.id, { progress: 0.5 });
    runs.finish(r.id, 'done');
    runs.update(r.id, { progress: 0.9 });
    expect(seen).toEqual(['running:null', 'running:0.5', 'done:1']);
  });

  it('expires job results after the TTL and drops the oldest over the byte budget', () => {
    const runs = new RunRegistry({ jobTtlSeconds: 0, maxResultBytes: 100 });
    const a = runs.create({ ...base, mode: 'job' });
    runs.completeJob(a.id, entry(10), 'a.json', 'MISS');
    expect(runs.result(a.id)).toBeUndefined(); // ttl 0: gone at once
    const kept = new RunRegistry({ jobTtlSeconds: 60, maxResultBytes: 100 });
    const b = kept.create({ ...base, mode: 'job' });
    const c = kept.create({ ...base, mode: 'job' });
    kept.completeJob(b.id, entry(60), undefined, 'MISS');
    kept.completeJob(c.id, entry(60), undefined, 'MISS');
    expect(kept.result(b.id)).toBeUndefined();
    expect(kept.result(c.id)?.entry.body.byteLength).toBe(60);
    expect(kept.get(b.id)?.resultAvailable).toBe(false);
  });

  it('cancels only live jobs', () => {
    const runs = new RunRegistry();
    let cancelled = 0;
    const j = runs.create({ ...base, mode: 'job', cancel: () => cancelled++ });
    const s = runs.create(base);
    expect(runs.cancel(s.id)).toBe(false);
    expect(runs.cancel(j.id)).toBe(true);
    runs.finish(j.id, 'cancelled');
    expect(runs.cancel(j.id)).toBe(false);
    expect(cancelled).toBe(1);
  });
});
