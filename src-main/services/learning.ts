/**
 * Learning from the review (engine/review): a learning step trains a head on every reviewed
 * part (defects with their drawn regions, good parts) on top of the active model, as a new
 * version that is NOT active until a person has seen what it changes and accepts it.
 *
 *   learn        the job: out-of-fold scores (a head per fold, trained without it), the final
 *                head, the new version (kind 'learn', the verdicts it learned from recorded),
 *                the parent's threshold carried over, the inspect parts scored with it
 *   preview      what accepting would change: flagged parts that drop below the threshold and
 *                parts that rise over it, and PG0 / expected miss rate on the reviewed parts,
 *                before (the parent's scores) and after (out-of-fold scores: never in-sample)
 *   accept       the version becomes active (audited 'activate', with the evidence in the reason)
 *   propose      among every ready version, the one that maximises PG0 on the reviewed parts by
 *                cross-validation (engine/core/choose.ts): a candidate is never scored on parts
 *                it learned from; learning steps enter with their out-of-fold scores
 */
import { readFile } from 'node:fs/promises';
import { chooseByCrossValidation, stratifiedFolds, type Candidate, type ReviewedPart } from '../engine/core/choose';
import { zeroMiss } from '../engine/core/metrics';
import { writeFileAtomic } from '../engine/model-file';
import { KensaError, isKensaError } from '../shared/errors';
import type { JobHandlers } from '../jobs/engine-client';
import type { LearnPreview, ModelProposal } from '../shared/api';
import { backupDb, beginModel, currentVerdicts, failModel, getActiveModel, getImage, getModel, listModels, modelLineage, rollbackModel, scoresFor, setThreshold, type ModelRecord } from '../store';
import { rasterize, validateRegions } from './regions';
import { expectedMissLoo, zeroMissThreshold, type ExpectedMiss } from './threshold';
import { DB_FILE, type Engine, type ProjectService } from './project-service';
import { withStationLock } from './stations/locks';
import path from 'node:path';

const FOLDS = 3;
/** The tuning screen's default margin. */
const LEARN_MARGIN = { kind: 'spread' as const, value: 0.1 };
const FOLD_SEED = 0;

const oofFile = (svc: ProjectService, version: number): string => svc.abs(svc.modelFile(version).replace(/\.kensa$/, '.oof.json'));

function reviewedParts(svc: ProjectService): (ReviewedPart & { verdictId: number })[] {
  return [...currentVerdicts(svc.db).values()].map((v) => ({ id: v.imageId, label: v.verdict === 'defect' ? 1 : 0, defectType: v.verdict === 'defect' ? (v.defectType ?? null) : null, verdictId: v.id }));
}

/** Trains a learning step on top of the active model; the new version waits for acceptance. */
export async function learn(svc: ProjectService, engine: Engine, actor: string, handlers: JobHandlers = {}): Promise<ModelRecord> {
  const v = getActiveModel(svc.db)?.version;
  return withStationLock(svc.db, 'refit', { station: svc.station, reviewer: actor }, `learning step on v${v ?? '?'}`, () => learnUnderLock(svc, engine, actor, handlers));
}

async function learnUnderLock(svc: ProjectService, engine: Engine, actor: string, handlers: JobHandlers): Promise<ModelRecord> {
  const parent = getActiveModel(svc.db);
  if (!parent) throw new KensaError('NOT_FOUND', 'no active model to learn on: fit one first');
  const verdicts = [...currentVerdicts(svc.db).values()];
  const defects = verdicts.filter((v) => v.verdict === 'defect');
  if (defects.length === 0) throw new KensaError('CONFLICT', 'no reviewed defects yet: a learning step learns from reviewed defects (and good parts)');
  if (defects.length === verdicts.length) throw new KensaError('CONFLICT', 'no reviewed good parts yet: a learning step needs good parts too');
  const parentFile = await svc.loadModelFile(parent.version);
  backupDb(svc.db, path.join(svc.dir, DB_FILE), `before-learning-on-v${parent.version}`);
  const parts = reviewedParts(svc);
  const goods = verdicts.length - defects.length;
  const nFolds = Math.min(FOLDS, defects.length, goods);
  const folds = nFolds >= 2 ? stratifiedFolds(parts, nFolds, FOLD_SEED) : [];
  const reviewed = verdicts.map((v) => {
    const img = getImage(svc.db, v.imageId)!;
    let mask = null;
    if (v.verdict === 'defect' && v.regions !== null) {
      const set = validateRegions(v.regions);
      if (set.regions.length > 0) mask = { width: set.width, height: set.height, data: rasterize(set) };
    }
    return { id: v.imageId, file: svc.abs(img.path), label: (v.verdict === 'defect' ? 1 : 0) as 0 | 1, defectType: v.verdict === 'defect' ? (v.defectType ?? null) : null, mask };
  });
  const model = beginModel(
    svc.db,
    {
      kind: 'learn',
      parentVersion: parent.version,
      detector: parent.detector,
      backboneId: parent.backboneId,
      backboneSha256: parent.backboneSha256,
      config: parent.config as Record<string, unknown>,
      addedImageIds: verdicts.map((v) => v.imageId),
      verdictIds: verdicts.map((v) => v.id),
    },
    actor,
  );
  const out = svc.modelFile(model.version);
  let done: ModelRecord;
  try {
    const r = await engine.run({ kind: 'learn', model: parentFile.file, reviewed, folds, out: svc.abs(out) }, handlers).result;
    if (r.skipped.length > 0) throw new KensaError('IMAGE_UNREADABLE', `learning could not read ${r.skipped.map((s) => s.file).join(', ')}: ${r.skipped[0]!.error.message}`);
    await writeFileAtomic(oofFile(svc, model.version), Buffer.from(JSON.stringify({ version: model.version, folds, seed: FOLD_SEED, scores: r.outOfFold })));
    done = await svc.complete(model.version, out, r.header, r.header.review?.seconds ?? 0, actor);
  } catch (e) {
    failModel(svc.db, model.version, isKensaError(e) ? `${e.code}: ${e.message}` : String(e));
    throw e;
  }
  // Its threshold: the zero-miss proposal on its OUT-OF-FOLD scores (the tuning screen's default
  // margin), so that what the head adds is used; the parent's when there is too little evidence.
  const t = svc.threshold(parent.version);
  const oof = await readOof(svc, done.version);
  const scored = parts.filter((p) => oof?.has(p.id));
  const zm = zeroMissThreshold(
    scored.filter((p) => p.label === 1).map((p) => oof!.get(p.id)!),
    scored.filter((p) => p.label === 0).map((p) => oof!.get(p.id)!),
    LEARN_MARGIN,
    { minDefects: svc.settings().minDefectsForZeroMiss },
  );
  if (zm.status === 'ok' && !zm.fewDefects) {
    setThreshold(svc.db, {
      modelVersion: done.version,
      value: zm.threshold,
      margin: LEARN_MARGIN.value,
      marginKind: LEARN_MARGIN.kind,
      setBy: actor,
      reason: `zero-miss on the out-of-fold scores of ${zm.defects} reviewed defects and ${zm.goods} good parts, margin ${zm.marginUsed === 'gap' ? 'half the empty gap below the weakest defect' : `${LEARN_MARGIN.value} × the good-score spread`} (learning step v${done.version})`,
    });
  } else if (t !== null) {
    setThreshold(svc.db, {
      modelVersion: done.version,
      value: t.value,
      ...(t.reviewUpper !== null ? { reviewUpper: t.reviewUpper } : {}),
      setBy: actor,
      reason: `carried over from v${parent.version} to the learning step v${done.version}: too few reviewed defects for a zero-miss threshold of its own`,
    });
  }
  await svc.score(engine, { version: done.version }, handlers);
  return done;
}

async function readOof(svc: ProjectService, version: number): Promise<Map<number, number> | null> {
  try {
    const j = JSON.parse(await readFile(oofFile(svc, version), 'utf8')) as { scores: { id: number; score: number }[] };
    return new Map(j.scores.map((s) => [s.id, s.score]));
  } catch {
    return null;
  }
}

function expected(parts: ReviewedPart[], scores: Map<number, number>): { miss: ExpectedMiss | null; pg0: number | null; n: number } {
  const have = parts.filter((p) => scores.has(p.id));
  const d = have.filter((p) => p.label === 1).map((p) => scores.get(p.id)!);
  const g = have.filter((p) => p.label === 0).map((p) => scores.get(p.id)!);
  const zm = d.length > 0 && g.length > 0 ? zeroMiss([...d, ...g], [...d.map(() => 1), ...g.map(() => 0)]) : null;
  return { miss: d.length > 0 ? expectedMissLoo(d, g, { kind: 'absolute', value: 0 }) : null, pg0: zm?.pg0 ?? null, n: have.length };
}

/** A version's stored scores by image id, with `oof` (out-of-fold scores) laid over them. */
function withOutOfFold(svc: ProjectService, version: number, oof: Map<number, number> | null): Map<number, number> {
  const scores = new Map(scoresFor(svc.db, version).map((r) => [r.imageId, r.score]));
  for (const [id, score] of oof ?? []) scores.set(id, score);
  return scores;
}

/**
 * A version's scores by image id that do not flatter it, for tuning and comparing: a learning
 * step's own training parts get their out-of-fold scores (a head that never saw them); every
 * other score is the stored one.
 */
export async function honestScores(svc: ProjectService, version: number): Promise<Map<number, number>> {
  return withOutOfFold(svc, version, await outOfFoldScores(svc, version));
}

/**
 * The out-of-fold scores that replace a learning step's own stored ones (null for any other
 * version: its stored scores are already honest). Cheap for the tuning screen's every query.
 */
export async function outOfFoldScores(svc: ProjectService, version: number): Promise<Map<number, number> | null> {
  return getModel(svc.db, version)?.kind === 'learn' ? readOof(svc, version) : null;
}

/** What accepting a learning step would change (at the threshold in force). */
export async function learnPreview(svc: ProjectService, version: number): Promise<LearnPreview> {
  const m = getModel(svc.db, version);
  if (!m || m.kind !== 'learn' || m.status !== 'ready') throw new KensaError('NOT_FOUND', `version ${version} is not a finished learning step`);
  const parentVersion = m.parentVersion!;
  const t = svc.threshold(parentVersion);
  const tAfter = svc.threshold(version);
  const before = new Map(scoresFor(svc.db, parentVersion).map((s) => [s.imageId, s.score]));
  const after = new Map(scoresFor(svc.db, version).map((s) => [s.imageId, s.score]));
  const reviewed = currentVerdicts(svc.db);
  const dropped: LearnPreview['dropped'] = [];
  const raised: LearnPreview['raised'] = [];
  if (t !== null && tAfter !== null) {
    for (const [id, a] of after) {
      const b = before.get(id);
      if (b === undefined) continue;
      const row = { imageId: id, path: getImage(svc.db, id)?.path ?? String(id), before: b, after: a, verdict: reviewed.get(id)?.verdict ?? null };
      if (b >= t.value && a < tAfter.value) dropped.push(row);
      else if (b < t.value && a >= tAfter.value) raised.push(row);
    }
  }
  const parts = reviewedParts(svc).filter((p) => m.addedImageIds.includes(p.id));
  const oof = (await readOof(svc, version)) ?? new Map<number, number>();
  const b = expected(parts, before);
  const a = expected(parts, oof);
  const header = (await svc.loadModelFile(version)).header.review ?? null;
  return {
    version,
    parentVersion,
    threshold: t?.value ?? null,
    thresholdAfter: tAfter?.value ?? null,
    thresholdAfterReason: tAfter?.reason ?? null,
    learnedFrom: {
      defects: header?.defects ?? 0,
      goods: header?.goods ?? 0,
      defectsWithRegions: header?.defectsWithRegions ?? 0,
      defectTypes: header?.defectTypes ?? [],
      weight: header?.weight ?? 0,
      verdicts: m.verdictIds.length,
    },
    flagged: {
      before: t === null ? 0 : [...before.values()].filter((s) => s >= t.value).length,
      after: tAfter === null ? 0 : [...after.values()].filter((s) => s >= tAfter.value).length,
    },
    dropped: dropped.sort((x, y) => x.after - y.after),
    raised: raised.sort((x, y) => y.after - x.after),
    reviewed: {
      before: { pg0: b.pg0, expectedMiss: b.miss, parts: b.n },
      after: { pg0: a.pg0, expectedMiss: a.miss, parts: a.n, outOfFold: true },
    },
    active: getActiveModel(svc.db)?.version === version,
  };
}

/** Makes a version active because a person accepted it (audited 'activate' with the reason). */
export function acceptVersion(svc: ProjectService, version: number, actor: string, reason: string): ModelRecord {
  return rollbackModel(svc.db, version, actor, reason, 'activate');
}

/** Image ids a version's scores have learned from: reviewed good parts added to a bank anywhere in its lineage. */
function bankLearnedFrom(svc: ProjectService, version: number): Set<number> {
  const out = new Set<number>();
  for (const m of modelLineage(svc.db, version)) if (m.kind === 'refit') for (const id of m.addedImageIds) out.add(id);
  return out;
}

/** Cross-validated proposal among every ready version (see the module doc). */
export async function propose(svc: ProjectService): Promise<ModelProposal> {
  const parts = reviewedParts(svc);
  const candidates: Candidate[] = [];
  const skipped: { version: number; why: string }[] = [];
  // The active version first: on a tie the proposal keeps what is in force (no switch without evidence).
  const activeNow = getActiveModel(svc.db)?.version ?? null;
  const ready = listModels(svc.db)
    .filter((x) => x.status === 'ready')
    .sort((a, b) => Number(b.version === activeNow) - Number(a.version === activeNow));
  for (const m of ready) {
    const label = `v${m.version} ${m.detector}${m.kind === 'learn' ? ' + review head' : m.kind === 'refit' ? ' (refit)' : ''}`;
    let scores: Map<number, number>;
    if (m.kind === 'learn') {
      const oof = await readOof(svc, m.version);
      if (!oof) {
        skipped.push({ version: m.version, why: 'its out-of-fold scores are missing' });
        continue;
      }
      // Out-of-fold scores of the parts it learned from; parts reviewed since then have honest scores too.
      scores = withOutOfFold(svc, m.version, oof);
      const learned = new Set(m.addedImageIds);
      for (const id of [...scores.keys()]) if (learned.has(id) && !oof.has(id)) scores.delete(id);
    } else {
      scores = withOutOfFold(svc, m.version, null);
    }
    const missing = parts.filter((p) => !scores.has(p.id)).length;
    if (missing > 0) {
      skipped.push({ version: m.version, why: `${missing} reviewed parts have no score from it (score them on the Models screen)` });
      continue;
    }
    candidates.push({ kind: 'fixed', id: String(m.version), label, scores, learnedFrom: bankLearnedFrom(svc, m.version) });
  }
  const choice = chooseByCrossValidation(parts, candidates, { folds: 5, seed: FOLD_SEED });
  const active = getActiveModel(svc.db)?.version ?? null;
  return {
    reviewed: parts.length,
    defects: parts.filter((p) => p.label === 1).length,
    rows: choice.rows.map((r) => ({
      version: Number(r.id),
      label: r.label,
      pg0: r.pg0,
      pg0Interval: r.pg0Interval,
      auroc: r.auroc,
      misses: r.transfer.misses,
      defects: r.transfer.defects,
      missInterval: r.transfer.missInterval,
      goodPassed: r.transfer.goodPassed,
      goods: r.transfer.goods,
      evaluated: r.evaluated,
    })),
    best: choice.best === null ? null : Number(choice.best),
    reason: choice.reason,
    excluded: choice.excluded,
    skipped,
    active,
  };
}

