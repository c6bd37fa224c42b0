/** Node adapter: start a server, or run the CLI. */
export { startServer, type ServerOptions, type RunningServer } from './serve.ts';
export { main } from './cli.ts';
