/**
 * Several processes on one project file, and crashes. Real child processes (`node --import
 * tsx` running test/store/helpers/*.ts, given the project's locator: a file, or on
 * PostgreSQL a schema URL), real databases:
 * - two writers record 500 verdicts each, one transaction per verdict, started at the same
 *   moment: all 1000 rows are there (every acknowledged id), integrity_check is ok, the audit
 *   chain verifies (seq 1..N, no gap, no duplicate); with a 1 ms pause between writes the two
 *   really interleave (checked), in tight loops one mostly waits for the other (not lost);
 * - four processes open a brand-new file at once: the schema is migrated exactly once;
 * - a writer killed with SIGKILL in the middle of its loop (several times over): every
 *   verdict it acknowledged (printed after commit) is there after reopening, integrity is ok,
 *   the chain verifies. (SIGKILL tests the commit protocol and WAL recovery; surviving a
 *   power cut additionally relies on synchronous = FULL, which db.test.ts checks is set.)
 * On PostgreSQL "intact" is amcheck over the schema (integrityCheck) instead of SQLite's
 * integrity_check, and a killed writer's open transaction is rolled back by the server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  LATEST_VERSION,
  closeProjectDb,
  listAudit,
  openProjectDb,
  userVersion,
  verifyAudit,
} from '../../src-main/store/index';
import { exited, integrityCheck, lines, newProject, projectLocator, seedImages, spawnScript, tempDir, waitFor } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('two processes writing at once', () => {
  it.each([
    ['with a 1 ms pause between writes (they interleave)', '1'],
    ['in tight loops (one mostly waits in the busy handler)', '0'],
  ])('keeps all 1000 verdicts, an intact file and an unbroken audit chain: %s', async (_label, pause) => {
    const { db, file } = newProject(dir);
    const ids = seedImages(db, 50);
    const seqBefore = listAudit(db).length;
    closeProjectDb(db);

    const writers = ['alice', 'bob'].map((who) => {
      const child = spawnScript('verdict-writer.ts', [file, who, '500', ids.join(','), pause]);
      return { who, child, out: lines(child) };
    });
    await waitFor(() => writers.every((w) => w.out.all.includes('ready')), 'both writers to open the project');
    for (const w of writers) w.child.stdin.end('go\n');
    const results = await Promise.all(writers.map((w) => exited(w.child)));
    for (const [i, r] of results.entries()) expect(r, writers[i].out.stderr()).toEqual({ code: 0, signal: null });

    const acked = writers.map((w) => w.out.all.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))));
    expect(acked.map((a) => a.length)).toEqual([500, 500]);

    const check = openProjectDb(file);
    expect(check.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(1000);
    const present = new Set(check.prepare('SELECT id FROM verdicts').pluck().all() as number[]);
    for (const id of acked.flat()) expect(present.has(id)).toBe(true);
    expect(integrityCheck(check)).toBe('ok');

    const events = listAudit(check, { afterSeq: seqBefore });
    expect(events).toHaveLength(1000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => seqBefore + i + 1));
    const switches = events.filter((e, i) => i > 0 && e.actor !== events[i - 1].actor).length;
    console.log(`two writers: ${switches} switches between alice and bob in 1000 events`);
    if (pause !== '0') expect(switches).toBeGreaterThan(10); // they really wrote at the same time

    const v = verifyAudit(check);
    expect(v.firstBad).toBeNull();
    expect(v.ok).toBe(true);
    expect(v.events).toBe(seqBefore + 1000);
    closeProjectDb(check);
  });

  it('migrates a brand-new file exactly once when four processes open it together', async () => {
    const file = projectLocator(dir, 'fresh.kensa');
    const openers = Array.from({ length: 4 }, () => {
      const child = spawnScript('open-db.ts', [file]);
      return { child, out: lines(child) };
    });
    await waitFor(() => openers.every((o) => o.out.all.includes('ready')), 'the openers to start');
    for (const o of openers) o.child.stdin.end('go\n');
    const results = await Promise.all(openers.map((o) => exited(o.child)));
    for (const [i, r] of results.entries()) expect(r, openers[i].out.stderr()).toEqual({ code: 0, signal: null });
    for (const o of openers) expect(o.out.all).toContain(`version ${LATEST_VERSION}`);
    const db = openProjectDb(file);
    expect(userVersion(db)).toBe(LATEST_VERSION);
    expect(integrityCheck(db)).toBe('ok');
    closeProjectDb(db);
  });
});

describe('crash safety', () => {
  it('keeps every acknowledged verdict when the writer is killed with SIGKILL mid-way', async () => {
    const { db, file } = newProject(dir);
    const ids = seedImages(db, 20);
    closeProjectDb(db);

    const allAcked: number[] = [];
    for (let round = 0; round < 3; round++) {
      const child = spawnScript('verdict-writer.ts', [file, `writer${round}`, '0', ids.join(',')]); // 0 = until killed
      const acked: number[] = [];
      const out = lines(child, (l) => {
        if (l.startsWith('ack ')) acked.push(Number(l.slice(4)));
      });
      await waitFor(() => out.all.includes('ready'), 'the writer to open the project');
      child.stdin.end('go\n');
      const killAfter = 100 + round * 37;
      await waitFor(() => acked.length >= killAfter, `${killAfter} acknowledged verdicts`);
      child.kill('SIGKILL');
      const r = await exited(child);
      expect(r.signal).toBe('SIGKILL');
      allAcked.push(...acked);

      const check = openProjectDb(file); // replays the WAL left by the killed writer
      const present = new Set(check.prepare('SELECT id FROM verdicts').pluck().all() as number[]);
      const lost = allAcked.filter((id) => !present.has(id));
      expect(lost, `acknowledged but lost after kill ${round + 1}`).toEqual([]);
      expect(integrityCheck(check)).toBe('ok');
      const v = verifyAudit(check);
      expect(v.firstBad).toBeNull();
      expect(v.ok).toBe(true);
      console.log(`kill ${round + 1}: ${acked.length} acknowledged, ${present.size} verdicts in the file`);
      closeProjectDb(check);
    }
  });
});
