/**
 * The project's ready model versions side by side on its reviewed parts (`models.compare`).
 * Making one of them active is `project.rollback` with `chosenReason(row)`.
 */
import type { ModelComparison } from '../../../src-main/shared/api';
import { api } from '../lib/api';
import { Reloadable } from './reloadable.svelte';

export type ComparisonRow = ModelComparison['rows'][number];

export class ComparisonState extends Reloadable<ModelComparison> {
  constructor() {
    super(() => api.models.compare());
  }

  /** Versions that have not scored every reviewed part (the compare job fills them in). */
  readonly incomplete = $derived(this.data ? this.data.rows.filter((r) => r.reviewedScored < this.data!.reviewed).length : 0);
}

/** The audit-log reason for making a version active from the comparison (`models.rollback`). */
export function chosenReason(row: ComparisonRow): string {
  return `chosen from the comparison on ${row.reviewedScored} reviewed part${row.reviewedScored === 1 ? '' : 's'}`;
}

export const comparison = new ComparisonState();
