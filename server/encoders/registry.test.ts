import { describe, expect, it } from 'vitest';
import { BadRequestError, NotAcceptableError } from '../errors.ts';
import type { Encoder } from '../types.ts';
import { createDefaultEncoderRegistry, defaultEncoders } from './index.ts';
import { createEncoderRegistry } from './registry.ts';

const registry = createDefaultEncoderRegistry();

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('encoder registry', () => {
  it('lists the built-in formats', () => {
    expect(registry.names()).toEqual(['mvt', 'geojson', 'json', 'csv', 'parquet', 'arrow', 'feather', 'html', 'excel', 'xml', 'png', 'jpg', 'webp', 'gif', 'tif']);
    expect(registry.list()).toEqual(defaultEncoders);
  });

  it('finds encoders by name, alias or extension, case-insensitively', () => {
    expect(registry.get('pbf')?.name).toBe('mvt');
    expect(registry.get('MVT')?.name).toBe('mvt');
    expect(registry.get('jpeg')?.name).toBe('jpg');
    expect(registry.get('GeoParquet')?.name).toBe('parquet');
    expect(registry.get('arrows')?.name).toBe('arrow');
    expect(registry.get('ipc')?.name).toBe('arrow');
    expect(registry.get('bmp')).toBeUndefined();
    expect(registry.get('tiff')?.name).toBe('tif');
    expect(registry.get('geotiff')?.name).toBe('tif');
    expect(registry.get('xlsx')?.name).toBe('excel');
    expect(registry.get('htm')?.name).toBe('html');
  });

  it('picks defaults per kind and mode', () => {
    const tile = (['vector', 'raster', 'json', 'table', 'html', 'empty'] as const).map((k) => registry.defaultFor(k, 'tile').name);
    const file = (['vector', 'raster', 'json', 'table', 'html', 'empty'] as const).map((k) => registry.defaultFor(k, 'file').name);
    expect(tile).toEqual(['mvt', 'png', 'json', 'json', 'html', 'mvt']);
    expect(file).toEqual(['geojson', 'png', 'json', 'csv', 'html', 'geojson']);
    expect(registry.select(undefined, 'vector', 'file').name).toBe('geojson');
    expect(registry.select('', 'raster', 'tile').name).toBe('png');
  });

  it('selects a requested format that accepts the kind', () => {
    expect(registry.select('pbf', 'vector', 'tile').name).toBe('mvt');
    expect(registry.select('parquet', 'table', 'file').name).toBe('parquet');
    expect(registry.select('webp', 'raster', 'tile').name).toBe('webp');
  });

  it('answers 400 for an unknown format, naming the available ones', () => {
    const err = thrown(() => registry.select('bmp', 'raster', 'tile'));
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BadRequestError).status).toBe(400);
    expect((err as BadRequestError).code).toBe('bad_request');
    expect(err.message).toBe('Unknown format "bmp". Available formats: mvt, geojson, json, csv, parquet, arrow, feather, html, excel, xml, png, jpg, webp, gif, tif.');
  });

  it('answers 406 when the format cannot encode the kind, listing the accepted ones', () => {
    expect(registry.acceptedFor('raster')).toEqual(['png', 'jpg', 'webp', 'gif', 'tif']);
    expect(registry.acceptedFor('vector')).toEqual(['mvt', 'geojson', 'json', 'csv', 'parquet', 'arrow', 'feather', 'html', 'excel', 'xml']);
    expect(registry.acceptedFor('html')).toEqual(['html']);
    const err = thrown(() => registry.select('png', 'vector', 'tile')) as NotAcceptableError;
    expect(err).toBeInstanceOf(NotAcceptableError);
    expect(err.status).toBe(406);
    expect(err.details).toEqual({ accepted: ['mvt', 'geojson', 'json', 'csv', 'parquet', 'arrow', 'feather', 'html', 'excel', 'xml'] });
    expect(err.message).toMatch(/png format cannot encode a vector result.*mvt, geojson/);
    expect(thrown(() => registry.select('mvt', 'json', 'tile'))).toBeInstanceOf(NotAcceptableError);
  });

  it('refuses duplicate names, aliases or extensions at construction, and is immutable', () => {
    const fake = (name: string, aliases: string[] = [], extension = name): Encoder => ({
      name,
      aliases,
      extension,
      mediaType: 'x/y',
      accepts: ['json'],
      encode: () => new Uint8Array(),
    });
    expect(() => createEncoderRegistry([fake('a'), fake('A')])).toThrow(/"a", already taken by encoder "a"/);
    expect(() => createEncoderRegistry([fake('a', ['b']), fake('c', ['B'])])).toThrow(/already taken/);
    expect(() => createEncoderRegistry([fake('a'), fake('c', [], 'a')])).toThrow(/already taken/);
    expect(() => createEncoderRegistry([fake('a', ['a'], 'a')])).not.toThrow();
    const r = createEncoderRegistry([fake('a')]);
    expect(Object.isFrozen(r)).toBe(true);
    r.list().push(fake('z'));
    expect(r.names()).toEqual(['a']);
  });
});
