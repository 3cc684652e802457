/**
 * The project's ready model versions side by side on its reviewed parts (`models.compare`).
 * Making one of them active is `project.rollback` with `chosenReason(row)`.
 * Loads coalesce: a load asked for while one is in flight runs once more afterwards.
 */
import type { ModelComparison } from '../../../src-main/shared/api';
import { api } from '../lib/api';

export type ComparisonRow = ModelComparison['rows'][number];

export class ComparisonState {
  data = $state.raw<ModelComparison | null>(null);
  loading = $state(false);
  error = $state<unknown>(null);
  private again = false;

  /** Versions that have not scored every reviewed part (the compare job fills them in). */
  readonly incomplete = $derived(this.data ? this.data.rows.filter((r) => r.reviewedScored < this.data!.reviewed).length : 0);

  async load(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        try {
          this.data = await api.models.compare();
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      } while (this.again);
    } finally {
      this.loading = false;
    }
  }

  reset(): void {
    this.data = null;
    this.error = null;
  }
}

/** The audit-log reason for making a version active from the comparison (`models.rollback`). */
export function chosenReason(row: ComparisonRow): string {
  return `chosen from the comparison on ${row.reviewedScored} reviewed part${row.reviewedScored === 1 ? '' : 's'}`;
}

export const comparison = new ComparisonState();
