/**
 * tilesmith: write a UDF, get tiles. This entry point is what UDF files import.
 * @example
 * import { defineUdf } from 'tilesmith';
 * export default defineUdf({ run: ({ bounds }) => ({ type: 'Point', coordinates: [bounds[0], bounds[1]] }) });
 */
export { defineUdf, isUdfDefinition, raster, table } from './udf/define.ts';
export { createApp, type AppOptions, type AppHelpers } from './app.ts';
export * from './errors.ts';
export type * from './types.ts';
// [issue 11] tokens, auth, share URLs, admin API, observation (runtime-neutral parts).
export type { OperationsOptions, Observer, RequestRecord, ServeHooks } from './operations.ts';
export type { TokenStore, TokenRecord, TokenScope, TokenCheck } from './auth/tokens.ts';
export type { AuthOptions } from './auth/middleware.ts';
export type { RunInfo, RunsSource } from './routes/admin.ts';
export { createRateLimiter, parseRateLimit, type RateLimit, type RateLimiter } from './auth/rate-limit.ts';
