/**
 * Learning from the review: the preview of a learning step (`models.learnPreview`), shown
 * when the learn job finishes or on request for any 'learn' version, and the cross-validated
 * proposal among the ready versions (`models.propose`). Accepting either is `models.accept`
 * (audited 'activate', with a reason) through `project.accept`.
 */
import type { LearnPreview, ModelProposal } from '../../../src-main/shared/api';
import { api } from '../lib/api';
import { Reloadable } from './reloadable.svelte';

export class LearnPreviewState {
  /** The learning step whose preview is open (null: closed). */
  version = $state<number | null>(null);
  data = $state.raw<LearnPreview | null>(null);
  error = $state<unknown>(null);
  private seq = 0;

  readonly open = $derived(this.version !== null);

  /** Opens the preview of a learning step and loads it. */
  async show(version: number): Promise<void> {
    const seq = ++this.seq;
    this.version = version;
    this.data = null;
    this.error = null;
    try {
      const d = await api.models.learnPreview({ version });
      if (seq === this.seq) this.data = d;
    } catch (e) {
      if (seq === this.seq) this.error = e;
    }
  }

  close(): void {
    this.seq++;
    this.version = null;
    this.data = null;
    this.error = null;
  }
}

export class ProposalState extends Reloadable<ModelProposal> {
  constructor() {
    super(() => api.models.propose());
  }
}

export const learnPreview = new LearnPreviewState();
export const proposal = new ProposalState();
