// The cold-tile load generator of bench/isolation.ts, in a worker thread of the bench process.
// Plain JavaScript (node:http only) so it loads without TypeScript support in the new thread.
//
// Why a thread of its own: the section measures cached hits sent one at a time while cold
// tiles load the server. When the same event loop also received the cold tiles (4 × 328 KB in
// flight, ~30 MB/s), a hit's reply waited behind their parsing and behind the major GCs their
// buffers caused in the bench process — client delays that were charged to the server.
//
// Messages in: { type: 'run', base, z, x0, y0, n, next, concurrency, windowMs } (windowMs null:
// until 'stop'), 'stop'. Out: { type: 'done', tiles, seconds, next } or { type: 'error', message }.
import http from 'node:http';
import { parentPort } from 'node:worker_threads';

let stopped = false;

function get(url, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${url} took longer than 30 s`)));
    req.on('error', reject);
  });
}

async function run(o) {
  stopped = false;
  let next = o.next;
  // A z16 tile inside the bench tile that no request used before (512 per row).
  const path = () => {
    const i = next++;
    return `/udf/bench_points/tiles/${o.z}/${o.x0 + (i % 512)}/${o.y0 + Math.floor(i / 512)}.mvt?n=${o.n}`;
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const end = o.windowMs == null ? Infinity : performance.now() + o.windowMs;
  let tiles = 0;
  const t0 = performance.now();
  const loop = async () => {
    while (!stopped && performance.now() < end) {
      const status = await get(o.base + path(), agent);
      if (status !== 200) throw new Error(`cold tile answered ${status}`);
      tiles++;
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, loop));
  } finally {
    agent.destroy();
  }
  return { tiles, seconds: (performance.now() - t0) / 1000, next };
}

parentPort.on('message', (m) => {
  if (m === 'stop') {
    stopped = true;
    return;
  }
  if (m?.type === 'run') {
    run(m).then(
      (r) => parentPort.postMessage({ type: 'done', ...r }),
      (err) => parentPort.postMessage({ type: 'error', message: String(err?.message ?? err) }),
    );
  }
});
