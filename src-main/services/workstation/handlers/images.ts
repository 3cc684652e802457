/** `images.*`: import (paths or uploaded bytes), the full image, its thumbnail, its anomaly map. */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { readMapPng } from '../../../engine/imaging/mapfile';
import { KensaError } from '../../../shared/errors';
import { getImage, getScore } from '../../../store/index';
import { mapScaleMax } from '../../project-service';
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { encodeImage } from '../dto';

export function imageHandlers(ctx: WorkstationContext): NamespaceHandlers<'images'> {
  return {
    'images.import': async ({ paths, role }) => {
      const r = await ctx.need().importImages(paths, role, ctx.actor());
      ctx.emitState();
      return { added: r.added, existing: r.existing, errors: r.errors };
    },
    'images.upload': async ({ files, role }) => {
      const p = ctx.need();
      const dir = path.join(p.dir, 'imports', `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 6)}`);
      await mkdir(dir, { recursive: true });
      const written: string[] = [];
      for (const f of files) {
        const file = path.join(dir, f.name);
        await writeFile(file, Buffer.from(f.dataBase64, 'base64'));
        written.push(file);
      }
      const r = await p.importImages(written, role, ctx.actor());
      ctx.emitState();
      return { added: r.added, existing: r.existing, errors: r.errors };
    },
    'images.get': async ({ imageId, maxSide }) => {
      const img = getImage(ctx.need().db, imageId);
      if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
      return encodeImage(ctx.need().abs(img.path), maxSide ?? 2048);
    },
    'images.thumbnail': async ({ imageId }) => {
      const p = ctx.need();
      const img = getImage(p.db, imageId);
      if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
      const cache = path.join(p.dir, 'thumbs', `${imageId}.jpg`);
      if (existsSync(cache)) {
        const buf = await readFile(cache);
        const meta = await sharp(buf).metadata();
        return { mime: 'image/jpeg', dataBase64: buf.toString('base64'), width: meta.width ?? 0, height: meta.height ?? 0, originalWidth: img.width, originalHeight: img.height };
      }
      const data = await encodeImage(p.abs(img.path), 160, 80);
      await mkdir(path.dirname(cache), { recursive: true });
      await writeFile(cache, Buffer.from(data.dataBase64, 'base64'));
      return data;
    },
    'images.map': async ({ imageId }) => {
      const p = ctx.need();
      const model = p.activeModel();
      if (!model) return null;
      const s = getScore(p.db, imageId, model.version);
      if (!s?.mapFile) return null;
      const cs = await ctx.colourScaleOf(model.version);
      const { map, width, height } = await readMapPng(p.abs(s.mapFile), mapScaleMax(cs.high));
      return { width, height, valuesBase64: Buffer.from(map.buffer, map.byteOffset, map.byteLength).toString('base64'), colourScale: cs, modelVersion: model.version };
    },
  };
}
