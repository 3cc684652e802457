/**
 * Turns a one-station project (kensa.db in its folder) into a shared one: every record moves
 * to a new PostgreSQL schema with its ids, timestamps and the whole audit chain as they are,
 * so the chain's head hash is the same after the move and every signature still verifies;
 * the folder (parts, maps, model files) becomes the shared folder and gets kensa-project.json.
 *
 * Safety:
 * - the SQLite file is held under its write lock for the whole copy (another window or
 *   command writing to it waits, then gets STORE_BUSY), so the copy is the last state;
 * - the copy is ONE PostgreSQL transaction: it lands whole or not at all;
 * - before anything is switched, the copy is checked: the same number of rows in every table,
 *   `verifyAudit` clean, the same head hash; then one audit event records the move;
 * - only then is kensa.db renamed to `kensa.db.moved-to-postgres-<time>` (kept: it is the
 *   project as it was), and kensa-project.json written.
 * Claims and station locks are not copied (coordination of the moment); the target's
 * project_files row (shared-folder, its own uid) stays.
 */
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { KensaError } from '../../shared/errors';
import {
  appendAudit,
  auditHead,
  closeProjectDb,
  isPgLocator,
  openProjectDb,
  projectFiles,
  redactLocator,
  requireProject,
  verifyAudit,
  writeTx,
  type Db,
} from '../../store/index';
import { asPg, schemaTables } from '../../store/dialect';
import { writeSharedProject, SHARED_PROJECT_FILE } from './shared-project';

/** Tables in an order that satisfies every foreign key, with the column that orders their rows. */
const TABLES: readonly (readonly [table: string, order: string])[] = [
  ['models', 'version'],
  ['project', 'id'],
  ['reviewers', 'id'],
  ['images', 'id'],
  ['import_errors', 'id'],
  ['scores', 'image_id, model_version'],
  ['verdicts', 'id'],
  ['thresholds', 'id'],
  ['audit_events', 'seq'],
  ['line_parts', 'image_id'],
  ['line_outbox', 'seq'],
  ['line_cursors', 'sink'],
  ['accounts', 'id'],
  ['signatures', 'id'],
  ['confirmations', 'id'],
];

/** Tables deliberately left behind: coordination of the moment, and the target's own file record. */
const NOT_COPIED = new Set(['claims', 'station_locks', 'project_files']);

/** Identity columns whose sequences must continue after the copied ids. */
const IDENTITIES: readonly (readonly [string, string])[] = [
  ['reviewers', 'id'],
  ['images', 'id'],
  ['import_errors', 'id'],
  ['verdicts', 'id'],
  ['thresholds', 'id'],
  ['line_outbox', 'seq'],
  ['accounts', 'id'],
  ['signatures', 'id'],
  ['confirmations', 'id'],
];

export interface ShareResult {
  store: string;
  rows: Record<string, number>;
  events: number;
  headHash: string | null;
  /** Where the SQLite file went. */
  keptAs: string;
  seconds: number;
}

export async function shareProject(dir: string, store: string, actor: string, onProgress: (table: string, rows: number) => void = () => {}): Promise<ShareResult> {
  const t0 = performance.now();
  const abs = path.resolve(dir);
  if (!isPgLocator(store)) throw new KensaError('INVALID_ARGUMENT', `the shared store must be a postgres:// URL, got ${redactLocator(store)}`);
  const file = path.join(abs, 'kensa.db');
  if (existsSync(path.join(abs, SHARED_PROJECT_FILE))) throw new KensaError('CONFLICT', `${abs} is already a shared project`);
  if (!existsSync(file)) throw new KensaError('NOT_FOUND', `${abs} is not a Kensa project (no kensa.db)`, { file: abs });

  const src = openProjectDb(file);
  let dst: Db | null = null;
  try {
    requireProject(src);
    // A table this list does not know (a later migration, an edit by hand) would be left
    // behind without a word: refuse instead.
    const known = new Set(TABLES.map(([t]) => t));
    const unknown = [...schemaTables(src)].filter((t) => !t.startsWith('sqlite_') && !known.has(t) && !NOT_COPIED.has(t));
    if (unknown.length > 0) throw new KensaError('STORE_VERSION', `${file} has tables this Kensa does not know how to move (${unknown.join(', ')}): nothing was moved`);
    const before = verifyAudit(src);
    if (!before.ok) throw new KensaError('AUDIT_BROKEN', `the project's audit chain does not verify (${before.firstBad?.reason ?? 'unknown'}): fix that before sharing it`);
    dst = openProjectDb(store);
    const target = dst;
    if (Number(target.prepare('SELECT count(*) FROM project').pluck().get()) > 0) {
      throw new KensaError('CONFLICT', `schema of ${redactLocator(store)} already holds a project: name a new schema`);
    }
    const rows: Record<string, number> = {};
    // The source's write lock for the whole copy: nobody changes it under us.
    writeTx(src, () => {
      writeTx(target, () => {
        for (const [table, order] of TABLES) {
          const all = src.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Record<string, unknown>[];
          if (table === 'line_outbox') target.prepare('DELETE FROM line_outbox').run(); // what the verdict trigger added while verdicts were copied
          if (all.length > 0) {
            const cols = Object.keys(all[0]!);
            const insert = target.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
            for (const r of all) insert.run(...cols.map((c) => r[c] ?? null));
          }
          rows[table] = all.length;
          onProgress(table, all.length);
        }
        const pg = asPg(target)!;
        for (const [table, col] of IDENTITIES) {
          pg.query(`SELECT setval(pg_get_serial_sequence('${table}', '${col}'), coalesce((SELECT max(${col}) FROM ${table}), 0) + 1, false)`, []);
        }
        // The copy, checked before anything is switched over.
        for (const [table] of TABLES) {
          const n = Number(target.prepare(`SELECT count(*) FROM ${table}`).pluck().get());
          if (n !== rows[table]) throw new KensaError('STORE_CORRUPT', `the copy of ${table} holds ${n} rows, the project ${rows[table]}: nothing was moved`);
        }
        const after = verifyAudit(target);
        if (!after.ok || after.headHash !== before.headHash) {
          throw new KensaError('AUDIT_BROKEN', `the copied audit chain does not match (${after.firstBad?.reason ?? `head ${after.headHash} ≠ ${before.headHash}`}): nothing was moved`);
        }
        appendAudit(target, {
          actor,
          kind: 'store',
          entity: 'project',
          entityId: 1,
          payload: { action: 'shared', from: 'sqlite', to: redactLocator(store), rows, headBefore: before.headHash },
        });
      });
    });
    const head = auditHead(target);
    const files = projectFiles(target);
    const name = String(target.prepare('SELECT name FROM project WHERE id = 1').pluck().get());
    closeProjectDb(src);
    const keptAs = `${file}.moved-to-postgres-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(file, keptAs);
    for (const ext of ['-wal', '-shm']) if (existsSync(file + ext)) renameSync(file + ext, keptAs + ext);
    await writeSharedProject(abs, { store, folderUid: files.folderUid, name });
    return { store: redactLocator(store), rows, events: before.events + 1, headHash: head?.hash ?? null, keptAs, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (src.open) closeProjectDb(src);
    if (dst) closeProjectDb(dst);
  }
}
