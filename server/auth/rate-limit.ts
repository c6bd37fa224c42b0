/**
 * Per-client limits on computations (`--rate-limit 60/m`): a token bucket per token id or per
 * client address, holding up to N computations and refilled at N per period. Only requests
 * that go on to compute are charged (the serve pipeline calls `take` after its cache lookup
 * missed), so cached tiles are never limited. Admin tokens are not limited.
 *
 * Hand-written rather than a library: the popular limiters (e.g. hono-rate-limiter,
 * rate-limiter-flexible) count every request in a middleware, before the cache is consulted;
 * what is needed here is ten lines of bucket arithmetic at one point of the pipeline.
 */
import { BadRequestError, RateLimitedError } from '../errors.ts';

export interface RateLimit {
  /** Computations allowed per period (also the burst). */
  count: number;
  /** Period in seconds. */
  periodSeconds: number;
}

const PERIODS: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600, d: 86400, day: 86400 };

/** Parses `60/m`, `10/s`, `1000/h`, `5000/d`. */
export function parseRateLimit(text: string): RateLimit {
  const m = /^\s*(\d{1,9})\s*\/\s*([a-z]+)\s*$/i.exec(text);
  const period = m ? PERIODS[m[2]!.toLowerCase()] : undefined;
  if (!m || !period || Number(m[1]) < 1) {
    throw new BadRequestError(`Invalid rate limit ${JSON.stringify(text)}: expected computations per period, e.g. 60/m, 10/s, 1000/h or 5000/d.`);
  }
  return { count: Number(m[1]), periodSeconds: period };
}

export interface RateLimiter {
  /** Charges one computation to `key`, or throws a 429 `RateLimitedError` with the wait. */
  take(key: string): void;
}

/** A token-bucket limiter. Idle buckets are forgotten once full again, so memory stays bounded by active clients. */
export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const perMs = limit.count / (limit.periodSeconds * 1000);
  const buckets = new Map<string, { tokens: number; at: number }>();
  let sweepAt = now();
  return {
    take(key) {
      const t = now();
      if (t - sweepAt > limit.periodSeconds * 1000) {
        for (const [k, b] of buckets) if (b.tokens + (t - b.at) * perMs >= limit.count) buckets.delete(k);
        sweepAt = t;
      }
      const b = buckets.get(key) ?? { tokens: limit.count, at: t };
      b.tokens = Math.min(limit.count, b.tokens + (t - b.at) * perMs);
      b.at = t;
      if (b.tokens < 1) {
        buckets.set(key, b);
        const wait = Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
        throw new RateLimitedError(
          `Too many computations: this ${key.startsWith('token:') ? 'token' : 'address'} may start ${limit.count} per ${limit.periodSeconds === 1 ? 'second' : `${limit.periodSeconds} s`}. Retry in ${wait} s (cached results are not limited).`,
          wait,
        );
      }
      b.tokens -= 1;
      buckets.set(key, b);
    },
  };
}
