import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadedUdf, UdfLoader } from '../types.ts';

import { UDF_NAME } from './name.ts';

export { UDF_NAME };

export interface UdfRegistry {
  get(name: string): LoadedUdf | undefined;
  list(): LoadedUdf[];
  /** Rescans the folder and reloads entries whose files changed. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export interface RegistryOptions {
  dir: string;
  loaders: UdfLoader[];
  /** Reload UDFs when their files change. @default false */
  watch?: boolean;
  log?: (msg: string) => void;
}

interface Entry {
  udf: LoadedUdf;
  path: string;
  signature: string;
  loader: UdfLoader;
}

async function signatureOf(paths: string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (p) => {
      try {
        const s = await stat(p);
        return `${p}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${p}:missing`;
      }
    }),
  );
  return parts.join('|');
}

/**
 * Loads every UDF of a folder with the first loader that claims each entry. A UDF that
 * fails to load is kept with its error (catalog + 500 on use) and never stops the others.
 */
export async function createRegistry(opts: RegistryOptions): Promise<UdfRegistry> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const entries = new Map<string, Entry>();
  let watcher: FSWatcher | undefined;
  let pending: NodeJS.Timeout | undefined;
  let scanning: Promise<void> = Promise.resolve();

  async function scan(): Promise<void> {
    const dirents = await readdir(opts.dir, { withFileTypes: true });
    const seen = new Set<string>();
    for (const d of dirents.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(opts.dir, d.name);
      for (const loader of opts.loaders) {
        const name = loader.match(path, d.isDirectory());
        if (name === null) continue;
        if (!UDF_NAME.test(name)) {
          log(`tilesmith: skipping ${path}: UDF names may only contain letters, digits, _ and - (got '${name}')`);
          break;
        }
        if (seen.has(name)) {
          log(`tilesmith: skipping ${path}: another file already defines the UDF '${name}'`);
          break;
        }
        seen.add(name);
        const signature = await signatureOf(loader.watchPaths?.(path) ?? [path]);
        const current = entries.get(name);
        if (current && current.signature === signature && current.path === path) break;
        const udf = await loader.load(name, path);
        if (current?.udf.runtime?.close) await current.udf.runtime.close().catch(() => {});
        entries.set(name, { udf, path, signature, loader });
        if (udf.loadError) log(`tilesmith: ${udf.loadError.message}`);
        else log(`tilesmith: ${current ? 'reloaded' : 'loaded'} ${udf.language} UDF '${name}' from ${path}`);
        break;
      }
    }
    for (const [name, entry] of entries) {
      if (!seen.has(name)) {
        entries.delete(name);
        await entry.udf.runtime?.close?.().catch(() => {});
        log(`tilesmith: removed UDF '${name}'`);
      }
    }
  }

  function refresh(): Promise<void> {
    scanning = scanning.then(scan, scan);
    return scanning;
  }

  await refresh();

  if (opts.watch) {
    watcher = watch(opts.dir, { recursive: true }, () => {
      clearTimeout(pending);
      pending = setTimeout(() => void refresh().catch((e) => log(`tilesmith: reload failed: ${e}`)), 100);
    });
  }

  return {
    get: (name) => entries.get(name)?.udf,
    list: () => [...entries.values()].map((e) => e.udf),
    refresh,
    async close() {
      watcher?.close();
      clearTimeout(pending);
      await scanning.catch(() => {});
      await Promise.all([...entries.values()].map((e) => e.udf.runtime?.close?.().catch(() => {})));
      await Promise.all(opts.loaders.map((l) => l.close?.().catch(() => {})));
    },
  };
}
