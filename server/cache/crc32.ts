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
