import type { CacheEntry, CacheTier } from '../types.ts';

/**
 * Marks `entry` as returned by `tier` (what `X-Cache-Tier` reports). The mark is not
 * enumerable: spreads, JSON and equality checks of entries ignore it, so it is never stored
 * by another tier or compared by tests, and an entry copied into a faster tier gets that
 * tier's mark instead.
 */
export function tagTier<T extends CacheEntry>(entry: T, tier: CacheTier): T {
  Object.defineProperty(entry, 'tier', { value: tier, enumerable: false, configurable: true, writable: true });
  return entry;
}
