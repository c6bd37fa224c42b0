/**
 * tilesmith: write a UDF, get tiles. This entry point is what UDF files import.
 * @example
 * import { defineUdf } from 'tilesmith';
 * export default defineUdf({ run: ({ bounds }) => ({ type: 'Point', coordinates: [bounds[0], bounds[1]] }) });
 */
export { defineUdf, html, isUdfDefinition, raster, table } from './udf/define.ts';
export { createApp, type AppOptions, type AppHelpers } from './app.ts';
export * from './errors.ts';
export type * from './types.ts';
