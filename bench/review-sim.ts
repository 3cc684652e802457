/**
 * `npm run bench:review` — a simulated review session through the real project service
 * (store, worker jobs, verdicts, refits) on MVTec bottle and magnetic_tile:
 *
 *   1. fit on part of train/good;
 *   2. stream the rest of the parts in batches: a share of the remaining good parts plus the
 *      defective test parts; after each batch is scored, a scripted reviewer gives the TRUE
 *      verdict on every flagged part, then a refit adds the false alarms to the bank;
 *   3. on a separate set of unseen good parts (never in the project), report before and after
 *      the refits: false alarms at the threshold in force, and PG0 (share of good parts passed
 *      at the zero-miss threshold, i.e. the smallest defect score).
 *
 * Usage: npm run bench:review [-- dataset-dir ...]   (default: bottle and magnetic_tile)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listImages } from '../src-main/engine/imaging/load';
import { openScorer } from '../src-main/engine/detectors/registry';
import type { ModelRecord } from '../src-main/store/index';
import { zeroMiss } from '../src-main/engine/core/metrics';
import { EngineClient } from '../src-main/jobs/engine-client';
import { ProjectService } from '../src-main/services/project-service';
import { Rng } from '../src-main/engine/core/random';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;
const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [path.join(shared, 'data/mvtec/bottle'), path.join(shared, 'data/magnetic_tile')];

/** A PatchCore version's memory-bank size, from its recorded facts (0 when it has none). */
const bankSize = (m: ModelRecord): number => Number(m.facts.bankSize?.value ?? 0);

async function scoreAll(svc: ProjectService, version: number, files: string[]): Promise<number[]> {
  const model = await svc.loadModelFile(version);
  const scorer = await openScorer(model);
  const out: number[] = [];
  try {
    for await (const o of scorer.scoreFiles(files)) {
      if (!o.ok) throw new Error(o.error.message);
      out.push(o.result.score);
    }
  } finally {
    await scorer.release();
  }
  return out;
}

interface Row {
  dataset: string;
  stage: string;
  version: number;
  bank: number;
  threshold: number;
  falseAlarms: string;
  pg0: string;
}

async function simulate(dir: string, engine: EngineClient): Promise<{ rows: Row[]; refits: { images: number; seconds: number; dropped: number }[] }> {
  const name = path.basename(dir);
  const rng = new Rng(7);
  const trainAll = await listImages(path.join(dir, 'train', 'good'));
  const perm = rng.permutation(trainAll.length);
  const shuffled = Array.from(perm, (i) => trainAll[i]!);
  const nFit = Math.min(300, Math.round(trainAll.length * 0.5));
  const fitFiles = shuffled.slice(0, nFit);
  const rest = shuffled.slice(nFit);
  const streamGood = rest.slice(0, Math.floor(rest.length / 2));
  const testGood = await listImages(path.join(dir, 'test', 'good'));
  const unseenGood = [...rest.slice(Math.floor(rest.length / 2)), ...testGood];
  const defects = (await listImages(path.join(dir, 'test'), { recursive: true })).filter((f) => !f.includes(`${path.sep}good${path.sep}`));
  // Defects are split between the stream (reviewed) and the evaluation (for PG0).
  const dPerm = rng.permutation(defects.length);
  const streamDefects = Array.from(dPerm.subarray(0, Math.floor(defects.length / 2)), (i) => defects[i]!);
  const evalDefects = Array.from(dPerm.subarray(Math.floor(defects.length / 2)), (i) => defects[i]!);

  const tmp = mkdtempSync(path.join(os.tmpdir(), `kensa-review-${name}-`));
  const svc = await ProjectService.create(tmp, `review sim ${name}`, 'sim');
  const rows: Row[] = [];
  const refits: { images: number; seconds: number; dropped: number }[] = [];
  try {
    await svc.importImages(fitFiles, 'train', 'sim');
    await svc.fit(engine, {}, 'sim');
    const evaluate = async (stage: string): Promise<void> => {
      const m = svc.activeModel()!;
      const t = svc.threshold()!.value;
      const goods = await scoreAll(svc, m.version, unseenGood);
      const bads = await scoreAll(svc, m.version, evalDefects);
      const zm = zeroMiss([...goods, ...bads], [...goods.map(() => 0), ...bads.map(() => 1)]);
      const fa = goods.filter((s) => s >= t).length;
      rows.push({
        dataset: name,
        stage,
        version: m.version,
        bank: bankSize(m),
        threshold: t,
        falseAlarms: `${fa}/${goods.length}`,
        pg0: zm ? zm.pg0.toFixed(3) : 'n/a',
      });
    };
    await evaluate('before refits');

    // The stream, in 4 batches mixing good parts and defects.
    const stream = [...streamGood.map((f) => ({ f, good: true })), ...streamDefects.map((f) => ({ f, good: false }))];
    const order = rng.permutation(stream.length);
    const batches = 4;
    const per = Math.ceil(stream.length / batches);
    const truth = new Map<string, boolean>();
    for (const s of stream) truth.set(path.resolve(s.f), s.good);
    for (let b = 0; b < batches; b++) {
      const part = Array.from(order.subarray(b * per, (b + 1) * per), (i) => stream[i]!.f);
      await svc.importImages(part, 'inspect', 'sim');
      await svc.score(engine);
      // The scripted reviewer: true verdicts on every flagged, unreviewed part.
      for (const q of svc.queue()) {
        if (!q.flagged || q.verdict) continue;
        const good = truth.get(svc.abs(q.image.path));
        if (good === undefined) continue;
        svc.verdict({ imageId: q.image.id, verdict: good ? 'good' : 'defect', ...(good ? {} : { defectType: 'defect' }) }, 'sim-reviewer');
      }
      const pending = svc.pendingRefit().length;
      if (pending > 0) {
        const t0 = performance.now();
        const r = await svc.refit(engine, 'sim');
        const seconds = (performance.now() - t0) / 1000;
        refits.push({ images: pending, seconds: r.model.fitSeconds ?? seconds, dropped: r.dropped.length });
        console.error(`${name} batch ${b + 1}: refit with ${pending} false alarms → v${r.model.version} (bank ${bankSize(r.model)}) in ${(r.model.fitSeconds ?? 0).toFixed(2)} s; ${r.dropped.length} of ${r.flaggedBefore} flagged parts dropped below the threshold`);
      }
    }
    await evaluate('after refits');
    const audit = svc.verifyAudit();
    if (!audit.ok) throw new Error(`audit chain broken: ${JSON.stringify(audit.firstBad)}`);
  } finally {
    svc.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  return { rows, refits };
}

async function main(): Promise<void> {
  const engine = new EngineClient();
  const all: Row[] = [];
  const refitTimes: { dataset: string; images: number; seconds: number }[] = [];
  try {
    for (const d of datasets) {
      const { rows, refits } = await simulate(d, engine);
      all.push(...rows);
      for (const r of refits) refitTimes.push({ dataset: path.basename(d), images: r.images, seconds: r.seconds });
    }
  } finally {
    await engine.terminate();
  }
  console.log('\ndataset         stage           model  bank    threshold  false alarms (unseen good)  PG0');
  for (const r of all) {
    console.log(`${r.dataset.padEnd(15)} ${r.stage.padEnd(15)} v${String(r.version).padEnd(5)} ${String(r.bank).padEnd(7)} ${r.threshold.toFixed(4).padEnd(10)} ${r.falseAlarms.padEnd(27)} ${r.pg0}`);
  }
  console.log('\nrefits (engine time, worker):');
  for (const r of refitTimes) console.log(`  ${r.dataset}: ${r.images} new good parts in ${r.seconds.toFixed(2)} s`);
  console.log(JSON.stringify({ reviewSimulation: all, refits: refitTimes }));
}

main().catch((e: unknown) => {
  console.error(`review simulation failed: ${(e as Error).message}`);
  process.exit(1);
});
