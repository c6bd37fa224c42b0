import { describe, expect, it } from 'vitest';
import { validateStyleMin } from '@maplibre/maplibre-gl-style-spec';
import { addUdfLayer, transformRequest, udfLayers, udfSource, udfStyle } from './maplibre.ts';

const server = 'http://localhost:8787';

describe('udfSource / udfLayers', () => {
  it('builds a vector source with literal {z}/{x}/{y} and MVT format', () => {
    expect(udfSource({ server, udf: 'points', params: { n: 500 }, token: 't' })).toEqual({
      type: 'vector',
      tiles: ['http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=500&token=t'],
    });
  });
  it('builds a raster source at 256 px unless told 512', () => {
    expect(udfSource({ server, udf: 'm', kind: 'raster' })).toMatchObject({ type: 'raster', tileSize: 256, tiles: ['http://localhost:8787/udf/m/tiles/{z}/{x}/{y}?format=png'] });
    expect(udfSource({ server, udf: 'm', kind: 'raster', tileSize: 512 })).toMatchObject({ tileSize: 512, tiles: [expect.stringContaining('tile_size=512')] });
  });
  it('draws polygons, lines and points from the source-layer named after the UDF', () => {
    const layers = udfLayers({ server, udf: 'points' });
    expect(layers.map((l) => [l.type, (l as { filter?: unknown }).filter, (l as { 'source-layer'?: string })['source-layer']])).toEqual([
      ['fill', ['==', '$type', 'Polygon'], 'points'],
      ['line', ['==', '$type', 'LineString'], 'points'],
      ['circle', ['==', '$type', 'Point'], 'points'],
    ]);
  });
});

describe('udfStyle', () => {
  it('is a valid style for vector and raster UDFs', () => {
    for (const kind of ['vector', 'raster'] as const) {
      const style = udfStyle({ server, udf: 'x', kind, params: { a: 'b&c' }, bounds: [-10, -10, 10, 10], minzoom: 0, maxzoom: 14, center: [0, 0], zoom: 2 });
      expect(validateStyleMin(style)).toEqual([]);
      expect(style.version).toBe(8);
      expect(style.layers[0]).toMatchObject({ id: 'background', type: 'background' });
    }
  });
  it('uses explicit tiles when given', () => {
    const style = udfStyle({ udf: 'p', tiles: ['http://h/udf/p/tiles/{z}/{x}/{y}?format=mvt&n=5'] });
    expect(style.sources['tilesmith-p']).toEqual({ type: 'vector', tiles: ['http://h/udf/p/tiles/{z}/{x}/{y}?format=mvt&n=5'] });
  });
});

/** A stand-in for maplibregl.Map recording what the adapter does. */
function fakeMap() {
  const sources = new Map<string, any>();
  const layers: any[] = [];
  return {
    sources,
    layers,
    addSource(id: string, s: any) { sources.set(id, { ...s, setTiles(t: string[]) { this.tiles = t; } }); },
    addLayer(l: any) { layers.push(l); },
    getSource(id: string) { return sources.get(id); },
    getLayer(id: string) { return layers.find((l) => l.id === id); },
    removeLayer(id: string) { layers.splice(layers.findIndex((l) => l.id === id), 1); },
    removeSource(id: string) { sources.delete(id); },
  };
}

describe('addUdfLayer', () => {
  it('adds source + layers and re-points tiles on setParams', () => {
    const map = fakeMap();
    const handle = addUdfLayer(map, { server, udf: 'points', params: { n: 10 } });
    expect(handle.layerIds).toEqual(['points-fill', 'points-line', 'points-circle']);
    expect(map.sources.get('tilesmith-points').tiles[0]).toContain('n=10');
    handle.setParams({ n: 20, label: 'x y' });
    expect(map.sources.get('tilesmith-points').tiles[0]).toBe('http://localhost:8787/udf/points/tiles/{z}/{x}/{y}?format=mvt&n=20&label=x%20y');
    handle.remove();
    expect(map.layers).toHaveLength(0);
    expect(map.sources.size).toBe(0);
  });
  it('adds a raster layer', () => {
    const map = fakeMap();
    addUdfLayer(map, { server, udf: 'mandelbrot', kind: 'raster', params: { iterations: 32 } });
    expect(map.layers).toEqual([{ id: 'mandelbrot-raster', type: 'raster', source: 'tilesmith-mandelbrot', paint: { 'raster-opacity': 1 } }]);
  });
});

describe('transformRequest', () => {
  it('adds the bearer header to the server only', () => {
    const tr = transformRequest('abc', 'http://localhost:8787/');
    expect(tr('http://localhost:8787/udf/p/tiles/1/2/3?format=mvt')).toEqual({ url: 'http://localhost:8787/udf/p/tiles/1/2/3?format=mvt', headers: { Authorization: 'Bearer abc' } });
    expect(tr('http://localhost:87870/x')).toEqual({ url: 'http://localhost:87870/x' });
    expect(tr('https://tiles.other.org/1/2/3.png')).toEqual({ url: 'https://tiles.other.org/1/2/3.png' });
  });
});
