/**
 * Backup copies: a snapshot holds exactly the committed rows, old copies rotate away, and a
 * damaged database's error names the copy to restore. These are SQLite's (VACUUM INTO files
 * beside the project); a PostgreSQL project is backed up by the server's tools, and there
 * backupDb writes nothing and returns null (checked below).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupDb, closeProjectDb, KEEP_BACKUPS, listBackups, openProjectDb, recordVerdict, verifyAudit } from '../../src-main/store/index';
import { IS_PG, newProject, seedImages, tempDir } from './helpers/fixtures';

describe('backups', () => {
  let cleanup = (): void => {};
  afterEach(() => cleanup());

  // VACUUM INTO copies of an SQLite file (see the header); PostgreSQL: the last test.
  it.skipIf(IS_PG)('a backup is a complete, verifiable copy of the committed state', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { db, file } = newProject(t.dir);
    const [id] = seedImages(db, 3);
    recordVerdict(db, { imageId: id!, verdict: 'defect', reviewer: 'ann' });
    const copy = backupDb(db, file, 'test') as string;
    expect(path.dirname(copy)).toBe(path.join(t.dir, 'backups'));
    recordVerdict(db, { imageId: id!, verdict: 'good', reviewer: 'ann' }); // after the backup
    closeProjectDb(db);
    const restored = openProjectDb(copy);
    expect((restored.prepare('SELECT count(*) AS n FROM verdicts').get() as { n: number }).n).toBe(1);
    expect(verifyAudit(restored).ok).toBe(true);
    closeProjectDb(restored);
  });

  it.skipIf(IS_PG)(`keeps the newest ${KEEP_BACKUPS} copies`, () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { db, file } = newProject(t.dir);
    const made: string[] = [];
    for (let i = 0; i < KEEP_BACKUPS + 3; i++) made.push(backupDb(db, file, `n${i}`) as string);
    closeProjectDb(db);
    const left = listBackups(file);
    expect(left).toHaveLength(KEEP_BACKUPS);
    expect(left[0]).toBe(made[made.length - 1]);
  });

  it.skipIf(IS_PG)('a damaged database names the backup to restore', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { db, file } = newProject(t.dir);
    seedImages(db, 200);
    const copy = backupDb(db, file, 'before-damage') as string;
    db.pragma('wal_checkpoint(TRUNCATE)');
    closeProjectDb(db);
    const bytes = readFileSync(file);
    // Random bytes over a page in the middle (not the header): quick_check finds it.
    const page = Math.max(2, Math.floor(bytes.length / 4096 / 2));
    bytes.set(randomBytes(4096), page * 4096);
    writeFileSync(file, bytes);
    expect(() => openProjectDb(file)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT', message: expect.stringContaining(`copy the latest backup ${copy} over ${file}`) }));
  });

  it.runIf(IS_PG)('PostgreSQL: backupDb writes nothing and returns null (the server\'s tools back it up)', () => {
    const t = tempDir();
    cleanup = t.cleanup;
    const { db, file } = newProject(t.dir);
    seedImages(db, 3);
    expect(backupDb(db, file, 'test')).toBeNull();
    expect(listBackups(path.join(t.dir, 'project.kensa'))).toEqual([]);
    expect(existsSync(path.join(t.dir, 'backups'))).toBe(false);
    closeProjectDb(db);
  });
});
