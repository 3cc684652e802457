/**
 * Child-process script for the two-station test: one review station working through the
 * queue of a shared project, as a person at a station would, through the real store and the
 * real change feed.
 *
 *   node --import tsx test/store/helpers/station.ts <locator> <station> <reviewer> <model version> <claim ttl ms> [pause ms]
 *
 * Loop: claim the next part nobody else holds (claimNext), give it a verdict (defect when
 * its score is over 5, else good), print `{"ack": verdictId, "image": id, "at": ms}` once
 * the commit returned, release the claim, pause. Meanwhile the change feed (LISTEN/NOTIFY on
 * PostgreSQL, polling on SQLite) tells it of every other verdict; it then reads the new
 * verdict rows, as a station's screen would, and prints `{"seen": id, "by": reviewer, "at": ms}`.
 * Exits 0 when no part is left unjudged. Prints `ready` once open and waits for `go`.
 */
import { writeSync } from 'node:fs';
import readline from 'node:readline';
import { watchProject } from '../../../src-main/services/stations/watch';
import { claimNext, closeProjectDb, openProjectDb, recordVerdict, releaseClaim, type Db } from '../../../src-main/store/index';

const [locator, station, reviewer, versionArg, ttlArg, pauseArg] = process.argv.slice(2);
if (!locator || !station || !reviewer || !versionArg || !ttlArg) {
  console.error('usage: station.ts <locator> <station> <reviewer> <model version> <claim ttl ms> [pause ms]');
  process.exit(2);
}
const modelVersion = Number(versionArg);
const ttl = Number(ttlArg);
const pauseMs = Number(pauseArg ?? 2);
const out = (o: unknown): void => {
  writeSync(1, JSON.stringify(o) + '\n'); // synchronous: a line printed is a line written, even if SIGKILL follows
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const db: Db = openProjectDb(locator);
let lastSeen = Number(db.prepare('SELECT coalesce(max(id), 0) FROM verdicts').pluck().get());
let pending = false;
const readNew = (): void => {
  pending = false;
  const rows = db.prepare('SELECT id, reviewer FROM verdicts WHERE id > ? ORDER BY id').all(lastSeen) as { id: number; reviewer: string }[];
  const at = Date.now();
  for (const r of rows) {
    lastSeen = r.id;
    if (r.reviewer !== reviewer) out({ seen: r.id, by: r.reviewer, at });
  }
};
const watcher = watchProject(db, (c) => {
  if (c.t === 'verdicts' || c.t === 'any') pending = true;
});
out('ready');

const rl = readline.createInterface({ input: process.stdin });
await new Promise<void>((resolve) => rl.on('line', (l) => l.trim() === 'go' && resolve()));
rl.close();

const unjudged = (): number =>
  Number(
    db
      .prepare(
        `SELECT count(*) FROM scores s WHERE s.model_version = ? AND (SELECT v.verdict FROM verdicts v WHERE v.image_id = s.image_id ORDER BY v.id DESC LIMIT 1) IS NULL`,
      )
      .pluck()
      .get(modelVersion),
  );

let after: { score: number; id: number } | null = null;
for (;;) {
  if (pending) readNew();
  const c = claimNext(db, { station, reviewer }, { modelVersion, threshold: null, after }, ttl);
  if (!c) {
    if (unjudged() === 0) break;
    await sleep(50); // the rest are held by others (or by a station that died: its claims run out)
    continue;
  }
  const score = Number(db.prepare('SELECT score FROM scores WHERE image_id = ? AND model_version = ?').pluck().get(c.imageId, modelVersion));
  after = { score, id: c.imageId };
  const v = recordVerdict(db, { imageId: c.imageId, verdict: score > 5 ? 'defect' : 'good', reviewer });
  out({ ack: v.id, image: c.imageId, at: Date.now() });
  releaseClaim(db, c.imageId, station);
  await sleep(pauseMs);
}
// Let the feed deliver the last of the others' verdicts before leaving.
for (let i = 0; i < 20; i++) {
  await sleep(50);
  if (pending) readNew();
}
await watcher.close();
closeProjectDb(db);
out('done');
