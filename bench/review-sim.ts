/**
 * `npm run bench:review [-- DATASET ...]` — learning from one review session, measured on parts
 * nobody has seen. For each dataset (MVTec layout: train/good, test/<type>,
 * ground_truth/<type>/<name>_mask.png; default: every category under $KENSA_SHARED/data):
 *
 *   1. a project (real store, real worker jobs) fits the default detector on train/good;
 *   2. the test parts are split with a fixed seed into a REVIEWED half and an UNSEEN half,
 *      stratified by label and defect type;
 *   3. the reviewed half is imported and scored; a scripted reviewer gives the true verdict on
 *      every reviewed part, with the defect type, and draws the ground-truth mask as the
 *      defect's region (rectangles of 4 px blocks, as a person would outline it);
 *   4. the product learns exactly as from a person: a refit with the good verdicts on flagged
 *      parts (PatchCore's bank), then a learning step (jobs 'learn'); the reviewer opens the
 *      Models screen's cross-validated proposal (fit, refit, learning step) and accepts it;
 *   5. on the UNSEEN half, before (the first fit) and after (the accepted version): image AUROC
 *      and PG0; and, at the threshold the product proposes from the reviewed parts (zero-miss
 *      with the tuning screen's default margin, 0.1 × the good-score spread, on the scores the
 *      tuning screen uses: out-of-fold for the parts the learning step learned from), the
 *      unseen defects missed and the share of unseen good parts passed;
 *   6. leave-one-defect-type-out: for each type, a head learned without that type's reviewed
 *      parts (the same engine step); the type's unseen AUROC (against the unseen good parts)
 *      with that head minus without any head. worstDelta = the lowest.
 *
 * The last line for each dataset is one JSON object:
 *   {"dataset", "before": {auroc, pg0}, "after": {auroc, pg0, missedUnseen, defectsUnseen,
 *    goodPassedUnseen}, "leaveOneTypeOut": {worstDelta, perType}}
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { auroc, zeroMiss } from '../src-main/engine/core/metrics';
import { Rng } from '../src-main/engine/core/random';
import { learnModel, openScorer } from '../src-main/engine/detectors/registry';
import { listImages } from '../src-main/engine/imaging/load';
import type { LoadedModel } from '../src-main/engine/model-file';
import type { ReviewedFile } from '../src-main/engine/review/learn';
import { EngineClient } from '../src-main/jobs/engine-client';
import { scoreReviewed } from '../src-main/services/compare';
import { acceptVersion, honestScores, learn, learnPreview, propose } from '../src-main/services/learning';
import { ProjectService } from '../src-main/services/project-service';
import { zeroMissThreshold } from '../src-main/services/threshold';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;

/** Every MVTec-layout category under shared/data (a folder with train/good and test/). */
function categories(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (existsSync(path.join(d, 'train', 'good')) && existsSync(path.join(d, 'test'))) {
      out.push(d);
      return;
    }
    if (depth > 2) return;
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name), depth + 1);
  };
  walk(root, 0);
  return out.sort();
}

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2).map((d) => path.resolve(d)) : categories(path.join(shared, 'data'));
const DEFAULT_MARGIN = { kind: 'spread' as const, value: 0.1 };

interface Part {
  file: string;
  label: 0 | 1;
  type: string;
}

async function groundTruth(root: string, p: Part): Promise<{ width: number; height: number; data: Uint8Array } | null> {
  if (p.label === 0) return null;
  const mf = path.join(root, 'ground_truth', p.type, `${path.basename(p.file, path.extname(p.file))}_mask.png`);
  if (!existsSync(mf)) return null;
  const { data, info } = await sharp(mf).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: Uint8Array.from(data, (v) => (v > 127 ? 1 : 0)) };
}

/** A mask as the regions a reviewer would draw: rectangles over the blocks it touches (runs of blocks per block row). */
function regionsOf(mask: { width: number; height: number; data: Uint8Array }): { width: number; height: number; regions: { kind: 'polygon'; points: number[] }[] } {
  for (const block of [4, 8, 16, 32]) {
    const bw = Math.ceil(mask.width / block);
    const bh = Math.ceil(mask.height / block);
    const on = new Uint8Array(bw * bh);
    for (let y = 0; y < mask.height; y++) for (let x = 0; x < mask.width; x++) if (mask.data[y * mask.width + x]) on[Math.floor(y / block) * bw + Math.floor(x / block)] = 1;
    const regions: { kind: 'polygon'; points: number[] }[] = [];
    for (let by = 0; by < bh; by++) {
      let bx = 0;
      while (bx < bw) {
        if (!on[by * bw + bx]) {
          bx++;
          continue;
        }
        const x0 = bx;
        while (bx < bw && on[by * bw + bx]) bx++;
        const [l, r, t, b] = [x0 * block, Math.min(mask.width, bx * block), by * block, Math.min(mask.height, (by + 1) * block)];
        regions.push({ kind: 'polygon', points: [l, t, r, t, r, b, l, b] });
      }
    }
    if (regions.length <= 1000) return { width: mask.width, height: mask.height, regions };
  }
  throw new Error('mask too fragmented for 1000 regions');
}

async function scoresOf(model: LoadedModel, files: string[]): Promise<number[]> {
  const s = await openScorer(model);
  const out: number[] = [];
  try {
    for await (const o of s.scoreFiles(files)) {
      if (!o.ok) throw new Error(o.error.message);
      out.push(o.result.score);
    }
  } finally {
    await s.release();
  }
  return out;
}

const typeAuroc = (scores: number[], parts: Part[], type: string): number => {
  const idx = parts.map((p, i) => (p.label === 0 || p.type === type ? i : -1)).filter((i) => i >= 0);
  return auroc(
    idx.map((i) => scores[i]!),
    idx.map((i) => parts[i]!.label),
  );
};

async function simulate(root: string, engine: EngineClient): Promise<Record<string, unknown>> {
  const name = path.relative(path.join(shared, 'data'), root) || path.basename(root);
  const t0 = performance.now();
  const types = readdirSync(path.join(root, 'test'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  const parts: Part[] = [];
  for (const t of types) for (const f of await listImages(path.join(root, 'test', t))) parts.push({ file: f, label: t === 'good' ? 0 : 1, type: t });
  // Stratified split (label × defect type), fixed seed.
  const rng = new Rng(42);
  const reviewed: Part[] = [];
  const unseen: Part[] = [];
  for (const t of types) {
    const g = parts.filter((p) => p.type === t);
    Array.from(rng.permutation(g.length)).forEach((j, k) => (k % 2 === 0 ? reviewed : unseen).push(g[j]!));
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), `kensa-review-${path.basename(root)}-`));
  const svc = await ProjectService.create(tmp, `review sim ${name}`, 'sim');
  try {
    await svc.importImages(await listImages(path.join(root, 'train', 'good')), 'train', 'sim');
    const fitted = await svc.fit(engine, {}, 'sim');
    const base = await svc.loadModelFile(fitted.version);
    await svc.importImages(
      reviewed.map((p) => p.file),
      'inspect',
      'sim',
    );
    await svc.score(engine);
    // The scripted reviewer: every reviewed part, true verdict, type, ground-truth region.
    const byPath = new Map(reviewed.map((p) => [path.resolve(p.file), p]));
    let regions = 0;
    for (const q of svc.queue()) {
      const p = byPath.get(svc.abs(q.image.path));
      if (!p) continue;
      const mask = await groundTruth(root, p);
      if (mask) regions++;
      svc.verdict({ imageId: q.image.id, verdict: p.label ? 'defect' : 'good', ...(p.label ? { defectType: p.type } : {}), ...(mask ? { regions: regionsOf(mask) } : {}) }, 'sim-reviewer');
    }
    // The product learns: refit with the good verdicts on flagged parts, then a learning step.
    const pending = svc.pendingRefit().length;
    let refitSeconds = 0;
    if (pending > 0) {
      const r = await svc.refit(engine, 'sim');
      refitSeconds = r.model.fitSeconds ?? 0;
    }
    const beforeLearning = svc.activeModel()!;
    const tl = performance.now();
    const step = await learn(svc, engine, 'sim');
    const learnSeconds = (performance.now() - tl) / 1000;
    const pv = await learnPreview(svc, step.version);
    // Score the reviewed parts with every version (the comparison job), then take the proposal.
    await scoreReviewed(svc, engine);
    const proposal = await propose(svc);
    const chosen = proposal.best ?? svc.activeModel()!.version;
    if (chosen !== svc.activeModel()!.version) acceptVersion(svc, chosen, 'sim-reviewer', `proposal: ${proposal.reason}`);
    const active = await svc.loadModelFile(chosen);

    // The threshold the product proposes from the reviewed parts (the tuning screen's scores).
    const honest = await honestScores(svc, chosen);
    const q = svc.queue().filter((x) => x.score !== null && x.verdict?.verdict);
    const sc = (x: (typeof q)[number]): number => honest.get(x.image.id)!;
    const zm = zeroMissThreshold(
      q.filter((x) => x.verdict!.verdict === 'defect').map(sc),
      q.filter((x) => x.verdict!.verdict === 'good').map(sc),
      DEFAULT_MARGIN,
    );
    const threshold = zm.status === 'ok' ? zm.threshold : Infinity;

    const files = unseen.map((p) => p.file);
    const y = unseen.map((p) => p.label);
    const before = await scoresOf(base, files);
    const after = await scoresOf(active, files);
    const zb = zeroMiss(before, y);
    const za = zeroMiss(after, y);
    const defectsUnseen = y.filter((l) => l === 1).length;
    const goodsUnseen = y.length - defectsUnseen;
    const missedUnseen = unseen.filter((p, i) => p.label === 1 && after[i]! < threshold).length;
    const goodPassedUnseen = unseen.filter((p, i) => p.label === 0 && after[i]! < threshold).length / goodsUnseen;

    // Leave one defect type out: a head without that type, on the model it sits on.
    const parent = await svc.loadModelFile(beforeLearning.version);
    const parentScores = await scoresOf(parent, files);
    const allReviewed: ReviewedFile[] = [];
    for (const x of svc.queue()) {
      const v = x.verdict;
      if (!v?.verdict) continue;
      const p = byPath.get(svc.abs(x.image.path))!;
      allReviewed.push({ id: x.image.id, file: p.file, label: p.label, defectType: p.label ? p.type : null, mask: await groundTruth(root, p) });
    }
    const perType: Record<string, { without: number; withHead: number; delta: number }> = {};
    for (const t of types.filter((t) => t !== 'good')) {
      const rest = allReviewed.filter((r) => r.defectType !== t);
      if (!rest.some((r) => r.label === 1)) continue; // the only type: nothing left to learn from
      const lo = await learnModel(parent, rest);
      const s = await scoresOf({ header: { ...lo.header, sections: [] }, arrays: lo.arrays, file: '(leave-one-type-out)' }, files);
      const withHead = typeAuroc(s, unseen, t);
      const without = typeAuroc(parentScores, unseen, t);
      perType[t] = { without, withHead, delta: withHead - without };
    }
    const deltas = Object.values(perType).map((r) => r.delta);
    const audit = svc.verifyAudit();
    if (!audit.ok) throw new Error(`audit chain broken: ${JSON.stringify(audit.firstBad)}`);
    const result = {
      dataset: name,
      before: { auroc: auroc(before, y), pg0: zb?.pg0 ?? null },
      after: { auroc: auroc(after, y), pg0: za?.pg0 ?? null, missedUnseen, defectsUnseen, goodPassedUnseen },
      leaveOneTypeOut: { worstDelta: deltas.length > 0 ? Math.min(...deltas) : null, perType },
      session: {
        reviewed: reviewed.length,
        reviewedDefects: reviewed.filter((p) => p.label === 1).length,
        regions,
        refitGoodParts: pending,
        refitSeconds,
        learnSeconds,
        proposedThreshold: threshold,
        preview: { dropped: pv.dropped.length, raised: pv.raised.length, pg0Before: pv.reviewed.before.pg0, pg0AfterOutOfFold: pv.reviewed.after.pg0, expectedMissAfter: pv.reviewed.after.expectedMiss },
        versions: { fit: fitted.version, refit: pending > 0 ? beforeLearning.version : null, learn: step.version, accepted: chosen },
        proposal: { best: proposal.best, reason: proposal.reason, rows: proposal.rows.map((r) => ({ version: r.version, label: r.label, pg0: r.pg0, misses: r.misses, defects: r.defects })) },
        seconds: (performance.now() - t0) / 1000,
      },
    };
    return result;
  } finally {
    svc.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const engine = new EngineClient();
  const results: Record<string, unknown>[] = [];
  try {
    for (const d of datasets) {
      const r = await simulate(d, engine);
      results.push(r);
      const b = r.before as { auroc: number; pg0: number | null };
      const a = r.after as { auroc: number; pg0: number | null; missedUnseen: number; defectsUnseen: number; goodPassedUnseen: number };
      const l = r.leaveOneTypeOut as { worstDelta: number | null };
      const f = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(3));
      console.log(
        `\n${String(r.dataset)}: unseen AUROC ${f(b.auroc)} → ${f(a.auroc)}, PG0 ${f(b.pg0)} → ${f(a.pg0)}; at the proposed threshold ${a.missedUnseen}/${a.defectsUnseen} unseen defects missed, ${(100 * a.goodPassedUnseen).toFixed(1)} % of unseen good parts passed; leave-one-type-out worst ΔAUROC ${f(l.worstDelta)}`,
      );
      console.log(JSON.stringify(r));
    }
  } finally {
    await engine.terminate();
  }
}

await main();
