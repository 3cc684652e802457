/** The URL a starting `bin/kensa-host.mjs` prints (`Kensa workstation: <url>`), for the e2e fixtures and the benches. */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Resolves with the URL; rejects, quoting the host's stderr, if it exits first or prints none within `timeoutMs`. */
export function hostUrl(child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kensa-host printed no URL in ${Math.round(timeoutMs / 1000)} s; stderr:\n${stderr()}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^Kensa workstation: (\S+)$/.exec(line.trim());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kensa-host exited with ${code}; stderr:\n${stderr()}`));
    });
  });
}
