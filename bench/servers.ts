/** The parent side of bench/servers-child.ts: start it, ask it for direct encodes, stop it. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DirectRequest, DirectResult } from './direct.ts';

export interface ServersReady {
  tilesmith: string;
  bare: string;
  /** A bare node:http server sending the same bytes with every header of tilesmith's hit. */
  bareHeaders: string;
  /** How many headers that is (besides Date and Connection). */
  headerCount: number;
  tileBytes: number;
  contentType: string;
  /** The server process (its main thread's id is the same number), for /proc scheduling counters. */
  pid: number;
}

/** Parent → child messages. */
export type ChildMessage = 'close' | { type: 'direct'; id: number; request: DirectRequest };

export interface Servers {
  ready: ServersReady;
  /** Runs the geojson-vt + vt-pbf baseline inside the server process. */
  direct(request: DirectRequest): Promise<DirectResult>;
  stop(): Promise<void>;
}

export async function startServers(warmPath: string): Promise<Servers> {
  const child = fork(fileURLToPath(new URL('./servers-child.ts', import.meta.url)), [warmPath], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<ServersReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ServersReady));
    child.once('exit', (code) => reject(new Error(`bench/servers-child.ts exited with code ${code} before it was ready`)));
  });
  const pending = new Map<number, { resolve: (r: DirectResult) => void; reject: (e: Error) => void }>();
  child.on('message', (m: { id?: number; result?: DirectResult; error?: string }) => {
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id!);
    if (m.error) p.reject(new Error(`direct encode in the server process failed: ${m.error}`));
    else p.resolve(m.result!);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`the server process exited (code ${code})`));
    pending.clear();
  });
  let nextId = 1;
  return {
    ready,
    direct(request) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: 'direct', id, request } satisfies ChildMessage);
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.send('close' satisfies ChildMessage);
      }),
  };
}
