/**
 * Imports a user's UDF module (TypeScript compiled on import by tsx, no build step). Node
 * only; used by the compute threads and by the in-process TypeScript runtime.
 */
import Module, { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../node/package-root.ts';

let resolveHookRegistered = false;
let bunLoads = 0;
/** Lets UDF files import 'tilesmith' even when their folder has no node_modules with it. */
function registerResolveHook(): void {
  if (resolveHookRegistered) return;
  resolveHookRegistered = true;
  register(new URL('../node/resolve-hook.mjs', import.meta.url));
  // A .ts file in a folder without "type": "module" is compiled to CommonJS by tsx, and
  // require() does not go through ESM hooks: give it the same fallback.
  const M = Module as unknown as { _resolveFilename: (req: string, parent: unknown, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  const selfParent = { id: 'tilesmith', filename: join(PACKAGE_ROOT, 'package.json'), paths: [] as string[] };
  selfParent.paths = (Module as any)._nodeModulePaths(PACKAGE_ROOT);
  M._resolveFilename = function (request, parent, ...rest) {
    try {
      return original.call(this, request, parent, ...rest);
    } catch (err) {
      if (request === 'tilesmith' || request.startsWith('tilesmith/')) return original.call(this, request, selfParent, ...rest);
      throw err;
    }
  };
}

/**
 * Imports `path` as a fresh module instance (tsx gives every call its own namespace, which is
 * what makes reloads after an edit work).
 */
export async function importUdfModule(path: string): Promise<Record<string, unknown>> {
  // Bun compiles TypeScript itself (tsx's loader hooks do not run there); a query string
  // gives each load a fresh module instance, as tsx does.
  if (typeof process.versions.bun === 'string') return (await import(`${pathToFileURL(path).href}?tilesmith-load=${++bunLoads}`)) as Record<string, unknown>;
  registerResolveHook();
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
}
