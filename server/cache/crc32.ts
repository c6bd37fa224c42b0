import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

/** Plain CRC-32 (IEEE, as zlib), for Node < 20.15 where `zlib.crc32` is missing. */
export function crc32Js(data: Uint8Array, value = 0): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 of `data`, continuing from `value`. Uses zlib's native version when the running Node
 * has it; both give identical results, so cache files stay readable across Node versions.
 */
export const crc32: (data: Uint8Array, value?: number) => number =
  typeof zlib.crc32 === 'function' ? (data, value) => zlib.crc32(data, value) : crc32Js;

/** `mat` × `vec` over GF(2) (zlib's `gf2_matrix_times`). */
function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n]!);
}

/** `zeroBytes[k]`: the operator that appends 2^k zero bytes to a CRC (filled on first use). */
const zeroBytes: Uint32Array[] = [];

function zeroBytesOperator(k: number): Uint32Array {
  if (!zeroBytes.length) {
    const odd = new Uint32Array(32);
    odd[0] = 0xedb88320; // the CRC-32 polynomial: the operator for one zero bit
    for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
    const two = new Uint32Array(32);
    const four = new Uint32Array(32);
    const eight = new Uint32Array(32);
    gf2Square(two, odd);
    gf2Square(four, two);
    gf2Square(eight, four); // one zero byte
    zeroBytes.push(eight);
  }
  while (zeroBytes.length <= k) {
    const next = new Uint32Array(32);
    gf2Square(next, zeroBytes[zeroBytes.length - 1]!);
    zeroBytes.push(next);
  }
  return zeroBytes[k]!;
}

/**
 * The CRC-32 of `a ‖ b` from `crc32(a)`, `crc32(b)` and `b`'s length, without reading any byte
 * (zlib's `crc32_combine`, with its operators cached: about a microsecond). Lets a compute
 * thread checksum a body once and the disk tier prepend its header on the main thread instead
 * of reading the whole body again there.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  let crc = crcA >>> 0;
  let len = Math.max(0, Math.floor(lengthB));
  for (let k = 0; len > 0; k++, len = Math.floor(len / 2)) {
    if (len % 2) crc = gf2Times(zeroBytesOperator(k), crc);
  }
  return (crc ^ crcB) >>> 0;
}

/**
 * CRC-32s of bodies computed where the body was made (a compute thread), keyed by the body
 * object itself, so the disk tier on the main thread does not read 300 KB again to checksum
 * it. Weak: an entry lives as long as its body.
 */
const bodyCrcs = new WeakMap<Uint8Array, number>();

/** Records that `crc` is the CRC-32 of `body`'s bytes (as they are now: bodies are not modified once computed). */
export function rememberCrc32(body: Uint8Array, crc: number): void {
  bodyCrcs.set(body, crc >>> 0);
}

/** The CRC-32 of `body`: remembered if its maker gave it, computed otherwise. */
export function bodyCrc32(body: Uint8Array): number {
  return bodyCrcs.get(body) ?? crc32(body);
}
