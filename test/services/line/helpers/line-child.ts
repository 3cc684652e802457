/**
 * A station process for the kill -9 test: opens the project, runs its line service, and
 * prints `ready` once watching and `result <n>` after each committed result. It runs until
 * it is killed (or gets SIGTERM).
 */
import { EngineClient } from '../../../../src-main/jobs/engine-client';
import { LineService } from '../../../../src-main/services/line/line-service';
import { ProjectService } from '../../../../src-main/services/project-service';

const dir = process.argv[2]!;
const svc = ProjectService.open(dir);
const engine = new EngineClient();
let n = 0;
const line = new LineService(svc, {
  engine,
  pollMs: 20,
  onResult: () => {
    n += 1;
    process.stdout.write(`result ${n}\n`);
  },
});
await line.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void line.stop().then(async () => {
    await engine.terminate();
    svc.close();
    process.exit(0);
  });
});
setInterval(() => undefined, 1 << 30);
