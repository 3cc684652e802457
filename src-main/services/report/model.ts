/**
 * The report's data model: what an audit report holds, as plain data. It is the single source
 * of every format (HTML, PDF, CSV, JSON) and, as canonical JSON, what a report signature
 * covers (../report-signing.ts). Built from the store by ./build.ts.
 */
import type { Signature } from '../../store/index';
import type { Confusion, DefectTypeRecall, Histogram, ReviewLoad, ZeroMissResult } from '../threshold';

export const REPORT_FORMAT = 'kensa-audit-report';
/** 2: `population` (every scored part by disposition) added. 3: `signatures` added. */
export const REPORT_FORMAT_VERSION = 3;
/** Thumbnails (flagged and missed parts) at most, by default. */
export const DEFAULT_THUMBNAILS = 60;

export type Outcome = 'TP' | 'FN' | 'FP' | 'TN';

export interface ReportOptions {
  /** ISO date (YYYY-MM-DD, from the start of that day, UTC) or timestamp: verdicts given at or after it. */
  from?: string;
  /** ISO date (to the END of that day, UTC) or timestamp (inclusive): the moment the report looks from. */
  to?: string;
  /** The Kensa version that makes the report (printed on every page). */
  kensaVersion: string;
  /** When the report was made (printed; an input so the output is reproducible). Default: now. */
  generatedAt?: string;
  /** Thumbnails of flagged and missed parts at most (default 60; 0 = none). */
  maxThumbnails?: number;
  /** PDF printer for the HTML (Electron's printToPDF in the app); default: headless Chromium. */
  printPdf?: (html: string) => Promise<Uint8Array>;
}

export interface ReportThreshold {
  id: number;
  modelVersion: number | null;
  value: number;
  margin: number | null;
  marginKind: 'absolute' | 'spread' | null;
  /** Upper threshold of a pass / review / reject band. */
  reviewUpper: number | null;
  setBy: string;
  reason: string;
  createdAt: string;
}

export interface ReportModelVersion {
  version: number;
  kind: 'fit' | 'refit' | 'learn';
  parentVersion: number | null;
  status: 'building' | 'ready' | 'failed';
  backboneId: string;
  backboneSha256: string;
  modelFile: string | null;
  modelSha256: string | null;
  /** The model file on disk now against the checksum recorded when it was made. */
  fileCheck: 'ok' | 'missing' | 'mismatch' | 'no-file';
  detector: string;
  /** The detector's facts, one line ("Memory bank 12345 patches"). */
  facts: string;
  createdAt: string;
  createdBy: string;
  /** The version the report's figures use (active at the end of the period). */
  inForce: boolean;
  /** Verdicts in the report given while this version was active. */
  verdicts: number;
}

export interface ReportMetrics {
  modelVersion: number;
  threshold: number;
  /** Reviewed parts in the period that have a score under `modelVersion` (the figures are over these). */
  parts: number;
  /** Reviewed parts in the period without a score under `modelVersion` (left out of the figures). */
  unscored: number;
  defects: number;
  goods: number;
  confusion: Confusion;
  recall: number | null;
  precision: number | null;
  /** Share of good parts passed at the threshold in force (PG0 when no defect is missed); null without good parts. */
  pg0: number | null;
  falseAlarmRate: number | null;
  auroc: number | null;
  /** Over every part scored by `modelVersion` (reviewed in the period or not). */
  reviewLoad: ReviewLoad;
  byDefectType: DefectTypeRecall[];
  /** The zero-miss threshold on these parts, with the margin of the threshold in force. */
  zeroMiss: ZeroMissResult;
  histogram: Histogram;
}

/** How the parts scored by the model in force ended up: reviewed in the period (by outcome) or not. */
export type Disposition = 'defect-flagged' | 'defect-missed' | 'good-flagged' | 'good-passed' | 'unreviewed-flagged' | 'unreviewed-passed';

export const DISPOSITIONS: readonly Disposition[] = ['defect-flagged', 'defect-missed', 'good-flagged', 'good-passed', 'unreviewed-flagged', 'unreviewed-passed'];

export interface ReportDisposition {
  disposition: Disposition;
  parts: number;
  /** parts / every scored part; null when nothing is scored. */
  share: number | null;
  /** Score distribution of these parts (type-7 quantiles); null when there are none. */
  scores: { min: number; p05: number; median: number; p95: number; max: number } | null;
}

/**
 * Every part scored by the model in force, counted by disposition with its score
 * distribution: the report lists each REVIEWED part, and summarises the rest here (a line
 * may hold 100,000 parts, nearly all passed without review).
 */
export interface ReportPopulation {
  modelVersion: number;
  threshold: number;
  /** Parts with a score under `modelVersion` (= reviewLoad.total). */
  scored: number;
  /** Inspect parts without a score under `modelVersion`. */
  unscored: number;
  rows: ReportDisposition[];
}

export interface ReportPart {
  imageId: number;
  path: string;
  sha256: string;
  verdict: 'good' | 'defect';
  defectType: string | null;
  comment: string | null;
  reviewer: string;
  reviewedAt: string;
  verdictId: number;
  /** 'undo': the verdict was restored by undoing a later one. */
  action: 'set' | 'undo';
  /** What the reviewer saw: model version, score and threshold at the time of the verdict. */
  modelVersion: number | null;
  scoreAtReview: number | null;
  thresholdAtReview: number | null;
  flaggedAtReview: boolean | null;
  /** Score under the report's model, and the outcome at the threshold in force (null: not scored). */
  score: number | null;
  outcome: Outcome | null;
}

export interface ReportThumbnail {
  imageId: number;
  path: string;
  outcome: 'TP' | 'FN' | 'FP';
  verdict: 'good' | 'defect';
  defectType: string | null;
  score: number;
  /** JPEG data URL (part with the heatmap laid over it); null when it could not be made (see note). */
  dataUrl: string | null;
  width: number;
  height: number;
  /** Why there is no image / no heatmap; null when all is well. */
  note: string | null;
}

export interface ReportAudit {
  ok: boolean;
  events: number;
  headSeq: number | null;
  headHash: string | null;
  /** The first problem found (null when the chain verifies). */
  problem: string | null;
  /** The last event at or before the end of the period (= the head without `to`). */
  periodEnd: { seq: number; hash: string; at: string } | null;
}

/**
 * An electronic signature of a record the report rests on (21 CFR Part 11 style: printed
 * name, date and time, meaning), with everything needed to check it again offline.
 */
export interface ReportSignature extends Signature {
  /** The record in words: "threshold #3: 1.2345 (model v1)", "activation of v2 (rollback, audit event 41)". */
  record: string;
  /** The Ed25519 signature verifies over its fields and covers the record as it stands (its content hash, see ../accounts.ts). */
  valid: boolean;
  /** Why it does not verify (null when it does). */
  problem: string | null;
}

export interface ReportModel {
  format: typeof REPORT_FORMAT;
  formatVersion: number;
  kensaVersion: string;
  generatedAt: string;
  period: {
    from: string | null;
    to: string | null;
    /** Verdicts given at or after this instant (inclusive)... */
    start: string | null;
    /** ...and before this one (exclusive). */
    end: string | null;
  };
  project: { name: string; folder: string; createdAt: string };
  /** Versions used in the period (by the verdicts, and the one in force), oldest first. */
  models: ReportModelVersion[];
  /** The version the figures use: active at the end of the period. */
  modelInForce: number | null;
  threshold: { inForce: ReportThreshold | null; history: ReportThreshold[] };
  metrics: ReportMetrics | null;
  /** Every scored part by disposition (null when there are no figures). */
  population: ReportPopulation | null;
  parts: ReportPart[];
  thumbnails: { limit: number; eligible: number; items: ReportThumbnail[] };
  audit: ReportAudit;
  /**
   * The electronic signatures of the threshold in force, then of the activation of the model in
   * force (each by signature id), made before the end of the period. A report's own signatures
   * cannot be in its data (they sign it): a signed rendition carries them beside the data.
   */
  signatures: ReportSignature[];
  /** Things the reader must know (unscored parts, missing files, capped thumbnails...), in a fixed order. */
  notes: string[];
}
