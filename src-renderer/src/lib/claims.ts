/**
 * Claims of the review stations on queue parts, as the renderer uses them (pure functions,
 * unit-tested in test/renderer/claims.test.ts): which claim is another station's and still
 * live, which part J / K / the next-after-a-verdict step to (over other stations' parts,
 * while an unclaimed one is left), a claim from a change-feed notice, and the words shown.
 *
 * Expiry times are the database's clock (epoch ms); they are compared here with this
 * machine's clock, which is good enough for what is shown (a claim lasts two minutes and
 * its holder renews it every minute).
 */
import type { ClaimInfo, QueueEntry, StationChange } from '../../../src-main/shared/api';

/** `c` when it is ANOTHER station's claim still live at `now`; else null. */
export function otherClaim(c: ClaimInfo | null | undefined, now = Date.now()): ClaimInfo | null {
  return c && !c.mine && c.expiresAt > now ? c : null;
}

/** Another station is reviewing this part now. */
export function claimedElsewhere(e: Pick<QueueEntry, 'claim'>, now = Date.now()): boolean {
  return otherClaim(e.claim, now) !== null;
}

/**
 * The index J (`step` 1) or K (-1) opens from index `from` of `list`: the nearest part that
 * way that no other station is reviewing. -1 when every part that way is claimed elsewhere
 * (or there is none): the caller then loads more or takes the plain neighbour, so that a
 * claimed part is passed over, never out of reach.
 */
export function nextFreeIndex(list: readonly Pick<QueueEntry, 'claim'>[], from: number, step: 1 | -1, now = Date.now()): number {
  for (let j = from + step; j >= 0 && j < list.length; j += step) {
    const e = list[j];
    if (e && !claimedElsewhere(e, now)) return j;
  }
  return -1;
}

/**
 * The claim a change-feed notice on the `claims` table describes: null for a delete (the
 * part is free), undefined when the notice does not say enough (the caller reloads).
 * `station`: this station's name (null: not known yet; then `held`, the part this page
 * holds, decides whether it is ours).
 */
export function claimFromChange(c: StationChange, station: string | null, held: number | null): ClaimInfo | null | undefined {
  const imageId = typeof c.image_id === 'number' ? c.image_id : Number(c.image_id);
  if (!Number.isInteger(imageId)) return undefined;
  if (c.op === 'delete') return null;
  const expiresAt = Number(c['expires_at']);
  if (typeof c.station !== 'string' || !Number.isFinite(expiresAt)) return undefined;
  const mine = station !== null ? c.station === station : imageId === held;
  return { imageId, station: c.station, reviewer: typeof c.reviewer === 'string' ? c.reviewer : '', expiresAt, mine };
}

/** "ann@station-1": who holds a part and where (a queue row's badge). */
export function claimLabel(c: ClaimInfo): string {
  return c.reviewer ? `${c.reviewer}@${c.station}` : c.station;
}

/** A badge's tooltip: who, where, until when (local time, hh:mm:ss). */
export function claimTitle(c: ClaimInfo): string {
  const d = new Date(c.expiresAt);
  const p = (n: number): string => String(n).padStart(2, '0');
  const until = Number.isNaN(d.getTime()) ? '—' : `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${c.reviewer || 'Someone'} is reviewing this part at ${c.station} (claim until ${until} unless renewed). You can still open it.`;
}
