import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { UdfError } from '../errors.ts';
import type { UdfCall, UdfDefinition } from '../types.ts';
import { createTsRuntime } from './ts-runtime.ts';

const call = (signal: AbortSignal): UdfCall => ({ bounds: null, tile: null, tileSize: 256, params: {}, signal });
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

describe('createTsRuntime', () => {
  it('removes its abort listener from the caller signal when the run ends', async () => {
    const runtime = createTsRuntime('t', { run: async () => 1 } as UdfDefinition, 5000);
    const controller = new AbortController();
    for (let i = 0; i < 5; i++) await runtime.run(call(controller.signal));
    await expect(createTsRuntime('f', { run: () => { throw new Error('boom'); } } as UdfDefinition, 5000).run(call(controller.signal))).rejects.toBeInstanceOf(UdfError);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('still aborts a run when the caller signal aborts', async () => {
    const runtime = createTsRuntime('t', { run: ({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')))) } as UdfDefinition, 5000);
    const controller = new AbortController();
    const running = runtime.run(call(controller.signal));
    await tick();
    controller.abort(new Error('client gone'));
    await expect(running).rejects.toThrow('client gone');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('captures console output per run, concurrently and across idle periods', async () => {
    const runtime = createTsRuntime(
      't',
      {
        run: async ({ params }) => {
          console.log('start', params.id);
          await tick(Number(params.wait));
          await Promise.resolve();
          console.warn('end', params.id);
          return params.id;
        },
      } as UdfDefinition,
      5000,
    );
    const go = (id: string, wait: number) => runtime.run({ ...call(new AbortController().signal), params: { id, wait } });
    const first = await go('a', 1);
    expect(first.logs).toEqual(['start a', 'end a']);
    // No run in progress now; the next ones must capture again, each only its own lines.
    const [b, c] = await Promise.all([go('b', 5), go('c', 1)]);
    expect(b.logs).toEqual(['start b', 'end b']);
    expect(c.logs).toEqual(['start c', 'end c']);
    const d = await go('d', 0);
    expect(d.logs).toEqual(['start d', 'end d']);
  });
});
