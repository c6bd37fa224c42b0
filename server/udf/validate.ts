import { RESERVED_PARAMS } from '../params/coerce.ts';
import type { ParamSpecs, ParamType } from '../types.ts';

const PARAM_TYPES = new Set<ParamType>(['int', 'float', 'bool', 'str', 'list', 'dict', 'json', 'geojson', 'bounds']);

/**
 * The one check of a UDF's declared parameters, whatever its language: no name the server
 * reserves for itself (`format`, `x`, `cache_max_age`, …), and only known types.
 * @throws Error with a sentence naming the parameter and what is accepted.
 * @example validateParams({ n: { type: 'int' } }); // → the same specs
 */
export function validateParams(params: ParamSpecs | undefined): ParamSpecs {
  const out: ParamSpecs = {};
  for (const [key, spec] of Object.entries(params ?? {})) {
    if (RESERVED_PARAMS.has(key)) {
      throw new Error(`parameter '${key}' uses a name the server reserves (${[...RESERVED_PARAMS].join(', ')}); rename it`);
    }
    if (!spec || !PARAM_TYPES.has(spec.type)) {
      throw new Error(`parameter '${key}' has type ${JSON.stringify(spec?.type)}; accepted types are ${[...PARAM_TYPES].join(', ')}`);
    }
    out[key] = spec;
  }
  return out;
}
