import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashes, jsHashes, nativeHashes } from './hash.ts';

describe('hashes', () => {
  const texts = ['', 'a', 'tilesmith-key-v1', 'ünïcødé 🗺️ tiles', 'x'.repeat(100_000)];
  const bodies = [new Uint8Array(0), new Uint8Array([0, 1, 2, 255]), new Uint8Array(randomBytes(70_000))];

  it('the pure-JS fallback gives the same digests as node:crypto', () => {
    for (const t of texts) expect(jsHashes.sha256Hex(t)).toBe(createHash('sha256').update(t).digest('hex'));
    for (const b of bodies) expect(jsHashes.sha1Base64url(b)).toBe(createHash('sha1').update(b).digest('base64url'));
  });

  it('on Node the native hashes are found without a node: import, and are the ones used', () => {
    expect(nativeHashes).toBeDefined();
    expect(hashes).toBe(nativeHashes);
    for (const t of texts) expect(nativeHashes!.sha256Hex(t)).toBe(jsHashes.sha256Hex(t));
    for (const b of bodies) expect(nativeHashes!.sha1Base64url(b)).toBe(jsHashes.sha1Base64url(b));
  });
});
