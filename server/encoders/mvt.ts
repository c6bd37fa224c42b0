import { BadRequestError } from '../errors.ts';
import type { Encoder } from '../types.ts';
import { jsonReplacer } from './json.ts';
import { cutPrepared, cutTile, type CutFeature } from './mvt-tile.ts';
import { streamMvtLayer } from './mvt-writer.ts';

/**
 * Simplification tolerance in tile units at the requested zoom (geojson-vt's default): invisible
 * at extent 4096 (under a pixel even at 1024 px per tile), sheds dense vertices.
 */
const TOLERANCE = 3;

/**
 * `application/vnd.mapbox-vector-tile`: one layer named `ctx.layerName` (MVT v2). Only the
 * requested tile is cut, in one pass per feature (`cutTile`: project, clip to the buffered tile,
 * simplify, round), so the cost is that of the features, not of the zoom level. Properties that MVT
 * cannot hold are adapted: nested objects/arrays become JSON text, null/undefined are dropped,
 * and only non-negative integer ids are kept (MVT ids are uint64; `encodeMvtLayer` drops the
 * others). A tile without features encodes as a zero-length body, which the route can answer
 * with 204.
 */
export const mvtEncoder: Encoder = {
  name: 'mvt',
  aliases: ['pbf'],
  extension: 'mvt',
  mediaType: 'application/vnd.mapbox-vector-tile',
  accepts: ['vector', 'empty'],
  encode(result, ctx) {
    const { tile } = ctx;
    if (!tile) {
      throw new BadRequestError('The mvt format needs a tile: request it as /{z}/{x}/{y}.mvt, or pick a file format such as geojson, parquet or csv.');
    }
    if (result.kind === 'empty') return new Uint8Array(0);
    if (result.kind !== 'vector') throw new Error(`mvt encoder cannot encode a ${result.kind} result`);
    if (result.features.length === 0) return new Uint8Array(0);

    // Cut and written in one stream: each cut feature is written as soon as it is made and then
    // dropped, so memory stays near the tile's own size however many features it holds. The cut
    // features are fresh objects whose `tags` is the caller's properties object: swapping in
    // adapted tags is safe, and the properties themselves are never mutated.
    const { features } = result;
    count = 0;
    // A layer from prepareVector() is cut from its projected, ranked and indexed form (the
    // same rules, without validating, projecting or simplifying the features again).
    const prepared = result.prepared;
    const bytes = streamMvtLayer(ctx.layerName, ctx.extent, (write) => {
      writeTo = write;
      const o = { extent: ctx.extent, buffer: ctx.buffer, tolerance: TOLERANCE, boxes: result.boxes };
      if (prepared && prepared.version === 1 && prepared.featureCount === features.length) cutPrepared(features, prepared, tile, o, sink);
      else cutTile(features, tile, o, sink);
    });
    writeTo = null;
    return count === 0 ? new Uint8Array(0) : bytes;
  },
};

// The sink is one module-level function, not a closure made per tile: the cutter's hot
// functions inline the call to it, and a new closure each tile would be a new call target that
// deoptimises them (V8: "wrong call target") and leaves much of the next tile unoptimised.
// Encoding is synchronous, so tiles never interleave.
let count = 0;
let writeTo: ((f: CutFeature, group: 0 | 1 | 2, done: number, total: number) => void) | null = null;

function sink(f: CutFeature, group: 0 | 1 | 2, done: number, total: number): void {
  f.tags = mvtTags(f.tags);
  writeTo!(f, group, done, total);
  count++;
}

/** Properties as MVT values; returns the same object when nothing needs changing (the common case). */
function mvtTags(tags: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!tags) return null;
  let out: Record<string, unknown> | null = null;
  for (const k in tags) {
    const v = tags[k];
    const t = typeof v;
    if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v))) {
      if (out) out[k] = v;
      continue;
    }
    if (!out) {
      out = {};
      for (const k2 in tags) {
        if (k2 === k) break;
        out[k2] = tags[k2];
      }
    }
    const mapped = mvtValue(v);
    if (mapped !== undefined) out[k] = mapped;
  }
  return out ?? tags;
}

function mvtValue(v: unknown): string | number | undefined {
  if (v === null || v === undefined) return undefined;
  switch (typeof v) {
    case 'number':
      return String(v); // NaN / ±Infinity: no portable MVT encoding, keep them readable
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    case 'object':
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
      return JSON.stringify(v, jsonReplacer);
    default:
      return undefined; // functions, symbols
  }
}
