/**
 * The folder through which large result payloads travel from Python workers to Node.
 *
 * A result frame whose payload is at least `RESULT_FILE_MIN_BYTES` does not go through the
 * worker's stdout socket: the worker writes the payload (the frame's buffers, as they would
 * follow the header) into `<pool folder>/<call id>` and sends only the frame's header, with
 * `payloadFile: <length>`. Node reads the file in one `readSync` wherever the frame is decoded
 * (`takePayload` in protocol.ts: in a compute thread in the server, so the main thread never
 * touches the bytes) and removes it before reading, so no file is read twice.
 *
 * Why: a 10,000-point GeoDataFrame is ~420 KB; through the socket the worker's write blocks
 * whenever the ~208 KiB socket buffer is full and Node reads it back 64 KiB at a time, one
 * wake-up of each process per chunk, then joins the chunks. A file on tmpfs is one `writev` and
 * one `readSync` (measured in bench/python-roundtrip.ts, section 4).
 *
 * Each pool gets its own folder, `tilesmith-py-<pid>-<start>-XXXXXX` (mode 0700; files 0600,
 * created with O_EXCL), under /dev/shm when it is a writable folder, else under
 * `<cache dir>/_results`. The pool removes the folder when it closes, removes the file of a
 * call whose worker died or was stopped before its answer was read, and every new pool first
 * removes the folders of server processes that no longer run.
 */
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';

/** Payloads from this size up travel through a file (smaller ones stay on the socket, where they fit one read). */
export const RESULT_FILE_MIN_BYTES = 64 * 1024;

const PREFIX = 'tilesmith-py-';
const SHM = '/dev/shm';

/** Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22), or '0' where /proc is missing. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}

/** Whether the process that made a folder named for (pid, start) still runs (a reused pid has another start time). */
function running(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (start === '0') return true;
  const now = startTime(pid);
  return now === '0' || now === start;
}

/**
 * The folder under which pools make their result folders, or null when results stay on the
 * socket: `TILESMITH_PY_RESULT_FILES=0` turns files off, another value names the folder; by
 * default /dev/shm (memory) when it is a writable folder, else `<cacheDir>/_results`.
 */
export function resultBaseDir(cacheDir: string, setting = process.env.TILESMITH_PY_RESULT_FILES): string | null {
  const v = setting?.trim() ?? '';
  if (/^(0|false|no|off)$/i.test(v)) return null;
  if (v && !/^(1|true|yes|on)$/i.test(v)) return path.resolve(v);
  try {
    if (statSync(SHM).isDirectory()) {
      accessSync(SHM, constants.W_OK | constants.X_OK);
      return SHM;
    }
  } catch {
    // no /dev/shm (macOS) or not writable: the cache folder
  }
  return path.join(cacheDir, '_results');
}

/**
 * Removes the result folders under `base` left by server processes that no longer run (killed
 * with SIGKILL, the machine's power cut…). Folders of other users and of live processes stay.
 */
export function sweepResultDirs(base: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const m = /^tilesmith-py-(\d+)-(\d+)-/.exec(name);
    if (!m) continue;
    const dir = path.join(base, name);
    try {
      if (uid !== undefined && statSync(dir).uid !== uid) continue;
      if (running(Number(m[1]), m[2])) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // raced with another process sweeping it, or not ours to remove
    }
  }
  return removed;
}

/** Sweeps `base`, then makes a new private (0700) result folder for one pool in it. */
export function createResultDir(base: string): string {
  if (base !== SHM) mkdirSync(base, { recursive: true, mode: 0o700 });
  sweepResultDirs(base);
  // mkdtemp makes the folder with mode 0700: other users cannot list or open what is in it.
  return mkdtempSync(path.join(base, `${PREFIX}${process.pid}-${startTime(process.pid)}-`));
}

/** Removes one result file if it is still there (its call was abandoned or its worker died). */
export function removeResultFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already read (and removed) or never written
  }
}
