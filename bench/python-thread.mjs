// Runs the bench's Python section (bench/python-roundtrip.ts) in a worker thread with the heap
// limits of a compute thread (computeThreadLimits in server/node/compute-pool.ts), because that
// is where the server decodes Python results and runs TypeScript UDFs: in the bench's main
// thread, whose young generation is V8's default, decoding the 10,000-point result took
// 1.4–1.9 ms instead of 0.27 ms once the process had loaded the encoders (scavenges copying the
// half-built features), which a compute thread's 128 MB young generation does not pay.
// Plain JavaScript so that it loads before TypeScript support is registered in the thread.
import { parentPort, workerData } from 'node:worker_threads';

const { register } = await import('tsx/esm/api');
register();
const { benchPython } = await import(new URL('./python-roundtrip.ts', import.meta.url).href);
const { recordedGoals } = await import(new URL('./goals.ts', import.meta.url).href);
try {
  const markdown = await benchPython(workerData);
  // The goals it recorded live in this thread's copy of goals.ts: run.ts records them again.
  parentPort.postMessage({ ok: true, markdown, goals: recordedGoals() });
} catch (err) {
  parentPort.postMessage({ ok: false, message: String(err?.stack ?? err) });
}
