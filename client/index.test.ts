import { describe, expect, it, vi } from 'vitest';
import { authHeaders, encodeParamValue, encodeParams, fetchCatalog, fetchTileJSON, fileUrl, styleUrl, tilejsonUrl, tileUrl } from './index.ts';

const server = 'http://localhost:8787';

/** What the server sees: URLSearchParams decodes exactly as the server's query parser does. */
function query(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url.replace(/\{(z|x|y)\}/g, '0')).searchParams);
}

describe('encodeParamValue', () => {
  it('serialises primitives the way the server parses them', () => {
    expect(encodeParamValue(true)).toBe('true');
    expect(encodeParamValue(false)).toBe('false');
    expect(encodeParamValue(42)).toBe('42');
    expect(encodeParamValue(-0.5)).toBe('-0.5');
    expect(encodeParamValue('a b')).toBe('a b');
    expect(encodeParamValue(null)).toBeUndefined();
    expect(encodeParamValue(undefined)).toBeUndefined();
    expect(() => encodeParamValue(Number.NaN)).toThrow(/finite/);
  });
  it('joins flat arrays with commas (bounds become w,s,e,n)', () => {
    expect(encodeParamValue([1, 2, 3])).toBe('1,2,3');
    expect(encodeParamValue(['a', 'b'])).toBe('a,b');
    expect(encodeParamValue([-10.5, 35, 30, 60])).toBe('-10.5,35,30,60');
  });
  it('falls back to JSON when an element holds a comma or the array nests', () => {
    expect(encodeParamValue(['a,b', 'c'])).toBe('["a,b","c"]');
    expect(encodeParamValue([[1, 2], [3, 4]])).toBe('[[1,2],[3,4]]');
    expect(encodeParamValue([{ a: 1 }])).toBe('[{"a":1}]');
  });
  it('writes objects and GeoJSON as JSON', () => {
    expect(encodeParamValue({ k: 1, s: 'x' })).toBe('{"k":1,"s":"x"}');
    const geom = { type: 'Point', coordinates: [1, 2] };
    expect(JSON.parse(encodeParamValue(geom)!)).toEqual(geom);
  });
});

describe('encodeParams', () => {
  it('percent-encodes &, #, +, = and spaces so values survive the round trip', () => {
    const params = { label: 'a&b #c+d=e f', n: 5 };
    const qs = encodeParams(params);
    expect(qs).not.toMatch(/[#+ ]/);
    expect(qs.split('&')).toHaveLength(2);
    expect(Object.fromEntries(new URLSearchParams(qs))).toEqual({ label: 'a&b #c+d=e f', n: '5' });
  });
  it('keeps commas readable and drops null/undefined', () => {
    expect(encodeParams({ tags: ['a', 'b'], skip: undefined, none: null })).toBe('tags=a,b');
  });
  it('round-trips objects, arrays with commas and unicode', () => {
    const params = { opts: { a: [1, 2], 'b&c': 'd' }, list: ['x,y', 'z'], name: 'Zürich ☃' };
    const back = Object.fromEntries(new URLSearchParams(encodeParams(params)));
    expect(JSON.parse(back.opts)).toEqual(params.opts);
    expect(JSON.parse(back.list)).toEqual(params.list);
    expect(back.name).toBe('Zürich ☃');
  });
  it('encodes keys too', () => {
    expect(encodeParams({ 'a b&c': 1 })).toBe('a%20b%26c=1');
  });
  it('is empty without params', () => {
    expect(encodeParams(undefined)).toBe('');
    expect(encodeParams({})).toBe('');
  });
});

describe('tileUrl', () => {
  it('keeps literal {z}/{x}/{y} (not percent-encoded braces)', () => {
    expect(tileUrl({ server, udf: 'points' })).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}');
  });
  it('puts format, tile size, params and token in the query, in that order', () => {
    const url = tileUrl({ server: `${server}/`, udf: 'points', format: 'mvt', params: { n: 500, label: 'a&b' }, token: 's3cr&t', tileSize: 512 });
    expect(url).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&tile_size=512&n=500&label=a%26b&token=s3cr%26t');
    expect(query(url)).toEqual({ format: 'mvt', tile_size: '512', n: '500', label: 'a&b', token: 's3cr&t' });
  });
  it('adds tile_size only for 512', () => {
    expect(tileUrl({ server, udf: 'm', format: 'png', tileSize: 256 })).toBe('http://localhost:8787/udf/m/tiles/{z}/{x}/{y}?format=png');
  });
  it('can put the format in the path as an extension', () => {
    expect(tileUrl({ server, udf: 'm', format: 'png', extension: true, params: { iterations: 64 } })).toBe(
      'http://localhost:8787/udf/m/tiles/{z}/{x}/{y}.png?iterations=64',
    );
  });
  it('encodes the UDF name and keeps a path prefix of the server', () => {
    expect(tileUrl({ server: 'https://h.example/api/', udf: 'a b' })).toBe('https://h.example/api/udf/a%20b/tiles/{z}/{x}/{y}');
  });
});

describe('fileUrl / tilejsonUrl / styleUrl', () => {
  it('gives file URLs a proper extension and bounds as w,s,e,n', () => {
    expect(fileUrl({ server, udf: 'countries' })).toBe('http://localhost:8787/udf/countries/file.geojson');
    const url = fileUrl({ server, udf: 'countries', format: 'csv', bounds: [-10, 35, 30, 60], params: { min_pop: 1e6 }, token: 't' });
    expect(url).toBe('http://localhost:8787/udf/countries/file.csv?bounds=-10,35,30,60&min_pop=1000000&token=t');
    expect(fileUrl({ server, udf: 'x', format: 'parquet' })).toMatch(/\/file\.parquet$/);
  });
  it('builds TileJSON and style URLs carrying the params', () => {
    expect(tilejsonUrl({ server, udf: 'points', params: { n: 5 } })).toBe('http://localhost:8787/udf/points/tilejson.json?n=5');
    expect(tilejsonUrl({ server, udf: 'm', format: 'png', tileSize: 512 })).toBe('http://localhost:8787/udf/m/tilejson.json?format=png&tile_size=512');
    expect(styleUrl({ server, udf: 'points', params: { tags: ['a', 'b'] }, token: 'k' })).toBe('http://localhost:8787/udf/points/style.json?tags=a,b&token=k');
  });
});

describe('auth and fetch helpers', () => {
  it('builds bearer headers only with a token', () => {
    expect(authHeaders('abc')).toEqual({ Authorization: 'Bearer abc' });
    expect(authHeaders(undefined)).toEqual({});
  });
  it('fetches the catalog with the token as a header, not in the URL', async () => {
    const fake = vi.fn(async () => new Response(JSON.stringify([{ name: 'points', language: 'typescript', params: {} }]), { status: 200 }));
    const catalog = await fetchCatalog(`${server}/`, { token: 'abc', fetch: fake as unknown as typeof fetch });
    expect(catalog[0].name).toBe('points');
    const [url, init] = fake.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://localhost:8787/udfs');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer abc');
  });
  it('fetches TileJSON with params and reports server error messages', async () => {
    const ok = vi.fn(async () => new Response(JSON.stringify({ tilejson: '3.0.0', tiles: [], vector_layers: [] })));
    await fetchTileJSON({ server, udf: 'points', params: { n: 3 }, token: 'x', fetch: ok as unknown as typeof fetch });
    expect((ok.mock.calls[0] as unknown as [string])[0]).toBe('http://localhost:8787/udf/points/tilejson.json?n=3');
    const bad = vi.fn(async () => new Response(JSON.stringify({ error: 'unknown_udf', message: 'No UDF named "nope".' }), { status: 404 }));
    await expect(fetchTileJSON({ server, udf: 'nope', fetch: bad as unknown as typeof fetch })).rejects.toThrow(/404: No UDF named "nope"/);
  });
});
