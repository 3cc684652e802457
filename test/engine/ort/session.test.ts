/**
 * Execution-provider choice: GPU providers offered by onnxruntime-node are probed, the one
 * that works is used, CPU is the fallback, and the reasons for skipping are reported.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { chooseExecutionProvider } from '../../../src-main/engine/ort/session';

const offered = ort.listSupportedBackends().map((b) => b.name);

describe('chooseExecutionProvider', () => {
  it('cpu is always available and chosen when asked for', async () => {
    expect(await chooseExecutionProvider('cpu')).toEqual({ ep: 'cpu', skipped: [] });
  });

  it('auto tries the offered GPU providers and reports why each was skipped', async () => {
    const choice = await chooseExecutionProvider('auto');
    if (choice.ep === 'cpu') {
      // Every GPU provider offered on this platform (except WebGPU on Linux) was tried and failed with a reason.
      const tried = offered.filter((e) => ['cuda', 'dml', 'coreml'].includes(e) || (e === 'webgpu' && process.platform !== 'linux'));
      expect(choice.skipped.map((s) => s.ep).sort()).toEqual(tried.sort());
      for (const s of choice.skipped) expect(s.reason.length).toBeGreaterThan(0);
    } else {
      console.log(`GPU execution provider in use: ${choice.ep}`);
      expect(['cuda', 'dml', 'coreml', 'webgpu']).toContain(choice.ep);
    }
  });

  it.skipIf(!offered.includes('cuda'))('an explicit GPU request that cannot run falls back to CPU with the reason', async () => {
    const choice = await chooseExecutionProvider('cuda');
    if (choice.ep === 'cpu') {
      expect(choice.skipped).toHaveLength(1);
      expect(choice.skipped[0]!.ep).toBe('cuda');
      expect(choice.skipped[0]!.reason).toMatch(/\S/);
    } else {
      expect(choice.ep).toBe('cuda');
    }
  });
});
