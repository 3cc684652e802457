/**
 * 1-D Gaussian kernel for the anomaly-map blur (PatchCore: σ = 4). Size 2·⌊4σ + ½⌋ + 1 taps
 * (33 for σ = 4), weights sum to 1. The blur itself runs in ONNX Runtime as two separable
 * convolutions with reflect padding (../ort/graphs.ts).
 */
export function gaussianKernel(sigma: number): Float32Array {
  if (!(sigma > 0)) throw new Error(`sigma must be > 0, got ${sigma}`);
  const radius = Math.floor(4 * sigma + 0.5);
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}
