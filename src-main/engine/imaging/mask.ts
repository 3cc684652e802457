/**
 * Ground-truth defect masks (MVTec layout: `<name>_mask.png`, nonzero = defect), read as
 * one byte per pixel [H, W] at the anomaly map's size (nearest-neighbour, so the mask stays
 * binary).
 */
import sharp from 'sharp';
import { KensaError } from '../errors';

export async function loadMask(file: string, width: number, height: number): Promise<Uint8Array> {
  try {
    const { data, info } = await sharp(file, { failOn: 'truncated' })
      .flatten({ background: '#000000' })
      .greyscale()
      .resize(width, height, { fit: 'fill', kernel: 'nearest' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new Error(`expected 1 channel, got ${info.channels}`);
    const out = new Uint8Array(width * height);
    for (let i = 0; i < out.length; i++) out[i] = data[i]! > 127 ? 1 : 0;
    return out;
  } catch (e) {
    throw new KensaError('IMAGE_CORRUPT', `cannot read mask ${file}: ${(e as Error).message}`, { file, cause: e });
  }
}
