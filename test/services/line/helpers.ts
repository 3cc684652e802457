/**
 * Shared set-up for the line tests: a real project with a real fitted model (PatchCore on a
 * few bottle training images from ../shared), and bottle test images to drop into folders.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { EngineClient } from '../../../src-main/jobs/engine-client';
import { ProjectService } from '../../../src-main/services/project-service';

export const repo = path.resolve(import.meta.dirname, '../../..');
export const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
export const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
export const haveData = existsSync(bottle) && existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));

export function bottleFiles(sub: string, n: number, skip = 0): string[] {
  return readdirSync(path.join(bottle, sub))
    .sort()
    .slice(skip, skip + n)
    .map((f) => path.join(bottle, sub, f));
}

/** A project at `dir` with model v1 fitted on `train` bottle images (and its starting threshold). */
export async function fittedProject(dir: string, train = 16): Promise<ProjectService> {
  process.env.KENSA_SHARED = shared;
  const svc = await ProjectService.create(dir, 'Line test', 'alice');
  await svc.importImages(bottleFiles('train/good', train), 'train', 'alice');
  const engine = new EngineClient();
  try {
    await svc.fit(engine, {}, 'alice');
  } finally {
    await engine.terminate();
  }
  return svc;
}

/** Waits until `cond` holds (polled every 20 ms), or fails naming `what`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
