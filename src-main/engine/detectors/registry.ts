/**
 * The detectors Kensa knows, by id. `patchcore` is the default until another one wins on the
 * user's reviewed parts. An unknown id is a specific error naming the ones there are.
 */
import { KensaError } from '../errors';
import type { LoadedModel } from '../model-file';
import { DETECTOR_IDS, type DetectorId } from '../model-types';
import type { EpRequest } from '../ort/session';
import { fitWith, refitWith, Scorer, type FitOptions, type FitResult, type RefitOptions } from './pipeline';
import { autoencoder } from './autoencoder';
import { fusion } from './fusion';
import { padim } from './padim';
import { patchcore } from './patchcore';
import { studentTeacher } from './student-teacher';
import type { AnyDetector } from './types';
import { learnFromReview, type LearnOptions, type LearnResult, type ReviewedFile } from '../review/learn';

export const DEFAULT_DETECTOR: DetectorId = 'patchcore';

const REGISTRY = new Map<DetectorId, AnyDetector>(
  [patchcore, padim, studentTeacher, autoencoder, fusion].map((d) => [d.id, d as unknown as AnyDetector] as const),
);

export function isDetectorId(id: unknown): id is DetectorId {
  return typeof id === 'string' && (DETECTOR_IDS as readonly string[]).includes(id);
}

export function getDetector(id: string): AnyDetector {
  const d = isDetectorId(id) ? REGISTRY.get(id) : undefined;
  if (!d) throw new KensaError('UNKNOWN_DETECTOR', `unknown detector "${id}": choose one of ${[...REGISTRY.keys()].join(', ')}`);
  return d;
}

export function listDetectors(): AnyDetector[] {
  return DETECTOR_IDS.filter((id) => REGISTRY.has(id)).map((id) => REGISTRY.get(id)!);
}

const env = { resolve: getDetector };

/** Fits detector `id` (default PatchCore) on good images. */
export async function fitModel(files: string[], opts: FitOptions & { detector?: string } = {}): Promise<FitResult> {
  return fitWith(getDetector(opts.detector ?? DEFAULT_DETECTOR), files, opts, env);
}

/** A new version of `parent` with new good parts (REFIT_UNSUPPORTED for detectors that cannot). */
export async function refitModel(parent: LoadedModel, files: string[], opts: RefitOptions = {}): Promise<FitResult> {
  return refitWith(getDetector(parent.header.detector), parent, files, opts);
}

/** A scorer for a model of any detector. */
export async function openScorer(model: LoadedModel, opts: { backbone?: string; ep?: EpRequest } = {}): Promise<Scorer> {
  return Scorer.create(model, env, opts);
}

/** A new version of `parent` with a head learned from the reviewed parts (../review). */
export async function learnModel(parent: LoadedModel, reviewed: ReviewedFile[], opts: LearnOptions = {}): Promise<LearnResult> {
  return learnFromReview(getDetector(parent.header.detector), parent, reviewed, opts);
}
