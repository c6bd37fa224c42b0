/**
 * The UDF registry of an edge bundle: the UDFs `tilesmith build` found are imported statically
 * by the generated entry and listed here, so nothing is scanned or compiled at run time.
 */
import type { LoadedUdf, ParamSpecs, UdfDefinition, UdfOptions } from '../types.ts';
import { isUdfDefinition } from '../udf/define.ts';
import { validateParams } from '../udf/validate.ts';
import { createEdgeTsRuntime, parseTimeoutOption } from './runtime.ts';

/** One UDF as the generated entry hands it over. */
export interface BundledUdf {
  name: string;
  /** The file's path relative to the built folder (shown in the catalog). */
  source: string;
  /** sha256 of the file, first 16 hex digits: the same value the Node server computes, so cache keys agree. */
  codeHash: string;
  /** The module's default export. */
  def: unknown;
}

/** A read-only registry: `get` and `list`, as `createApp` takes. */
export interface StaticRegistry {
  get(name: string): LoadedUdf | undefined;
  list(): LoadedUdf[];
}

/**
 * Builds the registry; a module that does not default-export `defineUdf(...)` is listed with a
 * load error (500 on use) rather than failing the whole bundle.
 * @example createStaticRegistry([{ name: 'roads', source: 'roads.ts', codeHash, def: roads }], 120_000)
 */
export function createStaticRegistry(udfs: BundledUdf[], defaultTimeoutMs = 120_000): StaticRegistry {
  const byName = new Map<string, LoadedUdf>();
  for (const u of udfs) {
    const loaded: LoadedUdf = { name: u.name, language: 'typescript', source: u.source, codeHash: u.codeHash, params: {}, options: {} };
    try {
      const def = u.def;
      if (!isUdfDefinition(def)) {
        throw new Error(`${u.source} does not default-export a UDF: write \`export default defineUdf({ run })\` with defineUdf imported from 'tilesmith'`);
      }
      const { run: _run, params, ...options } = def as UdfDefinition;
      loaded.params = validateParams(params as ParamSpecs | undefined);
      loaded.options = options as UdfOptions;
      loaded.timeoutMs = options.timeout !== undefined ? parseTimeoutOption(options.timeout) : defaultTimeoutMs;
      loaded.runtime = createEdgeTsRuntime(u.name, def as UdfDefinition, loaded.timeoutMs);
    } catch (err) {
      loaded.loadError = { message: `UDF '${u.name}' failed to load: ${err instanceof Error ? err.message : String(err)}` };
    }
    byName.set(u.name, loaded);
  }
  const all = [...byName.values()];
  return { get: (name) => byName.get(name), list: () => [...all] };
}
