/**
 * Migration 4: an index for reading the review queue a page at a time (store/queue.ts).
 *
 *   scores_rank (model_version, score DESC, image_id)   the scored parts of one model version
 *                                                        in queue order, so a page starts at
 *                                                        its cursor (score, id) without sorting
 *                                                        the whole queue
 */
import type { Migration } from './index';

export const migration0004: Migration = {
  version: 4,
  name: 'queue-index',
  up(db) {
    db.exec('CREATE INDEX scores_rank ON scores (model_version, score DESC, image_id);');
  },
  upPostgres(db) {
    db.exec('CREATE INDEX scores_rank ON scores (model_version, score DESC, image_id);');
  },
};
