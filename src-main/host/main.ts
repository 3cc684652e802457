/**
 * `kensa-host`: the workstation in a browser, without Electron.
 *
 *   node bin/kensa-host.mjs [--port N] [--project DIR] [--no-build]
 *
 * Builds the renderer when out/renderer/index.html is missing (electron-vite build; its
 * output goes to stderr), creates the workstation (`shell: 'browser'`), starts the loopback
 * host (./server) and prints exactly one line to stdout:
 *
 *   Kensa workstation: http://127.0.0.1:<port>/?token=<token>
 *
 * SIGINT/SIGTERM close the host, then the workstation (a running job is cancelled), then
 * exit 0. Errors are one line on stderr and exit 1 (2 for usage).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createWorkstation, type Workstation } from '../services/workstation';
import { startHost, type Host } from './server';

/** How long closing the host and the workstation may take before the process exits anyway. */
const SHUTDOWN_TIMEOUT_MS = 15_000;

const USAGE = 'usage: kensa-host [--port N] [--project DIR] [--no-build]';

/** The repository root (this file is src-main/host/main.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds out/ with electron-vite; its console output goes to our stderr. */
export function buildRenderer(root: string): boolean {
  const bin = path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const r = spawnSync(process.execPath, [bin, 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
  return r.status === 0;
}

export async function main(argv: string[]): Promise<number> {
  let values: { port?: string; project?: string; 'no-build'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        project: { type: 'string' },
        'no-build': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`kensa-host: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.error(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`kensa-host: --port must be an integer from 0 to 65535, got "${values.port}"\n${USAGE}`);
    return 2;
  }

  const rendererDir = path.join(repoRoot, 'out', 'renderer');
  if (!existsSync(path.join(rendererDir, 'index.html'))) {
    if (values['no-build']) {
      console.error(`kensa-host: the renderer is not built (${rendererDir}/index.html is missing); run without --no-build or: npx electron-vite build`);
      return 1;
    }
    console.error('kensa-host: building the renderer (electron-vite build)…');
    if (!buildRenderer(repoRoot) || !existsSync(path.join(rendererDir, 'index.html'))) {
      console.error('kensa-host: the renderer build failed (see above)');
      return 1;
    }
  }

  let workstation: Workstation;
  try {
    workstation = await createWorkstation({ shell: 'browser', ...(values.project ? { projectDir: path.resolve(values.project) } : {}) });
  } catch (e) {
    console.error(`kensa-host: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  let host: Host;
  try {
    host = await startHost({ workstation, rendererDir, port });
  } catch (e) {
    await workstation.close();
    const code = (e as NodeJS.ErrnoException).code;
    console.error(`kensa-host: cannot listen on 127.0.0.1:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  console.log(`Kensa workstation: ${host.url}`);

  // Stay up until a signal; then close the host (no new calls), then the workstation. A
  // repeated signal is ignored while shutting down (Ctrl-C under `npm start` arrives twice:
  // from the terminal and forwarded by scripts/start.mjs); a shutdown that hangs is cut off.
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      setTimeout(() => {
        console.error(`kensa-host: shutdown took longer than ${SHUTDOWN_TIMEOUT_MS / 1000} s; exiting anyway`);
        resolve(1);
      }, SHUTDOWN_TIMEOUT_MS).unref();
      void (async () => {
        let code = 0;
        try {
          await host.close();
          await workstation.close();
        } catch (e) {
          console.error(`kensa-host: error while shutting down: ${e instanceof Error ? e.message : String(e)}`);
          code = 1;
        }
        resolve(code);
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
