/**
 * The token store on Node: an embedded SQLite database (better-sqlite3 12; v13 segfaults on
 * Node 20) holding, per token, its public id, a SHA-256 hash of its secret and its settings —
 * never the token itself. SQLite (in WAL mode) rather than a JSON file because the CLI
 * (`tilesmith token create/revoke`) writes while a server reads: a revocation takes effect on
 * the next request, without a restart or a file-watch race.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  ID_LENGTH,
  SECRET_LENGTH,
  parseToken,
  prefixFor,
  randomBase62,
  type TokenCheck,
  type TokenRecord,
  type TokenScope,
  type TokenStore,
} from '../auth/tokens.ts';

export interface CreateTokenInput {
  scope?: TokenScope;
  /** UDF names, or `'*'` for all. Admin tokens ignore it. */
  udfs?: string[] | '*';
  params?: Record<string, string>;
  label?: string;
  /** Lifetime in seconds from now; undefined = never expires. */
  expiresInSeconds?: number;
}

/** The SQLite-backed store: verify (server), create/list/revoke (CLI). */
export interface SqliteTokenStore extends TokenStore {
  verify(token: string): TokenCheck;
  /** Creates a token and returns it with its plaintext, the only time the plaintext exists. */
  create(input: CreateTokenInput): { token: string; record: TokenRecord };
  list(): TokenRecord[];
  /** Marks the token revoked; false when there is no such id. */
  revoke(id: string): boolean;
  close(): void;
}

interface Row {
  id: string;
  hash: Buffer;
  prefix: string;
  label: string;
  scope: string;
  udfs: string;
  params: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function toRecord(r: Row): TokenRecord {
  return {
    id: r.id,
    label: r.label,
    scope: r.scope as TokenScope,
    udfs: JSON.parse(r.udfs),
    params: JSON.parse(r.params),
    prefix: r.prefix as TokenRecord['prefix'],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

/** A fixed hash to compare against when the id is unknown, so unknown and wrong secrets take the same path. */
const DUMMY = hashSecret('x'.repeat(SECRET_LENGTH));

/**
 * Opens (or, with `create`, creates) the token database at `path`. Without `create`, a
 * missing file is an empty store: a server that never had tokens makes no database.
 */
export function openTokenStore(path: string, opts: { create?: boolean } = {}): SqliteTokenStore {
  let db: Database.Database | undefined;
  let find: Database.Statement<[string], Row> | undefined;
  const open = (create: boolean): Database.Database | undefined => {
    if (db) return db;
    if (!create && !existsSync(path)) return undefined;
    mkdirSync(dirname(path), { recursive: true });
    const fresh = !existsSync(path);
    db = new Database(path);
    // Hashes only, but still nobody else's business: owner read/write (where the OS has modes).
    if (fresh) {
      try {
        chmodSync(path, 0o600);
      } catch {
        /* e.g. a filesystem without modes */
      }
    }
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 2000');
    db.exec(`CREATE TABLE IF NOT EXISTS tokens (
      id TEXT PRIMARY KEY,
      hash BLOB NOT NULL,
      prefix TEXT NOT NULL,
      label TEXT NOT NULL DEFAULT '',
      scope TEXT NOT NULL,
      udfs TEXT NOT NULL,
      params TEXT NOT NULL DEFAULT '{}',
      created_at INTEGER NOT NULL,
      expires_at INTEGER,
      revoked_at INTEGER
    )`);
    find = db.prepare('SELECT * FROM tokens WHERE id = ?');
    return db;
  };
  if (opts.create) open(true);

  return {
    verify(token) {
      const parts = parseToken(token);
      if (!parts) return { ok: false, reason: 'malformed' };
      const row = open(false) ? find!.get(parts.id) : undefined;
      const presented = hashSecret(parts.secret);
      // Constant time in the secret: an attacker learns nothing from how long a mismatch takes.
      const same = timingSafeEqual(presented, row ? row.hash : DUMMY);
      if (!row || !same || row.prefix !== parts.prefix) return { ok: false, reason: 'unknown' };
      if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (row.expires_at !== null && row.expires_at <= Date.now()) return { ok: false, reason: 'expired' };
      return { ok: true, token: toRecord(row) };
    },
    create(input) {
      const d = open(true)!;
      const scope = input.scope ?? 'run';
      const udfs = scope === 'admin' ? '*' : (input.udfs ?? '*');
      const prefix = prefixFor(scope, udfs);
      let id = randomBase62(ID_LENGTH);
      while (find!.get(id)) id = randomBase62(ID_LENGTH);
      const secret = randomBase62(SECRET_LENGTH);
      const now = Date.now();
      const row: Row = {
        id,
        hash: hashSecret(secret),
        prefix,
        label: input.label ?? '',
        scope,
        udfs: JSON.stringify(udfs),
        params: JSON.stringify(input.params ?? {}),
        created_at: now,
        expires_at: input.expiresInSeconds !== undefined ? now + input.expiresInSeconds * 1000 : null,
        revoked_at: null,
      };
      d.prepare(
        'INSERT INTO tokens (id, hash, prefix, label, scope, udfs, params, created_at, expires_at, revoked_at) VALUES (@id, @hash, @prefix, @label, @scope, @udfs, @params, @created_at, @expires_at, @revoked_at)',
      ).run(row);
      return { token: `${prefix}_${id}${secret}`, record: toRecord(row) };
    },
    list() {
      const d = open(false);
      if (!d) return [];
      return (d.prepare('SELECT * FROM tokens ORDER BY created_at').all() as Row[]).map(toRecord);
    },
    revoke(id) {
      const d = open(false);
      if (!d) return false;
      return d.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(Date.now(), id).changes > 0 || !!find!.get(id);
    },
    close() {
      db?.close();
      db = undefined;
    },
  };
}
