// Entry of a compute thread. From a build (dist/) the compiled compute-worker.js sits next to this
// file; from source, tsx compiles compute-worker.ts on import. Plain JavaScript so that it loads
// before any TypeScript support is registered in the new thread.
import { existsSync } from 'node:fs';

const compiled = new URL('./compute-worker.js', import.meta.url);
let mod;
if (existsSync(compiled)) {
  mod = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import(new URL('./compute-worker.ts', import.meta.url).href);
}
export default mod.default;
