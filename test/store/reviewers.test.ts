/**
 * Reviewers (src-main/store/reviewers.ts): touchReviewer registers a trimmed name (1..80
 * characters, no control characters) or refreshes last_seen_at; listReviewers, latest first.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeProjectDb, listReviewers, openProjectDb, touchReviewer, type Db } from '../../src-main/store/index';
import { tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;
beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = openProjectDb(`${t.dir}/p.kensa`);
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

describe('reviewers', () => {
  it('inserts once, then updates last_seen_at', async () => {
    const a = touchReviewer(db, '  Alice Tanaka ');
    expect(a).toMatchObject({ name: 'Alice Tanaka' });
    expect(a.createdAt).toBe(a.lastSeenAt);
    touchReviewer(db, 'bob');
    await new Promise((r) => setTimeout(r, 5));
    const again = touchReviewer(db, 'Alice Tanaka');
    expect(again.id).toBe(a.id);
    expect(again.createdAt).toBe(a.createdAt);
    expect(again.lastSeenAt > a.lastSeenAt).toBe(true);
    expect(listReviewers(db).map((r) => r.name)).toEqual(['Alice Tanaka', 'bob']);
  });

  it('validates the name', () => {
    expect(touchReviewer(db, 'x'.repeat(80)).name).toHaveLength(80);
    for (const bad of ['', '   ', 'x'.repeat(81), 'tab\there', 'line\nbreak', 42 as unknown as string]) {
      expect(() => touchReviewer(db, bad)).toThrow(/reviewer name/);
    }
    expect(listReviewers(db)).toHaveLength(1);
  });
});
