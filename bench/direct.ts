/**
 * The in-process baseline of section 2: geojson-vt + vt-pbf called directly with the options
 * the mvt encoder uses (server/encoders/mvt.ts). Runs inside the server child process, next to
 * tilesmith, so both sides share one heap, one JIT and the same geojson-vt module instance.
 */
import { createHash } from 'node:crypto';
import GeoJSONVT, { type LegacyFeature } from 'geojson-vt';
import vtpbf from 'vt-pbf';
import type { Feature } from '../server/types.ts';
import { BENCH_TILE, COLD_N, cachedFeatures, type Shape } from './fixtures.ts';
import { timeCalls } from './load.ts';

export const EXTENT = 4096;
export const BUFFER = 64;
export const TOLERANCE = 3;

export interface DirectRequest {
  shape: Shape;
  /** The MVT layer name (tilesmith uses the UDF name). */
  layer: string;
  count: number;
  maxMs: number;
}

export interface DirectResult {
  /** Each encode's total time in ms. */
  ms: number[];
  /** Summed stage times over the calls. */
  stages: { index: number; getTile: number; pbf: number };
  /** sha1 of the last tile, to check it equals what tilesmith served. */
  sha1: string;
}

/** Encodes BENCH_TILE from the precomputed `COLD_N` features `count` times (or until `maxMs`). */
export async function runDirect(r: DirectRequest): Promise<DirectResult> {
  const { z, x, y } = BENCH_TILE;
  const features = cachedFeatures(BENCH_TILE, COLD_N, r.shape).features as Feature[];
  const stages = { index: 0, getTile: 0, pbf: 0 };
  let bytes: Uint8Array = new Uint8Array(0);
  const ms = await timeCalls(
    () => {
      const t0 = performance.now();
      const index = new GeoJSONVT({ type: 'FeatureCollection', features }, { maxZoom: z, indexMaxZoom: 0, extent: EXTENT, buffer: BUFFER, tolerance: TOLERANCE });
      const t1 = performance.now();
      const tile = index.getTile(z, x, y);
      const t2 = performance.now();
      bytes = vtpbf.fromGeojsonVt({ [r.layer]: tile as { features: LegacyFeature[] } }, { version: 2, extent: EXTENT });
      const t3 = performance.now();
      stages.index += t1 - t0;
      stages.getTile += t2 - t1;
      stages.pbf += t3 - t2;
    },
    { count: r.count, maxMs: r.maxMs },
  );
  return { ms, stages, sha1: sha1(bytes) };
}

export function sha1(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex');
}
