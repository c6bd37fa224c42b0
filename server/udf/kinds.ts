/**
 * What the app knows about each UDF's results — their kind (vector, raster, json, …) and
 * vector fields — and how it finds out: the UDF's declaration, the tile results it served
 * (`learn`, a vote, so one odd request cannot flip it), or one probe run at the centre of its
 * bounds (`createKindResolver`). TileJSON, style.json, qgis.xml and the pages read it.
 */
import type { Admission } from '../compute/admission.ts';
import { computeUdf } from '../compute/encode-result.ts';
import type { EncoderRegistry } from '../encoders/registry.ts';
import { tileAt, tileToBounds } from '../tiling/bounds.ts';
import type { ComputedResult, LoadedUdf, NormalizedResult, ResultKind } from '../types.ts';

/** What the app knows about each UDF from its runs (result kind and vector fields). */
export interface UdfInsight {
  kind: NormalizedResult['kind'];
  fields: Record<string, string>;
  /** Successful tile results per kind: the kind is the most frequent, so one odd request cannot flip it. */
  votes?: Partial<Record<NormalizedResult['kind'], number>>;
}

/** The insight of one version of a UDF (a code change starts over). */
export function insightKey(udf: LoadedUdf): string {
  return `${udf.name}@${udf.codeHash}`;
}

/**
 * Records what a successful result says about its UDF. Only tile results vote on the kind
 * (style.json and qgis.xml describe tiles), and the kind is the one most tile results had, so
 * a single request that makes a UDF return something else cannot flip it for everyone.
 */
export function learn(insights: Map<string, UdfInsight>, udf: LoadedUdf, mode: 'tile' | 'file', result: Pick<ComputedResult, 'kind' | 'fields'>): void {
  if (result.kind === 'empty') return;
  const key = insightKey(udf);
  const known = insights.get(key);
  const votes = { ...(known?.votes ?? {}) };
  if (mode === 'tile') votes[result.kind] = Math.min(1e9, (votes[result.kind] ?? 0) + 1);
  let kind = known?.kind;
  for (const [k, n] of Object.entries(votes) as [NormalizedResult['kind'], number][]) if (!kind || n > (votes[kind] ?? 0)) kind = k;
  if (!kind) return; // file results alone do not decide what the tiles are
  const fields: Record<string, string> = known?.fields ?? {};
  if (result.kind === 'vector' && kind === 'vector' && result.fields) for (const k in result.fields) if (!(k in fields)) fields[k] = result.fields[k]!;
  insights.set(key, { kind, fields, votes });
}

export interface KindResolverOptions {
  insights: Map<string, UdfInsight>;
  encoders: EncoderRegistry;
  /** A probe run takes a computation slot like any request. */
  admission?: Admission;
  log: (msg: string) => void;
  /** Longest a probe run may take. @default 30000 */
  probeTimeoutMs?: number;
}

/**
 * The UDF's result kind: declared, learned from tile results, or found by one probe run (its
 * default parameters, the tile at the centre of its bounds at its lowest zoom; concurrent
 * askers share it). `empty` when unknown (no runtime, or the probe failed: logged).
 * @example const resolveKind = createKindResolver({ insights, encoders, log }); await resolveKind(udf) // 'vector'
 */
export function createKindResolver(o: KindResolverOptions): (udf: LoadedUdf) => Promise<ResultKind> {
  const probes = new Map<string, Promise<ResultKind>>();
  const timeoutMs = o.probeTimeoutMs ?? 30_000;
  const probe = async (udf: LoadedUdf, key: string): Promise<ResultKind> => {
    const z = udf.options.minzoom ?? 0;
    const [w, s, e, n] = udf.options.bounds ?? [-180, -85, 180, 85];
    const tile = tileAt((w + e) / 2, (s + n) / 2, z);
    const bounds = tileToBounds(tile);
    const params = Object.fromEntries(Object.entries(udf.params).map(([k, spec]) => [k, spec.default ?? null]));
    let slot;
    try {
      slot = await o.admission?.acquire({ udf: udf.name, udfConcurrency: udf.options.concurrency, tile, bounds, deadline: Date.now() + timeoutMs, what: `UDF '${udf.name}'` });
      const out = await computeUdf(
        udf,
        { bounds, tile, tileSize: 256, params, signal: AbortSignal.timeout(timeoutMs), timeoutMs },
        { mode: 'tile', ctx: { udfName: udf.name, tile, bounds, tileSize: 256, layerName: udf.name, extent: udf.options.extent ?? 4096, buffer: udf.options.buffer ?? 64 } },
        o.encoders,
      );
      learn(o.insights, udf, 'tile', out);
      return o.insights.get(key)?.kind ?? out.kind;
    } catch (err) {
      o.log(`tilesmith: could not probe the result kind of '${udf.name}': ${err instanceof Error ? err.message : err}`);
      return 'empty';
    } finally {
      slot?.release();
      probes.delete(key);
    }
  };
  return async (udf) => {
    if (udf.options.kind) return udf.options.kind;
    const key = insightKey(udf);
    const known = o.insights.get(key)?.kind;
    if (known) return known;
    if (!udf.runtime) return 'empty';
    let p = probes.get(key);
    if (!p) probes.set(key, (p = probe(udf, key)));
    return p;
  };
}
