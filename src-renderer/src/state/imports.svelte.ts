/**
 * Imports of this session: by folder/file path (images.import) or by dropped files
 * (Electron: their paths; browser: their bytes via images.upload, in batches). Every
 * summary is kept with its per-file errors so the reviewer can read each one.
 */
import type { ImageRole, ImportSummary } from '../../../src-main/shared/api';
import { api } from '../lib/api';
import { batches, dropPaths, fileToBase64, walkEntries } from '../lib/files';
import { project } from './project.svelte';
import { queue } from './queue.svelte';

export interface ImportRecord {
  id: number;
  at: number;
  role: ImageRole;
  source: string;
  summary: ImportSummary;
}

export const ROLE_LABEL: Record<ImageRole, string> = {
  train: 'Good parts for training',
  inspect: 'Parts to inspect',
};

export class ImportState {
  records = $state.raw<ImportRecord[]>([]);
  busy = $state(false);
  /** Upload progress (browser drops): files sent / total. */
  progress = $state<{ done: number; total: number } | null>(null);
  private nextId = 1;

  reset(): void {
    this.records = [];
  }

  private add(role: ImageRole, source: string, summary: ImportSummary): ImportRecord {
    const rec = { id: this.nextId++, at: Date.now(), role, source, summary };
    this.records = [rec, ...this.records].slice(0, 20);
    return rec;
  }

  private async after(): Promise<void> {
    await project.refresh();
    await queue.load();
  }

  async importPaths(paths: string[], role: ImageRole): Promise<ImportRecord> {
    this.busy = true;
    try {
      const summary = await api.images.import({ paths, role });
      const rec = this.add(role, paths.length === 1 ? paths[0]! : `${paths.length} paths`, summary);
      await this.after();
      return rec;
    } finally {
      this.busy = false;
    }
  }

  /** Dropped files: paths in Electron, bytes in a browser. */
  async importDropped(files: File[], entries: FileSystemEntry[], role: ImageRole): Promise<ImportRecord | null> {
    const paths = dropPaths(files);
    if (paths) return this.importPaths(paths, role);
    this.busy = true;
    try {
      const items = await walkEntries(entries, files);
      if (items.length === 0) return null;
      const total: ImportSummary = { added: 0, existing: 0, errors: [] };
      let done = 0;
      this.progress = { done, total: items.length };
      for (const batch of batches(items)) {
        const payload: { name: string; dataBase64: string }[] = [];
        for (const it of batch) {
          try {
            payload.push({ name: it.name, dataBase64: await fileToBase64(it.file) });
          } catch (e) {
            total.errors.push({ path: it.name, code: 'IMAGE_UNREADABLE', message: e instanceof Error ? e.message : String(e) });
          }
        }
        if (payload.length > 0) {
          const s = await api.images.upload({ files: payload, role });
          total.added += s.added;
          total.existing += s.existing;
          total.errors.push(...s.errors);
        }
        done += batch.length;
        this.progress = { done, total: items.length };
      }
      const source = items.length === 1 ? items[0]!.name : `${items.length} dropped files`;
      const rec = this.add(role, source, total);
      await this.after();
      return rec;
    } finally {
      this.busy = false;
      this.progress = null;
    }
  }
}

export const imports = new ImportState();
