import { BadRequestError, NotAcceptableError } from '../errors.ts';
import type { Encoder, ResultKind } from '../types.ts';

/** Looks formats up by name, alias or extension and picks one for a result kind. */
export interface EncoderRegistry {
  /** The encoder with this name, alias or extension (case-insensitive). */
  get(nameOrAliasOrExtension: string): Encoder | undefined;
  /** All encoders, in registration order. */
  list(): Encoder[];
  /** Canonical names, in registration order. */
  names(): string[];
  /** Canonical names of the encoders that accept this kind. */
  acceptedFor(kind: ResultKind): string[];
  /** The format used when the request names none. */
  defaultFor(kind: ResultKind, mode: 'tile' | 'file'): Encoder;
  /**
   * The requested encoder (or the default when `requested` is undefined or empty).
   * @throws BadRequestError (400) for an unknown format; NotAcceptableError (406) when it cannot encode `kind`.
   */
  select(requested: string | undefined, kind: ResultKind, mode: 'tile' | 'file'): Encoder;
}

const DEFAULTS: Record<'tile' | 'file', Record<ResultKind, string>> = {
  tile: { vector: 'mvt', raster: 'png', json: 'json', table: 'json', html: 'html', empty: 'mvt' },
  file: { vector: 'geojson', raster: 'png', json: 'json', table: 'csv', html: 'html', empty: 'geojson' },
};

/**
 * Builds an immutable registry. Names, aliases and extensions share one case-insensitive
 * namespace, and a clash is refused at construction rather than silently shadowing a format
 * (an encoder's own extension may repeat its name or alias).
 * @example
 * const registry = createEncoderRegistry([mvtEncoder, geojsonEncoder]);
 * registry.select('pbf', 'vector', 'tile'); // → mvtEncoder
 */
export function createEncoderRegistry(encoders: Encoder[]): EncoderRegistry {
  const all = Object.freeze([...encoders]);
  const byKey = new Map<string, Encoder>();
  for (const encoder of all) {
    const keys = new Set([encoder.name, ...encoder.aliases, encoder.extension].map((k) => k.toLowerCase()));
    for (const key of keys) {
      const other = byKey.get(key);
      if (other) throw new Error(`Encoder "${encoder.name}" uses the name "${key}", already taken by encoder "${other.name}".`);
      byKey.set(key, encoder);
    }
  }
  const names = all.map((e) => e.name);
  const get = (key: string) => byKey.get(key.toLowerCase());
  const acceptedFor = (kind: ResultKind) => all.filter((e) => e.accepts.includes(kind)).map((e) => e.name);

  const defaultFor = (kind: ResultKind, mode: 'tile' | 'file'): Encoder => {
    const encoder = get(DEFAULTS[mode][kind]) ?? all.find((e) => e.accepts.includes(kind));
    if (!encoder) throw new Error(`No registered encoder accepts ${kind} results.`);
    return encoder;
  };

  return Object.freeze({
    get,
    list: () => [...all],
    names: () => [...names],
    acceptedFor,
    defaultFor,
    select(requested: string | undefined, kind: ResultKind, mode: 'tile' | 'file'): Encoder {
      if (requested === undefined || requested === '') return defaultFor(kind, mode);
      const encoder = get(requested);
      if (!encoder) {
        throw new BadRequestError(`Unknown format "${requested}". Available formats: ${names.join(', ')}.`, 'bad_request', { accepted: names });
      }
      if (!encoder.accepts.includes(kind)) {
        const accepted = acceptedFor(kind);
        throw new NotAcceptableError(`The ${encoder.name} format cannot encode a ${kind} result. Formats for ${kind} results: ${accepted.join(', ')}.`, accepted);
      }
      return encoder;
    },
  });
}
