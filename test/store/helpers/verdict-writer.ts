/**
 * Child-process script for the concurrency and crash tests: opens the project database and
 * records verdicts, each in its own transaction, printing `ack <verdict id>` only after the
 * commit returned (what a UI would show as "saved").
 *
 *   node --import tsx test/store/helpers/verdict-writer.ts <db file or postgres:// locator> <reviewer> <count> <image ids, comma-separated> [pause ms]
 *
 * `pause ms` (default 0) is a pause between verdicts, as the work between two writes of a real
 * client would be: without it a writer in a tight loop tends to win the lock again and again
 * while the other one sleeps in SQLite's busy handler, and the writes barely interleave.
 * Prints `ready` once the database is open, then waits for a line `go` on stdin so that
 * several writers start at the same moment. count 0 = loop until killed.
 */
import { writeSync as fsWriteSync } from 'node:fs';
import readline from 'node:readline';
import { closeProjectDb, openProjectDb, recordVerdict } from '../../../src-main/store/index';

const [file, reviewer, countArg, idsArg, pauseArg] = process.argv.slice(2);
if (!file || !reviewer || !countArg || !idsArg) {
  console.error('usage: verdict-writer.ts <db file or postgres:// locator> <reviewer> <count> <image ids>');
  process.exit(2);
}
const count = Number(countArg);
const ids = idsArg.split(',').map(Number);
const pauseMs = Number(pauseArg ?? 0);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const db = openProjectDb(file);
process.stdout.write('ready\n');

const rl = readline.createInterface({ input: process.stdin });
rl.once('line', () => {
  rl.close();
  process.stdin.destroy(); // nothing more to read: let the process exit when done
  for (let i = 0; count === 0 || i < count; i++) {
    const v = recordVerdict(db, {
      imageId: ids[i % ids.length],
      verdict: i % 3 === 0 ? 'defect' : 'good',
      defectType: i % 3 === 0 ? 'scratch' : null,
      comment: `${reviewer} #${i}`,
      reviewer,
      threshold: 1.5,
      scoreShown: 1 + (i % 7) / 5,
    });
    // writeSync: the ack must be out before the next verdict starts, even if we are killed.
    writeAck(v.id);
    if (pauseMs > 0) Atomics.wait(sleeper, 0, 0, pauseMs);
  }
  closeProjectDb(db);
  process.stdout.write('done\n');
});

function writeAck(id: number): void {
  const buf = Buffer.from(`ack ${id}\n`);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fsWriteSync(1, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}
