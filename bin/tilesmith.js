#!/usr/bin/env node
// Registers tsx so the server and users' TypeScript UDFs load without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../server/node/cli.ts');
await main(process.argv.slice(2));
