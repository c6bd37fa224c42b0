/**
 * The fast-path table on its own: its answers (the node:http flat header list and the
 * `ResultHead` form) are `resultHead` + the common headers, value for value, although the
 * header list is prepared once per entry and only the per-request values are patched in.
 * test/hot-hits.test.ts runs it behind a real server against the full pipeline.
 */
import { describe, expect, it } from 'vitest';
import { addCommonHeaders, resultHead, type CommonHeaders } from '../http/response.ts';
import type { RequestRecord } from '../operations.ts';
import type { CacheEntry, LoadedUdf } from '../types.ts';
import { createHotHits, type HotHitRequest } from './hot-hits.ts';

const udf = { name: 'a' } as LoadedUdf;
const ANY: CommonHeaders = Object.freeze({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag, X-Cache', 'Timing-Allow-Origin': '*' });
const NAMED: CommonHeaders = Object.freeze({ 'Access-Control-Allow-Origin': 'https://a.example', 'Access-Control-Expose-Headers': 'ETag', 'Timing-Allow-Origin': '*', Vary: 'Origin' });

function entry(over: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now();
  return { status: 200, body: new Uint8Array([1, 2, 3, 4]), mediaType: 'application/vnd.mapbox-vector-tile', etag: '"abc"', createdAt: now, expiresAt: now + 3600_000, runId: 'run-1', tier: 'memory', ...over };
}

function setup(e: CacheEntry, o: { filename?: string } = {}) {
  const records: RequestRecord[] = [];
  const current = { entry: e as CacheEntry | undefined };
  const hot = createHotHits({
    registry: { get: (n) => (n === 'a' ? udf : undefined) },
    peek: () => current.entry,
    busy: () => false,
    commonHeaders: (origin) => (origin === 'https://a.example' ? NAMED : ANY),
    observe: { request: (r) => records.push({ ...r, url: r.url }) },
  });
  hot.remember('/udf/a/tiles/1/0/0.mvt', { udf, key: 'k', filename: o.filename });
  return { hot, records, current };
}

const req = (headers: Record<string, string> = {}): HotHitRequest => ({ method: 'GET', url: '/udf/a/tiles/1/0/0.mvt', header: (n) => headers[n] });

/** What the pipeline's functions give for this hit (with the per-request values taken from `got`). */
function expected(e: CacheEntry, got: Record<string, string>, common: CommonHeaders, ifNoneMatch?: string, filename?: string) {
  const head = resultHead(
    { entry: e, cacheStatus: 'HIT', cacheable: true, timings: {}, serverTiming: got['Server-Timing'], filename, tier: e.tier, runId: e.runId ?? got['X-Run-Id'] },
    { requestId: got['X-Request-Id']!, private: false, ifNoneMatch },
  );
  addCommonHeaders(head.headers, common);
  return head;
}

function toRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

describe('createHotHits', () => {
  it('answers 200 and 304 with resultHead’s headers, in order, plus the common headers', () => {
    const e = entry();
    const { hot } = setup(e, { filename: 'x.mvt' });
    for (const [headers, common] of [
      [{}, ANY],
      [{ origin: 'https://a.example' }, NAMED],
      [{ 'if-none-match': '"abc"' }, ANY],
      [{ 'if-none-match': 'W/"zzz", "abc"', origin: 'https://a.example' }, NAMED],
      [{ 'if-none-match': '"other"' }, ANY],
    ] as const) {
      const raw = hot.answerRaw(req(headers))!;
      const got = toRecord(raw.headers);
      const want = expected(e, got, common, (headers as Record<string, string>)['if-none-match'], 'x.mvt');
      expect(raw.status).toBe(want.status);
      expect(raw.body === null ? null : Buffer.from(raw.body)).toEqual(want.body === null ? null : Buffer.from(want.body));
      // A Buffer view of the entry's bytes (no copy): node:http would otherwise wrap it per write.
      if (raw.body) expect(Buffer.isBuffer(raw.body) && raw.body.buffer === e.body.buffer).toBe(true);
      expect(raw.headers).toEqual(Object.entries(want.headers).flat());
      const obj = hot.answer(req(headers))!;
      expect(obj.status).toBe(want.status);
      expect(Object.keys(obj.headers)).toEqual(Object.keys(want.headers));
    }
    expect(hot.answered).toBe(10);
  });

  it('patches the per-request values: a new request id every time, the age, the timing', () => {
    const e = entry();
    const { hot, records } = setup(e);
    const a = toRecord(hot.answerRaw(req())!.headers);
    const b = toRecord(hot.answerRaw(req())!.headers);
    expect(a['X-Request-Id']).not.toBe(b['X-Request-Id']);
    expect(records.map((r) => r.requestId)).toEqual([a['X-Request-Id'], b['X-Request-Id']]);
    expect(a['Server-Timing']).toMatch(/^udf;dur=0\.00, encode;dur=0\.00, total;dur=\d+\.\d\d$/);
    expect(a['Cache-Control']).toMatch(/^public, max-age=(3599|3600)$/);
    // The remaining lifetime follows the entry's expiry.
    e.expiresAt = Date.now() + 10_500;
    expect(toRecord(hot.answerRaw(req())!.headers)['Cache-Control']).toBe('public, max-age=10');
    e.expiresAt = Date.now() + 200;
    expect(toRecord(hot.answerRaw(req())!.headers)['Cache-Control']).toBe('no-store');
    // A proxy's id is kept; a malformed one is replaced.
    expect(toRecord(hot.answerRaw(req({ 'x-request-id': 'edge-7' }))!.headers)['X-Request-Id']).toBe('edge-7');
    expect(toRecord(hot.answerRaw(req({ 'x-request-id': 'bad id' }))!.headers)['X-Request-Id']).toMatch(/^[a-z0-9]+-[a-z0-9]+$/);
    expect(records.map((r) => [r.status, r.bytes, r.cache, r.tier])).toEqual(Array(6).fill([200, 4, 'HIT', 'memory']));
  });

  it('an entry without a run id gets a fresh X-Run-Id per answer, as the pipeline gives it', () => {
    const { hot } = setup(entry({ runId: undefined }));
    const a = toRecord(hot.answerRaw(req())!.headers)['X-Run-Id'];
    const b = toRecord(hot.answerRaw(req())!.headers)['X-Run-Id'];
    expect(a).toMatch(/^[A-Za-z0-9_-]{6,}$/);
    expect(b).not.toBe(a);
  });

  it('a 204 entry answers 204 without a body or Content-Type; a new entry object is prepared anew', () => {
    const { hot, current, records } = setup(entry({ status: 204, body: new Uint8Array(0), etag: '"empty"' }));
    const raw = hot.answerRaw(req())!;
    expect(raw.status).toBe(204);
    expect(raw.body).toBeNull();
    expect(toRecord(raw.headers)['Content-Type']).toBeUndefined();
    expect(records.at(-1)!.bytes).toBe(0);
    current.entry = entry({ etag: '"new"', runId: 'run-2' });
    const next = toRecord(hot.answerRaw(req())!.headers);
    expect(next.ETag).toBe('"new"');
    expect(next['X-Run-Id']).toBe('run-2');
    expect(next['Content-Length']).toBe('4');
    current.entry = undefined;
    expect(hot.answerRaw(req())).toBeUndefined();
  });

  it('declines a token, another method and an unknown URL', () => {
    const { hot } = setup(entry());
    expect(hot.answerRaw(req({ authorization: 'Bearer x' }))).toBeUndefined();
    expect(hot.answerRaw({ ...req(), method: 'HEAD' })).toBeUndefined();
    expect(hot.answerRaw({ ...req(), url: '/udf/a/tiles/1/0/1.mvt' })).toBeUndefined();
    expect(hot.answered).toBe(0);
  });
});
