import { defineUdf, raster } from 'tilesmith';

/**
 * A raster UDF: the Mandelbrot set laid over Web Mercator, as float values 0–1 rendered
 * through a colormap (`?colormap=viridis` and `?rescale=` override the defaults).
 */
export default defineUdf({
  description: 'Mandelbrot set as a float raster with a colormap',
  kind: 'raster',
  rescale: [0, 1],
  colormap: 'magma',
  params: {
    iterations: { type: 'int', default: 64, description: 'escape-time iterations (2–2000)' },
  },
  run: ({ bounds, tileSize, params, signal }) => {
    const iterations = params.iterations as number;
    if (iterations < 2 || iterations > 2000) throw new Error(`iterations must be between 2 and 2000, got ${iterations}`);
    const [w, s, e, n] = bounds ?? [-180, -85.0511, 180, 85.0511];
    const size = tileSize;
    const data = new Float32Array(size * size);
    const mercY = (lat: number) => {
      const r = (lat * Math.PI) / 180;
      return (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2;
    };
    const v0 = mercY(n);
    const v1 = mercY(s);
    for (let row = 0; row < size; row++) {
      if (signal.aborted) throw new Error('aborted');
      const v = v0 + ((row + 0.5) / size) * (v1 - v0);
      const ci = v * 3 - 1.5;
      for (let col = 0; col < size; col++) {
        const u = (w + ((col + 0.5) / size) * (e - w) + 180) / 360;
        const cr = u * 3 - 2.2;
        let zr = 0;
        let zi = 0;
        let k = 0;
        while (k < iterations && zr * zr + zi * zi <= 4) {
          const t = zr * zr - zi * zi + cr;
          zi = 2 * zr * zi + ci;
          zr = t;
          k++;
        }
        data[row * size + col] = k >= iterations ? 1 : k / iterations;
      }
    }
    return raster({ width: size, height: size, data, bands: 1 });
  },
});
