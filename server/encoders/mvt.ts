import GeoJSONVT from 'geojson-vt';
import { BadRequestError } from '../errors.ts';
import type { Encoder, Feature } from '../types.ts';
import { jsonReplacer } from './json.ts';
import { encodeMvtLayer } from './mvt-writer.ts';

/** Tolerance in tile units at the requested zoom: invisible at 4096 extent, sheds dense vertices. */
const TOLERANCE = 3;

/**
 * `application/vnd.mapbox-vector-tile`: one layer named `ctx.layerName` (MVT v2). Only the
 * requested tile is cut: geojson-vt indexes just the root tile and drills straight down to
 * z/x/y, so the cost does not grow with the number of tiles below it. Properties that MVT
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
    if (tile.z > 24) throw new BadRequestError(`Vector tiles go down to zoom 24; got zoom ${tile.z}.`, 'invalid_tile');

    const index = new GeoJSONVT(
      { type: 'FeatureCollection', features: result.features as Feature[] },
      {
        maxZoom: tile.z,
        // 0, not tile.z: a first pass to tile.z would pre-cut every tile on the way that holds
        // more than indexMaxPoints points; getTile() drills down to the one tile we need.
        indexMaxZoom: 0,
        extent: ctx.extent,
        buffer: ctx.buffer,
        tolerance: TOLERANCE,
      },
    );
    // The raw tile: flat coordinate arrays, no [x, y] pair per vertex. Its features are the
    // index's own objects, but the index lives only for this call, so their `tags` can be swapped
    // for adapted ones; `tags` is still the caller's properties object and is never mutated.
    const cut = index.getTileRaw(tile.z, tile.x, tile.y);
    if (!cut || cut.features.length === 0) return new Uint8Array(0);
    for (const f of cut.features) f.tags = mvtTags(f.tags ?? null);
    return encodeMvtLayer(ctx.layerName, cut.features, ctx.extent);
  },
};

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
