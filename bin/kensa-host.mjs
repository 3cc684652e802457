#!/usr/bin/env node
// `kensa-host`: serves the workstation to a browser on 127.0.0.1 (no Electron needed).
//   node bin/kensa-host.mjs [--port N] [--project DIR] [--no-build]
// Prints one line, `Kensa workstation: <url>`; Ctrl-C stops it. Runs the TypeScript source
// through tsx, like bin/kensa.mjs.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src-main/host/main.ts');
// Exit explicitly once shut down: nothing left behind (a worker, a timer) may keep it alive.
process.exit(await main(process.argv.slice(2)));
