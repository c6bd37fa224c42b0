import { describe, expect, it } from 'vitest';
import { H3HexagonLayer, MVTLayer, TileLayer } from '@deck.gl/geo-layers';
import { BitmapLayer, GeoJsonLayer } from '@deck.gl/layers';
import { h3Layer, udfLayer } from './deckgl.ts';

const server = 'http://localhost:8787';

describe('udfLayer', () => {
  it('returns an MVTLayer for vector UDFs with the token as a header in loadOptions.core.fetch', () => {
    const layer = udfLayer({ server, udf: 'points', params: { n: 500 }, token: 'abc', opacity: 0.5 });
    expect(layer).toBeInstanceOf(MVTLayer);
    expect(layer.props.data).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=500');
    expect(layer.props.loadOptions).toEqual({
      core: { fetch: { headers: { Authorization: 'Bearer abc' } } },
      // The MVT worker comes from the tilesmith server, not unpkg.com: pages work offline.
      mvt: { workerUrl: 'http://localhost:8787/vendor/loaders.gl/mvt-worker.js' },
    });
    expect(layer.props.opacity).toBe(0.5);
    expect(layer.id).toBe('tilesmith-points');
  });
  it('merges user loadOptions without losing the auth header', () => {
    const layer = udfLayer({ server, udf: 'points', token: 'abc', mvtWorkerUrl: null, loadOptions: { mvt: { shape: 'binary' }, core: { fetch: { headers: { 'X-A': '1' } } } } });
    expect(layer.props.loadOptions).toEqual({ core: { fetch: { headers: { Authorization: 'Bearer abc', 'X-A': '1' } } }, mvt: { shape: 'binary' } });
  });
  it('can send the token in the query instead', () => {
    const layer = udfLayer({ server, udf: 'points', token: 'abc', tokenInQuery: true });
    expect(layer.props.data).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&token=abc');
    expect((layer.props.loadOptions as any).core.fetch.headers).toEqual({});
  });
  it('returns a TileLayer of BitmapLayers for raster UDFs, bounds from the tile bounding box', () => {
    const layer = udfLayer({ server, udf: 'mandelbrot', kind: 'raster', params: { iterations: 32 }, tileSize: 512 }) as TileLayer;
    expect(layer).toBeInstanceOf(TileLayer);
    expect(layer.props.data).toBe('http://localhost:8787/udf/mandelbrot/tiles/{z}/{x}/{y}?format=png&tile_size=512&iterations=32');
    expect(layer.props.tileSize).toBe(512);
    const image = { width: 1, height: 1 };
    const sub = layer.props.renderSubLayers!({ id: 's', data: image, tile: { boundingBox: [[-10, -5, ], [10, 5]] } } as any) as BitmapLayer;
    expect(sub).toBeInstanceOf(BitmapLayer);
    expect(sub.props.bounds).toEqual([-10, -5, 10, 5]);
    expect(sub.props.image).toBe(image);
    expect(layer.props.renderSubLayers!({ id: 's', data: null, tile: {} } as any)).toBeNull();
  });
  it('uses GeoJsonLayer sublayers for geojson tiles', () => {
    const layer = udfLayer({ server, udf: 'points', format: 'geojson' }) as TileLayer;
    expect(layer).toBeInstanceOf(TileLayer);
    expect(layer.props.data).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=geojson');
    const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] }, properties: {} }] };
    const sub = layer.props.renderSubLayers!({ id: 's', data: fc, tile: {} } as any) as GeoJsonLayer;
    expect(sub).toBeInstanceOf(GeoJsonLayer);
    expect(sub.props.data).toHaveLength(1);
  });
});

describe('h3Layer', () => {
  it('is a flat H3HexagonLayer reading the hex field from the file endpoint', () => {
    const layer = h3Layer({ server, udf: 'hexes', params: { res: 5 }, hexagonField: 'h3' }) as any;
    expect(layer).toBeInstanceOf(H3HexagonLayer);
    expect(layer.props.extruded).toBe(false);
    // deck.gl resolves URL data asynchronously; the original value is kept aside.
    expect(layer.props[Symbol.for('asyncPropOriginal')].data).toBe('http://localhost:8787/udf/hexes/file.json?res=5');
    expect(layer.props.getHexagon({ h3: '85283473fffffff' })).toBe('85283473fffffff');
    expect(layer.props.dataTransform({ rows: [{ h3: 'a' }] })).toEqual([{ h3: 'a' }]);
  });
  it('can load cells per tile', () => {
    const layer = h3Layer({ server, udf: 'hexes', tiled: true }) as any;
    expect(layer).toBeInstanceOf(TileLayer);
    expect(layer.props.data).toBe('http://localhost:8787/udf/hexes/tiles/{z}/{x}/{y}?format=json');
  });
});
