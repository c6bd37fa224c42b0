import { BadRequestError } from '../errors.ts';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a cache lifetime or timeout such as `'30m'`, `'90d'`, `'0s'` or a plain number of
 * seconds into seconds. Accepted units: s, m, h, d.
 * @example parseDuration('1h') // 3600
 */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(value);
    if (m) {
      const seconds = Number(m[1]) * UNITS[(m[2] || 's').toLowerCase()];
      if (Number.isFinite(seconds) && seconds <= 10 * 365 * 86400) return seconds;
    }
  }
  throw new BadRequestError(
    `Invalid ${what} ${JSON.stringify(value)}: expected a number followed by s, m, h or d (e.g. 30m, 1h, 90d), at most 10 years.`,
    'invalid_parameter',
  );
}
