/**
 * Section 5: a PNG tile from a 256×256 float32 raster through a colormap (tilesmith's png
 * encoder: rescale + NaN mask + viridis lookup, then sharp) vs the floor: sharp encoding the
 * same RGBA pixels alone, with the same PNG options. Interleaved rounds in this process.
 */
import sharp from 'sharp';
import { pngEncoder, rasterToPixels } from '../server/encoders/image.ts';
import type { EncodeContext, NormalizedResult } from '../server/types.ts';
import { BENCH_TILE } from './fixtures.ts';
import { recordGoal } from './goals.ts';
import { fmt, interleave, median, ratios, spread, timeCalls } from './load.ts';

export interface PngOptions {
  rounds: number;
  perRound: number;
  maxMsPerRound: number;
}

const SIZE = 256;

/** A smooth field in 0..1 with a few NaN holes (nodata), like an elevation or NDVI tile. */
function field(): Float32Array {
  const data = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = 0.5 + 0.25 * Math.sin(x / 17) + 0.25 * Math.cos(y / 23) * Math.sin((x + y) / 41);
      data[y * SIZE + x] = (x - 200) ** 2 + (y - 60) ** 2 < 300 ? NaN : v;
    }
  }
  return data;
}

export async function benchPng(o: PngOptions): Promise<string> {
  const data = field();
  const result: NormalizedResult = { kind: 'raster', raster: { width: SIZE, height: SIZE, bands: 1, data } };
  const ctx: EncodeContext = { udfName: 'bench', tile: BENCH_TILE, bounds: null, tileSize: SIZE, layerName: 'bench', extent: 4096, buffer: 64, rescale: [0, 1], colormap: 'viridis' };
  const rgba = rasterToPixels(result.raster, ctx);
  const floor = () => sharp(rgba.data, { raw: { width: SIZE, height: SIZE, channels: rgba.channels } }).png({ compressionLevel: 4, adaptiveFiltering: false }).toBuffer();
  let bytes = 0;
  let floorBytes = 0;
  const batch = { count: o.perRound, maxMs: o.maxMsPerRound };
  const cases = {
    tilesmith: async () => median(await timeCalls(async () => void (bytes = (await pngEncoder.encode(result, ctx)).byteLength), batch)),
    sharp: async () => median(await timeCalls(async () => void (floorBytes = (await floor()).byteLength), batch)),
  };
  for (const fn of Object.values(cases)) await fn(); // warm-up
  const r = await interleave(o.rounds, cases);
  const convert = median(await timeCalls(() => rasterToPixels(result.raster, ctx), { count: 50, maxMs: 1000 }));
  const ratio = spread(ratios(r.tilesmith, r.sharp));
  recordGoal({
    goal: 'PNG from float32 + colormap ≤ 1.2× the sharp floor',
    measured: `${ratio.median.toFixed(2)}× (spread ${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`,
    met: ratio.median <= 1.2,
    obstacle:
      'what remains above the floor is the float32 → RGBA conversion (one pass: rescale into a Uint8ClampedArray cell, one packed uint32 colour ' +
      'write per pixel, into a pixel buffer reused between encodes; ~0.3 ms for 65,536 pixels) next to ~3 ms of zlib inside sharp; the encode ' +
      'call itself adds no copy. Loop variants measured no faster (a noData-free loop, multiply-by-reciprocal with an exact threshold check, a ' +
      'clamped index row): the per-pixel read, NaN test, clamped rounding, LUT read and store are what is left.',
  });
  return [
    '## 5. PNG tile from float32 + colormap vs sharp alone',
    '',
    `A ${SIZE}×${SIZE} float32 raster (smooth field, a NaN hole) encoded by tilesmith's png encoder with \`rescale=0,1&colormap=viridis\` ` +
      '(rescale, NaN → transparent, colormap lookup, then sharp), vs the floor: sharp encoding the resulting RGBA pixels alone with the same PNG ' +
      `options (\`compressionLevel: 4, adaptiveFiltering: false\`). ${o.rounds} interleaved rounds × up to ${o.perRound} encodes per side, per-round median.`,
    '',
    '| case | tilesmith / sharp floor | spread | tilesmith median | sharp median | of which float32 → RGBA | PNG bytes (tilesmith / floor) |',
    '|---|---|---|---|---|---|---|',
    `| float32 256² + viridis | ${fmt.ratio(ratio)} | ${fmt.range(ratio)} | ${fmt.ms(median(r.tilesmith))} | ${fmt.ms(median(r.sharp))} | ${fmt.ms(convert)} | ${fmt.int(bytes)} / ${fmt.int(floorBytes)} |`,
  ].join('\n');
}
