import { describe, expect, it } from 'vitest';
import { qgisConnectionsXml, qgisRasterUri, qgisVectorTileUri, xmlEscape } from './qgis.ts';

const server = 'http://localhost:8787';

/** Parses a QGIS data-source URI the way QGIS does: split on `&`, then percent-decode each value. */
function parseUri(uri: string): Record<string, string> {
  return Object.fromEntries(uri.split('&').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), decodeURIComponent(kv.slice(i + 1))]; }));
}

describe('qgisRasterUri', () => {
  it('percent-encodes the template so its & does not cut the URI', () => {
    const uri = qgisRasterUri({ server, udf: 'mandelbrot', params: { iterations: 128, colormap: 'magma' } });
    expect(uri).toBe(
      'type=xyz&url=http%3A%2F%2Flocalhost%3A8787%2Fudf%2Fmandelbrot%2Ftiles%2F%7Bz%7D%2F%7Bx%7D%2F%7By%7D%3Fformat%3Dpng%26iterations%3D128%26colormap%3Dmagma&zmin=0&zmax=18',
    );
    expect(parseUri(uri)).toEqual({ type: 'xyz', url: 'http://localhost:8787/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&iterations=128&colormap=magma', zmin: '0', zmax: '18' });
  });
  it('double-encodes already-encoded parameter values (QGIS decodes once)', () => {
    const uri = qgisRasterUri({ server, udf: 'm', params: { label: 'a&b c' }, token: 't&k' });
    expect(uri).toContain('label%3Da%2526b%2520c');
    const template = parseUri(uri).url;
    expect(new URL(template.replace(/[{}]/g, '')).searchParams.get('label')).toBe('a&b c');
    expect(new URL(template.replace(/[{}]/g, '')).searchParams.get('token')).toBe('t&k');
  });
  it('asks for 512 px tiles with tilePixelRatio=2', () => {
    const parsed = parseUri(qgisRasterUri({ server, udf: 'm', tileSize: 512, zmax: 12 }));
    expect(parsed.tilePixelRatio).toBe('2');
    expect(parsed.zmax).toBe('12');
    expect(parsed.url).toContain('tile_size=512');
  });
});

describe('qgisVectorTileUri', () => {
  it('carries the MVT template and the style.json with the same params', () => {
    const parsed = parseUri(qgisVectorTileUri({ server, udf: 'points', params: { n: 5, tags: ['a', 'b'] } }));
    expect(parsed).toEqual({
      type: 'xyz',
      url: 'http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=5&tags=a,b',
      zmin: '0',
      zmax: '14',
      styleUrl: 'http://localhost:8787/udf/points/style.json?n=5&tags=a,b',
    });
  });
  it('accepts an explicit styleUrl', () => {
    expect(parseUri(qgisVectorTileUri({ server, udf: 'p', styleUrl: 'http://x/s.json?a=1&b=2' })).styleUrl).toBe('http://x/s.json?a=1&b=2');
  });
});

describe('qgisConnectionsXml', () => {
  it('escapes XML special characters', () => {
    expect(xmlEscape(`a&b<c>"d'`)).toBe('a&amp;b&lt;c&gt;&quot;d&apos;');
  });
  it('writes an XYZ connection with &amp; in the template', () => {
    const xml = qgisConnectionsXml({ server, udf: 'mandelbrot', kind: 'raster', params: { iterations: 32, colormap: 'viridis' } });
    expect(xml).toBe(
      '<!DOCTYPE connections>\n<qgsXYZTilesConnections version="1.0">\n' +
        '  <xyztiles name="tilesmith mandelbrot" url="http://localhost:8787/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&amp;iterations=32&amp;colormap=viridis" zmin="0" zmax="18" tilePixelRatio="0" authcfg="" username="" password="" referer=""/>\n' +
        '</qgsXYZTilesConnections>\n',
    );
    expect(qgisConnectionsXml({ server, udf: 'm', kind: 'raster', tileSize: 512 })).toContain('tilePixelRatio="2"');
  });
  it('writes a vector tile connection with styleUrl and an escaped name', () => {
    const xml = qgisConnectionsXml({ server, udf: 'points', kind: 'vector', name: 'Pts <"A&B">', params: { n: 5 }, token: 'a&b' });
    expect(xml).toContain('<qgsVectorTileConnections version="1.0">');
    expect(xml).toContain('name="Pts &lt;&quot;A&amp;B&quot;&gt;"');
    expect(xml).toContain('url="http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&amp;n=5&amp;token=a%26b"');
    expect(xml).toContain('styleUrl="http://localhost:8787/udf/points/style.json?n=5&amp;token=a%26b"');
    expect(xml).toContain('zmax="14" serviceType=""');
    // One root element per file, as QGIS requires.
    expect(xml.match(/<qgs\w+Connections/g)).toHaveLength(1);
  });
});
