#!/usr/bin/env node
// The CLI. An installed package runs the compiled JavaScript in dist/ (tsx is then used only
// to import users' TypeScript UDFs). A checkout of the repository, which has the TypeScript
// sources, runs them through tsx so `npm start` and the tests never need a build first.
import { existsSync } from 'node:fs';

const source = new URL('../server/node/cli.ts', import.meta.url);
let main;
if (existsSync(source) && !process.env.TILESMITH_USE_DIST) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/server/node/cli.js'));
}
await main(process.argv.slice(2));
