/**
 * Structured logs (pino): one JSON object per line on stderr, or human-readable lines with
 * `--log-format pretty` (pino-pretty, in-process: no transport worker thread). Every line
 * about a request carries its `reqId` (the `X-Request-Id` the client got); a UDF's prints are
 * logged under the request id of the run that printed them. Tokens never appear: URLs are
 * logged with `token=[redacted]` and only a token's public id is logged.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import type { Observer } from '../operations.ts';

export type LogFormat = 'json' | 'pretty';
export const LOG_LEVELS: LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LoggerOptions {
  format?: LogFormat;
  /** @default 'info' */
  level?: LevelWithSilent;
  /** Where lines go. @default stderr */
  destination?: NodeJS.WritableStream;
}

export interface TilesmithLogger {
  pino: Logger;
  /** The `log(msg)` function the server's parts take: free text, `[req <id>]` tags become `reqId`. */
  log(msg: string): void;
  /** Access log and UDF prints (pass as part of `operations.observe`). */
  observer: Required<Pick<Observer, 'request' | 'udfLogs'>>;
}

const REQ_TAG = /\s*\[req ([A-Za-z0-9._:-]{1,64})\]/;

/** Creates the server's logger. */
export function createLogger(opts: LoggerOptions = {}): TilesmithLogger {
  const dest = opts.destination ?? process.stderr;
  const stream =
    opts.format === 'pretty'
      ? pretty({ destination: dest, colorize: (dest as { isTTY?: boolean }).isTTY === true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
      : dest;
  const logger = pino({ level: opts.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream as pino.DestinationStream);
  return {
    pino: logger,
    log(msg) {
      const m = REQ_TAG.exec(msg);
      const text = m ? msg.replace(REQ_TAG, '') : msg;
      // The server's own messages: 5xx reports (errorResponse) and failures are errors, the rest info.
      const error = /^tilesmith: 5\d\d |failed|could not|error/i.test(text) || m !== null;
      const obj = m ? { reqId: m[1] } : {};
      if (error) logger.error(obj, text);
      else logger.info(obj, text);
    },
    observer: {
      request(r) {
        const quiet = r.status < 500 && (r.cache === 'HIT' || r.status === 304);
        // Skip building a line nobody will write (cached hits are debug, the rest info or error).
        if (!logger.isLevelEnabled(r.status >= 500 ? 'error' : quiet ? 'debug' : 'info')) return;
        const line = {
          reqId: r.requestId,
          method: r.method,
          url: r.url,
          route: r.route,
          status: r.status,
          ms: Math.round(r.durationMs * 100) / 100,
          ...(r.udf ? { udf: r.udf } : {}),
          ...(r.cache ? { cache: r.cache } : {}),
          ...(r.tier ? { tier: r.tier } : {}),
          bytes: r.bytes,
          ...(r.udfMs !== undefined ? { udfMs: Math.round(r.udfMs * 100) / 100 } : {}),
          ...(r.tokenId ? { tokenId: r.tokenId } : {}),
        };
        // Cached hits are the bulk of a tile server's traffic: debug, so `info` stays readable.
        if (r.status >= 500) logger.error(line, 'request');
        else if (quiet) logger.debug(line, 'request');
        else logger.info(line, 'request');
      },
      udfLogs({ requestId, udf, lines }) {
        for (const line of lines) logger.info({ reqId: requestId, udf, src: 'udf' }, line);
      },
    },
  };
}
