import { defineUdf, raster } from 'tilesmith';

/** Bench: the TypeScript twin of bench_raster.py (256×256 float32, sin(50·lon + 30·lat) per pixel). */
export default defineUdf({
  kind: 'raster',
  run: ({ bounds }) => {
    const [w, s, e, n] = bounds!;
    const size = 256;
    const data = new Float32Array(size * size);
    for (let row = 0; row < size; row++) {
      const lat = Math.fround(n + ((s - n) * row) / (size - 1));
      for (let col = 0; col < size; col++) {
        const lon = Math.fround(w + ((e - w) * col) / (size - 1));
        data[row * size + col] = Math.sin(lon * 50 + lat * 30);
      }
    }
    return raster({ width: size, height: size, data });
  },
});
