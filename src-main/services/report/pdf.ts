/** PDF through headless Chromium's print-to-PDF (the desktop app prints the same HTML with webContents.printToPDF). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../../engine/model-file';
import { KensaError } from '../../shared/errors';

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];
const CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
  'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe',
];

/** The Chromium to print with: $KENSA_CHROMIUM, /usr/bin/chromium, then chromium / google-chrome on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const forced = env.KENSA_CHROMIUM;
  if (forced) {
    if (!existsSync(forced)) throw new KensaError('NOT_FOUND', `KENSA_CHROMIUM is set to ${forced}, which does not exist`, { file: forced });
    return forced;
  }
  if (existsSync(CHROMIUM_PATHS[0]!)) return CHROMIUM_PATHS[0]!;
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const name of CHROMIUM_NAMES) {
    for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      for (const ext of exts) {
        const file = path.join(dir, name + ext);
        if (existsSync(file)) return file;
      }
    }
  }
  for (const file of CHROMIUM_PATHS.slice(1)) if (existsSync(file)) return file;
  return null;
}

export const NO_CHROMIUM_MESSAGE =
  'PDF export needs Chromium or Google Chrome and none was found: install it (Debian/Ubuntu: sudo apt-get install chromium; ' +
  'Fedora: sudo dnf install chromium; macOS: brew install --cask chromium) or set KENSA_CHROMIUM=/path/to/chrome — ' +
  'or export the report as .html and print it from a browser';

/** Prints `html` to `outFile` (written atomically) with headless Chromium's print-to-PDF. */
export async function writeReportPdf(html: string, outFile: string, opts: { chromium?: string; timeoutMs?: number } = {}): Promise<void> {
  const chromium = opts.chromium ?? findChromium();
  if (!chromium) throw new KensaError('NOT_FOUND', NO_CHROMIUM_MESSAGE);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kensa-report-'));
  try {
    const htmlFile = path.join(tmp, 'report.html');
    const pdfFile = path.join(tmp, 'report.pdf');
    await writeFile(htmlFile, html);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-extensions',
      '--no-pdf-header-footer',
      // Untagged, as Electron's printToPDF prints it: the accessibility tags of a 3,000-row parts
      // table make the file ten times larger and the print two to three times slower.
      '--disable-pdf-tagging',
      `--user-data-dir=${path.join(tmp, 'profile')}`,
      `--print-to-pdf=${pdfFile}`,
      pathToFileURL(htmlFile).href,
    ];
    const stderr = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      let text = '';
      const child = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.on('data', (d: Buffer) => {
        text = (text + d.toString()).slice(-4000);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new KensaError('NOT_FOUND', `cannot start ${chromium}: ${e.message}. ${NO_CHROMIUM_MESSAGE}`, { file: chromium }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, text });
      });
    });
    let pdf: Buffer | null = null;
    try {
      pdf = await readFile(pdfFile);
    } catch {
      pdf = null;
    }
    if (stderr.code !== 0 || !pdf || pdf.subarray(0, 5).toString('latin1') !== '%PDF-') {
      const last = stderr.text.trim().split('\n').filter((l) => !/dbus|Fontconfig/i.test(l)).at(-1) ?? '';
      throw new KensaError('INVALID_ARGUMENT', `${chromium} did not print the report to PDF (exit ${stderr.code ?? 'killed'})${last ? `: ${last}` : ''}`, { file: outFile });
    }
    await writeFileAtomic(outFile, pdf);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
