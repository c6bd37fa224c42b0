import { BadRequestError } from '../errors.ts';

const MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const GRAMMAR = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i;
/** The longest duration anything accepts: a cache lifetime of ten years. */
const MAX_MS = 10 * 365 * 86_400_000;

/**
 * The one duration grammar of tilesmith (cache lifetimes, timeouts, TTLs, in TypeScript and
 * Python UDF options alike): a number of seconds, or a number followed by ms, s, m, h or d
 * (`'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'90d'`), at most ten years. Milliseconds, or undefined
 * when `value` is not such a duration.
 * @example durationMs('2m') // 120000
 */
export function durationMs(value: string | number): number | undefined {
  let ms: number;
  if (typeof value === 'number') ms = value * 1000;
  else {
    const m = GRAMMAR.exec(value);
    if (!m) return undefined;
    ms = Number(m[1]) * MS[(m[2] || 's').toLowerCase()]!;
  }
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_MS ? ms : undefined;
}

const EXPECTED = 'expected a number of seconds or a number followed by ms, s, m, h or d (e.g. 500ms, 30s, 30m, 1h, 90d), at most 10 years';

/**
 * Parses a cache lifetime or timeout given in a request or on the command line (`'30m'`,
 * `'90d'`, `'0s'`, a plain number of seconds) into seconds; anything else is a 400 naming `what`.
 * @example parseDuration('1h') // 3600
 */
export function parseDuration(value: string | number, what = 'duration'): number {
  const ms = durationMs(value);
  if (ms === undefined) throw new BadRequestError(`Invalid ${what} ${JSON.stringify(value)}: ${EXPECTED}.`, 'invalid_parameter');
  return ms / 1000;
}

/**
 * A UDF's own `timeout` option in milliseconds (same grammar). Throws a plain Error: a bad
 * option is the UDF author's mistake, reported as the UDF's load error, not as a bad request.
 * @example parseTimeoutOption('500ms') // 500
 */
export function parseTimeoutOption(value: string | number): number {
  const ms = durationMs(value);
  if (ms === undefined) throw new Error(`timeout ${JSON.stringify(value)} should look like 500ms, 30s or 2m (${EXPECTED})`);
  return ms;
}
