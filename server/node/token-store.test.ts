import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Spy on the real timingSafeEqual (the store must compare hashes with it, not with ===).
const spy = vi.hoisted(() => ({ calls: [] as Array<[Buffer, Buffer]> }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      spy.calls.push([Buffer.from(a as Uint8Array), Buffer.from(b as Uint8Array)]);
      return real.timingSafeEqual(a, b);
    },
  };
});

const { openTokenStore } = await import('./token-store.ts');
const { createHash } = await import('node:crypto');

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
  spy.calls.length = 0;
});

describe('openTokenStore', () => {
  it('stores a SHA-256 of the secret only and compares hashes with timingSafeEqual', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokens-'));
    const store = openTokenStore(join(dir, 'tokens.db'), { create: true });
    const { token, record } = store.create({ udfs: ['a'], params: { n: '1' }, label: 'l' });
    expect(token.startsWith(`fsh_${record.id}`)).toBe(true);
    const check = store.verify(token);
    expect(check).toMatchObject({ ok: true, token: { id: record.id, udfs: ['a'], params: { n: '1' }, scope: 'run' } });
    const secretHash = createHash('sha256').update(token.slice(14)).digest();
    expect(spy.calls).toHaveLength(1);
    expect(spy.calls[0]![0].equals(secretHash)).toBe(true);
    expect(spy.calls[0]![1].equals(secretHash)).toBe(true);

    // A wrong secret for a real id, and an unknown id, both go through the same compare.
    const wrong = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect(store.verify(wrong)).toEqual({ ok: false, reason: 'unknown' });
    expect(store.verify(`fsh_${'Z'.repeat(42)}`)).toEqual({ ok: false, reason: 'unknown' });
    expect(spy.calls).toHaveLength(3);
    expect(store.verify('fsh_short')).toEqual({ ok: false, reason: 'malformed' });
    store.close();

    const files = await readdir(dir);
    const bytes = Buffer.concat(await Promise.all(files.map((f) => readFile(join(dir!, f)))));
    expect(bytes.includes(Buffer.from(token.slice(14)))).toBe(false);
    expect(bytes.includes(secretHash)).toBe(true);
  });

  it('honours expiry and revocation, and prefixes tokens by scope', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokens-'));
    const store = openTokenStore(join(dir, 'tokens.db'), { create: true });
    const admin = store.create({ scope: 'admin' });
    expect(admin.token).toMatch(/^tsa_/);
    expect(admin.record.udfs).toBe('*');
    expect(store.create({ udfs: '*' }).token).toMatch(/^tsk_/);
    expect(store.create({ udfs: ['a', 'b'] }).token).toMatch(/^tsk_/);
    const short = store.create({ udfs: ['a'], expiresInSeconds: 0.05 });
    expect(store.verify(short.token).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 80));
    expect(store.verify(short.token)).toEqual({ ok: false, reason: 'expired' });
    expect(store.revoke(admin.record.id)).toBe(true);
    expect(store.verify(admin.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(store.revoke('nope')).toBe(false);
    expect(store.list()).toHaveLength(4);
    store.close();
    if (process.platform !== 'win32') expect((await stat(join(dir, 'tokens.db'))).mode & 0o777).toBe(0o600);
  });

  it('without create, a missing database is an empty store and makes no file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokens-'));
    const store = openTokenStore(join(dir, 'tokens.db'));
    expect(store.verify(`fsh_${'A'.repeat(42)}`)).toEqual({ ok: false, reason: 'unknown' });
    expect(store.list()).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });
});
