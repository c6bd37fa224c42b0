/**
 * The machine-readable descriptions of the server, mounted by createApp: `/openapi.json`
 * (OpenAPI 3.1) and the OGC API – Tiles / WMTS routes. Both describe whatever the registry
 * holds at request time.
 */
import { Hono } from 'hono';
import type { EncoderRegistry } from '../encoders/registry.ts';
import type { LoadedUdf, ResultKind } from '../types.ts';
import { createOgcRoutes } from './ogc.ts';
import { createOpenApiRoutes } from './openapi.ts';

export interface StandardsRouteDeps {
  registry: { get(name: string): LoadedUdf | undefined; list(): LoadedUdf[] };
  baseUrl(req: Request): string;
  resolveKind(udf: LoadedUdf): Promise<ResultKind>;
  maxZoom: number;
  encoders: EncoderRegistry;
  /** Runs a request through the whole app (OGC tile URLs are served as the XYZ route). */
  dispatch(req: Request): Response | Promise<Response>;
}

/** `/openapi.json`, `/ogc/…` and `/wmts…`. */
export function createStandardsRoutes(deps: StandardsRouteDeps): Hono {
  const app = new Hono();
  app.route('/', createOpenApiRoutes({ ...deps, formats: deps.encoders.list() }));
  app.route('/', createOgcRoutes(deps));
  return app;
}
