/** `threshold.*`: set the threshold (audited), and the tuning screen's statistics on the reviewed parts. */
import type { ArgsOf, TuningData } from '../../../shared/api';
import { scoredQueue, thresholdHistory, VERDICT_CODE, type ScoredQueue } from '../../../store/index';
import { outOfFoldScores } from '../../learning';
import { bandStats, tuningStats, type TuningPart } from '../../threshold';
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { thresholdInfo } from '../dto';

/**
 * The reviewed parts (queue order) and the scores of the unreviewed ones from the scored
 * queue, each score replaced by its out-of-fold score where `honest` has one.
 */
export function tuningInputs(q: ScoredQueue | null, honest: Map<number, number> | null): { parts: TuningPart[]; unreviewedScores: Float64Array; maxScore: number } {
  if (!q) return { parts: [], unreviewedScores: new Float64Array(0), maxScore: -Infinity };
  const n = q.ids.length;
  const parts: TuningPart[] = [];
  const unreviewed = new Float64Array(n);
  let u = 0;
  let maxScore = -Infinity;
  for (let i = 0; i < n; i++) {
    const score = honest?.get(q.ids[i]!) ?? q.scores[i]!;
    if (score > maxScore) maxScore = score;
    const v = q.verdicts[i]!;
    if (v === 0) unreviewed[u++] = score;
    else parts.push({ score, verdict: v === VERDICT_CODE.defect ? 'defect' : 'good', defectType: v === VERDICT_CODE.defect ? (q.defectTypes.get(i) ?? null) : null });
  }
  return { parts, unreviewedScores: unreviewed.subarray(0, u), maxScore };
}

async function tuning(ctx: WorkstationContext, a: ArgsOf<'threshold.stats'>): Promise<TuningData> {
  const p = ctx.need();
  const model = p.activeModel();
  // A learning step's own training parts are scored out-of-fold here, so the zero-miss
  // threshold is not set on scores the head was fitted to.
  const honest = model ? await outOfFoldScores(p, model.version) : null;
  // The scored parts as columns (queue order), not one object per part: 100,000 parts stay cheap.
  const { parts, unreviewedScores, maxScore } = tuningInputs(model ? scoredQueue(p.db, model.version) : null, honest);
  const inForce = p.threshold();
  const threshold = a.threshold ?? inForce?.value ?? Math.max(0, maxScore);
  const s = tuningStats(parts, threshold, {
    unreviewedScores,
    minDefects: p.settings().minDefectsForZeroMiss,
    ...(a.margin ? { margin: a.margin } : {}),
    ...(a.bins !== undefined ? { bins: a.bins } : {}),
    ...(a.log !== undefined ? { log: a.log } : {}),
  });
  const finite = (xs: number[]): (number | null)[] => xs.map((x) => (Number.isFinite(x) ? x : null));
  const zm = s.zeroMiss;
  const defectScores = parts.filter((x) => x.verdict === 'defect').map((x) => x.score);
  const bands = a.reject != null ? bandStats(parts, threshold, a.reject, { unreviewedScores }) : null;
  return {
    threshold,
    modelVersion: model?.version ?? null,
    reviewed: s.reviewed,
    defects: s.defects,
    goods: s.goods,
    confusion: s.confusion,
    recall: s.recall,
    precision: s.precision,
    falseAlarmRate: s.falseAlarmRate,
    goodPassed: s.goodPassed,
    reviewLoad: s.reviewLoad,
    byDefectType: s.byDefectType,
    roc: s.roc ? { fpr: s.roc.fpr, tpr: s.roc.tpr, thresholds: finite(s.roc.thresholds) } : null,
    pr: s.pr ? { precision: s.pr.precision, recall: s.pr.recall, thresholds: finite(s.pr.thresholds) } : null,
    auroc: s.auroc,
    histogram: s.histogram,
    zeroMiss:
      zm.status === 'no-defects'
        ? zm
        : {
            status: 'ok',
            raw: zm.raw,
            threshold: zm.threshold,
            margin: zm.margin,
            freeMargin: zm.freeMargin,
            marginUsed: zm.marginUsed,
            spread: zm.spread,
            pg0: zm.pg0,
            pg0Raw: zm.pg0Raw,
            weakestDefectScore: defectScores[zm.weakestDefect]!,
            marginToWeakest: zm.marginToWeakest,
            defects: zm.defects,
            goods: zm.goods,
            fewDefects: zm.fewDefects,
            minDefects: zm.minDefects,
            expectedMiss: zm.expectedMiss,
          },
    bands,
    history: thresholdHistory(p.db, model?.version ?? null).map((t) => thresholdInfo(p.db, t)),
  };
}

export function thresholdHandlers(ctx: WorkstationContext): NamespaceHandlers<'threshold'> {
  return {
    'threshold.set': async ({ value, reason, margin, marginKind, reviewUpper, basedOn }) => {
      ctx.need().setThreshold(
        value,
        reason,
        ctx.authorize('threshold'),
        {
          ...(margin != null && marginKind != null ? { margin, marginKind } : {}),
          ...(reviewUpper != null ? { reviewUpper } : {}),
        },
        basedOn,
      );
      ctx.emitState();
      return ctx.state();
    },
    'threshold.stats': async (a) => tuning(ctx, a),
  };
}
