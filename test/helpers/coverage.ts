/**
 * Even-odd coverage of polygon rings on a grid² raster of a buffered MVT tile (a cell counts
 * when its centre is inside): how the MVT tests compare polygons cut by two implementations
 * (tilesmith vs geojson-vt, tilesmith vs PostGIS) whose vertices may differ.
 */
export function rasterRings(rings: { x: number; y: number }[][], o: { grid: number; extent: number; buffer: number }): Uint8Array {
  const { grid } = o;
  const out = new Uint8Array(grid * grid);
  const lo = -o.buffer;
  const cell = (o.extent + 2 * o.buffer) / grid;
  for (let row = 0; row < grid; row++) {
    const y = lo + (row + 0.5) * cell;
    const xs: number[] = [];
    for (const r of rings) {
      for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
        const a = r[j]!;
        const b = r[i]!;
        if (a.y > y !== b.y > y) xs.push(a.x + ((y - a.y) * (b.x - a.x)) / (b.y - a.y));
      }
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      for (let col = 0; col < grid; col++) {
        const x = lo + (col + 0.5) * cell;
        if (x >= xs[k]! && x < xs[k + 1]!) out[row * grid + col] ^= 1;
      }
    }
  }
  return out;
}
