import type { CacheEntry } from '../types.ts';
import { etagFor } from './key.ts';

/** A 200 entry whose body is `text` (or `size` bytes of it repeated), valid for an hour. */
export function makeEntry(text: string, size?: number, overrides: Partial<CacheEntry> = {}): CacheEntry {
  const unit = new TextEncoder().encode(text);
  const body = size === undefined ? unit : Uint8Array.from({ length: size }, (_, i) => unit[i % unit.length]!);
  const now = Date.now();
  return { status: 200, body, mediaType: 'application/x-test', etag: etagFor(body), createdAt: now, expiresAt: now + 3_600_000, ...overrides };
}

export const text = (body: Uint8Array): string => new TextDecoder().decode(body);
