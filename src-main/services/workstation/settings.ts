/**
 * The user's settings (reviewer name, recent projects) in `<configDir>/settings.json`
 * (`KENSA_CONFIG_DIR`, else $XDG_CONFIG_HOME/kensa or ~/.config/kensa). Written atomically
 * (temp file + rename); an unreadable file starts clean instead of failing the app.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface UserSettings {
  reviewer: string | null;
  recent: { dir: string; name: string; openedAt: string }[];
}

export function configDirDefault(): string {
  if (process.env.KENSA_CONFIG_DIR) return process.env.KENSA_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config');
  return path.join(base, 'kensa');
}

export async function loadUserSettings(configDir: string): Promise<UserSettings> {
  try {
    const raw = JSON.parse(await readFile(path.join(configDir, 'settings.json'), 'utf8')) as Partial<UserSettings>;
    return { reviewer: typeof raw.reviewer === 'string' ? raw.reviewer : null, recent: Array.isArray(raw.recent) ? raw.recent.slice(0, 10) : [] };
  } catch {
    return { reviewer: null, recent: [] }; // first run (or unreadable settings): start clean
  }
}

export async function saveUserSettings(configDir: string, settings: UserSettings): Promise<void> {
  await mkdir(configDir, { recursive: true });
  const file = path.join(configDir, 'settings.json');
  await writeFile(`${file}.tmp`, JSON.stringify(settings, null, 2));
  await rename(`${file}.tmp`, file);
}
