/**
 * The `tilesmith serve` options of issue 11 (auth, tokens, admin port, rate limits, logs),
 * kept apart from cli.ts, which spreads them into its help, its parseArgs table and its
 * startServer call.
 */
import { parseRateLimit } from '../auth/rate-limit.ts';
import { LOG_LEVELS } from './logger.ts';
import type { NodeOperationsOptions } from './operations.ts';

/** Help lines for the options below. */
export const OPS_HELP = `  --auth                UDFs are private unless they declare public: true (tokens: tilesmith token)
  --token-db PATH       token database (default <cache-dir>/tokens.db)
  --admin-port N        serve /metrics and /admin/* on this port only (default: on the main port)
  --admin-host H        interface of the admin port (default 127.0.0.1)
  --rate-limit N/P      computations per token or client address, e.g. 60/m (cached hits are free)
  --log-format F        json or pretty (default: pretty on a terminal, json otherwise)
  --log-level L         trace, debug, info, warn, error, fatal or silent (default info)
`;

/** parseArgs entries for the options above. */
export const OPS_ARGS = {
  auth: { type: 'boolean' },
  'token-db': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'rate-limit': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

type OpsValues = { [K in keyof typeof OPS_ARGS]?: (typeof OPS_ARGS)[K]['type'] extends 'boolean' ? boolean : string };

/** Checks the parsed values (calling `fail` with a sentence) and turns them into startServer options. */
export function opsServerOptions(v: OpsValues, fail: (message: string) => never): NodeOperationsOptions {
  const logFormat = v['log-format'] ?? (process.stderr.isTTY ? 'pretty' : 'json');
  if (logFormat !== 'json' && logFormat !== 'pretty') fail(`--log-format must be json or pretty, got ${JSON.stringify(logFormat)}`);
  const logLevel = v['log-level'] ?? 'info';
  if (!(LOG_LEVELS as string[]).includes(logLevel)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  if (v['rate-limit'] !== undefined) {
    try {
      parseRateLimit(v['rate-limit']);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  let adminPort: number | undefined;
  if (v['admin-port'] !== undefined) {
    adminPort = Number(v['admin-port']);
    if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) fail(`--admin-port needs a port number, got ${JSON.stringify(v['admin-port'])}`);
  }
  return {
    auth: v.auth,
    tokenDb: v['token-db'] ?? process.env.TILESMITH_TOKEN_DB,
    adminPort,
    adminHost: v['admin-host'],
    rateLimit: v['rate-limit'],
    logFormat,
    logLevel: logLevel as (typeof LOG_LEVELS)[number],
  };
}
