/**
 * Messages between the demo page (main thread) and its training worker. Everything the worker
 * sends is plain data (numbers, strings, typed arrays), so the page never touches tfjs.
 */

/** The backends the demo offers, fastest first. */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = typeof BACKENDS[number];

/** The training modes the demo offers (a subset of the package's eleven). */
export const MODES = ['LG-FG-A', 'FG-A', 'FG-W', 'LG-BP', 'BP'] as const;
export type ModeName = typeof MODES[number];

/** The LocalMixer presets for 28×28 images. */
export const PRESETS = ['M/1/16', 'S/1/1'] as const;
export type PresetName = typeof PRESETS[number];

export const DATASETS = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = typeof DATASETS[number];

/** Whether the browser can run a backend, and why not. */
export interface BackendSupport {
  ok: boolean;
  note: string;
}

/** Raw IDX bytes of one split (uncompressed). */
export interface SplitBytes {
  images: ArrayBuffer;
  labels: ArrayBuffer;
}

/** What one run trains. */
export interface RunConfig {
  dataset: DatasetName;
  preset: PresetName;
  mode: ModeName;
  backend: BackendName;
  batchSize: number;
  learningRate: number;
  epochs: number;
  /** Steps between evaluations on the test subset (one `model.fit` call each). */
  evalEvery: number;
  /** Test examples of the evaluation every `evalEvery` steps (the full test set after each epoch). */
  evalSubset: number;
  /** Measure cos(ĝ, g) every this many steps (0: never). */
  gradientQualityEvery: number;
  seed: number;
}

/** Page → worker. */
export type ToWorker =
    {type: 'probe'}|
    {type: 'start', config: RunConfig, train: SplitBytes, test: SplitBytes}|
    {type: 'pause'}|
    {type: 'resume'}|
    {type: 'stop'}|
    {type: 'bench', backend: BackendName, preset: PresetName, mode: ModeName, batchSize: number, steps: number,
     warmup: number, profile?: boolean};

/** `tf.memory()`, the parts the page shows. */
export interface MemoryInfo {
  numTensors: number;
  numBytes: number;
  /** webgl: bytes of the textures in use. */
  numBytesInGPU?: number;
  /** webgl: bytes of all its textures, in use or pooled for reuse (after a step: about its peak). */
  numBytesInGPUAllocated?: number;
}

/** Worker → page. */
export type FromWorker =
    {type: 'backends', support: Record<BackendName, BackendSupport>}|
    {type: 'status', text: string}|
    {type: 'ready', backend: string, parameters: number, details: string, stepsPerEpoch: number}|
    {type: 'progress', step: number, epoch: number, loss: number, testError: number, stepsPerSecond: number,
     memory: MemoryInfo, cos: Array<{step: number, cos: number}>}|
    {type: 'epoch', epoch: number, step: number, loss: number, testError: number}|
    {type: 'samples', images: Uint8Array, labels: number[], predictions: number[], size: number}|
    {type: 'weights', data: Float32Array, units: number, size: number}|
    {type: 'tick', step: number}|
    {type: 'paused'}|
    {type: 'resumed'}|
    {type: 'done', reason: 'finished'|'stopped'}|
    {type: 'bench', stepsPerSecond: number, ok: boolean, error?: string, memory: MemoryInfo,
     /** With `profile`: the most bytes of tensors alive at once during the timed steps (tf.profile). */
     peakBytes?: number,
     /** wasm: the size of its heap after the steps. */
     heapBytes?: number}|
    {type: 'error', message: string};
