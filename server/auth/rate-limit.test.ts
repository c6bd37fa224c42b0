import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../errors.ts';
import { createRateLimiter, parseRateLimit } from './rate-limit.ts';

describe('parseRateLimit', () => {
  it('reads N/period', () => {
    expect(parseRateLimit('60/m')).toEqual({ count: 60, periodSeconds: 60 });
    expect(parseRateLimit('10/s')).toEqual({ count: 10, periodSeconds: 1 });
    expect(parseRateLimit('1000/hour')).toEqual({ count: 1000, periodSeconds: 3600 });
  });
  it('rejects anything else with a sentence', () => {
    for (const bad of ['60', '0/m', '5/week', 'x/m']) expect(() => parseRateLimit(bad)).toThrow(/expected computations per period, e.g. 60\/m/);
  });
});

describe('createRateLimiter', () => {
  it('allows a burst of N, then refills at N per period, per key', () => {
    let now = 0;
    const limiter = createRateLimiter({ count: 2, periodSeconds: 10 }, () => now);
    limiter.take('token:a');
    limiter.take('token:a');
    let err: unknown;
    try {
      limiter.take('token:a');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).status).toBe(429);
    expect((err as RateLimitedError).headers).toEqual({ 'Retry-After': '5' });
    limiter.take('ip:1.2.3.4'); // another key has its own bucket
    now = 5000; // one computation refilled
    limiter.take('token:a');
    expect(() => limiter.take('token:a')).toThrow(RateLimitedError);
  });
});
