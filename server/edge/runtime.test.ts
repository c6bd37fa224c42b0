import { describe, expect, it } from 'vitest';
import { BadRequestError, UdfTimeoutError } from '../errors.ts';
import { defineUdf } from '../udf/define.ts';
import { createStaticRegistry } from './registry.ts';
import { createEdgeTsRuntime, parseTimeoutOption } from './runtime.ts';

const call = (o: { timeoutMs?: number; signal?: AbortSignal } = {}) => ({ bounds: null, tile: null, tileSize: 256, params: {}, signal: o.signal ?? new AbortController().signal, timeoutMs: o.timeoutMs });

describe('edge TypeScript runtime', () => {
  it('runs a UDF and returns what it logged', async () => {
    const rt = createEdgeTsRuntime('u', defineUdf({ run: ({ log }) => (log('hello', { a: 1 }), 42) }), 1000);
    expect(await rt.run(call())).toEqual({ value: 42, logs: ['hello {"a":1}'] });
  });

  it('times out an awaiting UDF and aborts its signal', async () => {
    let aborted = false;
    const rt = createEdgeTsRuntime('slow', defineUdf({ run: ({ signal }) => new Promise((r) => signal.addEventListener('abort', () => ((aborted = true), r(1)))) }), 5000);
    await expect(rt.run(call({ timeoutMs: 50 }))).rejects.toThrow(UdfTimeoutError);
    expect(aborted).toBe(true);
  });

  it("passes a UDF's 4xx through and wraps anything else as a UdfError naming the UDF", async () => {
    const bad = createEdgeTsRuntime('b', defineUdf({ run: () => { throw new BadRequestError('n must be positive'); } }), 1000);
    await expect(bad.run(call())).rejects.toThrow(BadRequestError);
    const boom = createEdgeTsRuntime('x', defineUdf({ run: () => { throw new Error('kaput'); } }), 1000);
    await expect(boom.run(call())).rejects.toThrow(expect.objectContaining({ name: 'UdfError', status: 500, message: "UDF 'x' failed: kaput" }));
  });

  it('parses timeout options like the Node loader', () => {
    expect([parseTimeoutOption(2), parseTimeoutOption('500ms'), parseTimeoutOption('2m')]).toEqual([2000, 500, 120000]);
    expect(() => parseTimeoutOption('soon')).toThrow(/should look like/);
  });

  it('the static registry lists a non-UDF module with a load error instead of failing the bundle', () => {
    const reg = createStaticRegistry([
      { name: 'ok', source: 'ok.ts', codeHash: 'h', def: defineUdf({ timeout: '3s', params: { n: { type: 'int', default: 1 } }, run: () => 1 }) },
      { name: 'nope', source: 'nope.ts', codeHash: 'h2', def: { hello: 1 } },
    ]);
    expect(reg.get('ok')).toMatchObject({ timeoutMs: 3000, params: { n: { type: 'int' } } });
    expect(reg.get('nope')!.loadError!.message).toMatch(/nope\.ts does not default-export a UDF/);
    expect(reg.list().map((u) => u.name)).toEqual(['ok', 'nope']);
  });
});
