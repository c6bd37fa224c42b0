import { describe, expect, it } from 'vitest';
import { feltFileUrl, feltRasterUrl, feltUploadBody, feltUploadEndpoint, feltUrls } from './felt.ts';

const server = 'https://tiles.example.com';

describe('felt', () => {
  it('gives a raster template with a .png extension and literal {z}/{x}/{y}', () => {
    expect(feltRasterUrl({ server, udf: 'mandelbrot', params: { iterations: 64 }, token: 'k&1' })).toBe(
      'https://tiles.example.com/udf/mandelbrot/tiles/{z}/{x}/{y}.png?iterations=64&token=k%261',
    );
    expect(feltRasterUrl({ server, udf: 'm', tileSize: 512 })).toBe('https://tiles.example.com/udf/m/tiles/{z}/{x}/{y}.png?tile_size=512');
  });
  it('gives file URLs ending in a recognisable extension', () => {
    expect(feltFileUrl({ server, udf: 'countries' })).toBe('https://tiles.example.com/udf/countries/file.geojson');
    expect(feltFileUrl({ server, udf: 'countries', format: 'csv', bounds: [0, 40, 10, 50] })).toBe('https://tiles.example.com/udf/countries/file.csv?bounds=0,40,10,50');
    expect(new URL(feltFileUrl({ server, udf: 'c', format: 'parquet', params: { q: 'a b' } })).pathname).toMatch(/\.parquet$/);
  });
  it('lists the importable URLs by kind', () => {
    expect(Object.keys(feltUrls({ server, udf: 'points', kind: 'vector' }))).toEqual(['geojson', 'csv', 'parquet']);
    expect(feltUrls({ server, udf: 'm', kind: 'raster' })).toEqual({ raster: 'https://tiles.example.com/udf/m/tiles/{z}/{x}/{y}.png' });
  });
  it('builds the upload API body and endpoint', () => {
    expect(feltUploadBody('Countries', 'https://x/file.geojson')).toEqual({ name: 'Countries', import_url: 'https://x/file.geojson' });
    expect(feltUploadEndpoint('abc 1')).toBe('https://felt.com/api/v2/maps/abc%201/upload');
  });
});
