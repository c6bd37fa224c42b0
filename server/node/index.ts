/**
 * Node adapter: start a server, run the CLI, or assemble an app from the Node parts (the UDF
 * folder registry with its TypeScript and Python loaders, the memory + disk cache, every
 * encoder including PNG/JPEG/WebP via sharp and Parquet/Arrow) for `createApp()`.
 * @example
 * import { createApp } from 'tilesmith';
 * import { createDefaultCache, createDefaultEncoderRegistry, createRegistry, createTsLoader } from 'tilesmith/node';
 * const registry = await createRegistry({ dir: 'udfs', loaders: [createTsLoader({ timeoutMs: 120_000 })] });
 * const app = createApp({ registry, encoders: createDefaultEncoderRegistry(), cache: createDefaultCache() });
 */
export { startServer, type ServerOptions, type RunningServer } from './serve.ts';
export { main } from './cli.ts';
export { createDefaultEncoderRegistry, defaultEncoders } from '../encoders/index.ts';
export { createDefaultCache, createDiskCache, createTieredCache, type DefaultCacheOptions, type DiskCacheOptions } from '../cache/index.ts';
export { createRegistry, type UdfRegistry, type RegistryOptions } from '../udf/registry.ts';
export { createTsLoader } from '../udf/ts-runtime.ts';
export { createPythonLoader } from '../udf/python/loader.ts';
export { createClientRoutes, type ClientRouteDeps } from '../routes/clients.ts';
