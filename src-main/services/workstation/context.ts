/**
 * What an API namespace's handlers get from the workstation: the open project, the user's
 * settings, the job runner, events. Each `handlers/<namespace>.ts` exports one function
 * `(ctx) => handlers of that namespace`; `index.ts` puts them together and checks at compile
 * time that every method of the contract has exactly one handler.
 */
import type { EngineClient } from '../../jobs/engine-client';
import type { ApiMethod, ArgsOf, KensaEvent, ProjectState, ResultOf } from '../../shared/api';
import type { LineStatus } from '../../shared/line';
import type { Account, OpenOptions } from '../../store/index';
import type { Action } from '../accounts';
import type { ProjectService } from '../project-service';
import type { JobRunner } from './job-runner';
import type { UserSettings } from './settings';

export type Handlers = { [M in ApiMethod]: (args: ArgsOf<M>) => Promise<ResultOf<M>> };

/** The handlers of the methods whose names start with `${N}.`. */
export type NamespaceHandlers<N extends string> = { [M in ApiMethod as M extends `${N}.${string}` ? M : never]: Handlers[M] };

export interface WorkstationContext {
  readonly shell: 'electron' | 'browser';
  readonly configDir: string;
  readonly engine: EngineClient;
  readonly jobs: JobRunner;
  readonly settings: UserSettings;
  /** The native build label shown in the About box. */
  readonly sqliteLabel: string;
  readonly printPdf: ((html: string) => Promise<Uint8Array>) | undefined;
  readonly pickFolder: ((title: string) => Promise<string | null>) | undefined;
  readonly showInFolder: ((file: string) => void) | undefined;
  /** The execution provider of the last fit (for the About box when no model is active). */
  lastEp: string | null;
  readonly project: ProjectService | null;
  /** The open project, or NOT_FOUND. */
  need(): ProjectService;
  /** The chosen reviewer name, or INVALID_ARGUMENT asking for one (every verdict records who). */
  reviewer(): string;
  /** Who an action is recorded as when no reviewer is needed: the reviewer, else 'kensa'. */
  actor(): string;
  /** The account signed in to the open project (its accounts live in the project). */
  signedIn: Account | null;
  /**
   * Checks an action against the signed-in account when the project asks for sign-in
   * (services/accounts.ts) and answers who it is recorded as; without sign-in, the reviewer
   * name (which must be chosen). `always`: check the role even without sign-in (accounts).
   */
  authorize(action: Action, always?: boolean): string;
  saveSettings(): Promise<void>;
  dbOptions(): OpenOptions;
  openProject(dir: string, create?: string, store?: string): Promise<ProjectState>;
  closeProject(): void;
  state(): ProjectState;
  emit(e: KensaEvent): void;
  emitState(): void;
  colourScaleOf(version: number): Promise<{ low: number; high: number }>;
  ensureColourScale(): Promise<void>;
  /** The line of the open project: started when its settings say so, stopped with the project. */
  startLine(): Promise<void>;
  stopLine(): Promise<void>;
  lineStatus(): LineStatus;
  /** A verdict was given: a line part's new result goes out. */
  lineKick(): void;
  /** How this station hears of other stations' changes ('notify': PostgreSQL LISTEN; 'poll'). */
  feedMode(): 'notify' | 'poll';
  /** Another namespace's handler (e.g. an auto-refit started by a verdict). */
  handler<M extends ApiMethod>(method: M): Handlers[M];
}
