import type { RasterData, TableData, UdfDefinition } from '../types.ts';

/** Brand that marks a value as a tilesmith UDF, independent of module identity. */
export const UDF_BRAND = Symbol.for('tilesmith.udf');
export const RASTER_BRAND = Symbol.for('tilesmith.raster');
export const TABLE_BRAND = Symbol.for('tilesmith.table');
export const HTML_BRAND = Symbol.for('tilesmith.html');

/**
 * Declares a TypeScript UDF. The file that default-exports it is served as the UDF named
 * after the file.
 * @example
 * export default defineUdf({
 *   params: { n: { type: 'int', default: 100 } },
 *   run: ({ bounds, params }) => randomPoints(bounds, params.n),
 * });
 */
export function defineUdf<P = any>(definition: UdfDefinition<P>): UdfDefinition<P> {
  if (!definition || typeof definition.run !== 'function') {
    throw new TypeError('defineUdf() needs an object with a run({ bounds, params, ... }) function');
  }
  Object.defineProperty(definition, UDF_BRAND, { value: true, enumerable: false });
  return definition;
}

/** True for a value made by `defineUdf()` (in this or another copy of the package). */
export function isUdfDefinition(value: unknown): value is UdfDefinition {
  return typeof value === 'object' && value !== null && (value as any)[UDF_BRAND] === true;
}

/**
 * Wraps pixel data as a raster result. `data` is pixel-interleaved: for 3 bands,
 * `[r, g, b, r, g, b, …]`, row by row from the north-west corner.
 * @example return raster({ width: 256, height: 256, data: new Float32Array(256 * 256) });
 */
export function raster(input: Omit<RasterData, 'bands'> & { bands?: RasterData['bands'] }): RasterData {
  const bands = input.bands ?? (input.data.length / (input.width * input.height)) as RasterData['bands'];
  if (![1, 2, 3, 4].includes(bands)) {
    throw new TypeError(`raster(): data length ${input.data.length} does not fit ${input.width}×${input.height} pixels with 1, 2, 3 or 4 bands`);
  }
  if (input.data.length !== input.width * input.height * bands) {
    throw new TypeError(`raster(): data length ${input.data.length} should be width × height × bands = ${input.width * input.height * bands}`);
  }
  const out: RasterData = { ...input, bands };
  Object.defineProperty(out, RASTER_BRAND, { value: true, enumerable: false });
  return out;
}

/** Wraps rows as a table result (no geometry): served as csv, json, parquet or arrow. */
export function table(rows: Record<string, unknown>[], columns?: string[]): TableData {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const out: TableData = { columns: cols, rows };
  Object.defineProperty(out, TABLE_BRAND, { value: true, enumerable: false });
  return out;
}

/** What `html()` returns: a page the server answers as `text/html`. */
export interface HtmlData {
  html: string;
}

/**
 * Wraps a string as an HTML result, served as `text/html` (a string that starts with
 * `<!doctype html>` or `<html` is recognised without it).
 * @example return html(`<h1>${params.name}</h1>`);
 */
export function html(markup: string): HtmlData {
  if (typeof markup !== 'string') throw new TypeError('html() needs a string of HTML');
  const out: HtmlData = { html: markup };
  Object.defineProperty(out, HTML_BRAND, { value: true, enumerable: false });
  return out;
}
