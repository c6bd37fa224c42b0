import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.ts';
import type { ParamSpec } from '../types.ts';
import { coerceParams, coerceValue, parseRequestOptions, RESERVED_PARAMS } from './coerce.ts';
import { thrown } from '../../test/helpers/thrown.ts';

const spec = (type: ParamSpec['type'], extra: Partial<ParamSpec> = {}): ParamSpec => ({ type, ...extra }) as ParamSpec;

/** The 400 a call throws. */
const refusal = (fn: () => unknown): BadRequestError => thrown(fn, BadRequestError);

describe('coerceValue', () => {
  it('int: optional sign, digits only, safe integers', () => {
    expect(['42', ' +7 ', '-3', '0'].map((v) => coerceValue('n', v, spec('int')))).toEqual([42, 7, -3, 0]);
    for (const v of ['4.2', '1e3', '', 'ten', '99999999999999999', '9007199254740993']) {
      const err = refusal(() => coerceValue('n', v, spec('int')));
      expect(err.message).toMatch(/^Invalid value for parameter 'n': received .*, expected int \(an integer such as 42\)\.$/);
      expect(err.details).toMatchObject({ parameter: 'n', expected: 'int' });
    }
  });

  it('float: finite numbers only', () => {
    expect(['0.5', ' -2 ', '1e3'].map((v) => coerceValue('f', v, spec('float')))).toEqual([0.5, -2, 1000]);
    for (const v of ['', 'NaN', 'Infinity', 'abc', '1,5']) expect(refusal(() => coerceValue('f', v, spec('float'))).message).toMatch(/expected float \(a number such as 0\.5\)/);
  });

  it('bool: true/false, 1/0, yes/no, on/off in any case', () => {
    expect(['true', 'TRUE', '1', 'yes', 'on'].map((v) => coerceValue('b', v, spec('bool')))).toEqual([true, true, true, true, true]);
    expect(['false', '0', 'No', 'off'].map((v) => coerceValue('b', v, spec('bool')))).toEqual([false, false, false, false]);
    expect(refusal(() => coerceValue('b', 'maybe', spec('bool'))).message).toMatch(/expected bool \(true or false \(also 1\/0, yes\/no\)\)/);
  });

  it('str: the raw text, spaces kept', () => {
    expect(coerceValue('s', '  a b ', spec('str'))).toBe('  a b ');
  });

  it('list: comma-separated (trimmed) or a JSON array', () => {
    expect(coerceValue('l', 'a, b,c', spec('list'))).toEqual(['a', 'b', 'c']);
    expect(coerceValue('l', '', spec('list'))).toEqual([]);
    expect(coerceValue('l', '[1,"x",null]', spec('list'))).toEqual([1, 'x', null]);
    expect(refusal(() => coerceValue('l', '[1,2', spec('list'))).message).toMatch(/expected list/);
  });

  it('dict, json and geojson: parsed JSON of the right shape', () => {
    expect(coerceValue('d', '{"k":1}', spec('dict'))).toEqual({ k: 1 });
    for (const v of ['[1]', 'null', '3', '{']) expect(refusal(() => coerceValue('d', v, spec('dict'))).message).toMatch(/expected dict/);
    expect(coerceValue('j', '[1,{"a":null}]', spec('json'))).toEqual([1, { a: null }]);
    expect(refusal(() => coerceValue('j', 'not json', spec('json'))).message).toMatch(/expected json \(any JSON value\)/);
    const point = { type: 'Point', coordinates: [1, 2] };
    expect(coerceValue('g', JSON.stringify(point), spec('geojson'))).toEqual(point);
    for (const v of ['{"type":"Circle"}', '{}', '[]', 'null']) expect(refusal(() => coerceValue('g', v, spec('geojson'))).message).toMatch(/expected geojson/);
  });

  it('bounds: four numbers, reported as this parameter', () => {
    expect(coerceValue('area', '-10,35,5,45', spec('bounds'))).toEqual([-10, 35, 5, 45]);
    expect(refusal(() => coerceValue('area', '1,2,3', spec('bounds'))).message).toMatch(/^Invalid value for parameter 'area'.*expected bounds/);
  });

  it('shows at most 80 characters of what it received', () => {
    const msg = refusal(() => coerceValue('n', '9'.repeat(1000), spec('int'))).message;
    expect(msg).toContain(`"${'9'.repeat(80)}…"`);
    expect(msg.length).toBeLessThan(200);
  });
});

describe('coerceParams', () => {
  const specs = {
    n: spec('int', { default: 10 }),
    name: spec('str', { required: true }),
    tags: spec('list'),
    opt: spec('float'),
  };

  it('applies defaults, null for absent optional ones, and ignores undeclared names', () => {
    expect(coerceParams(specs, { name: ['x'], other: ['1'] })).toEqual({ n: 10, name: 'x', tags: null, opt: null });
  });

  it('takes the last value of a repeated scalar and joins a repeated list', () => {
    expect(coerceParams(specs, { name: ['a', 'b'], n: ['1', '2'], tags: ['a,b', 'c'] })).toEqual({ n: 2, name: 'b', tags: ['a', 'b', 'c'], opt: null });
  });

  it('refuses a missing required parameter, saying its type', () => {
    expect(refusal(() => coerceParams(specs, {})).message).toBe("Missing required parameter 'name': expected str (a string).");
  });
});

describe('parseRequestOptions', () => {
  it('defaults: 256 px, cache on, nothing else', () => {
    expect(parseRequestOptions({})).toEqual({ format: undefined, formatVector: undefined, formatRaster: undefined, tileSize: 256, bypass: false, reset: false, maxAge: undefined, rescale: undefined, colormap: undefined });
  });

  it('reads the format from the extension or format=, and refuses a conflict', () => {
    expect(parseRequestOptions({}, 'MVT').format).toBe('mvt');
    expect(parseRequestOptions({ format: ['PNG'] }).format).toBe('png');
    expect(parseRequestOptions({ format: ['mvt'] }, 'mvt').format).toBe('mvt');
    expect(refusal(() => parseRequestOptions({ format: ['png'] }, 'mvt')).message).toBe('Conflicting formats: the URL ends in .mvt but format=png; give one of them.');
  });

  it('tile_size is 256 or 512', () => {
    expect(parseRequestOptions({ tile_size: ['512'] }).tileSize).toBe(512);
    expect(refusal(() => parseRequestOptions({ tile_size: ['300'] })).message).toBe('Invalid tile_size="300": accepted values are 256 and 512.');
  });

  it('cache=false bypasses, a bare cache_reset resets, cache_max_age is a duration', () => {
    expect(parseRequestOptions({ cache: ['false'] }).bypass).toBe(true);
    expect(parseRequestOptions({ cache: ['true'] }).bypass).toBe(false);
    expect(parseRequestOptions({ cache_reset: [''] }).reset).toBe(true);
    expect(parseRequestOptions({ cache_max_age: ['1h'] }).maxAge).toBe(3600);
    expect(refusal(() => parseRequestOptions({ cache: ['sometimes'] })).message).toBe('Invalid cache="sometimes": expected true or false.');
    expect(refusal(() => parseRequestOptions({ cache_max_age: ['forever'] })).message).toMatch(/^Invalid cache_max_age "forever"/);
  });

  it('rescale is two different numbers; colormap a name, a list or a JSON array of colours', () => {
    expect(parseRequestOptions({ rescale: ['0,1000'] }).rescale).toEqual([0, 1000]);
    for (const v of ['5,5', '1', '1,2,3', 'a,b', ',1']) expect(refusal(() => parseRequestOptions({ rescale: [v] })).message).toMatch(/expected two different numbers min,max, e\.g\. rescale=0,1000\.$/);
    expect(parseRequestOptions({ colormap: [' viridis '] }).colormap).toBe('viridis');
    expect(parseRequestOptions({ colormap: ['#000000, #ffffff'] }).colormap).toEqual(['#000000', '#ffffff']);
    expect(parseRequestOptions({ colormap: ['["#000000","#ffffff"]'] }).colormap).toEqual(['#000000', '#ffffff']);
    expect(refusal(() => parseRequestOptions({ colormap: ['[1,2]'] })).message).toMatch(/expected a name or a JSON array of "#rrggbb" colours/);
  });

  it('every option it reads is a reserved name no UDF can declare', () => {
    for (const name of ['format', 'dtype_out_vector', 'dtype_out_raster', 'tile_size', 'cache', 'cache_max_age', 'cache_reset', 'rescale', 'colormap']) {
      expect(RESERVED_PARAMS.has(name)).toBe(true);
    }
  });
});
