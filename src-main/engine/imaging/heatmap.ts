/**
 * Heatmap rendering for anomaly maps, on a FIXED colour scale per model (raw score units
 * `low`..`high`, from good-part statistics), never per-image min–max: a good part must look
 * cold and a defect hot on every image.
 *
 * Colour map: a perceptual dark-blue → cyan → yellow → red ramp (256-entry LUT).
 * Layouts: map [H, W] float32; RGBA output [H, W, 4] uint8.
 */
import sharp from 'sharp';

const STOPS: [number, [number, number, number]][] = [
  [0.0, [13, 8, 135]],
  [0.25, [30, 120, 210]],
  [0.5, [40, 200, 170]],
  [0.7, [240, 220, 50]],
  [0.85, [250, 140, 30]],
  [1.0, [200, 20, 20]],
];

export const COLOUR_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let j = 0;
    while (j < STOPS.length - 2 && t > STOPS[j + 1]![0]) j++;
    const [t0, c0] = STOPS[j]!;
    const [t1, c1] = STOPS[j + 1]!;
    const f = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = Math.round(c0[k]! + f * (c1[k]! - c0[k]!));
  }
  return lut;
})();

export interface ColourScale {
  low: number;
  high: number;
}

/** Colours a map; alpha grows with the score so cold areas stay see-through in an overlay. */
export function renderHeatmap(map: Float32Array, width: number, height: number, scale: ColourScale, opacity = 0.6): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  const span = scale.high - scale.low || 1;
  for (let i = 0; i < width * height; i++) {
    const t = Math.min(1, Math.max(0, (map[i]! - scale.low) / span));
    const li = Math.round(t * 255) * 3;
    out[i * 4] = COLOUR_LUT[li]!;
    out[i * 4 + 1] = COLOUR_LUT[li + 1]!;
    out[i * 4 + 2] = COLOUR_LUT[li + 2]!;
    out[i * 4 + 3] = Math.round(255 * opacity * (0.35 + 0.65 * t));
  }
  return out;
}

/**
 * Writes a PNG: the part image (decoded RGB, any size) with the heatmap laid over it at the
 * image's own size (the map is resized to it; no crop).
 */
export async function writeHeatmapOverlay(
  out: string,
  image: { rgb: Uint8Array; width: number; height: number },
  map: Float32Array,
  mapWidth: number,
  mapHeight: number,
  scale: ColourScale,
): Promise<void> {
  const { width, height } = image;
  const heat = await sharp(renderHeatmap(map, mapWidth, mapHeight, scale), { raw: { width: mapWidth, height: mapHeight, channels: 4 } })
    .resize(width, height, { fit: 'fill' })
    .png()
    .toBuffer();
  await sharp(image.rgb, { raw: { width, height, channels: 3 } })
    .composite([{ input: heat }])
    .png()
    .toFile(out);
}

/** Size of an image scaled so its longer side is at most `maxSide` (never upscaled). */
export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const f = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * f)), height: Math.max(1, Math.round(height * f)) };
}
