/**
 * Images and import errors (src-main/store/images.ts): adding is idempotent on (sha256, role)
 * and returns each input's id, a batch is all or nothing, one 'import' audit event per batch
 * that added something, listing by role / batch / page, and import errors per batch.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  addImages,
  closeProjectDb,
  countImages,
  findImageBySha256,
  getImage,
  listAudit,
  listImages,
  listImportErrors,
  recordImportErrors,
  type Db,
} from '../../src-main/store/index';
import { newImages, newProject, tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;
beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = newProject(t.dir).db;
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

describe('addImages', () => {
  it('adds new images, returns every input id, and is idempotent on sha256 + role', () => {
    const train = newImages(3, 'train');
    const first = addImages(db, 'b1', train, 'alice');
    expect(first).toMatchObject({ added: 3, existing: 0 });
    expect(first.ids).toHaveLength(3);

    // the same content again (even under another path), plus one new, plus a duplicate inside the batch
    const again = addImages(db, 'b2', [{ ...train[0], path: 'elsewhere/copy.png' }, ...newImages(1, 'train', 'new'), train[1]], 'bob');
    expect(again.added).toBe(1);
    expect(again.existing).toBe(2);
    expect(again.ids[0]).toBe(first.ids[0]);
    expect(again.ids[2]).toBe(first.ids[1]);
    expect(getImage(db, first.ids[0])?.path).toBe('train/img-0.png'); // the first import wins

    // the same content as an inspection image is a different row
    const asInspect = addImages(db, 'b3', [{ ...train[0], role: 'inspect' }]);
    expect(asInspect.added).toBe(1);
    expect(asInspect.ids[0]).not.toBe(first.ids[0]);

    expect(countImages(db)).toBe(5);
    expect(countImages(db, 'train')).toBe(4);
    expect(findImageBySha256(db, train[0].sha256, 'inspect')?.id).toBe(asInspect.ids[0]);

    const events = listAudit(db, { kind: 'import' });
    expect(events.map((e) => [e.entityId, e.actor])).toEqual([
      ['b1', 'alice'],
      ['b2', 'bob'],
      ['b3', 'kensa'],
    ]);
    expect(events[1].payload).toEqual({ import_batch: 'b2', added: 1, existing: 2, added_ids: [again.ids[1]] });
    // nothing new: no event
    addImages(db, 'b4', train);
    expect(listAudit(db, { kind: 'import' })).toHaveLength(3);
  });

  it('validates every row and adds nothing when one is bad', () => {
    const rows = newImages(3);
    for (const bad of [{ sha256: 'ABC' }, { width: 0 }, { role: 'test' }, { path: '' }, { bytes: -1 }]) {
      const batch = [rows[0], { ...rows[1], ...bad } as (typeof rows)[number], rows[2]];
      expect(() => addImages(db, 'bad', batch)).toThrow(KensaError);
    }
    expect(countImages(db)).toBe(0);
  });

  it('maps rows to camelCase records', () => {
    const [id] = addImages(db, 'b1', newImages(1)).ids;
    const img = getImage(db, id);
    expect(img).toMatchObject({ id, path: 'inspect/img-0.png', bytes: 1000, width: 64, height: 48, format: 'png', role: 'inspect', importBatch: 'b1' });
    expect(img?.importedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(getImage(db, 12345)).toBeNull();
  });
});

describe('listImages', () => {
  it('filters by role and batch and pages by id', () => {
    addImages(db, 'b1', newImages(5, 'train'));
    addImages(db, 'b2', newImages(7, 'inspect'));
    expect(listImages(db)).toHaveLength(12);
    expect(listImages(db, { role: 'train' }).every((i) => i.role === 'train')).toBe(true);
    expect(listImages(db, { batch: 'b2' })).toHaveLength(7);
    const page1 = listImages(db, { role: 'inspect', limit: 4 });
    const page2 = listImages(db, { role: 'inspect', afterId: page1[3].id, limit: 4 });
    expect(page1).toHaveLength(4);
    expect(page2).toHaveLength(3);
    expect(new Set([...page1, ...page2].map((i) => i.id)).size).toBe(7);
  });
});

describe('import errors', () => {
  it('records and lists errors per batch', () => {
    expect(recordImportErrors(db, 'b1', [{ path: 'a.png', code: 'IMAGE_CORRUPT', message: 'a.png: truncated PNG' }])).toBe(1);
    recordImportErrors(db, 'b2', [
      { path: 'b.tif', code: 'IMAGE_UNSUPPORTED_FORMAT', message: 'b.tif: 32-bit float TIFF' },
      { path: 'c.png', code: 'IMAGE_EMPTY', message: 'c.png: 0 bytes' },
    ]);
    expect(listImportErrors(db)).toHaveLength(3);
    expect(listImportErrors(db, 'b2').map((e) => e.code)).toEqual(['IMAGE_UNSUPPORTED_FORMAT', 'IMAGE_EMPTY']);
    expect(listImportErrors(db, 'b1')[0]).toMatchObject({ importBatch: 'b1', path: 'a.png', message: 'a.png: truncated PNG' });
  });
});
