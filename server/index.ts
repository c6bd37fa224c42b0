/**
 * tilesmith: write a UDF, get tiles. This entry point is what UDF files import, and the
 * runtime-neutral core: everything exported here runs on Web APIs alone (no `node:` import;
 * a test bundles it for the browser and fails on any), so `createApp()` can be embedded in
 * any runtime that speaks `fetch`. The Node parts (UDF folder loading, disk cache, PNG and
 * Parquet encoders, the server) are in `tilesmith/node`.
 * @example
 * import { defineUdf } from 'tilesmith';
 * export default defineUdf({ run: ({ bounds }) => ({ type: 'Point', coordinates: [bounds[0], bounds[1]] }) });
 */
export { defineUdf, html, isUdfDefinition, raster, table } from './udf/define.ts';
export { prepareVector, isPreparedVector, type PreparedVector } from './result/prepare-vector.ts';
export { createApp, type AppOptions, type AppHelpers } from './app.ts';
export { createMemoryCache, type MemoryCacheOptions } from './cache/memory.ts';
export { cacheKey, etagFor, type CacheKeyParts } from './cache/key.ts';
export { createEncoderRegistry, type EncoderRegistry } from './encoders/registry.ts';
export { mvtEncoder } from './encoders/mvt.ts';
export { geojsonEncoder } from './encoders/geojson.ts';
export { jsonEncoder } from './encoders/json.ts';
export { csvEncoder } from './encoders/csv.ts';
export * from './errors.ts';
export type * from './types.ts';
// [issue 11] tokens, auth, share URLs, admin API, observation (runtime-neutral parts).
export type { OperationsOptions, Observer, RequestRecord, ServeHooks } from './operations.ts';
export type { TokenStore, TokenRecord, TokenScope, TokenCheck } from './auth/tokens.ts';
export type { AuthOptions } from './auth/middleware.ts';
export type { RunInfo, RunsSource } from './routes/admin.ts';
export { createRateLimiter, parseRateLimit, type RateLimit, type RateLimiter } from './auth/rate-limit.ts';
