/**
 * Loading a part for the viewer: the photo (images.get → ImageBitmap) and its anomaly map
 * (images.map → colourised canvas on the fixed scale). Small LRU cache so moving back and
 * forth in the queue is instant, and the next parts can be prefetched.
 */
import { api } from './api';
import { base64ToBytes, colourMap, type ColouredMap } from './heatmap';

export interface LoadedPart {
  imageId: number;
  photo: ImageBitmap;
  /** Size of the original image (the photo may be downscaled). */
  originalWidth: number;
  originalHeight: number;
  /** Null when the part has not been scored by the active model. */
  map: ColouredMap | null;
  modelVersion: number | null;
}

/** Longest side requested for the viewer's photo. */
const VIEW_MAX_SIDE = 2048;
const CACHE_SIZE = 16;

const cache = new Map<string, Promise<LoadedPart>>();

function key(imageId: number, modelVersion: number | null): string {
  return `${imageId}@${modelVersion ?? 'none'}`;
}

async function load(imageId: number): Promise<LoadedPart> {
  const [image, map] = await Promise.all([api.images.get({ imageId, maxSide: VIEW_MAX_SIDE }), api.images.map({ imageId })]);
  const blob = new Blob([base64ToBytes(image.dataBase64)], { type: image.mime });
  const photo = await createImageBitmap(blob);
  return {
    imageId,
    photo,
    originalWidth: image.originalWidth,
    originalHeight: image.originalHeight,
    map: map ? colourMap(map) : null,
    modelVersion: map?.modelVersion ?? null,
  };
}

/** The part's photo and map, from the cache when possible. */
export function loadPart(imageId: number, modelVersion: number | null): Promise<LoadedPart> {
  const k = key(imageId, modelVersion);
  const hit = cache.get(k);
  if (hit) {
    cache.delete(k);
    cache.set(k, hit); // most recently used last
    return hit;
  }
  const p = load(imageId);
  cache.set(k, p);
  p.catch(() => cache.delete(k));
  while (cache.size > CACHE_SIZE) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
  return p;
}

/** What prefetchParts was last asked for, not loaded yet. */
let wanted: { ids: number[]; modelVersion: number | null } = { ids: [], modelVersion: null };
let prefetching = false;

/**
 * Warms the cache for parts the reviewer is likely to open next, in the order given, one at a
 * time (so they do not compete with each other or with the part being opened); a new call
 * replaces the parts of an older one not loaded yet. Errors are ignored.
 */
export function prefetchParts(imageIds: number[], modelVersion: number | null): void {
  wanted = { ids: [...imageIds], modelVersion };
  if (prefetching) return;
  prefetching = true;
  void (async () => {
    try {
      for (let id = wanted.ids.shift(); id !== undefined; id = wanted.ids.shift()) {
        await loadPart(id, wanted.modelVersion).catch(() => {});
      }
    } finally {
      prefetching = false;
    }
  })();
}

/** Forgets every loaded part (after a fit, a refit, a rescore or a rollback). */
export function clearParts(): void {
  cache.clear();
}
