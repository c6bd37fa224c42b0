import { expect } from 'vitest';

/**
 * The error `fn` throws, checked to be an instance of `type` (a test fails if nothing is
 * thrown): for asserting on the code, sentence and details of a refusal.
 * @example expect(thrown(() => parseTile('-1', '0', '0'), BadRequestError).code).toBe('invalid_tile');
 */
export function thrown<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}
