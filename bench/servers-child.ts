/**
 * Child process of the bench (started by `startServers` in servers.ts): tilesmith on
 * bench/udfs, a bare `node:http` server answering the bytes of one warmed tile, and the
 * in-process geojson-vt + vt-pbf baseline on request. All three live here, away from the load
 * generator's event loop (on a 2-core box: one core serves, one loads), and only one of them
 * is busy at a time.
 *
 * argv[2]: the path of the tile to warm. Sends `ServersReady` over IPC, answers `direct`
 * messages, shuts down on 'close' or when the parent goes away.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../server/node/serve.ts';
import { runDirect } from './direct.ts';
import type { ChildMessage, ServersReady } from './servers.ts';

const warmPath = process.argv[2];
const send = process.send?.bind(process);
if (!warmPath || !send) throw new Error('bench/servers-child.ts is started by bench/run.ts (fork with IPC and a tile path)');

const cacheDir = mkdtempSync(join(tmpdir(), 'tilesmith-bench-'));
const tilesmith = await startServer({
  dir: join(import.meta.dirname, 'udfs'),
  port: 0,
  host: '127.0.0.1',
  cacheDir,
  log: (m) => process.stderr.write(`[tilesmith] ${m}\n`),
});
const base = `http://127.0.0.1:${tilesmith.port}`;

// Warm the tile: the second request must be a cache hit.
let body = Buffer.alloc(0);
let contentType = '';
/** The headers of tilesmith's cached hit, for the bare server that sends them too. */
const hitHeaders: Record<string, string> = {};
for (const expect of ['MISS', 'HIT']) {
  const res = await fetch(base + warmPath);
  body = Buffer.from(await res.arrayBuffer());
  contentType = res.headers.get('content-type') ?? '';
  if (expect === 'HIT') res.headers.forEach((v, k) => !['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(k) && (hitHeaders[k] = v));
  if (res.status !== 200 || res.headers.get('x-cache') !== expect) {
    throw new Error(`warming ${warmPath}: expected 200 ${expect}, got ${res.status} ${res.headers.get('x-cache')}: ${body.toString('utf8', 0, 300)}`);
  }
}

const bare = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': body.byteLength });
  res.end(body);
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
// The same bytes with every header tilesmith's hit carries (fixed values): the floor for a
// server that sends those headers through node:http.
const bareHeaders = http.createServer((_req, res) => {
  res.writeHead(200, hitHeaders);
  res.end(body);
});
await new Promise<void>((r) => bareHeaders.listen(0, '127.0.0.1', r));

let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  for (const s of [bare, bareHeaders]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await tilesmith.close();
  rmSync(cacheDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('disconnect', () => void close());
process.on('message', (m: ChildMessage) => {
  if (m === 'close') return void close();
  if (m.type === 'direct') {
    runDirect(m.request).then(
      (result) => send({ id: m.id, result }),
      (err) => send({ id: m.id, error: String(err?.stack ?? err) }),
    );
  }
});

const ready: ServersReady = {
  tilesmith: base,
  bare: `http://127.0.0.1:${(bare.address() as AddressInfo).port}`,
  bareHeaders: `http://127.0.0.1:${(bareHeaders.address() as AddressInfo).port}`,
  headerCount: Object.keys(hitHeaders).length,
  tileBytes: body.byteLength,
  contentType,
  pid: process.pid,
};
send(ready);
