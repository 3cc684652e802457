/**
 * The ONE contract between the renderer and the main side.
 *
 * Every call is a method named `namespace.name` with one JSON-able argument object and one
 * JSON-able result, declared in `ApiMethods`. Two transports carry the same calls:
 *   - Electron: the preload exposes `window.kensa` (`KensaApi`): one namespaced object with
 *     one method per call, each invoking its own IPC channel `kensa:<method>`;
 *   - the loopback web host (src-main/host): `POST /api/<method>` with the argument as the
 *     JSON body, events over a WebSocket; same envelopes.
 * Results travel in an envelope (`ApiResult`), so errors keep their code and file across
 * IPC (Electron drops custom error fields) and HTTP alike.
 *
 * Type-level contract plus the method list (a plain array, for the preload and the host to
 * register exactly these). The renderer may only `import type` from here.
 */
import type { KensaErrorCode } from './errors';
import type { LineSettings, LineStatus, RetentionSettings } from './line';

// ---- domain shapes (plain data) ----------------------------------------------------------

export type ImageRole = 'train' | 'inspect';
export type VerdictValue = 'good' | 'defect';
export type JobKind = 'fit' | 'score' | 'refit' | 'compare' | 'learn';

export interface AppInfo {
  version: string;
  /** Reviewer name in use (remembered across runs); null until one is chosen. */
  reviewer: string | null;
  /** Execution provider the engine uses on this machine ('cpu', 'cuda', …), once known. */
  ep: string | null;
  /** Projects opened recently, most recent first. */
  recent: { dir: string; name: string; openedAt: string }[];
  /** Where the renderer runs: inside Electron or in a browser through the loopback host. */
  shell: 'electron' | 'browser';
  /**
   * The better-sqlite3 native build the project database uses: 'node' (CLI, web host, tests),
   * 'electron' (the desktop app's own build), or 'electron (missing: FILE)' when the desktop
   * app has none (run `npm run setup` again with internet access).
   */
  nativeBinding: string;
  /** Backbones this machine can use (found on disk), default first. */
  backbones: { id: string; file: string }[];
  /** The detectors a fit can use, the default (patchcore) first. */
  detectors: DetectorInfo[];
}

export interface DetectorInfo {
  id: string;
  title: string;
  summary: string;
  /** Fitting trains networks (slower: tens of seconds to minutes). */
  trains: boolean;
  /** Reviewed good parts can be added in a refit. */
  canRefit: boolean;
}

/** One reviewed-or-queued part whose flag a learning step would change. */
export interface LearnChange {
  imageId: number;
  path: string;
  before: number;
  after: number;
  /** Its current verdict, when reviewed. */
  verdict: VerdictValue | null;
}

/** Leave-one-out miss rate of the zero-miss rule (services/threshold.ts). */
export interface ExpectedMissInfo {
  looMisses: number;
  defects: number;
  rate: number | null;
  upper95: number;
  method: string;
  reliable: boolean;
  note: string;
}

/** What accepting a learning step would change (services/learning.ts). */
export interface LearnPreview {
  version: number;
  parentVersion: number;
  /** The parent's threshold in force. */
  threshold: number | null;
  /** The learning step's own threshold (zero-miss on its out-of-fold scores, or the parent's carried over) and why. */
  thresholdAfter: number | null;
  thresholdAfterReason: string | null;
  learnedFrom: { defects: number; goods: number; defectsWithRegions: number; defectTypes: string[]; weight: number; verdicts: number };
  flagged: { before: number; after: number };
  /** Flagged by the parent at its threshold, not by the learning step at its own (fewer second looks), lowest new score first. */
  dropped: LearnChange[];
  /** Not flagged by the parent, flagged now. */
  raised: LearnChange[];
  /** On the reviewed parts: the parent's scores vs the learning step's OUT-OF-FOLD scores. */
  reviewed: {
    before: { pg0: number | null; expectedMiss: ExpectedMissInfo | null; parts: number };
    after: { pg0: number | null; expectedMiss: ExpectedMissInfo | null; parts: number; outOfFold: true };
  };
  active: boolean;
}

/** A cross-validated proposal among the project's ready versions (services/learning.ts propose). */
export interface ModelProposal {
  reviewed: number;
  defects: number;
  rows: {
    version: number;
    label: string;
    pg0: number;
    pg0Interval: [number, number];
    auroc: number;
    /** Reviewed defects a threshold set on the other folds would pass, summed over folds. */
    misses: number;
    defects: number;
    missInterval: [number, number];
    goodPassed: number;
    goods: number;
    evaluated: number;
  }[];
  best: number | null;
  reason: string;
  /** Reviewed parts left out because a version learned from them. */
  excluded: number;
  /** Versions that could not take part, and why. */
  skipped: { version: number; why: string }[];
  active: number | null;
}

/** The project's ready model versions compared on its reviewed parts (services/compare.ts). */
export interface ModelComparison {
  reviewed: number;
  defects: number;
  goods: number;
  rows: {
    version: number;
    detector: string;
    kind: 'fit' | 'refit' | 'learn';
    active: boolean;
    /** Reviewed parts this version has scored (the rest need `jobs.compare`). */
    reviewedScored: number;
    defects: number;
    goods: number;
    auroc: number | null;
    /** Good parts passed at the zero-miss threshold of this version's scores. */
    pg0: number | null;
    /** This version's threshold in force (null: none set). */
    threshold: number | null;
    /** Reviewed defects under the threshold (missed), reviewed good parts at or over it. */
    misses: number | null;
    falseAlarms: number | null;
    reviewLoad: { flagged: number; total: number; share: number } | null;
    fitSeconds: number | null;
  }[];
}

export interface ModelSummary {
  version: number;
  parentVersion: number | null;
  kind: 'fit' | 'refit' | 'learn';
  status: 'building' | 'ready' | 'failed';
  backboneId: string;
  /** Detector id: patchcore, padim, student-teacher, autoencoder, fusion. */
  detector: string;
  /** What the detector states about the fitted model ("Memory bank: 12,345 patches"). */
  facts: { key: string; label: string; value: number | string; unit?: string }[];
  fitSeconds: number | null;
  ep: string | null;
  createdAt: string;
  createdBy: string;
  addedImages: number;
  active: boolean;
  /** Electronic signatures of this version's latest activation (the audit event that made it active; what `sign.record` 'activation' signs). */
  signatures: SignatureInfo[];
}

export interface ThresholdInfo {
  /** The threshold row (the record id of its signatures). */
  id: number;
  value: number;
  reason: string;
  setBy: string;
  createdAt: string;
  modelVersion: number | null;
  reviewUpper: number | null;
  /** Electronic signatures of this threshold, oldest first. */
  signatures: SignatureInfo[];
}

export interface ProjectState {
  dir: string;
  name: string;
  counts: { train: number; inspect: number; scored: number; flagged: number; reviewed: number; unscored: number };
  activeModel: ModelSummary | null;
  models: ModelSummary[];
  threshold: ThresholdInfo | null;
  /** Good verdicts on flagged parts not yet in the active model's bank. */
  pendingRefit: number;
  /** Refit automatically once this many are pending (null = only by hand). */
  autoRefitAfter: number | null;
  /** Fixed heatmap colour scale of the active model (raw score units). */
  colourScale: { low: number; high: number } | null;
  /** The job running now, if any. */
  job: JobProgress | null;
}

/** Threshold tuning over the reviewed parts of the active model (services/threshold.ts). */
export interface TuningData {
  threshold: number;
  modelVersion: number | null;
  reviewed: number;
  defects: number;
  goods: number;
  /** TP = defect flagged, FN = defect passed (MISSED), FP = good flagged, TN = good passed. */
  confusion: { tp: number; fn: number; fp: number; tn: number };
  recall: number | null;
  precision: number | null;
  falseAlarmRate: number | null;
  goodPassed: number | null;
  /** Share of ALL scored parts (reviewed or not) flagged at the threshold. */
  reviewLoad: { flagged: number; total: number; share: number | null };
  byDefectType: { defectType: string | null; defects: number; flagged: number; missed: number; recall: number }[];
  /** Curves; the first ROC/PR threshold is null (= +∞, nothing flagged). Null without both classes. */
  roc: { fpr: number[]; tpr: number[]; thresholds: (number | null)[] } | null;
  pr: { precision: number[]; recall: number[]; thresholds: (number | null)[] } | null;
  auroc: number | null;
  /** bins + 1 ascending edges; heights are the counts, or log10(1 + count) when `log`. */
  histogram: {
    edges: number[];
    counts: { good: number[]; defect: number[]; unreviewed: number[] };
    heights: { good: number[]; defect: number[]; unreviewed: number[] };
    log: boolean;
    maxHeight: number;
  };
  zeroMiss:
    | { status: 'no-defects' }
    | {
        status: 'ok';
        raw: number;
        threshold: number;
        /** The configured margin in score units. */
        margin: number;
        /**
         * Half the empty gap between the highest reviewed good part below `raw` and `raw`
         * (0 when no good part scores below it). When larger than `margin` it is what is
         * subtracted (`marginUsed` 'gap'): no reviewed good part changes side.
         */
        freeMargin: number;
        marginUsed: 'margin' | 'gap';
        spread: number | null;
        pg0: number | null;
        pg0Raw: number | null;
        weakestDefectScore: number;
        /** raw − threshold = max(margin, freeMargin). */
        marginToWeakest: number;
        defects: number;
        goods: number;
        fewDefects: boolean;
        minDefects: number;
        /**
         * Expected miss rate on new parts: each reviewed defect left out in turn and checked
         * against the zero-miss threshold of the others (same margin rule); `upper95` is the
         * one-sided 95 % Clopper–Pearson upper bound. `rate` is null with fewer than 2 defects;
         * `reliable` is false below 10 defects, and `note` (shown verbatim) says why.
         */
        expectedMiss: { looMisses: number; defects: number; rate: number | null; upper95: number; method: string; reliable: boolean; note: string };
      };
  /** With a reject threshold: the pass / human review / reject bands. */
  bands: {
    pass: number;
    reject: number;
    passBand: BandCountsData;
    reviewBand: BandCountsData;
    rejectBand: BandCountsData;
    missed: number;
    goodRejected: number;
    reviewShare: number | null;
  } | null;
  history: ThresholdInfo[];
}

export interface BandCountsData {
  total: number;
  good: number;
  defect: number;
  unreviewed: number;
}

export interface ReportExport {
  /** Where the report was written (inside the project's exports/ folder). */
  file: string;
  format: 'pdf' | 'html' | 'csv' | 'json';
  bytes: number;
  parts: number;
  auditOk: boolean;
  /** The file itself (base64) when under 50 MB, so a browser can offer it as a download. */
  dataBase64: string | null;
}

export interface ImportSummary {
  added: number;
  existing: number;
  errors: { path: string; code: string; message: string }[];
}

export type QueueFilter = 'all' | 'unreviewed' | 'flagged' | 'passed' | 'good' | 'defect';

/** Where a queue page ends: the last item's score (null: unscored) and image id. */
export interface QueueCursor {
  score: number | null;
  id: number;
}

/**
 * One page of the review queue. Order: score, highest first, unscored parts last; ties by
 * image id. `next` is the cursor to ask for the following page with (null: that was the
 * last). The order does not depend on verdicts, so paging while verdicts are given repeats
 * no part and skips none that still matches the filter when its page is read.
 */
export interface QueuePage {
  items: QueueEntry[];
  next: QueueCursor | null;
  /** How many parts each filter holds now (the whole queue, not this page). */
  counts: Record<QueueFilter, number>;
}

export interface QueueEntry {
  imageId: number;
  name: string;
  path: string;
  width: number;
  height: number;
  score: number | null;
  flagged: boolean;
  verdict: VerdictValue | null;
  defectType: string | null;
  reviewer: string | null;
  /** Another station's live claim on this part (who is reviewing it now), if any. */
  claim?: ClaimInfo | null;
}

/** A part being reviewed at a station (several stations on one project). */
export interface ClaimInfo {
  imageId: number;
  station: string;
  reviewer: string;
  /** Epoch ms, on the database's clock. */
  expiresAt: number;
  /** True when this station holds it. */
  mine: boolean;
}

/** A project-wide change running at some station (a refit, a threshold change). */
export interface StationLockInfo {
  name: 'refit' | 'threshold';
  station: string;
  holder: string;
  purpose: string;
  acquiredAt: number;
  expiresAt: number;
}

/** Where the project is stored and who else works on it. */
export interface StationsInfo {
  /** This station's name (on its claims and locks). */
  station: string;
  store: { engine: 'sqlite' | 'postgres'; label: string; files: 'project-folder' | 'shared-folder' };
  /** How this station hears of the others' changes: 'notify' (PostgreSQL LISTEN) or 'poll'. */
  feed: 'notify' | 'poll';
  claims: ClaimInfo[];
  locks: StationLockInfo[];
}

/** A change another station (or this one) made, as the change feed reports it. */
export interface StationChange {
  t: string;
  op?: 'insert' | 'update' | 'delete';
  ms?: number;
  image_id?: number;
  station?: string;
  reviewer?: string;
  [key: string]: unknown;
}

export interface VerdictRecord {
  id: number;
  action: 'set' | 'undo';
  verdict: VerdictValue | null;
  defectType: string | null;
  comment: string | null;
  reviewer: string;
  createdAt: string;
  modelVersion: number | null;
  threshold: number | null;
  scoreShown: number | null;
  regions: RegionSetData | null;
}

export interface RegionSetData {
  width: number;
  height: number;
  regions: ({ kind: 'polygon'; points: number[] } | { kind: 'brush'; points: number[]; radius: number })[];
}

export interface PartDetail {
  entry: QueueEntry;
  format: string;
  bytes: number;
  sha256: string;
  modelVersion: number | null;
  threshold: number | null;
  history: VerdictRecord[];
}

export interface ImageData {
  mime: 'image/png' | 'image/jpeg';
  dataBase64: string;
  width: number;
  height: number;
  /** Size of the original image. */
  originalWidth: number;
  originalHeight: number;
}

export interface MapData {
  width: number;
  height: number;
  /** Float32 little-endian raw score values, row-major, base64. */
  valuesBase64: string;
  colourScale: { low: number; high: number };
  modelVersion: number;
}

export interface JobProgress {
  jobId: string;
  kind: JobKind;
  phase: string;
  done: number;
  total: number;
  /** Seconds since the job started, and a remaining-time estimate for the current phase. */
  elapsedSeconds: number;
  etaSeconds: number | null;
}

export type JobEvent =
  | { type: 'progress'; progress: JobProgress }
  | { type: 'done'; jobId: string; kind: JobKind; summary: string; dropped?: number; /** learn: the new version awaiting acceptance */ version?: number }
  | { type: 'failed'; jobId: string; kind: JobKind; error: ApiError };

export type KensaEvent =
  | { topic: 'job'; event: JobEvent }
  | { topic: 'project'; state: ProjectState | null }
  /** Another station (or a CLI on the same project) changed something: refresh what shows it. */
  | { topic: 'station'; change: StationChange };

export interface ApiError {
  code: KensaErrorCode | 'INTERNAL';
  message: string;
  file?: string;
}

export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export interface StorageClassData {
  parts: number;
  bytes: number;
}

/** What the project keeps on disk (services/storage.ts). */
export interface StorageUsageData {
  maps: {
    flagged: StorageClassData;
    reviewed: StorageClassData;
    passed: { full: StorageClassData; preview: StorageClassData; none: { parts: number } };
  };
  bytesPerMap: { full: number | null; preview: number | null };
  images: StorageClassData;
  databaseBytes: number;
  totalBytes: number;
  policy: RetentionSettings;
  dueNow: number;
}

export type RoleName = 'reviewer' | 'approver' | 'administrator';

export interface AccountInfo {
  name: string;
  printedName: string;
  role: RoleName;
  createdAt: string;
  disabled: boolean;
}

/** Accounts of the open project, who is signed in, and the project's sign-in / four-eyes settings. */
export interface AccountsData {
  accounts: AccountInfo[];
  signedIn: AccountInfo | null;
  requireSignIn: boolean;
  fourEyes: boolean;
  /** Good verdicts on flagged parts waiting for a second reviewer (four eyes). */
  awaitingSecond: { imageId: number; name: string; reviewer: string; createdAt: string }[];
}

export interface SignatureInfo {
  id: number;
  recordKind: 'threshold' | 'activation' | 'report';
  recordId: string;
  contentHash: string;
  meaning: 'reviewed' | 'approved' | 'responsible';
  signer: string;
  printedName: string;
  signedAt: string;
  /** Ed25519 over the signed fields verifies under the signer's key. */
  valid: boolean;
}

// ---- the calls ---------------------------------------------------------------------------

export interface ApiMethods {
  'app.info': { args: Record<string, never>; result: AppInfo };
  'app.setReviewer': { args: { name: string }; result: AppInfo };
  /** The native folder dialog (Electron only; in a browser the path is typed). null = cancelled. */
  'app.pickFolder': { args: { title?: string }; result: { path: string | null } };
  /**
   * Shows a file (an export) in the system's file manager. Only paths inside the open
   * project's folder. In a browser nothing opens: `shown` is false and `message` gives the path.
   */
  'app.showInFolder': { args: { path: string }; result: { shown: boolean; path: string; message: string | null } };
  /**
   * Downloads a backbone from the manifest (default: the first downloadable default) into the
   * user models folder, checking its sha256 (backbones are not bundled with the app). Offline,
   * the error says where to put a file fetched elsewhere. Answers the refreshed AppInfo.
   */
  'app.downloadBackbone': { args: { id?: string }; result: AppInfo };

  /** `store`: a postgres:// URL makes a shared project (several stations); default: kensa.db in the folder. */
  'projects.create': { args: { dir: string; name: string; store?: string }; result: ProjectState };
  'projects.open': { args: { dir: string }; result: ProjectState };
  /** Generates the sample project (synthetic parts with synthetic defects) and opens it. */
  'projects.createDemo': { args: { dir?: string }; result: ProjectState };
  'projects.state': { args: Record<string, never>; result: ProjectState | null };
  'projects.close': { args: Record<string, never>; result: null };
  /**
   * Project settings: refit automatically once this many good verdicts are pending (null =
   * never); sign-in required (accounts with roles); four eyes (a second reviewer confirms good
   * verdicts on flagged parts before they feed a refit).
   */
  'projects.updateSettings': { args: { autoRefitAfter?: number | null; requireSignIn?: boolean; fourEyes?: boolean }; result: ProjectState };

  /** Imports files/folders (paths on this machine); per-file errors are listed. */
  'images.import': { args: { paths: string[]; role: ImageRole }; result: ImportSummary };
  /** Imports dropped files sent as bytes (the browser has no paths). */
  'images.upload': { args: { files: { name: string; dataBase64: string }[]; role: ImageRole }; result: ImportSummary };
  'images.get': { args: { imageId: number; maxSide?: number }; result: ImageData };
  /** The part's anomaly map under the active model; null when it has not been scored. */
  'images.map': { args: { imageId: number }; result: MapData | null };
  'images.thumbnail': { args: { imageId: number }; result: ImageData };

  'jobs.fit': { args: { backbone?: string; coresetRatio?: number; detector?: string }; result: { jobId: string } };
  'jobs.score': { args: Record<string, never>; result: { jobId: string } };
  'jobs.refit': { args: Record<string, never>; result: { jobId: string } };
  /** Trains a head on the reviewed parts on top of the active model: a new version that waits for acceptance. */
  'jobs.learn': { args: Record<string, never>; result: { jobId: string } };
  /** Scores the reviewed parts with every ready version that has not scored them (for models.compare). */
  'jobs.compare': { args: Record<string, never>; result: { jobId: string } };
  'jobs.cancel': { args: { jobId: string }; result: null };

  'review.queue': { args: { filter?: QueueFilter; after?: QueueCursor; limit?: number }; result: QueuePage };
  'review.part': { args: { imageId: number }; result: PartDetail };
  'review.verdict': {
    args: { imageId: number; verdict: VerdictValue; defectType?: string | null; comment?: string | null; regions?: RegionSetData | null };
    result: QueueEntry;
  };
  'review.undo': { args: { imageId: number }; result: QueueEntry };
  /** Claims a part for this station while it is open (renew by calling again); `claimed` false: another station has it. */
  'review.claim': { args: { imageId: number }; result: { claimed: boolean; claim: ClaimInfo } };
  'review.release': { args: { imageId: number }; result: null };
  /** This station, the store, the live claims and the project-wide changes running. */
  'stations.status': { args: Record<string, never>; result: StationsInfo };

  'threshold.set': {
    /** `basedOn`: the id of the threshold tuned against (null: none); refused with CONFLICT if another station changed it since. */
    args: { value: number; reason: string; margin?: number | null; marginKind?: 'absolute' | 'spread' | null; reviewUpper?: number | null; basedOn?: number | null };
    result: ProjectState;
  };
  /** Tuning figures at a candidate threshold (default: the one in force); nothing is saved. */
  'threshold.stats': {
    args: { threshold?: number; margin?: { kind: 'absolute' | 'spread'; value: number }; reject?: number | null; log?: boolean; bins?: number };
    result: TuningData;
  };

  /** Writes the audit report (period optional) into exports/ and returns it. */
  'report.export': { args: { format: 'pdf' | 'html' | 'csv' | 'json'; from?: string; to?: string }; result: ReportExport };

  'models.rollback': { args: { version: number; reason: string }; result: ProjectState };
  /** What accepting a learning step would change. */
  'models.learnPreview': { args: { version: number }; result: LearnPreview };
  /** Makes a version active because a person accepted it (audited 'activate', with the reason). */
  'models.accept': { args: { version: number; reason: string }; result: ProjectState };
  /** The version that maximises PG0 on the reviewed parts by cross-validation, with the evidence. */
  'models.propose': { args: Record<string, never>; result: ModelProposal };
  /** Every ready version on the project's reviewed parts: AUROC, PG0, misses at its threshold, review load. */
  'models.compare': { args: Record<string, never>; result: ModelComparison };

  /** Writes the marked defect regions as PNG masks + COCO JSON into a folder inside the project. */
  'regions.export': { args: Record<string, never>; result: { dir: string; masks: number; annotations: number } };

  /** The line: watched folders, results per minute, latency, review backlog, sinks (null: no project open). */
  'line.status': { args: Record<string, never>; result: LineStatus | null };
  /** The project's line settings as they are stored (checked; secrets included: the station's own settings). */
  'line.settings': { args: Record<string, never>; result: LineSettings };
  /** Changes the line settings (audited) and restarts the line with them; `enabled` starts or stops it. */
  'line.configure': { args: { settings: Partial<LineSettings> }; result: LineStatus };

  /** The project's accounts, who is signed in, and what waits for a second review. */
  'accounts.list': { args: Record<string, never>; result: AccountsData };
  /** A new account (administrators; the first account of a project is its administrator). */
  'accounts.create': { args: { name: string; printedName: string; role: RoleName; password: string }; result: AccountsData };
  /** Change an account's role or disable / enable it (administrators). */
  'accounts.update': { args: { name: string; role?: RoleName; disabled?: boolean }; result: AccountsData };
  /** Sign in with a name and a password or PIN; the reviewer name becomes the account's. */
  'accounts.signIn': { args: { name: string; password: string }; result: AccountsData };
  'accounts.signOut': { args: Record<string, never>; result: AccountsData };
  'accounts.changePassword': { args: { name: string; oldPassword: string; newPassword: string }; result: AccountsData };
  /** A second reviewer confirms a good verdict on a flagged part (four eyes). */
  'review.confirm': { args: { imageId: number }; result: QueueEntry };
  /**
   * Signs a record after the password is entered again: a threshold (its id; none: the one in force), a model
   * activation (its audit event, or `version` for the latest activation of that version) or a
   * report (its file in exports/). The signer is the signed-in account, else `name`.
   */
  'sign.record': {
    args: { recordKind: 'threshold' | 'activation' | 'report'; recordId?: string; version?: number; meaning: 'reviewed' | 'approved' | 'responsible'; password: string; name?: string };
    result: SignatureInfo;
  };
  /** The signatures of one record (or of every record when none is named), each checked. */
  'sign.list': { args: { recordKind?: 'threshold' | 'activation' | 'report'; recordId?: string }; result: SignatureInfo[] };

  /** What the project keeps on disk, by kind of part, and the retention policy. */
  'storage.usage': { args: Record<string, never>; result: StorageUsageData };
  /** Changes the retention policy (audited). */
  'storage.configure': { args: { retention: RetentionSettings }; result: StorageUsageData };
  /** Applies the retention policy now. */
  'storage.apply': { args: Record<string, never>; result: { reduced: number; dropped: number; freedBytes: number; failed: { mapFile: string; message: string }[]; usage: StorageUsageData } };
}

export type ApiMethod = keyof ApiMethods;
export type ArgsOf<M extends ApiMethod> = ApiMethods[M]['args'];
export type ResultOf<M extends ApiMethod> = ApiMethods[M]['result'];

/** Every call, for the preload and the host to expose exactly these. */
export const API_METHODS = [
  'app.info',
  'app.setReviewer',
  'app.pickFolder',
  'app.showInFolder',
  'app.downloadBackbone',
  'projects.create',
  'projects.open',
  'projects.createDemo',
  'projects.state',
  'projects.close',
  'projects.updateSettings',
  'images.import',
  'images.upload',
  'images.get',
  'images.map',
  'images.thumbnail',
  'jobs.fit',
  'jobs.score',
  'jobs.refit',
  'jobs.learn',
  'jobs.compare',
  'jobs.cancel',
  'review.queue',
  'review.part',
  'review.verdict',
  'review.undo',
  'review.claim',
  'review.release',
  'stations.status',
  'threshold.set',
  'threshold.stats',
  'report.export',
  'models.rollback',
  'models.learnPreview',
  'models.accept',
  'models.propose',
  'models.compare',
  'regions.export',
  'line.status',
  'line.settings',
  'line.configure',
  'storage.usage',
  'storage.configure',
  'storage.apply',
  'accounts.list',
  'accounts.create',
  'accounts.update',
  'accounts.signIn',
  'accounts.signOut',
  'accounts.changePassword',
  'review.confirm',
  'sign.record',
  'sign.list',
] as const satisfies readonly ApiMethod[];

// Compile-time check that the list is complete.
type Missing = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
const complete: Missing extends never ? true : Missing = true;
void complete;

type Namespace<M extends string> = M extends `${infer N}.${string}` ? N : never;
type Name<M extends string> = M extends `${string}.${infer K}` ? K : never;

/** `window.kensa`: one namespaced object, one method per call, plus events. */
export type KensaApi = {
  readonly version: string;
  /** Subscribes to main-side events; returns the unsubscribe function. */
  onEvent(listener: (e: KensaEvent) => void): () => void;
  /** Electron only: the real path of a dropped `File` (webUtils.getPathForFile); '' when it has none. */
  pathForFile?(file: File): string;
} & {
  readonly [N in Namespace<ApiMethod>]: {
    readonly [M in ApiMethod as Namespace<M> extends N ? Name<M> : never]: (args: ArgsOf<M>) => Promise<ApiResult<ResultOf<M>>>;
  };
};

export const IPC_CALL_PREFIX = 'kensa:';
export const IPC_EVENT_CHANNEL = 'kensa:event';
