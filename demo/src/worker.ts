/**
 * The demo's training worker: runs tfjs and the package off the main thread, so the page stays
 * responsive. It uses only the package's public API (`fg.models.localMixer`, `compileLocalMixer`,
 * `localMixerTargets`, `model.fit` with `fg.callbacks.forwardGradient()` and
 * `fg.callbacks.gradientQuality`, `fg.data` for parsing and batching) and reports plain numbers.
 *
 * Training is a sequence of `model.fit` calls of `evalEvery` steps each, on batches drawn from a
 * seeded shuffle of the training set; after each call the classifier is evaluated on a test subset,
 * after each epoch on the whole test set. Pause waits between steps; stop ends the current fit.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import {getThreadsCount, setWasmPaths} from '@tensorflow/tfjs-backend-wasm';
import * as fg from 'tfjs-forward-gradient';

import {BackendName, BackendSupport, FromWorker, MemoryInfo, RunConfig, SplitBytes, ToWorker} from './protocol';

type Split = ReturnType<typeof fg.data.parseMnist>;

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void)|null;
  location: {href: string};
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

// The wasm binaries are copied next to the worker by the demo build (scripts/build-demo.mjs).
setWasmPaths(new URL('wasm/', scope.location.href).href);

/** Training state shared with the message handler. */
const control = {
  paused: false,
  stopped: false,
  resume: null as (() => void)|null,
};

/** Yields to the event loop (so pause / stop messages arrive) without the 4 ms clamp of setTimeout. */
const channel = new MessageChannel();
const waiting: Array<() => void> = [];
channel.port1.onmessage = () => waiting.shift()?.();
function nextTask(): Promise<void> {
  return new Promise(resolve => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}

async function probeBackends(): Promise<Record<BackendName, BackendSupport>> {
  const nav = (self as unknown as {navigator: {gpu?: {requestAdapter(): Promise<unknown>}}}).navigator;
  let webgpu: BackendSupport;
  if (nav.gpu == null) {
    webgpu = {ok: false, note: 'this browser has no WebGPU (navigator.gpu is missing)'};
  } else {
    let adapter: unknown = null;
    try {
      adapter = await nav.gpu.requestAdapter();
    } catch (e) {
      adapter = null;
    }
    webgpu = adapter != null ? {ok: true, note: 'WebGPU adapter found'} :
                               {ok: false, note: 'WebGPU is present but offers no adapter (no usable GPU)'};
  }
  let webgl: BackendSupport;
  try {
    const gl = typeof OffscreenCanvas === 'undefined' ? null : new OffscreenCanvas(1, 1).getContext('webgl2');
    webgl = gl != null ? {ok: true, note: 'WebGL 2 in a worker (OffscreenCanvas)'} :
                         {ok: false, note: 'no WebGL 2 context in a worker (OffscreenCanvas)'};
  } catch (e) {
    webgl = {ok: false, note: `WebGL 2 failed: ${(e as Error).message}`};
  }
  const isolated = (self as unknown as {crossOriginIsolated?: boolean}).crossOriginIsolated === true;
  const wasm: BackendSupport = typeof WebAssembly === 'object' ?
      {ok: true, note: isolated ? 'WebAssembly, cross-origin isolated: threads allowed' :
                                  'WebAssembly (page not cross-origin isolated: one thread)'} :
      {ok: false, note: 'this browser has no WebAssembly'};
  return {webgpu, webgl, wasm, cpu: {ok: true, note: 'plain JavaScript: slow, always there'}};
}

async function useBackend(name: BackendName): Promise<string> {
  if (!(await tf.setBackend(name))) {
    throw new Error(`the ${name} backend failed to start in this browser; pick another backend.`);
  }
  await tf.ready();
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    return `wasm, ${simd ? 'SIMD' : 'no SIMD'}, ${getThreadsCount()} thread${getThreadsCount() === 1 ? '' : 's'}`;
  }
  return tf.getBackend();
}

function memory(): MemoryInfo {
  const m = tf.memory() as tf.MemoryInfo & {numBytesInGPU?: number, numBytesInGPUAllocated?: number};
  return {numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU,
          numBytesInGPUAllocated: m.numBytesInGPUAllocated};
}

/** Error (%) of the classifier (the model's last output) on the first `count` examples of `split`. */
async function testError(model: tfl.LayersModel, split: Split, dataset: string, count: number):
    Promise<{error: number, predictions: Int32Array}> {
  const n = Math.min(count, split.count);
  const predictions = new Int32Array(n);
  const chunk = 500;
  for (let start = 0; start < n; start += chunk) {
    const part = fg.data.sliceSplit(split, start, Math.min(n, start + chunk));
    const {xs, ys} = fg.data.toTensors(part, {dataset: dataset as fg.data.DatasetName, oneHot: false});
    const pred = tf.tidy(() => {
      const out = model.predict(xs) as tf.Tensor|tf.Tensor[];
      const logits = Array.isArray(out) ? out[out.length - 1] : out;
      return tf.argMax(logits, -1);
    });
    predictions.set(await pred.data() as Int32Array, start);
    tf.dispose([xs, ys, pred]);
  }
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    wrong += predictions[i] !== split.labels[i] ? 1 : 0;
  }
  return {error: 100 * wrong / n, predictions};
}

/** The learned first-layer weights: the first `units` columns of block 0's channel kernel [784, H]. */
async function firstLayerWeights(model: tfl.LayersModel, units: number): Promise<{data: Float32Array, units: number}> {
  const kernel = model.getLayer('block_0').getWeights()[0];
  const k = Math.min(units, kernel.shape[1] as number);
  const cols = tf.tidy(() => tf.transpose(tf.slice(kernel, [0, 0], [-1, k])));
  const data = await cols.data() as Float32Array;
  cols.dispose();
  return {data, units: k};
}

/** Pauses between steps, ends the fit on stop, and lets messages in. Reads nothing from the device. */
class Controller extends tfl.Callback {
  /** Steps ended since the counter was last reset. */
  stepsSeen = 0;
  /** Steps done before the current fit. */
  stepsBefore = 0;

  override async onBatchEnd(): Promise<void> {
    this.stepsSeen++;
    post({type: 'tick', step: this.stepsBefore + this.stepsSeen});
    await nextTask();
    if (control.paused && !control.stopped) {
      post({type: 'paused'});
      await new Promise<void>(resolve => control.resume = resolve);
      control.resume = null;
      if (!control.stopped) {
        post({type: 'resumed'});
      }
    }
    if (control.stopped && this.model != null) {
      this.model.stopTraining = true;
    }
  }
}

function parse(bytes: SplitBytes, what: string): Split {
  return fg.data.parseMnist(new Uint8Array(bytes.images), new Uint8Array(bytes.labels), what);
}

const SAMPLE_COUNT = 12;

async function train(config: RunConfig, trainBytes: SplitBytes, testBytes: SplitBytes): Promise<void> {
  control.paused = false;
  control.stopped = false;
  post({type: 'status', text: `starting ${config.backend}…`});
  const details = await useBackend(config.backend);
  const trainSplit = parse(trainBytes, `${config.dataset} train`);
  const testSplit = parse(testBytes, `${config.dataset} test`);
  const dataset = config.dataset as fg.data.DatasetName;

  const model = fg.models.localMixer({preset: config.preset, seed: config.seed});
  fg.models.compileLocalMixer(model, {mode: config.mode, learningRate: config.learningRate, seed: config.seed});
  const stepsPerEpoch = Math.floor(trainSplit.count / config.batchSize);
  post({type: 'ready', backend: tf.getBackend(), parameters: model.countParams(), details, stepsPerEpoch});

  const fgCallback = fg.callbacks.forwardGradient({logStats: false});
  const quality = config.gradientQualityEvery > 0 ?
      fg.callbacks.gradientQuality({every: config.gradientQualityEvery, perLayer: false, logs: false}) : null;
  const controller = new Controller();
  const samples = fg.data.sliceSplit(testSplit, 0, SAMPLE_COUNT);
  const size = trainSplit.height;
  let initialWeights: Float32Array|null = null;

  const report = async (step: number, epoch: number, loss: number, stepsPerSecond: number, cos: Array<{step: number, cos: number}>) => {
    const {error, predictions} = await testError(model, testSplit, dataset, config.evalSubset);
    post({type: 'progress', step, epoch, loss, testError: error, stepsPerSecond, memory: memory(), cos});
    post({type: 'samples', images: samples.images.slice(), labels: Array.from(samples.labels),
          predictions: Array.from(predictions.subarray(0, SAMPLE_COUNT)), size});
    // what the units learned: their weights minus the initial ones (at init these are pure noise)
    const w = await firstLayerWeights(model, 24);
    initialWeights = initialWeights ?? w.data.slice();
    w.data.forEach((v, i) => w.data[i] = v - initialWeights![i]);
    post({type: 'weights', data: w.data, units: w.units, size}, [w.data.buffer]);
  };

  let step = 0;
  try {
    await report(0, 0, NaN, NaN, []);
    for (let epoch = 0; epoch < config.epochs && !control.stopped; epoch++) {
      const order = fg.data.shuffledIndices(trainSplit.count, `${config.seed}/${epoch}`);
      let lossSum = 0, lossSteps = 0;
      for (let s = 0; s < stepsPerEpoch && !control.stopped; s += config.evalEvery) {
        const steps = Math.min(config.evalEvery, stepsPerEpoch - s);
        const indices = order.subarray(s * config.batchSize, (s + steps) * config.batchSize);
        const {xs, ys} = fg.data.toTensors(fg.data.gatherSplit(trainSplit, indices), {dataset});
        const targets = fg.models.localMixerTargets(model, ys);
        const measuredBefore = quality?.history.length ?? 0;
        controller.stepsBefore = step;
        controller.stepsSeen = 0;
        const t0 = performance.now();
        let history: tfl.History;
        try {
          history = await model.fit(xs, targets, {
            batchSize: config.batchSize, epochs: 1, shuffle: false, verbose: 0, yieldEvery: 'never',
            callbacks: quality != null ? [fgCallback, quality, controller] : [fgCallback, controller],
          });
        } finally {
          tf.dispose([xs, ys, ...targets]);
        }
        // the fit's mean classifier loss: its one read of the device
        const lossValues = history.history['classifier_loss'] ?? history.history['loss'];
        const loss = Number(lossValues[lossValues.length - 1]);
        const seconds = (performance.now() - t0) / 1000;
        // (a stopped fit ends early, after the step it was in)
        const done = controller.stepsSeen;
        step += done;
        lossSum += loss * done;
        lossSteps += done;
        const cos = (quality?.history.slice(measuredBefore) ?? []).map(r => ({step: step - done + r.step, cos: r.cos}));
        // a fit cut short by stop: its mean loss and speed cover too few steps to plot
        const full = done === steps;
        await report(step, epoch + (s + done) / stepsPerEpoch, full ? loss : NaN, full ? done / seconds : NaN, cos);
      }
      if (!control.stopped) {
        const {error} = await testError(model, testSplit, dataset, testSplit.count);
        post({type: 'epoch', epoch: epoch + 1, step, loss: lossSum / lossSteps, testError: error});
      }
    }
  } finally {
    model.optimizer?.dispose();
    model.dispose();
  }
  post({type: 'done', reason: control.stopped ? 'stopped' : 'finished'});
}

/**
 * Benchmark: one model, random data of one batch size, `warmup` untimed steps then `steps` timed
 * ones (one `fit` epoch each, so every timed step ends with its loss read back); with `profile`, the
 * peak of tensor memory during the timed steps instead of a meaningful time.
 */
async function bench(m: Extract<ToWorker, {type: 'bench'}>): Promise<void> {
  await useBackend(m.backend);
  const model = fg.models.localMixer({preset: m.preset, seed: 1});
  fg.models.compileLocalMixer(model, {mode: m.mode, seed: 1});
  const xs = tf.randomNormal([m.batchSize, 28, 28, 1], 0, 1, 'float32', 1);
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([m.batchSize], 0, 10, 'int32', 2), 10), 'float32'));
  const targets = fg.models.localMixerTargets(model, labels);
  const fgCallback = fg.callbacks.forwardGradient({logStats: false});
  const fitSteps = (n: number) => model.fit(xs, targets, {
    batchSize: m.batchSize, epochs: n, shuffle: false, verbose: 0, yieldEvery: 'never', callbacks: [fgCallback]});
  try {
    if (m.warmup > 0) {
      await fitSteps(m.warmup);
    }
    const t0 = performance.now();
    let peakBytes: number|undefined;
    if (m.profile) {
      // (profiling times every kernel: use it to measure memory, not speed)
      peakBytes = (await tf.profile(() => fitSteps(m.steps) as unknown as Promise<tf.TensorContainer>)).peakBytes;
    } else {
      await fitSteps(m.steps);
    }
    const seconds = (performance.now() - t0) / 1000;
    // the memory the backend really holds: wasm's heap (it never shrinks); for webgl, memory()
    // .numBytesInGPUAllocated counts the freed textures it pools for reuse too: about the step's peak
    const heap = (tf.backend() as unknown as {wasm?: {HEAPU8: Uint8Array}}).wasm?.HEAPU8.buffer.byteLength;
    post({type: 'bench', ok: true, stepsPerSecond: m.steps / seconds, memory: memory(), peakBytes, heapBytes: heap});
  } finally {
    tf.dispose([xs, labels, ...targets]);
    model.optimizer?.dispose();
    model.dispose();
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'probe':
      probeBackends().then(support => post({type: 'backends', support}),
                           err => post({type: 'error', message: `backend detection failed: ${describe(err)}`}));
      break;
    case 'start':
      train(m.config, m.train, m.test).catch(err => post({type: 'error', message: describe(err)}));
      break;
    case 'pause':
      control.paused = true;
      break;
    case 'resume':
      control.paused = false;
      control.resume?.();
      break;
    case 'stop':
      control.stopped = true;
      control.paused = false;
      control.resume?.();
      break;
    case 'bench':
      bench(m).catch(err => post({type: 'bench', ok: false, error: describe(err), stepsPerSecond: 0, memory: memory()}));
      break;
  }
};
