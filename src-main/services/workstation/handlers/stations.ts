/** `stations.*`: this station, where the project is stored, who is reviewing what, what runs where. */
import { currentLock, liveClaims, LOCK_NAMES, type Claim } from '../../../store/index';
import type { ClaimInfo, StationLockInfo } from '../../../shared/api';
import type { NamespaceHandlers, WorkstationContext } from '../context';

export function claimInfo(c: Claim, station: string): ClaimInfo {
  return { imageId: c.imageId, station: c.station, reviewer: c.reviewer, expiresAt: c.expiresAt, mine: c.station === station };
}

export function stationHandlers(ctx: WorkstationContext): NamespaceHandlers<'stations'> {
  return {
    'stations.status': async () => {
      const p = ctx.need();
      const locks: StationLockInfo[] = [];
      for (const n of LOCK_NAMES) {
        const l = currentLock(p.db, n);
        if (l) locks.push({ name: l.name, station: l.station, holder: l.holder, purpose: l.purpose, acquiredAt: l.acquiredAt, expiresAt: l.expiresAt });
      }
      return {
        station: p.station,
        store: p.storeInfo(),
        feed: ctx.feedMode(),
        claims: liveClaims(p.db).map((c) => claimInfo(c, p.station)),
        locks,
      };
    },
  };
}
