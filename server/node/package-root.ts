import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding tilesmith's own package.json, found by walking up from this file, so
 * that it is right both from source (`server/node/`) and from the build (`dist/server/node/`).
 */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'tilesmith') return dir;
      } catch {
        /* not ours: keep walking */
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`tilesmith: cannot find its package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
})();

/** True when running the TypeScript sources (a checkout), false when running the compiled `dist/`. */
export const FROM_SOURCE: boolean = import.meta.url.endsWith('.ts');
