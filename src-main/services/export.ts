/**
 * What `kensa export` takes from a project when the model file is one of its versions
 * (`<project>/models/vNNNN.kensa` beside `<project>/kensa.db`): the threshold in force for that
 * version (and its review band), and the reviewed parts with their verdicts, which the
 * export's parity check re-scores (a reviewed defect must not pass). Read-only.
 */
import path from 'node:path';
import type { ParityPart } from '../engine/export/parity';
import { currentVerdicts, getImage } from '../store/index';
import { ProjectService } from './project-service';
import { isProjectDir } from './stations/shared-project';

export interface ProjectExportContext {
  dir: string;
  /** The model's version number in the project (v0003 → 3). */
  version: number;
  threshold: number | null;
  reviewUpper: number | null;
  /** Reviewed parts (latest verdict of each), files as absolute paths. */
  parts: ParityPart[];
}

/** The project a model file belongs to, or null for a model file outside any project. */
export function projectOfModel(modelFile: string): { dir: string; version: number } | null {
  const abs = path.resolve(modelFile);
  const m = /^v(\d+)\.kensa$/.exec(path.basename(abs));
  const models = path.dirname(abs);
  if (!m || path.basename(models) !== 'models') return null;
  const dir = path.dirname(models);
  return isProjectDir(dir) ? { dir, version: Number(m[1]) } : null;
}

export function projectExportContext(modelFile: string): ProjectExportContext | null {
  const p = projectOfModel(modelFile);
  if (!p) return null;
  const svc = ProjectService.open(p.dir);
  try {
    const t = svc.threshold(p.version);
    const parts: ParityPart[] = [];
    for (const v of currentVerdicts(svc.db).values()) {
      if (v.verdict === null) continue;
      const img = getImage(svc.db, v.imageId);
      if (img) parts.push({ file: svc.abs(img.path), label: v.verdict });
    }
    return { dir: p.dir, version: p.version, threshold: t?.value ?? null, reviewUpper: t?.reviewUpper ?? null, parts };
  } finally {
    svc.close();
  }
}
