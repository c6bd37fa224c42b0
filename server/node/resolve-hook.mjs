// Module resolve hook: a UDF folder outside any project that installed tilesmith can still
// `import { defineUdf } from 'tilesmith'` — the import falls back to this very package.
// Normal resolution is tried first, so a project's own installed copy always wins.
const packageRoot = new URL('../../package.json', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (specifier === 'tilesmith' || specifier.startsWith('tilesmith/')) {
      // Resolve as a self-reference from inside the package, which honours its "exports".
      return nextResolve(specifier, { ...context, parentURL: packageRoot });
    }
    throw err;
  }
}
