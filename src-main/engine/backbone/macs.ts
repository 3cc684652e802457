/**
 * Multiply–accumulate count of the backbone part the extractor runs (up to the deepest tap),
 * for one image at the model input size: Σ over Conv nodes of Cout·Hout·Wout·(Cin/groups)·kh·kw
 * plus MatMul/Gemm. Shapes come from one probe run with every node output exposed. Used by the
 * benchmark to state the compute floor.
 */
import type onnxProto from 'onnx-proto';
import { graphOf, toNum } from '../ort/onnx-builder';
import { createSession, ort } from '../ort/session';
import { graphInput, opsetOf, truncate } from './taps';
import { encodeModel } from '../ort/onnx-builder';

export async function countBackboneMacs(model: onnxProto.onnx.ModelProto, file: string, taps: string[], width: number, height: number): Promise<number> {
  const input = graphInput(model, file);
  const trunc = truncate(model, taps);
  const nodes = trunc.node ?? [];
  const outs = nodes.flatMap((n) => n.output ?? []).filter(Boolean) as string[];
  const probe = encodeModel({ ...trunc, output: outs.map((o) => ({ name: o })) }, opsetOf(model), toNum(model.irVersion) || 7);
  const s = await createSession(probe, { ep: 'cpu' });
  const r = await s.run({ [input.name]: new ort.Tensor('float32', new Float32Array(3 * width * height), [1, 3, height, width]) });
  await s.release();
  const inits = new Map(graphOf(model).initializer.map((t) => [t.name ?? '', (t.dims ?? []).map((d) => toNum(d))]));
  let macs = 0;
  for (const n of nodes) {
    const out = r[n.output?.[0] ?? ''];
    if (!out) continue;
    if (n.opType === 'Conv') {
      const w = inits.get(n.input?.[1] ?? '');
      if (!w || w.length !== 4) continue;
      const [, cinPerGroup, kh, kw] = w as [number, number, number, number];
      const outElems = out.dims.reduce((a, b) => a * b, 1);
      macs += outElems * cinPerGroup * kh * kw;
    } else if (n.opType === 'MatMul' || n.opType === 'Gemm') {
      const w = inits.get(n.input?.[1] ?? '');
      if (!w || w.length !== 2) continue;
      const outElems = out.dims.reduce((a, b) => a * b, 1);
      const transB = n.opType === 'Gemm' && (n.attribute ?? []).some((a) => a.name === 'transB' && toNum(a.i) === 1);
      macs += outElems * (transB ? w[1]! : w[0]!);
    }
  }
  return macs;
}
