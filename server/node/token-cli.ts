/**
 * `tilesmith token create | list | revoke`: manages the token database a server reads (it
 * picks up changes on the next request; no restart). The token is printed once, on stdout
 * (so `TOKEN=$(tilesmith token create …)` works); everything else goes to stderr.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { TokenRecord } from '../auth/tokens.ts';
import { parseDuration } from '../params/duration.ts';
import { SHARE_PREFIX } from '../routes/share.ts';
import { openTokenStore } from './token-store.ts';

export const TOKEN_HELP = `Usage:
  tilesmith token create --udf NAME [--udf NAME2 …] [--scope run|admin] [--param k=v …]
                         [--expires 30d] [--label TEXT] [--token-db PATH | --cache-dir D]
  tilesmith token create --scope admin [--label TEXT]
  tilesmith token create --all-udfs [--label TEXT]          (a run token for every UDF)
  tilesmith token list   [--json]
  tilesmith token revoke ID

A run token for exactly one UDF is a share token (fsh_…): it also works in Fused's share URL
  ${SHARE_PREFIX}/TOKEN/run/tiles/{z}/{x}/{y}
--param pins a UDF parameter: the request's own value is replaced. The database is
<cache-dir>/tokens.db (default .tilesmith/cache/tokens.db) unless --token-db says otherwise;
use the same --cache-dir / --token-db as the server.
`;

function fail(message: string): never {
  process.stderr.write(`tilesmith token: ${message}\n\n${TOKEN_HELP}`);
  process.exit(2);
}

function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function describe(t: TokenRecord): string {
  const status = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= Date.now() ? 'expired' : 'active';
  const udfs = t.scope === 'admin' ? '(admin)' : t.udfs === '*' ? '*' : t.udfs.join(',');
  const params = Object.entries(t.params).map(([k, v]) => `${k}=${v}`).join('&');
  return [t.id, `${t.prefix}_`, t.scope, status, udfs, params || '-', when(t.expiresAt), t.label || '-'].join('\t');
}

/** Entry point of `tilesmith token …` (argv after `token`). */
export async function tokenMain(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        udf: { type: 'string', multiple: true },
        'all-udfs': { type: 'boolean' },
        scope: { type: 'string' },
        param: { type: 'string', multiple: true },
        expires: { type: 'string' },
        label: { type: 'string' },
        'token-db': { type: 'string' },
        'cache-dir': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  const { values: v, positionals } = parsed;
  const [sub, ...rest] = positionals;
  if (v.help || !sub) {
    process.stdout.write(TOKEN_HELP);
    return;
  }
  const cacheDir = resolve(v['cache-dir'] ?? process.env.TILESMITH_CACHE_DIR ?? '.tilesmith/cache');
  const dbPath = resolve(v['token-db'] ?? process.env.TILESMITH_TOKEN_DB ?? resolve(cacheDir, 'tokens.db'));

  if (sub === 'create') {
    if (rest.length) fail(`unexpected arguments: ${rest.join(' ')}`);
    const scope = v.scope ?? 'run';
    if (scope !== 'run' && scope !== 'admin') fail(`--scope must be run or admin, got ${JSON.stringify(scope)}`);
    const udfs = v.udf ?? [];
    for (const u of udfs) if (!/^[A-Za-z0-9_-]+$/.test(u)) fail(`--udf ${JSON.stringify(u)} is not a UDF name (letters, digits, _ and -)`);
    if (scope === 'run' && udfs.length === 0 && !v['all-udfs']) fail('a run token needs --udf NAME (repeatable) or --all-udfs');
    if (scope === 'run' && udfs.length > 0 && v['all-udfs']) fail('give either --udf or --all-udfs, not both');
    const params: Record<string, string> = {};
    for (const p of v.param ?? []) {
      const eq = p.indexOf('=');
      if (eq <= 0) fail(`--param needs NAME=VALUE, got ${JSON.stringify(p)}`);
      const k = p.slice(0, eq);
      if (k === 'token') fail('--param token=… is not a UDF parameter');
      params[k] = p.slice(eq + 1);
    }
    let expiresInSeconds: number | undefined;
    if (v.expires !== undefined) {
      try {
        expiresInSeconds = parseDuration(v.expires, '--expires');
      } catch (err) {
        fail((err as Error).message);
      }
      if (expiresInSeconds === 0) fail('--expires must be longer than 0s');
    }
    const store = openTokenStore(dbPath, { create: true });
    try {
      const { token, record } = store.create({ scope, udfs: scope === 'admin' || v['all-udfs'] ? '*' : udfs, params, label: v.label, expiresInSeconds });
      process.stdout.write(`${token}\n`);
      process.stderr.write(
        `tilesmith: created ${record.scope} token ${record.id}${record.label ? ` (${record.label})` : ''}, expires ${when(record.expiresAt)}. ` +
          `It is shown only now: the database keeps a hash of it.\n` +
          (record.prefix === 'fsh' ? `Share URL: <server>${SHARE_PREFIX}/${token}/run/tiles/{z}/{x}/{y}\n` : ''),
      );
    } finally {
      store.close();
    }
    return;
  }
  if (sub === 'list') {
    const store = openTokenStore(dbPath);
    try {
      const list = store.list();
      if (v.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      } else {
        process.stdout.write(['id', 'prefix', 'scope', 'status', 'udfs', 'params', 'expires', 'label'].join('\t') + '\n');
        for (const t of list) process.stdout.write(`${describe(t)}\n`);
      }
    } finally {
      store.close();
    }
    return;
  }
  if (sub === 'revoke') {
    if (rest.length !== 1) fail('revoke needs one token id (see tilesmith token list)');
    const store = openTokenStore(dbPath);
    try {
      if (!store.revoke(rest[0]!)) fail(`no token with id ${JSON.stringify(rest[0])} in ${dbPath}`);
      process.stderr.write(`tilesmith: revoked token ${rest[0]}; servers refuse it from their next request.\n`);
    } finally {
      store.close();
    }
    return;
  }
  fail(`unknown token command '${sub}' (create, list or revoke)`);
}
