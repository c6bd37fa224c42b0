import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import { durationMs, parseDuration, parseTimeoutOption } from './duration.ts';

describe('one duration grammar', () => {
  it('reads seconds, ms, s, m, h and d, in any case and with spaces', () => {
    expect([2, '2', '500ms', '30s', ' 5 M ', '1h', '90d', '0s', '1.5s'].map((v) => durationMs(v))).toEqual([
      2000, 2000, 500, 30_000, 300_000, 3_600_000, 90 * 86_400_000, 0, 1500,
    ]);
  });

  it('refuses what is not a duration, negative or over ten years', () => {
    for (const v of ['soon', '', '-1s', '1w', '1e3', '10y', -5, Infinity, NaN, '3651d']) expect(durationMs(v as never)).toBeUndefined();
    expect(durationMs('3650d')).toBe(3650 * 86_400_000);
  });

  it('parseDuration: seconds, and a 400 with a sentence naming the parameter', () => {
    expect(parseDuration('90d')).toBe(90 * 86400);
    expect(parseDuration('250ms')).toBe(0.25);
    const err = (() => {
      try {
        parseDuration('forever', 'cache_max_age');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as Error).message).toMatch(/^Invalid cache_max_age "forever": expected a number of seconds or a number followed by ms, s, m, h or d/);
  });

  it('parseTimeoutOption: milliseconds for UDF options, a plain Error otherwise', () => {
    expect([parseTimeoutOption(2), parseTimeoutOption('500ms'), parseTimeoutOption('2m'), parseTimeoutOption('1d')]).toEqual([2000, 500, 120_000, 86_400_000]);
    expect(() => parseTimeoutOption('soon')).toThrow(/should look like 500ms/);
    expect(() => parseTimeoutOption('soon')).not.toThrow(BadRequestError);
  });
});
