/**
 * The hashes behind cache keys and ETags, synchronous and without a `node:` import, so the
 * core (createApp and what it imports) runs on any runtime with Web APIs.
 *
 * On Node (and Bun/Deno's Node compatibility), `process.getBuiltinModule('node:crypto')`
 * gives the native hash without an import a bundler would follow: it is 7–10× faster than
 * JavaScript for tile-sized bodies (sha1 of 200 KB: 0.19 ms native vs 1.3 ms in JS,
 * measured on this project's machine), and ETags are computed on the hot path, also inside
 * worker threads. Elsewhere (browsers, edge workers, Node < 20.16) the audited pure-JS
 * implementations of @noble/hashes give the same digests. Web Crypto's `crypto.subtle` is
 * not used: it is asynchronous only, and cache keys and ETags are computed synchronously.
 */
import { sha1 as jsSha1 } from '@noble/hashes/legacy.js';
import { sha256 as jsSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

interface NativeHash {
  update(data: string | Uint8Array): NativeHash;
  digest(encoding: 'hex' | 'base64url'): string;
}
interface NativeCrypto {
  createHash(algorithm: string): NativeHash;
}

/** The host's `node:crypto`, when it has one (looked up at run time, invisible to bundlers). */
function nativeCrypto(): NativeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const mod = proc?.getBuiltinModule?.('node:crypto') as NativeCrypto | undefined;
    return typeof mod?.createHash === 'function' ? mod : undefined;
  } catch {
    return undefined;
  }
}

const encoder = new TextEncoder();

/** base64url without padding, as Node's `digest('base64url')`. */
function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A pair of hash functions; `nativeHashes` and `jsHashes` give identical digests. */
export interface Hashes {
  /** sha256 of the UTF-8 text, as 64 hex digits. */
  sha256Hex(text: string): string;
  /** sha1 of the bytes, base64url (27 characters). */
  sha1Base64url(bytes: Uint8Array): string;
}

/** Pure JavaScript (@noble/hashes): any runtime. */
export const jsHashes: Hashes = {
  sha256Hex: (text) => bytesToHex(jsSha256(encoder.encode(text))),
  sha1Base64url: (bytes) => base64url(jsSha1(bytes)),
};

const native = nativeCrypto();
/** The host's native hashes, or undefined off Node. */
export const nativeHashes: Hashes | undefined = native && {
  sha256Hex: (text) => native.createHash('sha256').update(text).digest('hex'),
  sha1Base64url: (bytes) => native.createHash('sha1').update(bytes).digest('base64url'),
};

/** What the cache keys and ETags use: native when available, else pure JS. */
export const hashes: Hashes = nativeHashes ?? jsHashes;
