/**
 * Pure helpers for learning from the review (models.learnPreview, models.propose): the
 * figures as the Models screen shows them and the audit-log reasons it offers.
 */
import type { LearnPreview, ModelProposal } from '../../../src-main/shared/api';
import { fmtRatePct, fmtScore } from './format';

export type ProposalRow = ModelProposal['rows'][number];

/** A share as a percentage with one decimal ("62.0 %"); "—" when missing. */
export function fmtShare(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(100 * x).toFixed(1)} %`;
}

/** A 95 % interval of a share, in percent ("48.1–74.2 %"). */
export function fmtInterval(iv: readonly [number, number] | null | undefined): string {
  if (!iv || !Number.isFinite(iv[0]) || !Number.isFinite(iv[1])) return '—';
  return `${(100 * iv[0]).toFixed(1)}–${(100 * iv[1]).toFixed(1)} %`;
}

/** A share with two decimals as in the audit reasons ("0.62"). */
const dec2 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));

/** Expected miss rate on new parts, with its 95 % upper bound ("10.0 % (≤ 39.4 %)"); "—" without an estimate. */
export function fmtMissRate(e: LearnPreview['reviewed']['before']['expectedMiss']): string {
  if (!e || e.rate === null || !Number.isFinite(e.rate)) return '—';
  return `${fmtRatePct(e.rate)} (≤ ${fmtRatePct(e.upper95)})`;
}

/** The number of folds the proposal used, as its reason states it ("… in 5 folds"); null when it does not say. */
export function proposalFolds(p: Pick<ModelProposal, 'reason'>): number | null {
  const m = /\bin (\d+) folds\b/.exec(p.reason);
  return m ? Number(m[1]) : null;
}

/** A candidate's label without its leading version ("v3 patchcore + review head" → "patchcore + review head"). */
export function proposalLabel(r: Pick<ProposalRow, 'version' | 'label'>): string {
  const prefix = `v${r.version} `;
  return r.label.startsWith(prefix) ? r.label.slice(prefix.length) : r.label;
}

/** The proposal's row for `version`. */
export function proposalRow(p: ModelProposal, version: number | null): ProposalRow | null {
  return version === null ? null : (p.rows.find((r) => r.version === version) ?? null);
}

/**
 * The audit-log reason for applying a proposal (`models.accept`), from its evidence:
 * "proposal: v3 PG0 0.62 [0.48, 0.74] vs v1 0.41 by 5-fold cross-validation on 84 reviewed parts; misses 0/10".
 */
export function proposalReason(p: ModelProposal): string {
  const best = proposalRow(p, p.best);
  if (!best) return 'proposal: no version proposed';
  const active = p.active !== null && p.active !== best.version ? proposalRow(p, p.active) : null;
  const folds = proposalFolds(p);
  const vs = active ? ` vs v${active.version} ${dec2(active.pg0)}` : p.active !== null && p.active !== best.version ? ` vs v${p.active} (not evaluated)` : '';
  const how = folds !== null ? `${folds}-fold cross-validation` : 'cross-validation';
  return (
    `proposal: v${best.version} PG0 ${dec2(best.pg0)} [${dec2(best.pg0Interval[0])}, ${dec2(best.pg0Interval[1])}]${vs} ` +
    `by ${how} on ${best.evaluated} reviewed part${best.evaluated === 1 ? '' : 's'}; misses ${best.misses}/${best.defects} at thresholds set on the other folds`
  );
}

/** The reason prefilled when a learning step is accepted (editable before it is saved). */
export function acceptReason(p: LearnPreview): string {
  const l = p.learnedFrom;
  const b = p.reviewed.before;
  const a = p.reviewed.after;
  const parts = [
    `accepted learning step v${p.version} (on v${p.parentVersion}), learned from ${l.defects} defect${l.defects === 1 ? '' : 's'}` +
      `${l.defectsWithRegions > 0 ? ` (${l.defectsWithRegions} with regions)` : ''} and ${l.goods} good part${l.goods === 1 ? '' : 's'}`,
    `PG0 ${fmtShare(b.pg0)} → ${fmtShare(a.pg0)} out-of-fold on ${a.parts} reviewed part${a.parts === 1 ? '' : 's'}`,
  ];
  if (b.expectedMiss || a.expectedMiss) parts.push(`expected miss rate ${fmtMissRate(b.expectedMiss)} → ${fmtMissRate(a.expectedMiss)}`);
  if (p.threshold !== null) parts.push(`flagged ${p.flagged.before} → ${p.flagged.after} at threshold ${fmtScore(p.threshold)}`);
  return parts.join('; ');
}
