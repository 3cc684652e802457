/**
 * A shared project (services/stations, ProjectService on PostgreSQL) with two stations, in a
 * throwaway PostgreSQL cluster this file starts (Debian's postgresql; skipped, saying so,
 * where it is not installed):
 * - create writes kensa-project.json without the password; a second station opens the folder
 *   with PGPASSWORD; a folder whose uid is not the database's is refused;
 * - a refit (fit, learning step) running at one station refuses another station's, naming
 *   who; the lock is renewed while it runs and released after;
 * - a threshold change based on a threshold another station has since replaced is refused;
 * - the change feed brings one station's verdict to the other;
 * - the CLI: `kensa project create/info`, `kensa audit verify postgres://…` (ok, then BROKEN
 *   after a verdict is edited with psql behind Kensa's back).
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectService } from '../../src-main/services/project-service';
import { withStationLock } from '../../src-main/services/stations/locks';
import { SHARED_PROJECT_FILE } from '../../src-main/services/stations/shared-project';
import { watchProject } from '../../src-main/services/stations/watch';
import type { StationChange } from '../../src-main/shared/api';
import {
  addLinePart,
  commitLineResult,
  createAccount,
  currentLock,
  putScores,
  queueCounts,
  recordVerdict,
  setThreshold,
  signRecord,
  undoVerdict,
} from '../../src-main/store/index';
import { recordContentHash } from '../../src-main/services/accounts';
import { PG_PASSWORD, pgBinDir, psql, startPgCluster, type PgCluster } from '../helpers/pg-cluster';
import { readyModel, seedImages, tempDir } from '../store/helpers/fixtures';
import { kensaSync } from '../helpers/kensa-cli';

const HAVE_PG = pgBinDir() !== null;
if (!HAVE_PG) console.warn('test/services/stations.test.ts: SKIPPED, PostgreSQL is not installed (scripts/setup.sh installs it as root)');

let cluster: PgCluster;
let tmp: { dir: string; cleanup: () => void };
let schemaN = 0;
const store = () => `${cluster.url()}?schema=st_${process.pid}_${++schemaN}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  tmp = tempDir('kensa-stations-');
  if (!HAVE_PG) return;
  cluster = await startPgCluster();
  process.env.PGPASSWORD = PG_PASSWORD; // what a station sets (or ~/.pgpass): the shared file has no password
});
afterAll(() => {
  cluster?.stop();
  tmp?.cleanup();
});

const cli = (args: string[]) => kensaSync(args, { PGPASSWORD: PG_PASSWORD });

describe.skipIf(!HAVE_PG)('a shared project on PostgreSQL', () => {
  it('is a folder with kensa-project.json (no password) that a second station opens; a foreign folder is refused', async () => {
    const dir = path.join(tmp.dir, 'line3');
    const url = store();
    const s1 = await ProjectService.create(dir, 'Bottles line 3', 'alice', {}, url);
    try {
      const file = JSON.parse(readFileSync(path.join(dir, SHARED_PROJECT_FILE), 'utf8')) as { store: string; folderUid: string };
      expect(file.store).not.toContain(PG_PASSWORD);
      expect(file.store).toMatch(/^postgres:\/\/kensa@127\.0\.0\.1:\d+\/kensa\?schema=st_/);
      expect(file.folderUid).toMatch(/^[0-9a-f]{32}$/);
      expect(s1.storeInfo()).toMatchObject({ engine: 'postgres', files: 'shared-folder' });

      const s2 = ProjectService.open(dir);
      try {
        expect(s2.db.prepare('SELECT name FROM project').pluck().get()).toBe('Bottles line 3');
      } finally {
        s2.close();
      }
      // A folder that says it belongs to this database but is another one
      const other = path.join(tmp.dir, 'not-line3');
      mkdirSync(other);
      writeFileSync(path.join(other, SHARED_PROJECT_FILE), JSON.stringify({ ...file, kind: 'kensa-shared-project', version: 1, folderUid: 'f'.repeat(32) }));
      expect(() => ProjectService.open(other)).toThrow(/does not belong to this project's database/);
    } finally {
      s1.close();
    }
  });

  it('one model change at a time across stations; a stale threshold change is refused; the feed carries verdicts across', async () => {
    const dir = path.join(tmp.dir, 'line4');
    const s1 = await ProjectService.create(dir, 'Line 4', 'alice', {}, store());
    const s2 = ProjectService.open(dir);
    s1.station = 'station-1';
    s2.station = 'station-2';
    try {
      // A refit running at station 1 (its lock renewed every 100 ms while it runs).
      let release!: () => void;
      const running = withStationLock(s1.db, 'refit', { station: 'station-1', reviewer: 'alice' }, 'refit of v3', () => new Promise<void>((r) => (release = r)), 300);
      await sleep(700); // past the 300 ms expiry: only the renewals keep it
      expect(currentLock(s2.db, 'refit')).toMatchObject({ station: 'station-1', holder: 'alice', purpose: 'refit of v3' });
      await expect(s2.refit({ run: async () => ({}) } as never, 'bob')).rejects.toThrow(/alice on station station-1 is already doing this \(refit of v3/);
      release();
      await running;
      expect(currentLock(s2.db, 'refit')).toBeNull();

      // Thresholds: both tuned against "none in force"; the second one is refused.
      const t1 = s1.setThreshold(1.5, 'first tuning', 'alice', {}, null);
      expect(() => s2.setThreshold(2.5, 'my tuning', 'bob', {}, null)).toThrow(/alice set the threshold to 1\.5 at .* while you were tuning \("first tuning"\)/);
      expect(s2.setThreshold(2.5, 'my tuning, after looking at alice’s', 'bob', {}, t1.id).value).toBe(2.5);
      expect(currentLock(s1.db, 'threshold')).toBeNull(); // released after the change

      // The feed: station 2 hears station 1's verdict.
      const [img] = seedImages(s1.db, 1);
      const heard: StationChange[] = [];
      const w = watchProject(s2.db, (c) => heard.push(c));
      try {
        for (let i = 0; i < 100 && w.mode() !== 'notify'; i++) await sleep(20);
        await sleep(100); // LISTEN is issued right after the connection
        const t0 = Date.now();
        recordVerdict(s1.db, { imageId: img!, verdict: 'defect', reviewer: 'alice' });
        while (!heard.some((h) => h.t === 'verdicts') && Date.now() - t0 < 2000) await sleep(5);
        expect(heard.find((h) => h.t === 'verdicts')).toMatchObject({ image_id: img, reviewer: 'alice', verdict: 'defect' });
        expect(Date.now() - t0).toBeLessThan(1000);
      } finally {
        await w.close();
      }
    } finally {
      s2.close();
      s1.close();
    }
  });

  it('a station outlives a database restart: STORE_UNAVAILABLE while it is down, then it reconnects (queries and the feed)', async () => {
    const dir = path.join(tmp.dir, 'line6');
    const s1 = await ProjectService.create(dir, 'Line 6', 'alice', {}, store());
    const [a, b] = seedImages(s1.db, 2);
    const statuses: string[] = [];
    const heard: StationChange[] = [];
    const w = watchProject(s1.db, (c) => heard.push(c), (s) => statuses.push(s));
    try {
      for (let i = 0; i < 100 && w.mode() !== 'notify'; i++) await sleep(20);
      cluster.halt();
      let err: unknown = null;
      try {
        recordVerdict(s1.db, { imageId: a!, verdict: 'good', reviewer: 'alice' });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect((err as Error).message).toMatch(/cannot be reached/);
      for (let i = 0; i < 100 && w.mode() !== 'poll'; i++) await sleep(20);
      expect(w.mode()).toBe('poll');
      expect(statuses.join('\n')).toMatch(/change feed lost/);
      cluster.resume();
      // the next call reconnects; nothing of the failed one was written
      expect(recordVerdict(s1.db, { imageId: b!, verdict: 'defect', reviewer: 'alice' }).verdict).toBe('defect');
      expect(s1.db.prepare('SELECT count(*) FROM verdicts WHERE image_id = ?').pluck().get(a)).toBe(0);
      for (let i = 0; i < 300 && w.mode() !== 'notify'; i++) await sleep(20);
      expect(w.mode()).toBe('notify');
      expect(statuses.join('\n')).toMatch(/change feed back/);
      expect(s1.verifyAudit().ok).toBe(true);
    } finally {
      await w.close();
      s1.close();
    }
  });

  it('kensa project share moves a one-station project to PostgreSQL: every row, the ids, the same chain head, signatures that still verify', () => {
    const dir = path.join(tmp.dir, 'line7');
    // A one-station project with a bit of everything: models (a fit and a refit), scores,
    // verdicts with an undo, a threshold signed by an account, a line part with its outbox.
    const seed = (async () => {
      const s = await ProjectService.create(dir, 'Line 7', 'alice');
      const db = s.db;
      const ids = seedImages(db, 30);
      const m1 = readyModel(db).version;
      putScores(db, m1, ids.map((id, i) => ({ imageId: id, score: i / 10, maxPatchScore: 1 })));
      recordVerdict(db, { imageId: ids[29]!, verdict: 'good', reviewer: 'alice' });
      recordVerdict(db, { imageId: ids[28]!, verdict: 'defect', reviewer: 'bob', defectType: 'scratch' });
      undoVerdict(db, ids[28]!, 'bob');
      const m2 = readyModel(db, m1, [ids[29]!]).version;
      const t = setThreshold(db, { modelVersion: m2, value: 1.5, setBy: 'alice', reason: 'tuned' });
      createAccount(db, { name: 'ann', printedName: 'Ann Admin', role: 'administrator', password: 'correct horse 1' }, 'alice');
      const h = recordContentHash(db, 'threshold', String(t.id));
      signRecord(db, { recordKind: 'threshold', recordId: String(t.id), contentHash: h.contentHash, meaning: 'approved' }, 'ann', 'correct horse 1');
      const { imageId } = addLinePart(db, { image: { path: 'parts/x.png', sha256: 'e'.repeat(64), bytes: 9, width: 4, height: 4, format: 'png' }, source: '/in', file: 'x.png', completeAt: 1, claimedAt: 2 }, 'line');
      commitLineResult(db, { imageId, modelVersion: m2, score: 2, maxPatchScore: 2, mapFile: null, mapBytes: null, threshold: 1.5, reviewUpper: null, scoredAt: Date.now(), scorer: 'local' });
      recordVerdict(db, { imageId, verdict: 'defect', reviewer: 'alice' });
      const counts = Object.fromEntries(['images', 'scores', 'verdicts', 'models', 'thresholds', 'audit_events', 'signatures', 'accounts', 'line_parts', 'line_outbox'].map((t) => [t, Number(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get())]));
      const head = s.verifyAudit().headHash;
      const maxVerdict = Number(db.prepare('SELECT max(id) FROM verdicts').pluck().get());
      s.close();
      return { counts, head, maxVerdict };
    })();
    return seed.then(({ counts, head, maxVerdict }) => {
      const url = store();
      // A table it does not know how to move is refused, naming it, and nothing moves.
      const extra = new Database(path.join(dir, 'kensa.db'));
      extra.exec('CREATE TABLE notes (x TEXT)');
      extra.close();
      const refused = cli(['project', 'share', dir, '--store', url]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/tables this Kensa does not know how to move \(notes\): nothing was moved/);
      expect(existsSync(path.join(dir, 'kensa.db'))).toBe(true);
      const undo = new Database(path.join(dir, 'kensa.db'));
      undo.exec('DROP TABLE notes');
      undo.close();
      const r = cli(['project', 'share', dir, '--store', url, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { rows: Record<string, number>; keptAs: string; headHash: string };
      for (const [t, n] of Object.entries(counts)) if (t !== 'audit_events') expect(out.rows[t], t).toBe(n);
      expect(out.rows.audit_events).toBe(counts.audit_events);
      expect(existsSync(path.join(dir, 'kensa.db'))).toBe(false);
      expect(existsSync(out.keptAs)).toBe(true); // the SQLite file, kept
      expect(readFileSync(path.join(dir, SHARED_PROJECT_FILE), 'utf8')).not.toContain(PG_PASSWORD);

      const s = ProjectService.open(dir);
      try {
        expect(s.storeInfo()).toMatchObject({ engine: 'postgres', files: 'shared-folder' });
        const v = s.verifyAudit();
        expect(v.problems).toEqual([]);
        // the chain continues from the same head: the move is the one event after it
        const last = s.db.prepare('SELECT prev_hash, kind, payload FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { prev_hash: string; kind: string; payload: string };
        expect(last).toMatchObject({ prev_hash: head, kind: 'store' });
        expect(JSON.parse(last.payload)).toMatchObject({ action: 'shared', from: 'sqlite', headBefore: head });
        // signatures still verify (verifyAudit checks each one); ids continue after the copied ones
        expect(s.db.prepare('SELECT count(*) FROM signatures').pluck().get()).toBe(1);
        const [img] = seedImages(s.db, 1, 'inspect', 'after-share');
        expect(recordVerdict(s.db, { imageId: img!, verdict: 'good', reviewer: 'alice' }).id).toBe(maxVerdict + 1);
        // the line part's outbox is the copied one (the verdict trigger's rows were not doubled) plus the new verdict's none
        expect(s.db.prepare('SELECT count(*) FROM line_outbox').pluck().get()).toBe(counts.line_outbox);
        expect(s.verifyAudit().ok).toBe(true);
      } finally {
        s.close();
      }
      // Sharing again is refused; the schema is taken.
      const again = cli(['project', 'share', dir, '--store', url]);
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/already a shared project/);
    });
  });

  it('the CLI creates and describes a shared project and verifies its chain straight from the database', () => {
    const dir = path.join(tmp.dir, 'line5');
    const url = store();
    const made = cli(['project', 'create', dir, '--name', 'Line 5', '--store', url]);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/records in postgres:\/\/kensa@127\.0\.0\.1:\d+\/kensa\?schema=st_\S+ \(postgres\), files in this shared folder/);
    expect(made.stdout).not.toContain(PG_PASSWORD);
    const info = cli(['project', 'info', dir, '--json']);
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ engine: 'postgres', files: 'shared-folder', claims: [], locks: [] });

    const s = ProjectService.open(dir);
    try {
      const [img] = seedImages(s.db, 1);
      recordVerdict(s.db, { imageId: img!, verdict: 'good', reviewer: 'alice' });
    } finally {
      s.close();
    }
    const ok = cli(['audit', 'verify', url]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/audit chain ok: \d+ events/);
    // Edited behind Kensa's back, as a superuser who switches the guard off first.
    const schema = new URL(url).searchParams.get('schema')!;
    expect(() => psql(cluster.url(), `UPDATE ${schema}.verdicts SET verdict = 'defect'`)).toThrow(/append-only/);
    psql(cluster.url(), `ALTER TABLE ${schema}.verdicts DISABLE TRIGGER verdicts_no_update; UPDATE ${schema}.verdicts SET verdict = 'defect'`);
    const broken = cli(['audit', 'verify', url]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/audit chain BROKEN at event \d+: .*verdict/);
    const detail = cli(['audit', 'verify', url, '--json']);
    const reasons = (JSON.parse(detail.stdout) as { problems: { reason: string }[] }).problems.map((p) => p.reason).join('\n');
    expect(reasons).toMatch(/guard trigger verdicts_no_update was dropped/); // disabled counts as dropped
  });
});

describe.each([
  ['sqlite', false],
  ['postgres', true],
] as const)('the counts a station keeps between writes (%s)', (_engine, pg) => {
  it.skipIf(pg && !HAVE_PG)('stay equal to a fresh count while another station gives verdicts between this one’s', async () => {
    const dir = path.join(tmp.dir, `counts-${pg ? 'pg' : 'sqlite'}`);
    const a = await ProjectService.create(dir, 'Counts', 'alice', {}, pg ? store() : undefined);
    const b = ProjectService.open(dir);
    try {
      const ids = seedImages(a.db, 12);
      const m = readyModel(a.db).version;
      putScores(a.db, m, ids.map((id, i) => ({ imageId: id, score: i, maxPatchScore: i })));
      a.setThreshold(6, 'flag the top half', 'alice');
      const fresh = () => queueCounts(a.db, a.queueScope());
      expect(a.queueCounts()).toEqual(fresh());
      for (let k = 0; k < 6; k++) {
        a.verdict({ imageId: ids[11 - k]!, verdict: k % 2 ? 'defect' : 'good' }, 'alice'); // moves the kept counts
        expect(a.queueCounts()).toEqual(fresh());
        b.verdict({ imageId: ids[k]!, verdict: 'good' }, 'bob'); // another station: A must count it too
        expect(a.queueCounts()).toEqual(fresh());
      }
      a.undo(ids[11]!, 'alice');
      b.undo(ids[0]!, 'bob');
      expect(a.queueCounts()).toEqual(fresh());
      expect(a.queueCounts()).toMatchObject({ all: 12, good: 7, defect: 3, unreviewed: 2 });
      expect(a.pendingRefit().map((v) => v.imageId)).toEqual(b.pendingRefit().map((v) => v.imageId));
    } finally {
      b.close();
      a.close();
    }
  });
});
