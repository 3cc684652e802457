/**
 * Backbone files: resolving a path or a manifest id, checksums, and the errors that say what to
 * do next.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadBackbone, loadManifest, modelsDirs, resolveBackbonePath } from '../../../src-main/engine/backbone/backbone';
import { KensaError } from '../../../src-main/engine/errors';
import { writeTinyBackbone } from '../../helpers/tiny-backbone';

let dir: string;
let tinyPath: string;
const savedEnv: Record<string, string | undefined> = {};
const ENV_KEYS = ['KENSA_MODELS_DIR', 'KENSA_SHARED', 'XDG_CACHE_HOME'] as const;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-backbone-'));
  tinyPath = writeTinyBackbone(dir, 1);
  for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<KensaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return e as KensaError;
  }
  throw new Error('expected a rejection');
}

/** Points every models folder at empty temp folders, then sets KENSA_MODELS_DIR. */
async function isolatedModelsDir(name: string): Promise<string> {
  const models = path.join(dir, name);
  await fs.mkdir(models, { recursive: true });
  process.env.KENSA_MODELS_DIR = models;
  delete process.env.KENSA_SHARED;
  process.env.XDG_CACHE_HOME = path.join(dir, `${name}-cache`);
  return models;
}

describe('loadBackbone by path', () => {
  it('loads the tiny model: id from the file name, sha256 and size of the bytes, no manifest taps', async () => {
    const bytes = await fs.readFile(tinyPath);
    const bb = await loadBackbone(tinyPath);
    expect(bb.id).toBe('tiny-backbone-s1');
    expect(bb.file).toBe(tinyPath);
    expect(bb.bytes).toBe(bytes.length);
    expect(bb.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(bb.taps).toBeUndefined();
    expect(bb.model.graph!.node!.length).toBeGreaterThan(10);
  });

  it('a missing path → BACKBONE_NOT_FOUND naming the (absolute) path', async () => {
    const missing = path.join(dir, 'nowhere', 'missing.onnx');
    const e = await rejection(loadBackbone(missing));
    expect(e.code).toBe('BACKBONE_NOT_FOUND');
    expect(e.message).toContain(missing);
    expect(e.file).toBe(missing);
    // Relative paths are reported resolved.
    const e2 = await rejection(loadBackbone('some/relative/missing.onnx'));
    expect(e2.code).toBe('BACKBONE_NOT_FOUND');
    expect(e2.message).toContain(path.resolve('some/relative/missing.onnx'));
  });

  it('a file that is not ONNX → BACKBONE_INVALID naming the file', async () => {
    for (const [name, content] of [
      ['text.onnx', 'this is not a protobuf, just some text\n'],
      ['empty.onnx', ''],
      ['png.onnx', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')],
    ] as const) {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      const e = await rejection(loadBackbone(file));
      expect(e.code, name).toBe('BACKBONE_INVALID');
      expect(e.message).toContain(file);
      expect(e.file).toBe(file);
    }
  });
});

describe('loadBackbone by manifest id', () => {
  it('a known id whose file has the wrong content → BACKBONE_CHECKSUM with the expected sha256', async () => {
    const models = await isolatedModelsDir('models-wrong');
    const entry = loadManifest().backbones.find((b) => b.id === 'mobilenetv2-dequant-fp32')!;
    expect(entry.file).toBe('mobilenetv2-dequant-fp32.onnx');
    const target = path.join(models, entry.file);
    await fs.copyFile(tinyPath, target);
    expect(modelsDirs()[0]).toBe(path.resolve(models));
    const e = await rejection(loadBackbone('mobilenetv2-dequant-fp32'));
    expect(e.code).toBe('BACKBONE_CHECKSUM');
    expect(e.message).toContain(entry.sha256);
    expect(e.message).toContain(target);
    const actual = createHash('sha256').update(await fs.readFile(tinyPath)).digest('hex');
    expect(e.message).toContain(actual);
    expect(e.file).toBe(target);
  });

  it('the same wrong file given by path is also refused (its base name is a manifest file)', async () => {
    const models = await isolatedModelsDir('models-bypath');
    const target = path.join(models, 'mobilenetv2-dequant-fp32.onnx');
    await fs.copyFile(tinyPath, target);
    const e = await rejection(loadBackbone(target));
    expect(e.code).toBe('BACKBONE_CHECKSUM');
  });

  it('an unknown id → BACKBONE_NOT_FOUND listing the known ids', async () => {
    await isolatedModelsDir('models-unknown');
    const e = await rejection(loadBackbone('resnet-9000'));
    expect(e.code).toBe('BACKBONE_NOT_FOUND');
    expect(e.message).toContain('resnet-9000');
    for (const id of ['mobilenetv2-dequant-fp32', 'resnet18-v2-7', 'mobilenetv2-12-int8']) expect(e.message).toContain(id);
  });

  it('a known id whose file is nowhere → BACKBONE_NOT_FOUND saying where it looked and how to get it', async () => {
    const models = await isolatedModelsDir('models-empty');
    const e = await rejection(loadBackbone('resnet18-v2-7'));
    expect(e.code).toBe('BACKBONE_NOT_FOUND');
    expect(e.message).toContain(path.resolve(models));
    expect(e.message).toContain('kensa backbone download resnet18-v2-7');
    // An id without a download URL says to put the file in place.
    const e2 = await rejection(loadBackbone('mobilenetv2-dequant-fp32'));
    expect(e2.code).toBe('BACKBONE_NOT_FOUND');
    expect(e2.message).toContain('mobilenetv2-dequant-fp32.onnx');
  });

  it('ids are searched in KENSA_MODELS_DIR first, then $KENSA_SHARED/models', async () => {
    const models = await isolatedModelsDir('models-order');
    const shared = path.join(dir, 'shared-x');
    await fs.mkdir(path.join(shared, 'models'), { recursive: true });
    await fs.writeFile(path.join(shared, 'models', 'resnet18-v2-7.onnx'), 'x');
    process.env.KENSA_SHARED = shared;
    expect(modelsDirs().slice(0, 2)).toEqual([path.resolve(models), path.resolve(shared, 'models')]);
    const r = await resolveBackbonePath('resnet18-v2-7');
    expect(r.file).toBe(path.join(path.resolve(shared), 'models', 'resnet18-v2-7.onnx'));
    expect(r.entry?.id).toBe('resnet18-v2-7');
    await fs.writeFile(path.join(models, 'resnet18-v2-7.onnx'), 'y');
    expect((await resolveBackbonePath('resnet18-v2-7')).file).toBe(path.join(path.resolve(models), 'resnet18-v2-7.onnx'));
  });

  it('environment variables are restored between tests', () => {
    expect(process.env.KENSA_MODELS_DIR).toBe(savedEnv.KENSA_MODELS_DIR);
    expect(process.env.KENSA_SHARED).toBe(savedEnv.KENSA_SHARED);
  });
});
