/** Node adapter: start a server, or run the CLI. */
export { startServer, type ServerOptions, type RunningServer } from './serve.ts';
export { main } from './cli.ts';
// [issue 11] the Node parts of tokens, metrics and logs.
export { openTokenStore, type SqliteTokenStore, type CreateTokenInput } from './token-store.ts';
export { createMetrics, type TilesmithMetrics } from './metrics.ts';
export { createLogger, type TilesmithLogger, type LoggerOptions } from './logger.ts';
