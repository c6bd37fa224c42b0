/**
 * --watch reloads an edited UDF and its cache entries stop matching (the code hash is part
 * of the key); a UDF in a user's own project resolves `import 'tilesmith'` from node_modules.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../server/node/serve.ts';

const dirs: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const udfSource = (value: string) => `import { defineUdf } from 'tilesmith';
export default defineUdf({ params: { q: { type: 'int', default: 1 } }, run: () => ({ value: ${JSON.stringify(value)} }) });
`;

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('watch mode', () => {
  it('picks up edits, new files and deleted files without a restart, and never serves the old result', async () => {
    const dir = temp('tilesmith-watch-');
    writeFileSync(join(dir, 'live.ts'), udfSource('first'));
    const s = await startServer({ dir, port: 0, host: '127.0.0.1', cacheDir: join(dir, '.cache'), watch: true, log: () => {} });
    try {
      const a = await fetch(`${s.url}/udf/live/file`);
      expect(await a.json()).toEqual({ value: 'first' });
      expect(a.headers.get('x-cache')).toBe('MISS');
      expect((await fetch(`${s.url}/udf/live/file`)).headers.get('x-cache')).toBe('HIT');

      writeFileSync(join(dir, 'live.ts'), udfSource('second'));
      const b = await until(async () => (await fetch(`${s.url}/udf/live/file`)).json(), (v) => v.value === 'second');
      expect(b).toEqual({ value: 'second' });

      writeFileSync(join(dir, 'extra.ts'), udfSource('new'));
      const c = await until(async () => (await fetch(`${s.url}/udf/extra/file`)).status, (st) => st === 200);
      expect(c).toBe(200);

      rmSync(join(dir, 'extra.ts'));
      const d = await until(async () => (await fetch(`${s.url}/udf/extra/file`)).status, (st) => st === 404);
      expect(d).toBe(404);

      // A syntax error while editing is reported, and fixing it brings the UDF back.
      writeFileSync(join(dir, 'live.ts'), 'export default {{{');
      const broken = await until(async () => (await fetch(`${s.url}/udf/live/file`)).status, (st) => st === 500);
      expect(broken).toBe(500);
      writeFileSync(join(dir, 'live.ts'), udfSource('third'));
      const fixed = await until(async () => (await fetch(`${s.url}/udf/live/file`)).json(), (v) => v.value === 'third');
      expect(fixed).toEqual({ value: 'third' });
    } finally {
      await s.close();
    }
  });
});

describe("import 'tilesmith' in a user's project", () => {
  it('resolves the installed package from the project node_modules', async () => {
    const project = temp('tilesmith-user-');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    // What `npm install tilesmith` (or `npm link`) leaves: node_modules/tilesmith → the package.
    symlinkSync(resolve(import.meta.dirname, '..'), join(project, 'node_modules', 'tilesmith'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-udfs', type: 'module', private: true }));
    mkdirSync(join(project, 'udfs'));
    writeFileSync(join(project, 'udfs', 'mine.ts'), udfSource('from a user project'));
    const s = await startServer({ dir: join(project, 'udfs'), port: 0, host: '127.0.0.1', cacheDir: join(project, '.cache'), log: () => {} });
    try {
      const res = await fetch(`${s.url}/udf/mine/file`);
      expect(await res.json()).toEqual({ value: 'from a user project' });
    } finally {
      await s.close();
    }
  });
});
