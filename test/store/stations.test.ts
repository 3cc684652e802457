/**
 * Several stations on one project (src-main/store/stations.ts, migration 7), on whichever
 * engine this run tests: claims (held by, expiry on the database's clock, renewal, the next
 * part for a station), project-wide locks (refused while held, free after expiry or release),
 * where the files live, and on PostgreSQL the change feed (NOTIFY at commit).
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLock,
  claimNext,
  claimPart,
  closeProjectDb,
  currentLock,
  dbNowMs,
  liveClaims,
  projectFiles,
  putScores,
  recordVerdict,
  releaseClaim,
  releaseLock,
  releaseStationClaims,
  renewLock,
  undoVerdict,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { IS_PG, newProject, readyModel, seedImages, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
let db: Db;
let file: string;
let ids: number[];
const A = { station: 'station-1', reviewer: 'alice' };
const B = { station: 'station-2', reviewer: 'bob' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  ({ db, file } = newProject(dir));
  ids = seedImages(db, 6);
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

describe('claims', () => {
  it('one station holds a part; another sees who has it until it is released', () => {
    const a = claimPart(db, ids[0], A);
    expect(a).toMatchObject({ ok: true, claim: { imageId: ids[0], station: 'station-1', reviewer: 'alice' } });
    const b = claimPart(db, ids[0], B);
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.heldBy).toMatchObject({ station: 'station-1', reviewer: 'alice' });
    // the holder renews: same claim start, later expiry
    const first = a.ok ? a.claim : null;
    const again = claimPart(db, ids[0], A);
    expect(again.ok && again.claim.claimedAt).toBe(first?.claimedAt);
    expect(again.ok && again.claim.expiresAt).toBeGreaterThanOrEqual(first!.expiresAt);
    expect(liveClaims(db).map((c) => c.imageId)).toEqual([ids[0]]);
    expect(liveClaims(db, [ids[1], ids[0]])).toHaveLength(1);
    expect(releaseClaim(db, ids[0], 'station-2')).toBe(false); // not B's to release
    expect(releaseClaim(db, ids[0], 'station-1')).toBe(true);
    expect(claimPart(db, ids[0], B).ok).toBe(true);
    expect(() => claimPart(db, 999_999, A)).toThrow(/does not exist/);
  });

  it('a claim expires on the database clock, and the part can be taken then', async () => {
    expect(claimPart(db, ids[1], A, 300).ok).toBe(true);
    expect(claimPart(db, ids[1], B).ok).toBe(false);
    await sleep(450);
    expect(liveClaims(db)).toEqual([]);
    const b = claimPart(db, ids[1], B);
    expect(b).toMatchObject({ ok: true, claim: { station: 'station-2' } });
    const now = dbNowMs(db);
    expect(Math.abs(now - Date.now())).toBeLessThan(5_000); // same machine here
  });

  it('claimNext walks the queue: highest score first, skipping judged parts and other stations’ claims', () => {
    const m = readyModel(db).version;
    putScores(db, m, ids.map((id, i) => ({ imageId: id, score: 10 - i, maxPatchScore: 10 - i, mapFile: null })));
    recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'carol' });
    const q = { modelVersion: m, threshold: 7.5 }; // ids[0..2] are flagged (10, 9, 8)
    const a1 = claimNext(db, A, q);
    expect(a1?.imageId).toBe(ids[1]); // ids[0] is judged
    const b1 = claimNext(db, B, q);
    expect(b1?.imageId).toBe(ids[2]); // ids[1] is A's
    expect(claimNext(db, A, q)?.imageId).toBe(ids[1]); // A gets its own open claim back first
    recordVerdict(db, { imageId: ids[1], verdict: 'defect', reviewer: 'alice' });
    expect(claimNext(db, A, q)).toBeNull(); // ids[2] is B's, nothing else is flagged
    // an undone verdict makes a part unjudged again
    undoVerdict(db, ids[1], 'alice');
    expect(claimNext(db, A, q)?.imageId).toBe(ids[1]);
    // null threshold: every scored part
    expect(releaseStationClaims(db, 'station-1')).toBeGreaterThan(0);
    expect(claimNext(db, A, { modelVersion: m, threshold: null })?.imageId).toBe(ids[1]);
  });
});

describe('two people on one part', () => {
  it('a claim that ran out under one station: the other judges the part, then the first does too; both verdicts are kept, in order, and audited', async () => {
    const m = readyModel(db).version;
    putScores(db, m, ids.map((id, i) => ({ imageId: id, score: 10 - i, maxPatchScore: 1 })));
    const q = { modelVersion: m, threshold: null };
    expect(claimNext(db, A, q, 200)?.imageId).toBe(ids[0]);
    await sleep(350); // alice stepped away; her claim runs out
    expect(claimNext(db, B, q)?.imageId).toBe(ids[0]);
    const bob = recordVerdict(db, { imageId: ids[0], verdict: 'defect', reviewer: 'bob' });
    // alice comes back to the part still open on her screen and judges it: not refused
    const alice = recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice' });
    const rows = db.prepare('SELECT id, reviewer, verdict FROM verdicts WHERE image_id = ? ORDER BY id').all(ids[0]) as { id: number; reviewer: string; verdict: string }[];
    expect(rows).toEqual([
      { id: bob.id, reviewer: 'bob', verdict: 'defect' },
      { id: alice.id, reviewer: 'alice', verdict: 'good' },
    ]);
    expect(bob.id).toBeLessThan(alice.id);
    expect(verifyAudit(db).ok).toBe(true);
  });
});

describe('locks', () => {
  it('a second station is refused while the first holds the lock, and gets it after release', () => {
    const l = acquireLock(db, 'refit', A, 'refit of v1');
    expect(l).toMatchObject({ name: 'refit', station: 'station-1', holder: 'alice', purpose: 'refit of v1' });
    expect(() => acquireLock(db, 'refit', B, 'refit of v1')).toThrow(/alice on station station-1 is already doing this \(refit of v1/);
    expect(acquireLock(db, 'threshold', B, 'threshold change').station).toBe('station-2'); // another lock is free
    expect(renewLock(db, 'refit', 'station-1')).toBe(true);
    expect(renewLock(db, 'refit', 'station-2')).toBe(false);
    expect(currentLock(db, 'refit')?.holder).toBe('alice');
    expect(releaseLock(db, 'refit', 'station-1')).toBe(true);
    expect(currentLock(db, 'refit')).toBeNull();
    expect(acquireLock(db, 'refit', B, 'learning step').holder).toBe('bob');
    expect(() => acquireLock(db, 'everything' as 'refit', A, 'x')).toThrow(/unknown lock/);
  });

  it('a lock whose holder died (no renewal) expires', async () => {
    acquireLock(db, 'threshold', A, 'threshold change', 300);
    expect(() => acquireLock(db, 'threshold', B, 'threshold change')).toThrow(/already doing this/);
    await sleep(450);
    expect(currentLock(db, 'threshold')).toBeNull();
    expect(renewLock(db, 'threshold', 'station-1')).toBe(false); // too late to renew
    expect(acquireLock(db, 'threshold', B, 'threshold change').holder).toBe('bob');
  });
});

describe('where the files live', () => {
  it(`is recorded once: ${IS_PG ? 'a shared folder (PostgreSQL)' : 'the project folder (SQLite)'}`, () => {
    const f = projectFiles(db);
    expect(f.location).toBe(IS_PG ? 'shared-folder' : 'project-folder');
    expect(f.folderUid).toMatch(/^[0-9a-f]{32}$/);
    expect(() => db.prepare(`UPDATE project_files SET location = 'project-folder'`).run()).toThrow(/recorded once/);
    expect(() => db.prepare('DELETE FROM project_files').run()).toThrow(/recorded once/);
  });
});

describe.skipIf(!IS_PG)('change feed (PostgreSQL NOTIFY)', () => {
  it('another connection hears each verdict and claim at commit, with the row’s fields', async () => {
    const u = new URL(file);
    const schema = u.searchParams.get('schema')!;
    u.search = '';
    const listener = new pg.Client({ connectionString: u.toString() });
    await listener.connect();
    const heard: Record<string, unknown>[] = [];
    listener.on('notification', (n) => heard.push(JSON.parse(n.payload ?? '{}')));
    await listener.query(`LISTEN kensa_${schema}`);
    try {
      db.transaction(() => {
        recordVerdict(db, { imageId: ids[0], verdict: 'defect', reviewer: 'alice' });
        // not yet: NOTIFY is delivered at commit
      })();
      claimPart(db, ids[2], B);
      const t0 = Date.now();
      while (heard.length < 2 && Date.now() - t0 < 2000) await sleep(10);
      expect(heard.find((h) => h.t === 'verdicts')).toMatchObject({ op: 'insert', image_id: ids[0], verdict: 'defect', reviewer: 'alice', action: 'set' });
      expect(heard.find((h) => h.t === 'claims')).toMatchObject({ op: 'insert', image_id: ids[2], station: 'station-2', reviewer: 'bob' });
      // a rolled-back verdict is never heard
      const before = heard.length;
      expect(() =>
        db.transaction(() => {
          recordVerdict(db, { imageId: ids[1], verdict: 'good', reviewer: 'alice' });
          throw new Error('changed my mind');
        })(),
      ).toThrow(/changed my mind/);
      await sleep(200);
      expect(heard.slice(before).filter((h) => h.t === 'verdicts')).toEqual([]);
    } finally {
      await listener.end();
    }
  });
});
