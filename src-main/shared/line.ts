/**
 * The line's data as the API, the renderer, the store and the sinks see it: a result as it
 * goes back to the line, the per-project line settings (watched folders, outputs) and the
 * retention policy. Plain types and defaults only (the renderer imports these as types).
 */

/** What the line does with a part: pass it, send it to a person, or reject it. */
export type Disposition = 'pass' | 'review' | 'reject';

/** One result as it goes out to the line. Plain JSON; every sink writes these fields. */
export interface LineResult {
  /** The outbox sequence number (per project, strictly increasing, gap-free per sink). */
  seq: number;
  /** 'scored': the first result of a part; 'verdict': a reviewer's verdict changed it. */
  event: 'scored' | 'verdict';
  /** The station (workstation) name that published it. */
  station: string;
  /** The part's id in the project (images.id). */
  partId: number;
  /** The file name the part arrived under (no folder). */
  file: string;
  /** Where the project keeps the image, relative to the project folder. */
  storedPath: string;
  sha256: string;
  /** Raw image score of the model version below (never normalised). */
  score: number;
  disposition: Disposition;
  /** The reviewer's current verdict, when there is one. */
  verdict: 'good' | 'defect' | null;
  reviewer: string | null;
  modelVersion: number;
  detector: string;
  /** The threshold in force when the part was scored (or when the verdict was given). */
  threshold: number | null;
  /** Upper end of the review band (at or over it: reject), when the project has one. */
  reviewUpper: number | null;
  /** When the part was scored (ISO 8601, UTC). */
  scoredAt: string;
  /** When this event happened (ISO 8601, UTC): scoredAt for 'scored', the verdict time for 'verdict'. */
  at: string;
  /** 'scored' only: milliseconds from the file being complete in the watched folder to the result in the database. */
  latencyMs: number | null;
}

/** The columns of the CSV log and the order of LineResult fields in flat outputs. */
export const LINE_RESULT_FIELDS = [
  'seq',
  'event',
  'station',
  'partId',
  'file',
  'storedPath',
  'sha256',
  'score',
  'disposition',
  'verdict',
  'reviewer',
  'modelVersion',
  'detector',
  'threshold',
  'reviewUpper',
  'scoredAt',
  'at',
  'latencyMs',
] as const satisfies readonly (keyof LineResult)[];

export interface SinkStatus {
  name: SinkName;
  /** True when the sink can deliver now (file writable, broker connected, server listening). */
  ready: boolean;
  /** The last delivery error (cleared by the next delivery), or null. */
  lastError: string | null;
  /** Where it goes, for the UI (a file, a URL, an endpoint). */
  target: string;
}

export type SinkName = 'json' | 'csv' | 'mqtt' | 'opcua';

/** Per-project output settings (all off by default). Paths are absolute or relative to the project folder. */
export interface LineOutputSettings {
  /** A JSON result file per part: 'beside' the stored image (<image>.result.json) or in a folder the line reads. */
  json: { enabled: boolean; mode: 'beside' | 'folder'; dir: string | null };
  /** An append-only CSV log (one row per result; a header when the file is new). */
  csv: { enabled: boolean; file: string };
  /** MQTT 3.1.1/5 publish, QoS 1; retained last result per station when `retain`. Topic may contain {station} and {event}. */
  mqtt: { enabled: boolean; url: string; topic: string; retain: boolean; username: string | null; password: string | null; clientId: string | null };
  /** An OPC UA server exposing the last result per station. Binds 127.0.0.1 unless host says otherwise. */
  opcua: { enabled: boolean; host: string; port: number };
}

export const DEFAULT_LINE_OUTPUTS: LineOutputSettings = {
  json: { enabled: false, mode: 'beside', dir: null },
  csv: { enabled: false, file: 'line/results.csv' },
  mqtt: { enabled: false, url: 'mqtt://127.0.0.1:1883', topic: 'kensa/{station}/result', retain: true, username: null, password: null, clientId: null },
  opcua: { enabled: false, host: '127.0.0.1', port: 4840 },
};

/** How a watched folder decides that a file is complete. */
export type CompletionRule =
  /** The size and modification time have not changed for `stableMs` (a camera writing in place). */
  | 'stable'
  /** Files are written under a temporary name and renamed when complete: names ending in .part/.tmp/.partial or starting with '.' or '~' are ignored, anything else is complete when it appears. */
  | 'rename';

export interface WatchedFolder {
  /** Absolute, or relative to the project folder. */
  path: string;
  completion: CompletionRule;
  /** 'stable' only: how long size and mtime must stay unchanged (ms). */
  stableMs: number;
}

/**
 * What scores the line's parts: the local engine (a worker thread on this machine) or any
 * Open Inference Protocol endpoint (Kensa's own `kensa serve`, a Triton or KServe URL serving
 * an export of one of this project's model versions). The result records which.
 */
export type LineScorer = { kind: 'local' } | { kind: 'oip'; url: string; model: string; token: string | null };

export interface LineSettings {
  /** This station's name in every result (default: the host name). */
  station: string;
  /** Watching starts when enabled and a model is active. */
  enabled: boolean;
  folders: WatchedFolder[];
  /** Bad files go here with a .error.json beside them (absolute, or relative to the project folder). */
  quarantineDir: string;
  /** Back-pressure: at most this many claimed parts wait for the scorer; the rest stay in the watched folder. */
  maxInFlight: number;
  outputs: LineOutputSettings;
  scorer: LineScorer;
}

export const DEFAULT_LINE_SETTINGS: LineSettings = {
  station: 'station-1',
  enabled: false,
  folders: [],
  quarantineDir: 'line/quarantine',
  maxInFlight: 32,
  outputs: DEFAULT_LINE_OUTPUTS,
  scorer: { kind: 'local' },
};

/**
 * What the project keeps of each scored part's anomaly map. Maps of flagged parts and of
 * reviewed parts are always kept whole (a verdict and an audit report need them); the
 * policy only touches parts that PASSED and were never reviewed.
 */
export interface RetentionSettings {
  /** After this many days a passed part's map is reduced (null: never by age). */
  passedMapDays: number | null;
  /** What "reduced" means: a small preview map (64 px, 8-bit) or no map at all. */
  passedMapAction: 'downsample' | 'drop';
  /** When maps take more than this (MB), the oldest passed parts' maps are reduced first, whatever their age (null: no budget). */
  budgetMb: number | null;
}

export const DEFAULT_RETENTION: RetentionSettings = { passedMapDays: null, passedMapAction: 'downsample', budgetMb: null };

// ---- what the line view shows (API 'line.status') ------------------------------------------

export interface LineWindowStats {
  /** Parts with a result in the window, by current disposition. */
  pass: number;
  review: number;
  reject: number;
  /** Results per minute over the window. */
  partsPerMinute: number;
  /** Latency from file complete to result committed, over the window (ms). */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  /** Parts flagged for review in the window that are still unreviewed now. */
  reviewBacklog: number;
  /** Verdicts given on line parts in the window, per minute. */
  reviewedPerMinute: number;
  /** Flagged results per minute in the window. */
  flaggedPerMinute: number;
}

export interface FolderStatus {
  path: string;
  /** Absolute path watched. */
  abs: string;
  ok: boolean;
  /** Why it is not ok (missing, not a folder, no permission). */
  message: string | null;
  /** Complete files waiting to be claimed (back-pressure) and files still being written. */
  waiting: number;
  writing: number;
}

export interface SinkState extends SinkStatus {
  /** The last seq delivered, and how many results wait for this sink. */
  cursor: number;
  pending: number;
  delivered: number;
}

export type LineState = 'off' | 'starting' | 'running' | 'waiting-for-model' | 'stopping' | 'failed';

export interface LineStatus {
  state: LineState;
  message: string | null;
  station: string;
  modelVersion: number | null;
  /** 'local', or the inference endpoint's URL and model name. */
  scorer: string;
  folders: FolderStatus[];
  /** Parts claimed and not yet scored, and the limit. */
  inFlight: number;
  maxInFlight: number;
  /** True while parts wait in a watched folder because maxInFlight are in flight. */
  backPressure: boolean;
  totals: { parts: number; pass: number; review: number; reject: number; unscored: number; backlog: number };
  /** The last minute and the last 10 minutes. */
  lastMinute: LineWindowStats;
  last10Minutes: LineWindowStats;
  sinks: SinkState[];
  quarantined: { file: string; code: string; message: string; at: string }[];
  /** Set when the review backlog grows faster than it is worked off. */
  alert: string | null;
}
