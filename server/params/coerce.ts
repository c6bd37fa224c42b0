import { BadRequestError } from '../errors.ts';
import { parseBounds } from '../tiling/bounds.ts';
import type { ParamSpec, ParamSpecs } from '../types.ts';
import { parseDuration } from './duration.ts';

/**
 * Query parameters the server itself reads. A UDF cannot declare these names; they are
 * never passed to a UDF and only the encoding ones enter the cache key.
 */
export const RESERVED_PARAMS = new Set([
  'format',
  'dtype_out_vector',
  'dtype_out_raster',
  'tile_size',
  'cache',
  'cache_max_age',
  'cache_reset',
  'rescale',
  'colormap',
  'bounds',
  'x',
  'y',
  'z',
  'token',
]);

const GEOJSON_TYPES = new Set([
  'Feature', 'FeatureCollection', 'Point', 'MultiPoint', 'LineString', 'MultiLineString',
  'Polygon', 'MultiPolygon', 'GeometryCollection',
]);

const TYPE_HINT: Record<ParamSpec['type'], string> = {
  int: 'an integer such as 42',
  float: 'a number such as 0.5',
  bool: 'true or false (also 1/0, yes/no)',
  str: 'a string',
  list: 'a comma-separated list (a,b,c) or a JSON array',
  dict: 'a JSON object such as {"k":1}',
  json: 'any JSON value',
  geojson: 'a GeoJSON Feature, FeatureCollection or Geometry as JSON',
  bounds: 'four numbers west,south,east,north',
};

function invalid(name: string, raw: string, spec: ParamSpec): never {
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  throw new BadRequestError(
    `Invalid value for parameter '${name}': received ${JSON.stringify(shown)}, expected ${spec.type} (${TYPE_HINT[spec.type]}).`,
    'invalid_parameter',
    { parameter: name, expected: spec.type },
  );
}

function parseJson(name: string, raw: string, spec: ParamSpec): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return invalid(name, raw, spec);
  }
}

/** Converts one raw query value to its declared type, or throws a 400 naming it. */
export function coerceValue(name: string, raw: string, spec: ParamSpec): unknown {
  const text = raw.trim();
  switch (spec.type) {
    case 'int': {
      if (!/^[-+]?\d{1,16}$/.test(text)) invalid(name, raw, spec);
      const n = Number(text);
      if (!Number.isSafeInteger(n)) invalid(name, raw, spec);
      return n;
    }
    case 'float': {
      const n = text === '' ? NaN : Number(text);
      if (!Number.isFinite(n)) invalid(name, raw, spec);
      return n;
    }
    case 'bool': {
      const t = text.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return invalid(name, raw, spec);
    }
    case 'str':
      return raw;
    case 'list': {
      if (text.startsWith('[')) {
        const v = parseJson(name, raw, spec);
        if (!Array.isArray(v)) invalid(name, raw, spec);
        return v;
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
    }
    case 'dict': {
      const v = parseJson(name, raw, spec);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(name, raw, spec);
      return v;
    }
    case 'json':
      return parseJson(name, raw, spec);
    case 'geojson': {
      const v = parseJson(name, raw, spec) as { type?: unknown } | null;
      if (!v || typeof v !== 'object' || !GEOJSON_TYPES.has(String(v.type))) invalid(name, raw, spec);
      return v;
    }
    case 'bounds':
      try {
        return parseBounds(raw, name);
      } catch {
        return invalid(name, raw, spec);
      }
  }
}

/**
 * Turns the query into the UDF's typed parameters: declared ones only (others are ignored
 * and stay out of the cache key), defaults applied, required ones enforced.
 * `query` maps a name to all of its values (a repeated `list` parameter is joined).
 */
export function coerceParams(specs: ParamSpecs, query: Record<string, string[]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const values = query[name];
    if (values === undefined || values.length === 0) {
      if (spec.default !== undefined) out[name] = spec.default;
      else if (spec.required) {
        throw new BadRequestError(
          `Missing required parameter '${name}': expected ${spec.type} (${TYPE_HINT[spec.type]}).`,
          'invalid_parameter',
          { parameter: name, expected: spec.type },
        );
      } else out[name] = null;
      continue;
    }
    if (spec.type === 'list' && values.length > 1) {
      out[name] = values.flatMap((v) => coerceValue(name, v, spec) as unknown[]);
    } else {
      out[name] = coerceValue(name, values[values.length - 1], spec);
    }
  }
  return out;
}

/** Server-side options a request may set, parsed from reserved query parameters. */
export interface RequestOptions {
  /** Format asked for by extension / `format=`; legacy per-kind overrides. */
  format?: string;
  formatVector?: string;
  formatRaster?: string;
  tileSize: 256 | 512;
  /** `cache=false` */
  bypass: boolean;
  /** `cache_reset=true` */
  reset: boolean;
  /** `cache_max_age=…` in seconds */
  maxAge?: number;
  rescale?: [number, number];
  colormap?: string | string[];
}

function last(query: Record<string, string[]>, name: string): string | undefined {
  const v = query[name];
  return v && v.length ? v[v.length - 1] : undefined;
}

function parseBool(name: string, raw: string): boolean {
  const t = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on', ''].includes(t)) return true;
  if (['false', '0', 'no', 'off'].includes(t)) return false;
  throw new BadRequestError(`Invalid ${name}=${JSON.stringify(raw.slice(0, 40))}: expected true or false.`, 'invalid_parameter');
}

/**
 * Reads the reserved options (format, tile_size, cache controls, rescale, colormap).
 * `extension` is the URL's extension (`.mvt` → `mvt`), which wins over nothing but must
 * agree with an explicit `format=`.
 */
export function parseRequestOptions(query: Record<string, string[]>, extension?: string): RequestOptions {
  const formatParam = last(query, 'format');
  if (extension && formatParam && formatParam.toLowerCase() !== extension.toLowerCase()) {
    throw new BadRequestError(
      `Conflicting formats: the URL ends in .${extension} but format=${formatParam}; give one of them.`,
      'bad_request',
    );
  }
  const tileSizeRaw = last(query, 'tile_size');
  let tileSize: 256 | 512 = 256;
  if (tileSizeRaw !== undefined) {
    if (tileSizeRaw !== '256' && tileSizeRaw !== '512') {
      throw new BadRequestError(`Invalid tile_size=${JSON.stringify(tileSizeRaw.slice(0, 40))}: accepted values are 256 and 512.`, 'invalid_parameter');
    }
    tileSize = Number(tileSizeRaw) as 256 | 512;
  }
  const cache = last(query, 'cache');
  const reset = last(query, 'cache_reset');
  const maxAge = last(query, 'cache_max_age');
  const rescaleRaw = last(query, 'rescale');
  let rescale: [number, number] | undefined;
  if (rescaleRaw !== undefined) {
    const parts = rescaleRaw.split(',').map((p) => (p.trim() === '' ? NaN : Number(p)));
    if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n)) || parts[0] === parts[1]) {
      throw new BadRequestError(
        `Invalid rescale=${JSON.stringify(rescaleRaw.slice(0, 40))}: expected two different numbers min,max, e.g. rescale=0,1000.`,
        'invalid_parameter',
      );
    }
    rescale = [parts[0], parts[1]];
  }
  const colormapRaw = last(query, 'colormap');
  let colormap: string | string[] | undefined;
  if (colormapRaw !== undefined) {
    const t = colormapRaw.trim();
    if (t.startsWith('[')) {
      let v: unknown;
      try {
        v = JSON.parse(t);
      } catch {
        v = null;
      }
      if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
        throw new BadRequestError(`Invalid colormap=${JSON.stringify(t.slice(0, 40))}: expected a name or a JSON array of "#rrggbb" colours.`, 'invalid_parameter');
      }
      colormap = v as string[];
    } else colormap = t.includes(',') ? t.split(',').map((s) => s.trim()) : t;
  }
  return {
    format: (extension ?? formatParam)?.toLowerCase(),
    formatVector: last(query, 'dtype_out_vector')?.toLowerCase(),
    formatRaster: last(query, 'dtype_out_raster')?.toLowerCase(),
    tileSize,
    bypass: cache !== undefined && !parseBool('cache', cache),
    reset: reset !== undefined && parseBool('cache_reset', reset),
    maxAge: maxAge !== undefined ? parseDuration(maxAge, 'cache_max_age') : undefined,
    rescale,
    colormap,
  };
}
