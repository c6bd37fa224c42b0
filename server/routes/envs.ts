/**
 * `GET /envs`: the function environments of this server (`tilesmith env …`) with their
 * interpreter version, their own packages and the UDFs using them. Node-only (it runs each
 * environment's interpreter), so the Node server mounts it as an extra route group.
 */
import { Hono } from 'hono';
import { listEnvs } from '../udf/python/envs.ts';

/** Environment listings are cached this long: each one runs `pip list`. */
const FRESH_MS = 5_000;

export function createEnvRoutes(o: { envDir: string }): Hono {
  const app = new Hono();
  let cached: { at: number; body: Promise<unknown> } | undefined;
  app.get('/envs', async (c) => {
    if (!cached || Date.now() - cached.at > FRESH_MS) {
      // No server paths in the answer: names, versions and packages only.
      const body = listEnvs(o.envDir).then((envs) => ({
        envs: envs.map((e) => ({ name: e.name, python: e.version, systemSitePackages: e.systemSitePackages, packages: e.packages, usedBy: e.usedBy.map((u) => u.replace(/ \(server pid \d+\)$/, '')) })),
      }));
      cached = { at: Date.now(), body };
      body.catch(() => (cached = undefined));
    }
    c.header('Cache-Control', 'no-store');
    return c.json(await cached.body);
  });
  return app;
}
