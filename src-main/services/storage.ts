/**
 * What a project keeps on disk and what it costs, and the retention policy for anomaly maps
 * (shared/line.ts RetentionSettings).
 *
 * A line at one part a second makes 86,000 maps a day. The policy only ever touches maps of
 * parts that PASSED (score under the threshold in force for their model version) and were
 * never reviewed: after `passedMapDays`, or oldest first while maps take more than
 * `budgetMb`, such a map is reduced to a preview (8-bit, ≤ 64 px: the heatmap still shows
 * where the part was warm) or dropped. Maps of flagged parts and of reviewed parts are never
 * touched, so a verdict, a region drawn on a heatmap and the audit report always have theirs.
 * Scores, images, verdicts and the audit trail are never touched by the policy.
 *
 * Each reduction is one map file rewritten atomically (or removed) and its scores row updated
 * (map_kept, map_bytes); a crash between the two leaves a file whose size no longer matches
 * map_bytes, which the next usage() pass re-measures.
 */
import { stat, unlink } from 'node:fs/promises';
import { encodeMapPreview, readMapPng } from '../engine/imaging/mapfile';
import { writeFileAtomic } from '../engine/model-file';
import type { RetentionSettings } from '../shared/line';
import { databaseBytes, readTx, type Db } from '../store/index';
import { mapScaleMax, type ProjectService } from './project-service';

export interface StorageClass {
  parts: number;
  bytes: number;
}

export interface StorageUsage {
  /** Maps by what the part is now (flagged / reviewed are never reduced) and how they are kept. */
  maps: {
    flagged: StorageClass;
    reviewed: StorageClass;
    passed: { full: StorageClass; preview: StorageClass; none: { parts: number } };
  };
  /** Average bytes per map, whole and as a preview (null when there is none of that kind). */
  bytesPerMap: { full: number | null; preview: number | null };
  images: StorageClass;
  databaseBytes: number;
  totalBytes: number;
  policy: RetentionSettings;
  /** Passed maps the policy would reduce if applied now. */
  dueNow: number;
}

interface Candidate {
  image_id: number;
  model_version: number;
  map_file: string;
  map_bytes: number | null;
  scored_at: string;
}

/**
 * SQL for "this score row's part is passed and unreviewed": under the threshold in force for
 * its model version (the latest threshold row of that version, else the latest with none),
 * and no current verdict.
 */
const PASSED_UNREVIEWED = `
  s.map_file IS NOT NULL
  AND s.score < coalesce(
    (SELECT t.value FROM thresholds t WHERE t.model_version = s.model_version ORDER BY t.id DESC LIMIT 1),
    (SELECT t.value FROM thresholds t WHERE t.model_version IS NULL ORDER BY t.id DESC LIMIT 1),
    -1e308)
  AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = s.image_id) AND v.verdict IS NOT NULL)
  AND EXISTS (SELECT 1 FROM images i WHERE i.id = s.image_id AND i.role = 'inspect')`;

/** Fills map_bytes where it is unknown (maps written before migration 5), a batch at a time. */
async function measureMaps(p: ProjectService, limit = 1000): Promise<number> {
  const rows = p.db.prepare('SELECT image_id, model_version, map_file FROM scores WHERE map_file IS NOT NULL AND map_bytes IS NULL LIMIT ?').all(limit) as { image_id: number; model_version: number; map_file: string }[];
  const sizes: [number, number, number][] = [];
  for (const r of rows) {
    const bytes = await stat(p.abs(r.map_file)).then((s) => s.size, () => 0);
    sizes.push([bytes, r.image_id, r.model_version]);
  }
  const upd = p.db.prepare('UPDATE scores SET map_bytes = ? WHERE image_id = ? AND model_version = ?');
  p.db.transaction(() => {
    for (const s of sizes) upd.run(...s);
  })();
  return rows.length;
}

export async function storageUsage(p: ProjectService, now = Date.now()): Promise<StorageUsage> {
  while ((await measureMaps(p)) > 0) {
    // until every map has a size
  }
  const policy = p.settings().retention;
  const db = p.db;
  return readTx(db, () => {
    const cls = (sql: string): StorageClass => {
      const r = db.prepare(`SELECT count(*) AS parts, coalesce(sum(s.map_bytes), 0) AS bytes FROM scores s WHERE ${sql}`).get() as StorageClass;
      return { parts: r.parts, bytes: r.bytes };
    };
    const reviewedSql = `s.map_file IS NOT NULL AND EXISTS (SELECT 1 FROM verdicts v WHERE v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = s.image_id) AND v.verdict IS NOT NULL)`;
    const passedFull = cls(`${PASSED_UNREVIEWED} AND s.map_kept = 'full'`);
    const passedPreview = cls(`${PASSED_UNREVIEWED} AND s.map_kept = 'preview'`);
    const allMaps = cls(`s.map_file IS NOT NULL`);
    const reviewed = cls(reviewedSql);
    const flagged = { parts: allMaps.parts - reviewed.parts - passedFull.parts - passedPreview.parts, bytes: allMaps.bytes - reviewed.bytes - passedFull.bytes - passedPreview.bytes };
    const none = db.prepare(`SELECT count(*) FROM scores s WHERE s.map_kept = 'none'`).pluck().get() as number;
    const avg = (kept: string): number | null => db.prepare(`SELECT avg(map_bytes) FROM scores WHERE map_kept = ? AND map_bytes IS NOT NULL`).pluck().get(kept) as number | null;
    const images = db.prepare(`SELECT count(*) AS parts, coalesce(sum(bytes), 0) AS bytes FROM images`).get() as StorageClass;
    const dbBytes = databaseBytes(db);
    return {
      maps: { flagged, reviewed, passed: { full: passedFull, preview: passedPreview, none: { parts: none } } },
      bytesPerMap: { full: round(avg('full')), preview: round(avg('preview')) },
      images,
      databaseBytes: dbBytes,
      totalBytes: allMaps.bytes + images.bytes + dbBytes,
      policy,
      dueNow: due(db, policy, now, allMaps.bytes).length,
    };
  });
}

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x);
}

/** The passed, unreviewed, still-whole maps the policy reduces now, oldest first. */
function due(db: Db, policy: RetentionSettings, now: number, mapBytes: number): Candidate[] {
  const out = new Map<string, Candidate>();
  const key = (c: Candidate): string => `${c.image_id}:${c.model_version}`;
  const kept = policy.passedMapAction === 'drop' ? `s.map_kept IN ('full', 'preview')` : `s.map_kept = 'full'`;
  if (policy.passedMapDays !== null) {
    const before = new Date(now - policy.passedMapDays * 86_400_000).toISOString();
    const rows = db.prepare(`SELECT s.image_id, s.model_version, s.map_file, s.map_bytes, s.scored_at FROM scores s WHERE ${PASSED_UNREVIEWED} AND ${kept} AND s.scored_at < ? ORDER BY s.scored_at, s.image_id`).all(before) as Candidate[];
    for (const r of rows) out.set(key(r), r);
  }
  if (policy.budgetMb !== null) {
    let over = mapBytes - policy.budgetMb * 1024 * 1024;
    for (const c of out.values()) over -= (c.map_bytes ?? 0) * 0.95;
    if (over > 0) {
      const rows = db.prepare(`SELECT s.image_id, s.model_version, s.map_file, s.map_bytes, s.scored_at FROM scores s WHERE ${PASSED_UNREVIEWED} AND ${kept} ORDER BY s.scored_at, s.image_id`).iterate() as IterableIterator<Candidate>;
      for (const r of rows) {
        if (over <= 0) break;
        if (out.has(key(r))) continue;
        out.set(key(r), r);
        over -= (r.map_bytes ?? 0) * (policy.passedMapAction === 'drop' ? 1 : 0.95);
      }
    }
  }
  return [...out.values()];
}

export interface RetentionRun {
  reduced: number;
  dropped: number;
  freedBytes: number;
  /** Maps that could not be read (left as they were, named). */
  failed: { mapFile: string; message: string }[];
}

/** Applies the project's retention policy now (see the top of this file). */
export async function applyRetention(p: ProjectService, now = Date.now()): Promise<RetentionRun> {
  const policy = p.settings().retention;
  const run: RetentionRun = { reduced: 0, dropped: 0, freedBytes: 0, failed: [] };
  if (policy.passedMapDays === null && policy.budgetMb === null) return run;
  await storageUsage(p, now); // measures unknown map sizes first
  const mapBytes = (p.db.prepare('SELECT coalesce(sum(map_bytes), 0) FROM scores WHERE map_file IS NOT NULL').pluck().get() as number) ?? 0;
  const candidates = due(p.db, policy, now, mapBytes);
  const scales = new Map<number, number>();
  const update = p.db.prepare('UPDATE scores SET map_file = ?, map_bytes = ?, map_kept = ? WHERE image_id = ? AND model_version = ?');
  for (const c of candidates) {
    const file = p.abs(c.map_file);
    try {
      if (policy.passedMapAction === 'drop') {
        await unlink(file).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
        update.run(null, null, 'none', c.image_id, c.model_version);
        run.dropped += 1;
        run.freedBytes += c.map_bytes ?? 0;
        continue;
      }
      let max = scales.get(c.model_version);
      if (max === undefined) {
        max = mapScaleMax((await p.loadModelFile(c.model_version)).header.stats.colourScale.high);
        scales.set(c.model_version, max);
      }
      const m = await readMapPng(file, max);
      const png = encodeMapPreview(m.map, m.width, m.height, max);
      await writeFileAtomic(file, png);
      update.run(c.map_file, png.length, 'preview', c.image_id, c.model_version);
      run.reduced += 1;
      run.freedBytes += Math.max(0, (c.map_bytes ?? png.length) - png.length);
    } catch (e) {
      run.failed.push({ mapFile: c.map_file, message: e instanceof Error ? e.message : String(e) });
    }
  }
  return run;
}
