/** `threshold.*`: set the threshold (audited), and the tuning screen's statistics on the reviewed parts. */
import type { ArgsOf, TuningData } from '../../../shared/api';
import { thresholdHistory } from '../../../store/index';
import { outOfFoldScores } from '../../learning';
import { bandStats, tuningStats } from '../../threshold';
import type { NamespaceHandlers, WorkstationContext } from '../context';

async function tuning(ctx: WorkstationContext, a: ArgsOf<'threshold.stats'>): Promise<TuningData> {
  const p = ctx.need();
  const model = p.activeModel();
  // A learning step's own training parts are scored out-of-fold here, so the zero-miss
  // threshold is not set on scores the head was fitted to.
  const honest = model ? await outOfFoldScores(p, model.version) : null;
  const q = p
    .queue()
    .filter((x) => x.score !== null)
    .map((x) => ({ ...x, score: honest?.get(x.image.id) ?? x.score }));
  const inForce = p.threshold();
  const threshold = a.threshold ?? inForce?.value ?? Math.max(0, ...q.map((x) => x.score!));
  const parts = q.filter((x) => x.verdict?.verdict).map((x) => ({ score: x.score!, verdict: x.verdict!.verdict!, defectType: x.verdict!.defectType }));
  const unreviewedScores = q.filter((x) => !x.verdict?.verdict).map((x) => x.score!);
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
    history: thresholdHistory(p.db, model?.version ?? null).map((t) => ({
      value: t.value,
      reason: t.reason,
      setBy: t.setBy,
      createdAt: t.createdAt,
      modelVersion: t.modelVersion,
      reviewUpper: t.reviewUpper,
    })),
  };
}

export function thresholdHandlers(ctx: WorkstationContext): NamespaceHandlers<'threshold'> {
  return {
    'threshold.set': async ({ value, reason, margin, marginKind, reviewUpper }) => {
      ctx.need().setThreshold(value, reason, ctx.authorize('threshold'), {
        ...(margin != null && marginKind != null ? { margin, marginKind } : {}),
        ...(reviewUpper != null ? { reviewUpper } : {}),
      });
      ctx.emitState();
      return ctx.state();
    },
    'threshold.stats': async (a) => tuning(ctx, a),
  };
}
