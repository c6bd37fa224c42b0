/**
 * The compute half of the pipeline after the UDF ran: raw value → normalised result →
 * encoder → bytes + ETag. It runs wherever the UDF ran: in a worker thread on Node (so the
 * main thread never pays for it), in-process on runtimes without threads.
 */
import { etagFor } from '../cache/key.ts';
import type { EncoderRegistry } from '../encoders/registry.ts';
import { TilesmithError } from '../errors.ts';
import { normalizeResult } from '../result/normalize.ts';
import type { ComputedResult, EncodeRequest, LoadedUdf, NormalizedResult, UdfCall } from '../types.ts';

export type { ComputedResult, EncodeRequest };

/** 500: the encoded result is larger than the server accepts. */
export class ResultTooLargeError extends TilesmithError {
  constructor(size: number, limit: number) {
    super(
      'result_too_large',
      `The encoded result is ${formatBytes(size)}, more than this server's limit of ${formatBytes(limit)} (--max-result-bytes). Ask for a smaller area, a higher zoom or fewer features.`,
      { size, limit },
    );
    this.name = 'ResultTooLargeError';
  }
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} bytes`;
}

/**
 * Normalises `value` and encodes it as the request asks. An empty tile (no features, or an
 * empty result) is a 204 with no body.
 * @throws NotAcceptableError (406) when the format does not fit the result kind; UdfError when
 *   the value cannot be served; ResultTooLargeError past `maxResultBytes`.
 */
export async function encodeValue(
  value: unknown,
  req: EncodeRequest,
  encoders: EncoderRegistry,
): Promise<Omit<ComputedResult, 'logs' | 'timings'>> {
  return encodeNormalized(normalizeResult(value), req, encoders);
}

/** {@link encodeValue} for a result normalised already. */
export async function encodeNormalized(
  result: NormalizedResult,
  req: EncodeRequest,
  encoders: EncoderRegistry,
): Promise<Omit<ComputedResult, 'logs' | 'timings'>> {
  const requested =
    (result.kind === 'vector' || result.kind === 'table' ? req.formatVector : undefined) ??
    (result.kind === 'raster' ? req.formatRaster : undefined) ??
    req.format;
  const encoder = encoders.select(requested, result.kind, req.mode);
  const emptyTile = req.mode === 'tile' && (result.kind === 'empty' || (result.kind === 'vector' && result.features.length === 0));
  const body = emptyTile ? new Uint8Array(0) : await encoder.encode(result, req.ctx);
  if (req.maxResultBytes !== undefined && body.byteLength > req.maxResultBytes) throw new ResultTooLargeError(body.byteLength, req.maxResultBytes);
  const out: Omit<ComputedResult, 'logs' | 'timings'> = {
    status: emptyTile ? 204 : 200,
    body,
    mediaType: encoder.mediaType,
    etag: etagFor(body),
    kind: result.kind,
  };
  if (result.kind === 'vector') out.fields = vectorFields(result);
  return out;
}

/** MVT field types of the first features' properties (what TileJSON's `vector_layers` lists). */
function vectorFields(result: Extract<NormalizedResult, { kind: 'vector' }>): Record<string, string> {
  const fields: Record<string, string> = {};
  const n = Math.min(50, result.features.length);
  for (let i = 0; i < n; i++) {
    const props = result.features[i]!.properties;
    if (!props) continue;
    for (const k in props) {
      if (k in fields) continue;
      const v = props[k];
      fields[k] = typeof v === 'number' ? 'Number' : typeof v === 'boolean' ? 'Boolean' : 'String';
    }
  }
  return fields;
}

/**
 * Runs a UDF and encodes its result: in the runtime's compute pool when it has one (the
 * main thread only waits), in-process otherwise.
 */
export async function computeUdf(udf: LoadedUdf, call: UdfCall, encode: EncodeRequest, encoders: EncoderRegistry): Promise<ComputedResult> {
  const runtime = udf.runtime!;
  if (runtime.compute) return runtime.compute(call, encode);
  const tu = performance.now();
  const output = await runtime.run(call);
  const udfMs = performance.now() - tu;
  const te = performance.now();
  const encoded = await encodeValue(output.value, encode, encoders);
  return { ...encoded, logs: output.logs, timings: { udf: udfMs, encode: performance.now() - te } };
}
