/**
 * Model versions side by side on the project's own reviewed parts (any detector): image
 * AUROC, PG0 (good parts passed at the largest threshold that still flags every reviewed
 * defect), misses and false alarms at the threshold in force, and the review load (share of
 * the parts that version has scored that its threshold flags: a version scored only on the
 * reviewed parts has a review load over those alone, which the UI states with its count). A version that has not scored every reviewed part
 * says how many it covers; `scoreReviewed` fills the gaps (a job).
 */
import { auroc, zeroMiss } from '../engine/core/metrics';
import type { ModelComparison } from '../shared/api';
import { currentVerdicts, getActiveModel, listModels, scoresFor } from '../store';
import type { JobHandlers } from '../jobs/engine-client';
import type { Engine, ProjectService, ScoreRunResult } from './project-service';
import { honestScores } from './learning';

export async function compareVersions(svc: ProjectService): Promise<ModelComparison> {
  const verdicts = currentVerdicts(svc.db);
  const active = getActiveModel(svc.db)?.version ?? null;
  const defects = [...verdicts.values()].filter((v) => v.verdict === 'defect').length;
  const ready = listModels(svc.db).filter((m) => m.status === 'ready');
  // A learning step's own training parts count with their out-of-fold scores (never in-sample).
  const honest = new Map<number, Map<number, number>>();
  for (const m of ready) honest.set(m.version, await honestScores(svc, m.version));
  const rows = ready.map((m) => {
    const scores = [...honest.get(m.version)!].map(([imageId, score]) => ({ imageId, score }));
    const t = svc.threshold(m.version);
    const s: number[] = [];
    const y: number[] = [];
    for (const sc of scores) {
      const v = verdicts.get(sc.imageId);
      if (!v) continue;
      s.push(sc.score);
      y.push(v.verdict === 'defect' ? 1 : 0);
    }
    const nDef = y.filter((l) => l === 1).length;
    const nGood = y.length - nDef;
    const zm = nDef > 0 && nGood > 0 ? zeroMiss(s, y) : null;
    let misses: number | null = null;
    let falseAlarms: number | null = null;
    let flagged: number | null = null;
    if (t) {
      misses = 0;
      falseAlarms = 0;
      for (let i = 0; i < s.length; i++) {
        if (y[i] === 1 && s[i]! < t.value) misses++;
        if (y[i] === 0 && s[i]! >= t.value) falseAlarms++;
      }
      flagged = scores.filter((sc) => sc.score >= t.value).length;
    }
    return {
      version: m.version,
      detector: m.detector,
      kind: m.kind,
      active: m.version === active,
      reviewedScored: y.length,
      defects: nDef,
      goods: nGood,
      auroc: nDef > 0 && nGood > 0 ? auroc(s, y) : null,
      pg0: zm?.pg0 ?? null,
      threshold: t?.value ?? null,
      misses,
      falseAlarms,
      reviewLoad: t && scores.length > 0 ? { flagged: flagged!, total: scores.length, share: flagged! / scores.length } : null,
      fitSeconds: m.fitSeconds,
    };
  });
  return { reviewed: verdicts.size, defects, goods: verdicts.size - defects, rows };
}

/** Scores the reviewed parts with every ready version that lacks scores for some of them. */
export async function scoreReviewed(svc: ProjectService, engine: Engine, handlers: JobHandlers = {}): Promise<ScoreRunResult[]> {
  const reviewed = [...currentVerdicts(svc.db).keys()];
  const out: ScoreRunResult[] = [];
  if (reviewed.length === 0) return out;
  for (const m of listModels(svc.db).filter((x) => x.status === 'ready')) {
    const have = new Set(scoresFor(svc.db, m.version).map((s) => s.imageId));
    const missing = reviewed.filter((id) => !have.has(id));
    if (missing.length === 0) continue;
    out.push(
      await svc.score(engine, { version: m.version, imageIds: missing }, {
        ...handlers,
        onProgress: (p) => handlers.onProgress?.({ ...p, phase: `v${m.version} ${p.phase}` }),
      }),
    );
  }
  return out;
}
