/**
 * Serving descriptors written beside an export, as text:
 *
 *   model_repository/<name>/config.pbtxt     Triton Inference Server model configuration
 *                                           (platform onnxruntime_onnx; the .onnx goes to
 *                                           model_repository/<name>/1/model.onnx)
 *   kserve-inferenceservice.yaml            a KServe InferenceService (modelFormat onnx on the
 *                                           Triton runtime) pointing at that repository
 *
 * Shapes: images uint8 [-1, H, W, 3], score float32 [-1], map float32 [-1, H, W]. The batch
 * dimension is part of the graph's shapes (symbolic N), so the Triton config uses
 * max_batch_size 0 with an explicit -1 (any batch size per request); Triton's dynamic batcher
 * is not configured (to use it: max_batch_size > 0 and dims without the leading -1).
 * The decision values (threshold, review band, colour scale) ride along as `parameters` (Triton)
 * and annotations (KServe), for the client that applies them to `score`: neither server
 * applies them; editing them needs no new export.
 */
import type { ExportSidecar } from './sidecar';

/** A Triton model name: letters, digits, '_', '-', '.'. */
export function tritonName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._-]+/, '');
  return s.length > 0 ? s : 'kensa_model';
}

/** A Kubernetes object name (DNS-1123 label: lowercase alphanumerics and '-', ≤ 63). */
export function k8sName(name: string): string {
  const s = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/g, '');
  return s.length > 0 ? s : 'kensa-model';
}

const q = (s: string): string => JSON.stringify(s);
const numOrEmpty = (v: number | null): string => (v === null ? '' : String(v));

export function tritonConfig(s: ExportSidecar): string {
  const name = tritonName(s.name);
  const { width: W, height: H } = s.input;
  const params: [string, string][] = [
    ['kensa.threshold', numOrEmpty(s.decision.threshold)],
    ['kensa.review_upper', numOrEmpty(s.decision.reviewUpper)],
    ['kensa.colour_scale.low', String(s.colourScale.low)],
    ['kensa.colour_scale.high', String(s.colourScale.high)],
    ['kensa.detector', s.model.detector],
    ['kensa.model.id', s.model.id],
    ['kensa.backbone.sha256', s.backbone.sha256],
    ['kensa.resize', s.input.resize],
  ];
  return `# Triton Inference Server model configuration, written by Kensa ${s.kensaVersion} (kensa export).
# Model ${s.model.id} (${s.model.detector}), backbone ${s.backbone.id} sha256 ${s.backbone.sha256}.
# Input: RGB uint8 NHWC at ${W}x${H}; resize photos first with the sharp call in ${s.name}.kensa-export.json.
# Outputs: score = raw image score; map = raw anomaly map (colour scale not applied).
# A part is flagged when score >= kensa.threshold (the client applies it; edit it here, no re-export).
name: ${q(name)}
platform: "onnxruntime_onnx"
max_batch_size: 0
input [
  {
    name: "images"
    data_type: TYPE_UINT8
    dims: [ -1, ${H}, ${W}, 3 ]
  }
]
output [
  {
    name: "score"
    data_type: TYPE_FP32
    dims: [ -1 ]
  },
  {
    name: "map"
    data_type: TYPE_FP32
    dims: [ -1, ${H}, ${W} ]
  }
]
version_policy: { latest: { num_versions: 1 } }
${params.map(([k, v]) => `parameters: {\n  key: ${q(k)}\n  value: { string_value: ${q(v)} }\n}`).join('\n')}
`;
}

export function kserveManifest(s: ExportSidecar): string {
  const name = k8sName(s.name);
  return `# KServe InferenceService for the Kensa export "${s.name}" (written by Kensa ${s.kensaVersion}).
# 1. Upload the folder model_repository/ (it holds ${tritonName(s.name)}/config.pbtxt and
#    ${tritonName(s.name)}/1/model.onnx) to object storage, and put its address in storageUri.
# 2. kubectl apply -f kserve-inferenceservice.yaml
# 3. Infer with the open inference protocol (v2): POST /v2/models/${tritonName(s.name)}/infer with input
#    "images" (UINT8, shape [N, ${s.input.height}, ${s.input.width}, 3]); outputs "score" and "map".
# The server returns raw scores; the client flags a part when score >= the threshold below
# (annotations, the sidecar ${s.name}.kensa-export.json, or the model's metadata_props).
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: ${name}
  annotations:
    kensa.io/model-id: ${q(s.model.id)}
    kensa.io/detector: ${q(s.model.detector)}
    kensa.io/backbone-sha256: ${q(s.backbone.sha256)}
    kensa.io/threshold: ${q(numOrEmpty(s.decision.threshold))}
    kensa.io/review-upper: ${q(numOrEmpty(s.decision.reviewUpper))}
    kensa.io/resize: ${q(s.input.resize)}
spec:
  predictor:
    model:
      modelFormat:
        name: onnx
      # Triton serves the repository layout written beside this file.
      runtime: kserve-tritonserver
      protocolVersion: v2
      storageUri: s3://YOUR-BUCKET/PATH/model_repository   # placeholder: where model_repository/ was uploaded
      resources:
        requests:
          cpu: "1"
          memory: 2Gi
        limits:
          cpu: "2"
          memory: 4Gi
`;
}
