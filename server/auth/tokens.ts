/**
 * Tokens, runtime-neutral: their format, their record and the store interface. The Node
 * store (SQLite, hashes only) is in `server/node/token-store.ts`; any other runtime can supply
 * its own `TokenStore` (e.g. backed by a KV namespace).
 *
 * A token is `<prefix>_<id><secret>`: a prefix saying what it is (`fsh_` a share token for one
 * UDF, as Fused's shared tokens; `tsk_` a run token for several or all UDFs; `tsa_` an admin
 * token), a 10-character public id (shown by `token list`, used by `token revoke`) and a
 * 32-character random secret (base62, ~190 bits). Only a hash of the secret is stored; the
 * id lets the store find the one row to compare, so the comparison of hashes is a real
 * constant-time compare rather than an index lookup on the hash.
 */

/** `run`: may run the listed UDFs (or all). `admin`: everything, including /admin/* and cache overrides. */
export type TokenScope = 'run' | 'admin';

/** A stored token, without its secret. */
export interface TokenRecord {
  id: string;
  label: string;
  scope: TokenScope;
  /** UDF names this token may run; `'*'` for all. Admin tokens: always `'*'`. */
  udfs: string[] | '*';
  /** Parameters fixed by the token: they replace whatever the request sends. */
  params: Record<string, string>;
  prefix: TokenPrefix;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms, or null for never. */
  expiresAt: number | null;
  /** Epoch ms when revoked, or null. */
  revokedAt: number | null;
}

export type TokenPrefix = 'fsh' | 'tsk' | 'tsa';

/** Why a token was refused (never shown with the token itself). */
export type TokenRejection = 'malformed' | 'unknown' | 'expired' | 'revoked';

export type TokenCheck = { ok: true; token: TokenRecord } | { ok: false; reason: TokenRejection };

/** What a store must do. Creation and listing are Node-only (CLI); verification is all the server needs. */
export interface TokenStore {
  /** Looks a presented token up and checks its secret, expiry and revocation. */
  verify(token: string): TokenCheck | Promise<TokenCheck>;
}

export const ID_LENGTH = 10;
export const SECRET_LENGTH = 32;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_RE = new RegExp(`^(fsh|tsk|tsa)_([A-Za-z0-9]{${ID_LENGTH}})([A-Za-z0-9]{${SECRET_LENGTH}})$`);

/** Uniform random base62 text from the platform CSPRNG (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const b of bytes) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}

/** Splits a presented token into prefix, id and secret, or undefined when it is not one of ours. */
export function parseToken(token: string): { prefix: TokenPrefix; id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { prefix: m[1] as TokenPrefix, id: m[2]!, secret: m[3]! } : undefined;
}

/** The prefix a new token gets: admin `tsa`, a run token for exactly one UDF `fsh` (a share token), else `tsk`. */
export function prefixFor(scope: TokenScope, udfs: string[] | '*'): TokenPrefix {
  if (scope === 'admin') return 'tsa';
  return Array.isArray(udfs) && udfs.length === 1 ? 'fsh' : 'tsk';
}

/** Whether the token may run `udf`. */
export function tokenAllows(token: TokenRecord, udf: string): boolean {
  return token.scope === 'admin' || token.udfs === '*' || token.udfs.includes(udf);
}

/** A sentence for a refused token, with no part of the token in it. */
export function rejectionMessage(reason: TokenRejection): string {
  switch (reason) {
    case 'malformed':
      return 'The token is not a tilesmith token (expected fsh_…, tsk_… or tsa_… followed by 42 letters and digits). Check that it was copied whole.';
    case 'unknown':
      return 'The token is not known to this server. Ask its operator for a new one (tilesmith token create).';
    case 'expired':
      return 'The token has expired. Ask the server operator for a new one.';
    case 'revoked':
      return 'The token has been revoked. Ask the server operator for a new one.';
  }
}
