/**
 * The project store's public API: the connection (openProjectDb / closeProjectDb), the
 * migrations, the audit hash chain and the repositories (plain functions taking the Db).
 * Services import from here, not from the individual files.
 */
export { openProjectDb, closeProjectDb, writeTx, readTx, toStoreError, BUSY_TIMEOUT_MS, type Db, type OpenOptions } from './db';
export { MIGRATIONS, LATEST_VERSION, runMigrations, userVersion, type Migration } from './migrations/index';
export { canonicalJson, sha256Hex, type JsonValue } from './json';
export { backupDb, listBackups, backupsDir, KEEP_BACKUPS } from './backup';
export {
  appendAudit,
  verifyAudit,
  assertAuditOk,
  listAudit,
  auditHead,
  auditHash,
  rowDigest,
  GENESIS_HASH,
  type AuditKind,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventRow,
  type AuditProblem,
  type AuditVerification,
  type ListAuditOptions,
} from './audit';
export {
  initProject,
  getProject,
  requireProject,
  updateSettings,
  DEFAULT_SETTINGS,
  type Project,
  type ProjectRow,
  type ProjectSettings,
} from './project';
export { touchReviewer, listReviewers, type Reviewer, type ReviewerRow } from './reviewers';
export {
  addImages,
  recordImportErrors,
  listImportErrors,
  listImages,
  countImages,
  getImage,
  findImageBySha256,
  IMAGE_ROLES,
  type ImageRole,
  type NewImage,
  type ImageRecord,
  type ImageRow,
  type AddImagesResult,
  type ImportErrorInput,
  type ImportErrorRecord,
  type ListImagesOptions,
} from './images';
export {
  beginModel,
  completeModel,
  failModel,
  rollbackModel,
  listModels,
  getModel,
  getActiveModel,
  modelLineage,
  type ModelKind,
  type ModelStatus,
  type NewModel,
  type ModelCompletion,
  type ModelRecord,
  type ModelRow,
} from './models';
export { putScores, scoresFor, getScore, type NewScore, type ScoreRecord, type ScoreRow } from './scores';
export {
  recordVerdict,
  recordVerdicts,
  undoVerdict,
  currentVerdicts,
  currentVerdict,
  verdictHistory,
  goodVerdictsSince,
  type VerdictValue,
  type VerdictAction,
  type NewVerdict,
  type Verdict,
  type VerdictRow,
} from './verdicts';
export {
  queuePage,
  queueAll,
  queueRow,
  queueCounts,
  QUEUE_FILTERS,
  QUEUE_PAGE_DEFAULT,
  QUEUE_PAGE_MAX,
  type QueueFilterName,
  type QueueRow,
  type QueueCursor,
  type QueueScope,
  type QueuePageOptions,
  type QueueCounts,
} from './queue';
export {
  setThreshold,
  currentThreshold,
  thresholdHistory,
  type MarginKind,
  type NewThreshold,
  type Threshold,
  type ThresholdRow,
} from './thresholds';
export {
  addLinePart,
  commitLineResult,
  unscoredLineParts,
  outboxAfter,
  lastOutboxSeq,
  sinkCursor,
  advanceSinkCursor,
  startSinkAtEnd,
  lineWindowStats,
  lineTotals,
  disposition,
  type NewLinePart,
  type LineResultInput,
} from './line';
export {
  createAccount,
  authenticate,
  changePassword,
  updateAccount,
  getAccount,
  listAccounts,
  countActiveAccounts,
  checkPassword,
  ROLES,
  type Role,
  type Account,
  type NewAccount,
} from './accounts';
export {
  signRecord,
  signaturesFor,
  listSignatures,
  signatureValid,
  signedPayload,
  confirmVerdict,
  confirmedVerdictIds,
  awaitingSecondReview,
  RECORD_KINDS,
  MEANINGS,
  type RecordKind,
  type Meaning,
  type Signature,
  type SignRequest,
  type Confirmation,
} from './signatures';
