/**
 * Two review stations (two processes) on one project, on whichever engine this run tests
 * (the PostgreSQL run is the shared project the issue asks for; the SQLite run is two windows
 * on one machine). 1,000 flagged parts; each station claims the next part nobody holds, gives
 * a verdict and releases it; station 2 is killed with SIGKILL midway and started again a
 * second later (its open claim runs out or it takes it back).
 *
 * Checked on the database afterwards: every part has a verdict; every verdict a station
 * acknowledged is there; a part judged twice (a claim that ran out under the killed station)
 * has both verdicts, in order; the audit chain verifies. Measured: how long after a verdict
 * was acknowledged at one station the other station had read it (the change feed:
 * LISTEN/NOTIFY on PostgreSQL, the change stamp polled every 500 ms on SQLite).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeProjectDb, currentVerdicts, openProjectDb, putScores, verifyAudit } from '../../src-main/store/index';
import { ENGINE, exited, lines, newProject, readyModel, seedImages, spawnScript, tempDir, waitFor } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const PARTS = 1000;
const CLAIM_TTL_MS = 1500;

type Line = { ack?: number; image?: number; seen?: number; by?: string; at: number };
const parse = (all: string[]): Line[] => all.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

describe(`two stations review ${PARTS} parts at once (${ENGINE})`, () => {
  it('with one killed by SIGKILL midway and restarted: nothing lost, double reviews keep both verdicts, the chain verifies; the feed is timed', async () => {
    const { db, file } = newProject(dir);
    const ids = seedImages(db, PARTS);
    const m = readyModel(db).version;
    // Scores 0..10, all flagged (the stations walk every scored part).
    putScores(db, m, ids.map((id, i) => ({ imageId: id, score: ((i * 7919) % PARTS) / 100, maxPatchScore: 1 })));
    closeProjectDb(db);

    const start = (station: string, reviewer: string) => {
      const child = spawnScript('station.ts', [file, station, reviewer, String(m), String(CLAIM_TTL_MS), '2']);
      return { station, reviewer, child, out: lines(child) };
    };
    const a = start('station-1', 'alice');
    const b1 = start('station-2', 'bob');
    await waitFor(() => a.out.all.includes('"ready"') && b1.out.all.includes('"ready"'), 'both stations to open the project');
    const t0 = Date.now();
    a.child.stdin.end('go\n');
    b1.child.stdin.end('go\n');

    const acks = () => parse(a.out.all).filter((l) => l.ack).length + parse(b1.out.all).filter((l) => l.ack).length;
    await waitFor(() => acks() >= PARTS / 2, 'half of the parts to be judged');
    b1.child.kill('SIGKILL');
    const killed = await exited(b1.child);
    expect(killed.signal).toBe('SIGKILL');
    const bobBeforeKill = parse(b1.out.all).filter((l) => l.ack).length;
    await new Promise((r) => setTimeout(r, 1000));
    const b2 = start('station-2', 'bob');
    await waitFor(() => b2.out.all.includes('"ready"'), 'station 2 to open the project again');
    b2.child.stdin.end('go\n');

    const [ra, rb] = await Promise.all([exited(a.child), exited(b2.child)]);
    expect(ra, a.out.stderr()).toEqual({ code: 0, signal: null });
    expect(rb, b2.out.stderr()).toEqual({ code: 0, signal: null });
    const seconds = (Date.now() - t0) / 1000;

    const stations = [
      { name: 'alice', lines: parse(a.out.all) },
      { name: 'bob (killed)', lines: parse(b1.out.all) },
      { name: 'bob (restarted)', lines: parse(b2.out.all) },
    ];
    const acked = stations.flatMap((s) => s.lines.filter((l) => l.ack !== undefined).map((l) => ({ ...l, station: s.name })));

    const check = openProjectDb(file);
    try {
      const rows = check.prepare('SELECT id, image_id, reviewer, created_at FROM verdicts ORDER BY id').all() as { id: number; image_id: number; reviewer: string; created_at: string }[];
      const byId = new Map(rows.map((r) => [r.id, r]));
      // every acknowledged verdict is there, on the part it was given to
      for (const k of acked) expect(byId.get(k.ack!)?.image_id, `verdict ${k.ack} acknowledged by ${k.station}`).toBe(k.image);
      // every part is judged
      const current = currentVerdicts(check);
      expect(ids.filter((id) => !current.has(id))).toEqual([]);
      // a part judged twice keeps both verdicts, in order (ids and times ascending)
      const perPart = new Map<number, typeof rows>();
      for (const r of rows) perPart.set(r.image_id, [...(perPart.get(r.image_id) ?? []), r]);
      const twice = [...perPart.entries()].filter(([, rs]) => rs.length > 1);
      for (const [, rs] of twice) {
        expect(rs.map((r) => r.id)).toEqual([...rs.map((r) => r.id)].sort((x, y) => x - y));
        expect(rs.map((r) => r.created_at)).toEqual([...rs.map((r) => r.created_at)].sort());
      }
      // no acknowledged verdict is missing from a part's history, and acks never exceed rows
      for (const [image, rs] of perPart) expect(rs.length).toBeGreaterThanOrEqual(acked.filter((k) => k.image === image).length);
      const v = verifyAudit(check);
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);

      // the change feed: when did the other station read each acknowledged verdict?
      const ackAt = new Map(acked.map((k) => [k.ack!, k.at]));
      const delays: number[] = [];
      for (const s of stations) {
        for (const l of s.lines) {
          if (l.seen === undefined) continue;
          const at = ackAt.get(l.seen);
          if (at !== undefined) delays.push(Math.max(0, l.at - at));
        }
      }
      const figures = {
        engine: ENGINE,
        parts: PARTS,
        verdicts: rows.length,
        acknowledged: acked.length,
        judgedTwice: twice.length,
        killedStationAcks: bobBeforeKill,
        seconds: Number(seconds.toFixed(1)),
        seenByOther: delays.length,
        delayMs: { p50: pct(delays, 50), p95: pct(delays, 95), max: Math.max(...delays) },
      };
      console.log(`two-station figures: ${JSON.stringify(figures)}`);
      expect(delays.length).toBeGreaterThan(PARTS / 2); // each station saw most of the other's verdicts while both ran
      // "within a second": PostgreSQL's feed is NOTIFY at commit; SQLite's is a 500 ms poll
      // (windows on one machine), given more room on a loaded machine.
      expect(figures.delayMs.p95).toBeLessThan(ENGINE === 'postgres' ? 1000 : 1500);
    } finally {
      closeProjectDb(check);
    }
  });
});
