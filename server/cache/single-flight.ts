import type { CacheEntry, ResultCache } from '../types.ts';

/** A cache tier without `getOrCompute`: what a storage backend implements. */
export type CacheStorage = Omit<ResultCache, 'getOrCompute'>;

type Outcome = { entry: CacheEntry; hit: boolean };

/**
 * Adds single-flight `getOrCompute` to a storage backend, so every tier shares one
 * implementation.
 *
 * Concurrent callers of one key share one flight (lookup, then compute and store on a miss).
 * `hit` is true only when the entry came from storage; callers who joined a compute get
 * `hit: false` like the caller who started it, since they waited for it too. A compute error
 * rejects every waiter and nothing is stored, so the next call computes again. `store: false`
 * returns the entry without storing it. `reset: true` skips the lookup, computes, and replaces
 * the stored entry (or deletes it when `store` is false, since it asked to be forgotten).
 * A compute that was running when `purge` was called returns its entry but does not store it:
 * it may have read the data the purge was meant to discard.
 *
 * @example
 * const cache = withSingleFlight({ get, set, delete: del });
 * const { entry, hit } = await cache.getOrCompute(key, async () => ({ entry: await render(), store: true }));
 */
export function withSingleFlight<T extends CacheStorage>(storage: T): NoInfer<T> & Pick<ResultCache, 'getOrCompute'> {
  const inflight = new Map<string, { promise: Promise<Outcome>; reset: boolean }>();

  /** Bumped by every purge: a compute that started before it must not store its result after it. */
  let generation = 0;

  async function fly(key: string, compute: () => Promise<{ entry: CacheEntry; store: boolean }>, reset: boolean): Promise<Outcome> {
    const started = generation;
    if (!reset) {
      const stored = await storage.get(key);
      if (stored) return { entry: stored, hit: true };
    }
    const { entry, store } = await compute();
    if (store && started === generation) await storage.set(key, entry);
    else if (reset) await storage.delete(key);
    return { entry, hit: false };
  }

  const getOrCompute: ResultCache['getOrCompute'] = (key, compute, options) => {
    const reset = options?.reset === true;
    const current = inflight.get(key);
    // A reset must not be answered by a plain flight, which may return the very entry it wants
    // replaced; it joins only another reset. Plain callers join anything, a reset included.
    if (current && (current.reset || !reset)) return current.promise;
    const promise: Promise<Outcome> = fly(key, compute, reset).finally(() => {
      // A reset may have taken the slot over meanwhile: only remove our own flight.
      if (inflight.get(key)?.promise === promise) inflight.delete(key);
    });
    inflight.set(key, { promise, reset });
    return promise;
  };

  const purge: ResultCache['purge'] = (filter) => {
    generation++;
    return storage.purge(filter);
  };

  return { ...storage, getOrCompute, purge };
}
