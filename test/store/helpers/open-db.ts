/**
 * Child-process script: waits for `go` on stdin, opens (creating and migrating) the project
 * database, prints its schema version, closes. Several at once on a brand-new file check that
 * concurrent first opens migrate exactly once.
 *
 *   node --import tsx test/store/helpers/open-db.ts <db file or postgres:// locator>
 */
import readline from 'node:readline';
import { closeProjectDb, openProjectDb, userVersion } from '../../../src-main/store/index';

const file = process.argv[2];
if (!file) {
  console.error('usage: open-db.ts <db file or postgres:// locator>');
  process.exit(2);
}
process.stdout.write('ready\n');
const rl = readline.createInterface({ input: process.stdin });
rl.once('line', () => {
  rl.close();
  process.stdin.destroy(); // nothing more to read: let the process exit when done
  const db = openProjectDb(file);
  process.stdout.write(`version ${userVersion(db)}\n`);
  closeProjectDb(db);
});
