/**
 * Child process of bench/vs-postgis.ts: peak extra memory of encoding one workload's tile
 * through the real path (`normalizeResult` + the mvt encoder), in a fresh process so that no
 * earlier work left heap pages behind to reuse. Builds the features, encodes once (JIT warm-up),
 * collects garbage, resets the peak RSS (/proc/self/clear_refs ← 5, Linux), encodes again and
 * prints `{ base, peak, bytes }` as JSON (bytes of RSS and of the tile).
 *
 * argv[2]: the workload key (bench/workloads.ts); argv[3]: "quick" for the quick sizes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mvtEncoder } from '../server/encoders/mvt.ts';
import { normalizeResult } from '../server/result/normalize.ts';
import type { EncodeContext } from '../server/types.ts';
import { workloads } from './workloads.ts';

const w = workloads(process.argv[3] === 'quick').find((x) => x.key === process.argv[2]);
if (!w) throw new Error(`unknown workload ${process.argv[2]}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('bench/peak-memory.ts needs --expose-gc');
const status = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;

const fc = w.make();
const ctx: EncodeContext = { udfName: 'bench', tile: w.tile, bounds: null, tileSize: 512, layerName: 'bench', extent: 4096, buffer: 64 };
let bytes = (mvtEncoder.encode(normalizeResult(fc), ctx) as Uint8Array).byteLength;
gc();
gc();
writeFileSync('/proc/self/clear_refs', '5');
const base = status('VmRSS');
bytes = (mvtEncoder.encode(normalizeResult(fc), ctx) as Uint8Array).byteLength;
const peak = status('VmHWM');
process.stdout.write(JSON.stringify({ base, peak, bytes }));
