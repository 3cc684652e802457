/** `review.*`: the queue a page at a time, one part with its verdict history, verdicts and undo. */
import { getDetector } from '../../../engine/detectors/registry';
import { KensaError } from '../../../shared/errors';
import { claimPart, confirmVerdict, getImage, liveClaims, releaseClaim, verdictHistory, type Verdict } from '../../../store/index';
import { claimInfo } from './stations';
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { queueEntry } from '../dto';
import type { QueueEntry } from '../../../shared/api';

function entryFor(ctx: WorkstationContext, imageId: number): QueueEntry {
  const q = ctx.need().queueItem(imageId);
  if (!q) throw new KensaError('NOT_FOUND', `no part to inspect with id ${imageId}`);
  return queueEntry(q);
}

/** The project setting `autoRefitAfter`: start a refit once enough good verdicts are pending. */
function maybeAutoRefit(ctx: WorkstationContext): void {
  const p = ctx.need();
  const n = p.settings().autoRefitAfter;
  if (n === null || ctx.jobs.running || p.pendingRefit().length < n) return;
  const active = p.activeModel();
  if (!active || !getDetector(active.detector).canRefit) return; // the Fit screen says why refit is unavailable
  // A refit that cannot start now is started by hand later; the verdict itself stands.
  ctx.handler('jobs.refit')({}).catch(() => undefined);
}

export function reviewHandlers(ctx: WorkstationContext): NamespaceHandlers<'review'> {
  return {
    'review.queue': async ({ filter, after, limit }) => {
      const p = ctx.need();
      const page = p.queuePage({ ...(filter ? { filter } : {}), ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
      const items = page.items.map(queueEntry);
      // Who is reviewing what right now (other stations', and this one's).
      const claims = new Map(liveClaims(p.db, items.map((i) => i.imageId)).map((c) => [c.imageId, claimInfo(c, p.station)]));
      for (const i of items) i.claim = claims.get(i.imageId) ?? null;
      return { items, next: page.next, counts: page.counts };
    },
    'review.part': async ({ imageId }) => {
      const p = ctx.need();
      const img = getImage(p.db, imageId);
      if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
      const model = p.activeModel();
      return {
        entry: entryFor(ctx, imageId),
        format: img.format,
        bytes: img.bytes,
        sha256: img.sha256,
        modelVersion: model?.version ?? null,
        threshold: p.threshold()?.value ?? null,
        history: verdictHistory(p.db, imageId).map((v: Verdict) => ({
          id: v.id,
          action: v.action,
          verdict: v.verdict,
          defectType: v.defectType,
          comment: v.comment,
          reviewer: v.reviewer,
          createdAt: v.createdAt,
          modelVersion: v.modelVersion,
          threshold: v.threshold,
          scoreShown: v.scoreShown,
          regions: (v.regions as never) ?? null,
        })),
      };
    },
    'review.verdict': async (a) => {
      const p = ctx.need();
      p.verdict(
        {
          imageId: a.imageId,
          verdict: a.verdict,
          ...(a.defectType ? { defectType: a.defectType } : {}),
          ...(a.comment ? { comment: a.comment } : {}),
          ...(a.regions ? { regions: a.regions } : {}),
        },
        ctx.authorize('verdict'),
      );
      ctx.lineKick();
      maybeAutoRefit(ctx);
      ctx.emitState();
      return entryFor(ctx, a.imageId);
    },
    'review.confirm': async ({ imageId }) => {
      const p = ctx.need();
      confirmVerdict(p.db, imageId, ctx.authorize('confirm'));
      maybeAutoRefit(ctx);
      ctx.emitState();
      return entryFor(ctx, imageId);
    },
    'review.claim': async ({ imageId }) => {
      const p = ctx.need();
      const r = claimPart(p.db, imageId, { station: p.station, reviewer: ctx.actor() });
      return r.ok ? { claimed: true, claim: claimInfo(r.claim, p.station) } : { claimed: false, claim: claimInfo(r.heldBy, p.station) };
    },
    'review.release': async ({ imageId }) => {
      const p = ctx.need();
      releaseClaim(p.db, imageId, p.station);
      return null;
    },
    'review.undo': async ({ imageId }) => {
      ctx.need().undo(imageId, ctx.authorize('verdict'));
      ctx.lineKick();
      ctx.emitState();
      return entryFor(ctx, imageId);
    },
  };
}
