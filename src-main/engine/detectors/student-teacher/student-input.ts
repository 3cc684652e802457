/**
 * What the students see: the image's own pixels, not the teacher's output.
 *
 * For every cell of the teacher's patch grid (stride 8 at the model input), the student input
 * is the ImageNet-normalised RGB window of 32×32 input pixels centred on the cell, average-pooled
 * 2×2 to 16×16×3 = 768 values. One ORT graph: uint8 NHWC → normalise → AveragePool(2) →
 * im2col as a Conv with one-hot kernels (K = 16, stride 4, pad 6 on the pooled image) →
 * rows [n·h·w, 768] in the teacher's patch order. A linear first student layer on these rows is
 * exactly a strided convolution over the image, so each student is a small CNN with a 32 px
 * receptive field (the paper's students are deeper CNNs with 17/33/65 px fields).
 *
 * Layouts: image uint8 [n, H, W, 3]; windows float32 [n·h·w, 768] (channel-major within a row:
 * c·256 + ky·16 + kx).
 */
import { DType, GraphBuilder } from '../../ort/onnx-builder';
import { createSession, ort, type ExecutionProvider } from '../../ort/session';

export const WINDOW = 16;
export const WINDOW_DIM = WINDOW * WINDOW * 3;

export function buildStudentInputGraph(height: number, width: number, mean: [number, number, number], std: [number, number, number]): Uint8Array {
  const g = new GraphBuilder('kensa_student_input');
  g.input('image', DType.UINT8, ['N', height, width, 3]);
  addStudentInput(g, 'image', mean, std, '', 'windows');
  g.output('windows', DType.FLOAT, ['P', WINDOW_DIM]);
  return g.toModel();
}

/**
 * The nodes of buildStudentInputGraph added to any graph (the export graph uses them too):
 *   image uint8 [N, H, W, 3] → windows [N·h·w, 768]. `prefix` names the one-hot kernel.
 */
export function addStudentInput(g: GraphBuilder, image: string, mean: [number, number, number], std: [number, number, number], prefix = '', out?: string): string {
  const f = g.op1('Cast', [image], { to: DType.FLOAT });
  const nchw = g.op1('Transpose', [f], { perm: [0, 3, 1, 2] });
  const scaled = g.op1('Div', [nchw, g.f32([255], [])]);
  const centred = g.op1('Sub', [scaled, g.f32(mean, [1, 3, 1, 1])]);
  const norm = g.op1('Div', [centred, g.f32(std, [1, 3, 1, 1])]);
  const pooled = g.op1('AveragePool', [norm], { kernel_shape: [2, 2], strides: [2, 2] });
  // One-hot kernels: output channel c·K² + ky·K + kx copies input channel c at (ky, kx).
  const k = new Float32Array(WINDOW_DIM * 3 * WINDOW * WINDOW);
  for (let c = 0; c < 3; c++) {
    for (let ky = 0; ky < WINDOW; ky++) {
      for (let kx = 0; kx < WINDOW; kx++) {
        const o = c * WINDOW * WINDOW + ky * WINDOW + kx;
        k[((o * 3 + c) * WINDOW + ky) * WINDOW + kx] = 1;
      }
    }
  }
  const kernel = g.init(`${prefix}onehot`, k, [WINDOW_DIM, 3, WINDOW, WINDOW]);
  const cols = g.op1('Conv', [pooled, kernel], { kernel_shape: [WINDOW, WINDOW], strides: [4, 4], pads: [6, 6, 6, 6] });
  const nhwc = g.op1('Transpose', [cols], { perm: [0, 2, 3, 1] });
  return g.op1('Reshape', [nhwc, g.i64([-1, WINDOW_DIM])], {}, out);
}

export class StudentInput {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly height: number,
    private readonly width: number,
  ) {}

  static async create(height: number, width: number, mean: [number, number, number], std: [number, number, number], ep: ExecutionProvider): Promise<StudentInput> {
    return new StudentInput(await createSession(buildStudentInputGraph(height, width, mean, std), { ep }), height, width);
  }

  /** Windows of n images [n·h·w, 768]. */
  async windows(rgb: Uint8Array, n: number): Promise<Float32Array> {
    const out = await this.session.run({ image: new ort.Tensor('uint8', rgb, [n, this.height, this.width, 3]) });
    return out.windows!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
