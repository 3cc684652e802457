/**
 * The open project as the main side reports it (`ProjectState`): counts, models, threshold,
 * pending refit, running job. Replaced wholesale from call results and `project` events.
 */
import type { ArgsOf, ModelSummary, ProjectState, ReportExport, ThresholdInfo, TuningData } from '../../../src-main/shared/api';
import { api } from '../lib/api';

export class ProjectStore {
  state = $state.raw<ProjectState | null>(null);
  /** A project call (create/open/demo/close) is in flight. */
  busy = $state<false | 'create' | 'open' | 'demo' | 'close'>(false);

  readonly isOpen = $derived(this.state !== null);
  readonly activeModel = $derived<ModelSummary | null>(this.state?.activeModel ?? null);
  readonly threshold = $derived<ThresholdInfo | null>(this.state?.threshold ?? null);
  readonly modelVersion = $derived<number | null>(this.state?.activeModel?.version ?? null);

  set(state: ProjectState | null): void {
    this.state = state;
  }

  async refresh(): Promise<ProjectState | null> {
    const s = await api.projects.state();
    this.state = s;
    return s;
  }

  private async run(kind: 'create' | 'open' | 'demo', fn: () => Promise<ProjectState>): Promise<ProjectState> {
    this.busy = kind;
    try {
      const s = await fn();
      this.state = s;
      return s;
    } finally {
      this.busy = false;
    }
  }

  create(dir: string, name: string): Promise<ProjectState> {
    return this.run('create', () => api.projects.create({ dir, name }));
  }

  open(dir: string): Promise<ProjectState> {
    return this.run('open', () => api.projects.open({ dir }));
  }

  createDemo(): Promise<ProjectState> {
    return this.run('demo', () => api.projects.createDemo({}));
  }

  async close(): Promise<void> {
    this.busy = 'close';
    try {
      await api.projects.close();
      this.state = null;
    } finally {
      this.busy = false;
    }
  }

  async setThreshold(value: number, reason: string): Promise<ProjectState> {
    const s = await api.threshold.set({ value, reason });
    this.state = s;
    return s;
  }

  async updateSettings(autoRefitAfter: number | null): Promise<ProjectState> {
    const s = await api.projects.updateSettings({ autoRefitAfter });
    this.state = s;
    return s;
  }

  /** Tuning figures (zero-miss, confusion, history) at a candidate threshold; nothing is saved. */
  thresholdStats(args: ArgsOf<'threshold.stats'> = {}): Promise<TuningData> {
    return api.threshold.stats(args);
  }

  exportReport(format: ReportExport['format']): Promise<ReportExport> {
    return api.report.export({ format });
  }

  exportRegions(): Promise<{ dir: string; masks: number; annotations: number }> {
    return api.regions.export();
  }

  /** Shows an exported file/folder (inside the project) in the file manager; in a browser, says where it is. */
  showInFolder(path: string): Promise<{ shown: boolean; path: string; message: string | null }> {
    return api.app.showInFolder({ path });
  }

  /** Makes a version active because a person accepted it (a learning step, a proposal): audited 'activate'. */
  async accept(version: number, reason: string): Promise<ProjectState> {
    const s = await api.models.accept({ version, reason });
    this.state = s;
    return s;
  }

  async rollback(version: number, reason: string): Promise<ProjectState> {
    const s = await api.models.rollback({ version, reason });
    this.state = s;
    return s;
  }
}

export const project = new ProjectStore();
