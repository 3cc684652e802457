/**
 * Images known to the project (training images and parts to inspect) and the errors met
 * while importing them. An image is identified by its content (sha256) and role: importing
 * the same file again, or a copy of it under another name, is a no-op that returns the
 * existing id. Paths are stored as given (the import service makes them relative to the
 * project folder when the file lies inside it).
 */
import { appendAudit } from './audit';
import { integer, invalid, nowIso, oneOf, personName, sha256, text } from './checks';
import { cached, writeTx, type Db } from './db';

export const IMAGE_ROLES = ['train', 'inspect'] as const;
export type ImageRole = (typeof IMAGE_ROLES)[number];

export interface NewImage {
  path: string;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
  format: string;
  role: ImageRole;
}

export interface ImageRecord extends NewImage {
  id: number;
  importedAt: string;
  importBatch: string;
}

export interface ImageRow {
  id: number;
  path: string;
  sha256: string;
  bytes: number;
  width: number;
  height: number;
  format: string;
  role: ImageRole;
  imported_at: string;
  import_batch: string;
}

export function mapImage(r: ImageRow): ImageRecord {
  return {
    id: r.id,
    path: r.path,
    sha256: r.sha256,
    bytes: r.bytes,
    width: r.width,
    height: r.height,
    format: r.format,
    role: r.role,
    importedAt: r.imported_at,
    importBatch: r.import_batch,
  };
}

export interface AddImagesResult {
  added: number;
  existing: number;
  /** The image id of each input row, in input order (new or already known). */
  ids: number[];
}

/**
 * Adds a batch of images in one transaction (all or nothing); rows whose (sha256, role) is
 * already known are counted as `existing`. When anything was added, one 'import' audit
 * event records the batch and the new ids.
 */
export function addImages(db: Db, batch: string, rows: readonly NewImage[], actor = 'kensa'): AddImagesResult {
  const importBatch = text(batch, 'import batch', 200);
  const who = personName(actor, 'actor');
  const clean = rows.map((r, i) => validateImage(r, `images[${i}]`));
  return writeTx(db, () => {
    const at = nowIso();
    const insert = db.prepare(
      `INSERT INTO images (path, sha256, bytes, width, height, format, role, imported_at, import_batch)
       VALUES (@path, @sha256, @bytes, @width, @height, @format, @role, @at, @batch)
       ON CONFLICT (sha256, role) DO NOTHING RETURNING id`,
    );
    const find = db.prepare('SELECT id FROM images WHERE sha256 = ? AND role = ?').pluck();
    const ids: number[] = [];
    const addedIds: number[] = [];
    for (const r of clean) {
      const got = insert.get({ ...r, at, batch: importBatch }) as { id: number } | undefined;
      if (got) {
        ids.push(got.id);
        addedIds.push(got.id);
      } else {
        ids.push(find.get(r.sha256, r.role) as number);
      }
    }
    const result = { added: addedIds.length, existing: clean.length - addedIds.length, ids };
    if (addedIds.length > 0) {
      appendAudit(db, {
        actor: who,
        kind: 'import',
        entity: 'import_batch',
        entityId: importBatch,
        payload: { import_batch: importBatch, added: result.added, existing: result.existing, added_ids: addedIds },
        at,
      });
    }
    return result;
  });
}

function validateImage(r: NewImage, where: string): NewImage {
  if (r === null || typeof r !== 'object') throw invalid(`${where} must be an object`);
  return {
    path: text(r.path, `${where}.path`, 4096),
    sha256: sha256(r.sha256, `${where}.sha256`),
    bytes: integer(r.bytes, `${where}.bytes`, 0),
    width: integer(r.width, `${where}.width`, 1),
    height: integer(r.height, `${where}.height`, 1),
    format: text(r.format, `${where}.format`, 50),
    role: oneOf(r.role, IMAGE_ROLES, `${where}.role`),
  };
}

export interface ImportErrorInput {
  path: string;
  code: string;
  message: string;
}

export interface ImportErrorRecord extends ImportErrorInput {
  id: number;
  importBatch: string;
  at: string;
}

export interface ImportErrorRow {
  id: number;
  import_batch: string;
  path: string;
  code: string;
  message: string;
  at: string;
}

export function mapImportError(r: ImportErrorRow): ImportErrorRecord {
  return { id: r.id, importBatch: r.import_batch, path: r.path, code: r.code, message: r.message, at: r.at };
}

/** Records the files of a batch that could not be imported (not audited). Returns how many. */
export function recordImportErrors(db: Db, batch: string, errors: readonly ImportErrorInput[]): number {
  const importBatch = text(batch, 'import batch', 200);
  const clean = errors.map((e, i) => ({
    path: text(e.path, `errors[${i}].path`, 4096),
    code: text(e.code, `errors[${i}].code`, 100),
    message: text(e.message, `errors[${i}].message`),
  }));
  return writeTx(db, () => {
    const at = nowIso();
    const insert = db.prepare('INSERT INTO import_errors (import_batch, path, code, message, at) VALUES (?, ?, ?, ?, ?)');
    for (const e of clean) insert.run(importBatch, e.path, e.code, e.message, at);
    return clean.length;
  });
}

export function listImportErrors(db: Db, batch?: string): ImportErrorRecord[] {
  const rows =
    batch === undefined
      ? db.prepare('SELECT * FROM import_errors ORDER BY id').all()
      : db.prepare('SELECT * FROM import_errors WHERE import_batch = ? ORDER BY id').all(batch);
  return (rows as ImportErrorRow[]).map(mapImportError);
}

export interface ListImagesOptions {
  role?: ImageRole;
  batch?: string;
  /** Only ids greater than this (keyset paging). */
  afterId?: number;
  limit?: number;
}

/** Images in id (import) order. */
export function listImages(db: Db, opts: ListImagesOptions = {}): ImageRecord[] {
  const where: string[] = ['id > @afterId'];
  const params: Record<string, unknown> = { afterId: opts.afterId ?? 0, limit: opts.limit ?? -1 };
  if (opts.role !== undefined) {
    where.push('role = @role');
    params.role = oneOf(opts.role, IMAGE_ROLES, 'role');
  }
  if (opts.batch !== undefined) {
    where.push('import_batch = @batch');
    params.batch = opts.batch;
  }
  const rows = db.prepare(`SELECT * FROM images WHERE ${where.join(' AND ')} ORDER BY id LIMIT @limit`).all(params) as ImageRow[];
  return rows.map(mapImage);
}

export function countImages(db: Db, role?: ImageRole): number {
  const stmt = role === undefined ? db.prepare('SELECT count(*) FROM images') : db.prepare('SELECT count(*) FROM images WHERE role = ?');
  return (role === undefined ? stmt.pluck().get() : stmt.pluck().get(role)) as number;
}

export function getImage(db: Db, id: number): ImageRecord | null {
  const row = cached(db, 'SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
  return row ? mapImage(row) : null;
}

export function findImageBySha256(db: Db, sha: string, role: ImageRole): ImageRecord | null {
  const row = db.prepare('SELECT * FROM images WHERE sha256 = ? AND role = ?').get(sha, role) as ImageRow | undefined;
  return row ? mapImage(row) : null;
}
