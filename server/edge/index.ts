/**
 * `tilesmith/edge`: what a generated edge bundle (Cloudflare Workers, Deno, Bun) is built from.
 * Nothing here imports Node: `tilesmith build` bundles it with the folder's TypeScript UDFs.
 */
export { createEdgeApp, createEdgeEncoderRegistry, type EdgeApp, type EdgeAppOptions, type EdgeTarget } from './app.ts';
export { createStaticRegistry, type BundledUdf, type StaticRegistry } from './registry.ts';
export { createEdgeTsRuntime, parseTimeoutOption } from './runtime.ts';
export { createCacheApiCache, type CacheApiOptions, type CacheLike } from './cache-api.ts';
export { createOriginProxy, createMemoryResponseStore, createCacheApiResponseStore, type OriginProxy, type OriginProxyOptions, type ResponseStore } from './origin.ts';
export { portablePngEncoder, unavailableEncoder } from '../encoders/png-portable.ts';
