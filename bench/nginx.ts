/**
 * nginx (Debian's nginx-light) serving one file's bytes for every path: the floor for a cached
 * tile hit. One worker process (like the single tilesmith / bare node:http process), access log
 * off, keep-alive on, everything under a temp prefix; `stop()` quits it and deletes the prefix.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../test/helpers/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  url: string;
  version: string;
  stop(): Promise<void>;
}

/** Why nginx cannot run here, or null. */
export function nginxMissing(): string | null {
  return existsSync(NGINX) ? null : `nginx is not installed (${NGINX} missing): apt-get install nginx-light`;
}

export async function startNginx(body: Uint8Array, contentType: string): Promise<Nginx> {
  const missing = nginxMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'tilesmith-nginx-'));
  chmodSync(dir, 0o755); // workers run as nobody when started by root
  writeFileSync(join(dir, 'tile'), body);
  const port = await freePort();
  const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  keepalive_requests 1000000;
  sendfile on;
  tcp_nopush on;
  types { }
  default_type ${contentType};
  server {
    listen 127.0.0.1:${port};
    root ${dir};
    location / { rewrite ^ /tile break; }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const version = spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
  const child = spawn(NGINX, ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Wait until it answers.
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const ok = await fetch(url + '/').then((r) => r.ok, () => false);
    if (ok) return { url, version, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
  await stop();
  throw new Error(`nginx did not start: ${(stderr + log).trim().slice(-400)}`);
}
