#!/usr/bin/env node
// The `kensa` command: runs the TypeScript CLI from source through tsx (a runtime
// dependency), so `npx kensa …` works right after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src-main/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
