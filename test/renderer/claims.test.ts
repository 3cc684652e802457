/**
 * Other stations' claims as the review screen uses them (src-renderer/src/lib/claims.ts):
 * which claim counts, where J / K step to, a claim from a change-feed notice, the words shown.
 */
import { describe, expect, it } from 'vitest';
import type { ClaimInfo } from '../../src-main/shared/api';
import { claimedElsewhere, claimFromChange, claimLabel, claimTitle, nextFreeIndex, otherClaim } from '../../src-renderer/src/lib/claims';

const NOW = 1_700_000_000_000;
const theirs = (imageId: number, expiresAt = NOW + 60_000): ClaimInfo => ({ imageId, station: 'station-1', reviewer: 'Ann', expiresAt, mine: false });
const mine = (imageId: number): ClaimInfo => ({ imageId, station: 'station-2', reviewer: 'Bo', expiresAt: NOW + 60_000, mine: true });

describe('otherClaim / claimedElsewhere', () => {
  it("is another station's live claim only", () => {
    expect(otherClaim(theirs(1), NOW)?.station).toBe('station-1');
    expect(otherClaim(mine(1), NOW)).toBeNull();
    expect(otherClaim(theirs(1, NOW - 1), NOW)).toBeNull(); // ran out unrenewed
    expect(otherClaim(null, NOW)).toBeNull();
    expect(otherClaim(undefined, NOW)).toBeNull();
    expect(claimedElsewhere({ claim: theirs(1) }, NOW)).toBe(true);
    expect(claimedElsewhere({}, NOW)).toBe(false);
  });
});

describe('nextFreeIndex', () => {
  const list = [{ claim: null }, { claim: theirs(2) }, { claim: theirs(3) }, { claim: mine(4) }, { claim: null }];

  it('steps over parts other stations are reviewing, both ways', () => {
    expect(nextFreeIndex(list, 0, 1, NOW)).toBe(3); // own claims do not count
    expect(nextFreeIndex(list, 3, -1, NOW)).toBe(0);
    expect(nextFreeIndex(list, 3, 1, NOW)).toBe(4);
  });

  it('-1 when every part that way is claimed elsewhere, or there is none (the caller takes the neighbour)', () => {
    expect(nextFreeIndex([{ claim: null }, { claim: theirs(2) }], 0, 1, NOW)).toBe(-1);
    expect(nextFreeIndex(list, 4, 1, NOW)).toBe(-1);
    expect(nextFreeIndex(list, 0, -1, NOW)).toBe(-1);
  });

  it('starts from a position between parts (the open part is not in the filter)', () => {
    expect(nextFreeIndex(list, -1, 1, NOW)).toBe(0);
    expect(nextFreeIndex(list, list.length, -1, NOW)).toBe(4);
  });

  it('an expired claim does not hold the part', () => {
    expect(nextFreeIndex([{ claim: null }, { claim: theirs(2, NOW - 5) }], 0, 1, NOW)).toBe(1);
  });
});

describe('claimFromChange', () => {
  const notice = { t: 'claims', op: 'insert' as const, image_id: 7, station: 'station-1', reviewer: 'Ann', expires_at: NOW + 120_000 };

  it("reads a claim notice, mine when it is this station's", () => {
    expect(claimFromChange(notice, 'station-2', null)).toEqual({ imageId: 7, station: 'station-1', reviewer: 'Ann', expiresAt: NOW + 120_000, mine: false });
    expect(claimFromChange(notice, 'station-1', null)?.mine).toBe(true);
    expect(claimFromChange({ ...notice, op: 'update' }, 'station-2', null)?.mine).toBe(false);
  });

  it('station not known yet: the part this page holds is its own', () => {
    expect(claimFromChange(notice, null, 7)?.mine).toBe(true);
    expect(claimFromChange(notice, null, 8)?.mine).toBe(false);
  });

  it('a delete frees the part; a notice that says too little asks for a reload', () => {
    expect(claimFromChange({ ...notice, op: 'delete' }, 'station-2', null)).toBeNull();
    expect(claimFromChange({ t: 'claims', op: 'insert' }, 'station-2', null)).toBeUndefined();
    expect(claimFromChange({ ...notice, expires_at: 'soon' }, 'station-2', null)).toBeUndefined();
  });
});

describe('claimLabel / claimTitle', () => {
  it('names who and where; the tooltip says until when and that it still opens', () => {
    expect(claimLabel(theirs(1))).toBe('Ann@station-1');
    expect(claimLabel({ ...theirs(1), reviewer: '' })).toBe('station-1');
    const t = claimTitle(theirs(1));
    expect(t).toMatch(/^Ann is reviewing this part at station-1 \(claim until \d\d:\d\d:\d\d unless renewed\)\. You can still open it\.$/);
  });
});
