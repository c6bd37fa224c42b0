/**
 * Bounds the Python in-UDF cache (`@cache` / `@fused.cache` pickles under `<cacheDir>/py`):
 * measured at start and then periodically, least recently used files are deleted until the
 * total is under the cap. Python marks a file as used by setting its access time on every hit
 * (its modification time stays the creation time, which `cache_max_age` is measured from).
 *
 * Spared: extracted zip UDFs (`_zips/`, they are code, not results) and the `.lock` files that
 * `fcntl.flock` needs (zero bytes; deleting one while held would break the lock).
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface PyCacheSweeperOptions {
  /** The Python cache folder (`TILESMITH_CACHE_DIR` of the workers). */
  dir: string;
  /** Total size of the cached results; 0 = unbounded. */
  maxBytes: number;
  /** Time between sweeps. @default 60000 */
  intervalMs?: number;
  log?: (msg: string) => void;
}

export interface PyCacheSweeper {
  /** Measures the folder and evicts down to 90 % of the cap when it is over it. */
  sweep(): Promise<{ bytes: number; files: number; removed: number }>;
  /** Stops the periodic sweeps and waits for a running one. */
  stop(): Promise<void>;
}

/** Eviction goes below the cap (as the result cache does), so a full cache does not evict on every sweep. */
const EVICT_TO = 0.9;
/** A `.tmp` file this old was abandoned by a killed writer. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

interface Found {
  file: string;
  size: number;
  used: number;
}

async function walk(dir: string, top: boolean, out: Found[], stale: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return; // not created yet, or removed meanwhile
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      // Not @cache results: unpacked function environments, and the compiled result accelerator
      // (tilesmith/_accel.py), which the next worker would otherwise have to build again.
      if (top && (e.name === '_zips' || e.name === '_accel')) continue;
      await walk(p, false, out, stale);
    } else if (e.isFile() && !e.name.endsWith('.lock')) {
      try {
        const st = await stat(p);
        if (e.name.endsWith('.tmp') && Date.now() - st.mtimeMs > TEMP_MAX_AGE_MS) stale.push(p);
        else out.push({ file: p, size: st.size, used: Math.max(st.atimeMs, st.mtimeMs) });
      } catch {
        // deleted meanwhile
      }
    }
  }
}

/**
 * Starts sweeping `dir` (once now, then every `intervalMs`, on an unref'd timer).
 * @example const sweeper = createPyCacheSweeper({ dir: '.tilesmith/cache/py', maxBytes: 512 * 2 ** 20 });
 */
export function createPyCacheSweeper(opts: PyCacheSweeperOptions): PyCacheSweeper {
  let running: Promise<{ bytes: number; files: number; removed: number }> | undefined;
  let stopped = false;

  const run = async () => {
    const found: Found[] = [];
    const stale: string[] = [];
    await walk(opts.dir, true, found, stale);
    for (const f of stale) await unlink(f).catch(() => {});
    let bytes = found.reduce((n, f) => n + f.size, 0);
    let removed = 0;
    if (opts.maxBytes > 0 && bytes > opts.maxBytes) {
      found.sort((a, b) => a.used - b.used);
      for (const f of found) {
        if (bytes <= opts.maxBytes * EVICT_TO) break;
        try {
          await unlink(f.file);
          bytes -= f.size;
          removed++;
        } catch {
          // gone already
        }
      }
      opts.log?.(`[python] @cache over its cap of ${Math.round(opts.maxBytes / 2 ** 20)} MB: removed ${removed} least recently used files`);
    }
    return { bytes, files: found.length - removed, removed };
  };

  const sweep = () => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (!stopped) void sweep().catch((e) => opts.log?.(`[python] @cache sweep failed: ${(e as Error).message}`));
  }, opts.intervalMs ?? 60_000);
  timer.unref();
  void sweep().catch((e) => opts.log?.(`[python] @cache sweep failed: ${(e as Error).message}`));

  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
