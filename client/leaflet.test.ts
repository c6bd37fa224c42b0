import { describe, expect, it, vi } from 'vitest';
import { udfPaintRules, udfTileLayer, udfTileLayerArgs, udfVectorLayer } from './leaflet.ts';

const server = 'http://localhost:8787';

describe('udfTileLayer', () => {
  it('uses a 256 px PNG template with the token in the query', () => {
    expect(udfTileLayerArgs({ server, udf: 'mandelbrot', params: { iterations: 64 }, token: 'a b' })).toEqual({
      url: 'http://localhost:8787/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&iterations=64&token=a%20b',
      options: { tileSize: 256 },
    });
  });
  it('uses zoomOffset -1 for 512 px tiles and passes other options through', () => {
    const args = udfTileLayerArgs({ server, udf: 'm', tileSize: 512, opacity: 0.5, maxNativeZoom: 12 });
    expect(args.url).toBe('http://localhost:8787/udf/m/tiles/{z}/{x}/{y}?format=png&tile_size=512');
    expect(args.options).toEqual({ tileSize: 512, zoomOffset: -1, opacity: 0.5, maxNativeZoom: 12 });
    expect(args.options).not.toHaveProperty('errorTileUrl');
  });
  it('calls L.tileLayer', () => {
    const tileLayer = vi.fn(() => ({ kind: 'tile' }));
    udfTileLayer({ tileLayer } as any, { server, udf: 'm' });
    expect(tileLayer).toHaveBeenCalledWith('http://localhost:8787/udf/m/tiles/{z}/{x}/{y}?format=png', { tileSize: 256 });
  });
});

describe('udfVectorLayer', () => {
  class Sym { constructor(public o: unknown) {} }
  const pm = { PolygonSymbolizer: Sym, LineSymbolizer: Sym, CircleSymbolizer: Sym, leafletLayer: vi.fn((o: unknown) => o) } as any;
  it('paints each geometry type of the UDF layer', () => {
    const rules = udfPaintRules(pm, 'points', '#ff0000');
    expect(rules.map((r) => r.dataLayer)).toEqual(['points', 'points', 'points']);
    const matches = (geomType: number) => rules.filter((r) => r.filter!(0, { geomType } as any)).length;
    expect([matches(1), matches(2), matches(3)]).toEqual([1, 1, 1]);
  });
  it('passes an MVT URL, maxDataZoom and paint rules to leafletLayer', () => {
    const layer = udfVectorLayer(pm, { server, udf: 'countries', params: { n: 1 }, token: 't' }) as any;
    expect(layer.url).toBe('http://localhost:8787/udf/countries/tiles/{z}/{x}/{y}?format=mvt&n=1&token=t');
    expect(layer.maxDataZoom).toBe(15);
    expect(layer.paintRules).toHaveLength(3);
  });
});
