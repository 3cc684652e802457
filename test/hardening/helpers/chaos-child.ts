/**
 * A child process for the kill -9 test: opens the project and does one kind of work, printing
 * `start` when the work begins, `ack verdict <id>` after each verdict commit returns (what the
 * UI would acknowledge), then `done <ms>`. The parent kills it with SIGKILL at a random moment
 * of the work.
 *
 * usage: node --import tsx chaos-child.ts <project-dir> <op> <seed>
 *   op: import | fit | refit | verdicts | score | report
 */
import path from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import sharp from 'sharp';
import { renderPart } from '../../../src-main/services/demo';
import { EngineClient } from '../../../src-main/jobs/engine-client';
import { ProjectService } from '../../../src-main/services/project-service';
import { exportReport } from '../../../src-main/services/report/index';

const [dir, op, seedText] = process.argv.slice(2);
const seed = Number(seedText);
const svc = ProjectService.open(dir!);
const engine = new EngineClient();
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const t0 = performance.now();
out('start');
try {
  if (op === 'import') {
    const folder = path.join(dir!, 'incoming', `batch-${seed}`);
    await mkdir(folder, { recursive: true });
    for (let i = 0; i < 6; i++) {
      const png = await sharp(renderPart(seed * 100 + i, i % 3 === 0 ? 'pit' : null), { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer();
      await writeFile(path.join(folder, `p${i}.png`), png);
    }
    await svc.importImages([folder], 'inspect', 'chaos');
  } else if (op === 'fit') {
    await svc.fit(engine, {}, 'chaos');
  } else if (op === 'report') {
    await exportReport(svc, path.join(dir!, 'exports', `report-${seed}.pdf`), { kensaVersion: 'chaos' });
  } else if (op === 'score') {
    await svc.score(engine);
  } else if (op === 'verdicts' || op === 'refit') {
    const queue = svc.queue().filter((q) => q.score !== null);
    // (After a fit finishes, the new model has no scores yet: then there is nothing to review.)
    for (let i = 0; queue.length > 0 && i < (op === 'verdicts' ? 300 : Math.min(queue.length, 40)); i++) {
      const q = queue[(seed + i) % queue.length]!;
      const v = svc.verdict({ imageId: q.image.id, verdict: q.flagged && i % 2 === 0 ? 'good' : 'defect' }, 'chaos');
      out(`ack verdict ${v.id}`);
    }
    if (op === 'refit' && svc.pendingRefit().length > 0) await svc.refit(engine, 'chaos');
  }
  out(`done ${Math.round(performance.now() - t0)}`);
} finally {
  await engine.terminate();
  svc.close();
}
