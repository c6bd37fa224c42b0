// Module resolve hook: a UDF folder outside any project that installed tilesmith can still
// `import { defineUdf } from 'tilesmith'` — the import falls back to this very package.
// Normal resolution is tried first, so a project's own installed copy always wins.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** tilesmith's package.json: walk up (this file is in server/node/ or dist/server/node/). */
function findPackageRoot() {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    try {
      if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'tilesmith') return manifest;
    } catch {
      /* keep walking */
    }
    const parent = dirname(dir);
    if (parent === dir) return fileURLToPath(new URL('../../package.json', import.meta.url));
    dir = parent;
  }
}
const packageRoot = pathToFileURL(findPackageRoot()).href;
// Running from the TypeScript sources (a checkout, not dist/): 'tilesmith' means the sources
// too, through the "tilesmith-source" export condition, so UDFs never see a stale build.
const fromSource = !fileURLToPath(import.meta.url).split(/[\\/]/).includes('dist');

export async function resolve(specifier, context, nextResolve) {
  const own = specifier === 'tilesmith' || specifier.startsWith('tilesmith/');
  if (own && fromSource) {
    try {
      return await nextResolve(specifier, { ...context, parentURL: packageRoot, conditions: ['tilesmith-source', ...(context.conditions ?? [])] });
    } catch {
      /* fall through to normal resolution */
    }
  }
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (own) {
      // Resolve as a self-reference from inside the package, which honours its "exports".
      return nextResolve(specifier, { ...context, parentURL: packageRoot });
    }
    throw err;
  }
}
