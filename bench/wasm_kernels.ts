/**
 * Benchmark: the package's wasm kernels (src/backends/wasm) against tfjs-backend-wasm 4.22's stock
 * kernels, and XNNPACK threads 2 vs 1 (`fg.backends.enableWasmThreads`). Prints RATIOS (time with
 * the fix / time stock; time with 2 threads / with 1): below 1 is faster.
 *
 * - matMul S×S×S as NN, NT (b transposed) and TN (a transposed), S = --size (default 1024);
 * - one training step (forward, backward, SGD update) of a Dense layer 784→1024 relu + Dense 10
 *   softmax at batch --batch (default 128): its backward pass uses the transposed matmuls;
 * - Transpose, Sum and Mean on the shapes of an M/8/16 step (a [8192, 512] weight-gradient operand,
 *   a bias gradient, the token layout's LayerNorm), kernel time only (no read-back);
 * - GatherV2 of a batch of --batch images from MNIST-sized training images, what `model.fit` does
 *   for every batch (kernel time only);
 * - one `model.trainOnBatch` step of the LocalMixer M/8/16 (BP and LG-FG-A) at batch --mixer-batch
 *   (default 32), stock vs fixed for Transpose, Sum and Mean only (the other kernels installed in
 *   both: stock wasm runs it, slowly);
 * - a small conv net's training step (fixed only: stock wasm cannot run it), in ms;
 * - matMul S³ with 2 threads over 1 thread, each in a child process (a process initialises wasm
 *   once, and the threaded module's workers live in it).
 *
 * Stock and fixed are timed alternately in one process (install / uninstall between reps); each
 * ratio is the median of the per-rep ratios, with its interquartile range.
 *
 * Run: npm run bench:wasm -- [--size 1024] [--batch 128] [--mixer-batch 32] [--reps 5] [--no-threads]
 */
import {spawnSync} from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {parseArgs} from 'util';

import * as fg from '../src';
import {enableWasmThreads, installWasmKernels, uninstallWasmKernels} from '../src/backends';
import {flagParsers, median, ms, pairedRatio, pairedSpread, UsageError, x2} from './report';

require('@tensorflow/tfjs-backend-wasm');

const USAGE = 'usage: node build/bench/wasm_kernels.js [--size 1024] [--batch 128] [--mixer-batch 32] [--reps 5] [--no-threads]';

interface Options {
  size: number;
  batch: number;
  mixerBatch: number;
  reps: number;
  threads: boolean;
  /** Internal: time matMul size³ with this many threads and print JSON (child process). */
  childThreads?: number;
}

function parse(argv: string[]): Options {
  const {values} = parseArgs({args: argv, options: {
    'size': {type: 'string', default: '1024'}, 'batch': {type: 'string', default: '128'},
    'mixer-batch': {type: 'string', default: '32'},
    'reps': {type: 'string', default: '5'}, 'no-threads': {type: 'boolean', default: false},
    'child-threads': {type: 'string'},
  }});
  const p = flagParsers(USAGE);
  return {
    size: p.int('size', values.size, 1), batch: p.int('batch', values.batch, 1), reps: p.int('reps', values.reps, 1),
    mixerBatch: p.int('mixer-batch', values['mixer-batch'], 1),
    threads: !values['no-threads'],
    childThreads: values['child-threads'] == null ? undefined : p.int('child-threads', values['child-threads'], 1),
  };
}

/**
 * Milliseconds of one run of `f`, its result read back unless `readBack` is false (wasm kernels are
 * synchronous, so both are exact; a large output's read-back can cost more than the kernel).
 */
function timeOnce(f: () => tf.Tensor, readBack = true): number {
  const t0 = performance.now();
  const y = f();
  if (readBack) {
    y.dataSync();
  }
  const t = performance.now() - t0;
  y.dispose();
  return t;
}

/** Per-rep times of `f` stock and fixed, alternating (one untimed warm-up of each first). */
function stockVsFixed(f: () => tf.Tensor, reps: number, readBack = true): {stock: number[], fixed: number[]} {
  const stock: number[] = [], fixed: number[] = [];
  uninstallWasmKernels();
  timeOnce(f, readBack);
  installWasmKernels();
  timeOnce(f, readBack);
  for (let r = 0; r < reps; r++) {
    uninstallWasmKernels();
    stock.push(timeOnce(f, readBack));
    installWasmKernels();
    fixed.push(timeOnce(f, readBack));
  }
  return {stock, fixed};
}

/** The kernels whose stock and fixed versions `stockVsFixedOf` swaps (the others stay installed). */
const LAYOUT_KERNELS = ['Transpose', 'Sum', 'Mean'];

/**
 * Per-rep times of the async `f` with the stock and the fixed `kernels` (all other fixed kernels
 * installed), alternating after one untimed warm-up of each.
 */
async function stockVsFixedOf(kernels: string[], f: () => Promise<unknown>, reps: number):
    Promise<{stock: number[], fixed: number[]}> {
  uninstallWasmKernels();
  const stockConfigs = kernels.map(k => tf.getKernel(k, 'wasm')!);
  installWasmKernels();
  const fixedConfigs = kernels.map(k => tf.getKernel(k, 'wasm')!);
  const use = (configs: tf.KernelConfig[]) => configs.forEach(c => {
    tf.unregisterKernel(c.kernelName, 'wasm');
    tf.registerKernel(c);
  });
  const time = async () => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const stock: number[] = [], fixed: number[] = [];
  try {
    use(stockConfigs);
    await time();
    use(fixedConfigs);
    await time();
    for (let r = 0; r < reps; r++) {
      use(stockConfigs);
      stock.push(await time());
      use(fixedConfigs);
      fixed.push(await time());
    }
  } finally {
    use(fixedConfigs);
  }
  return {stock, fixed};
}

/** A LocalMixer M/8/16 compiled for `mode` and one trainOnBatch step on a random batch. */
function mixerStep(mode: 'BP'|'LG-FG-A', batch: number): {step: () => Promise<unknown>, dispose: () => void} {
  const model = fg.models.localMixer({preset: 'M/8/16', seed: 0});
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1);
  const ys = tf.tidy(() => fg.models.localMixerTargets(model, tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10)));
  const opt = fg.models.compileLocalMixer(model, {mode, seed: 1});
  opt.attach(model);
  return {
    step: () => model.trainOnBatch(x, ys),
    dispose: () => {
      opt.detach();
      opt.dispose();
      model.dispose();
      tf.dispose([x, ...ys]);
    },
  };
}

/** A Dense 784→1024 relu → Dense 10 softmax model and one SGD training step on a random batch. */
function denseStep(batch: number): {step: () => tf.Tensor, dispose: () => void} {
  return sgdStep(tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [784], units: 1024, activation: 'relu'}),
    tfl.layers.dense({units: 10, activation: 'softmax'}),
  ]}), [batch, 784], 1);
}

/**
 * ENVIRONMENT.md's conv net (28×28×1: Conv2D 32 3×3 relu, MaxPool 2, Conv2D 64 3×3 relu, MaxPool 2,
 * Flatten, Dense 128 relu, Dense 10 softmax) and one SGD step; stock wasm cannot run it.
 */
function convStep(batch: number): {step: () => tf.Tensor, dispose: () => void} {
  return sgdStep(tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu'}),
    tfl.layers.maxPooling2d({poolSize: 2}),
    tfl.layers.conv2d({filters: 64, kernelSize: 3, activation: 'relu'}),
    tfl.layers.maxPooling2d({poolSize: 2}),
    tfl.layers.flatten(),
    tfl.layers.dense({units: 128, activation: 'relu'}),
    tfl.layers.dense({units: 10, activation: 'softmax'}),
  ]}), [batch, 28, 28, 1], 3);
}

/** One SGD step of `model` on seeded random inputs of `xShape` and 10-class labels (seeds `seed`, `seed + 1`). */
function sgdStep(model: tfl.Sequential, xShape: number[], seed: number): {step: () => tf.Tensor, dispose: () => void} {
  const optimizer = tf.train.sgd(0.01);
  const x = tf.randomUniform(xShape, 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.randomUniform([xShape[0]], 0, 10, 'int32', seed + 1) as tf.Tensor1D, 10);
  return {
    // What model.fit runs per batch (forward, backward, update), synchronously; returns the loss.
    step: () => optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, {training: true}) as tf.Tensor), true)!,
    dispose: () => {
      model.dispose();
      optimizer.dispose();
      x.dispose();
      y.dispose();
    },
  };
}

/** Child process: matMul size³ with `threads` threads; prints {threads, ms} as JSON. */
async function child(opts: Options): Promise<void> {
  const threads = await enableWasmThreads(opts.childThreads!);
  const a = tf.randomNormal([opts.size, opts.size], 0, 1, 'float32', 1);
  const b = tf.randomNormal([opts.size, opts.size], 0, 1, 'float32', 2);
  timeOnce(() => tf.matMul(a, b));
  const times = Array.from({length: opts.reps}, () => timeOnce(() => tf.matMul(a, b)));
  console.log(JSON.stringify({threads, times}));
}

function runChild(opts: Options, threads: number): {threads: number, times: number[]} {
  const r = spawnSync(process.execPath, [__filename, '--child-threads', String(threads), '--size', String(opts.size),
                                         '--reps', String(opts.reps)], {encoding: 'utf8'});
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`threads child (${threads}) failed: ${r.stderr}`);
  }
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  tf.enableProdMode();
  if (opts.childThreads != null) {
    return child(opts);
  }
  await tf.setBackend('wasm');
  const S = opts.size, gflop = 2 * S * S * S / 1e9;
  console.log(`wasm kernels, stock vs fixed (time fixed / time stock; < 1 is faster), ${opts.reps} reps, ` +
              `SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}\n`);
  const a = tf.randomNormal([S, S], 0, 1, 'float32', 1), b = tf.randomNormal([S, S], 0, 1, 'float32', 2);
  const rows: Array<[string, {stock: number[], fixed: number[]}, number|null]> = [];
  for (const [name, tA, tB] of [['NN', false, false], ['NT', false, true], ['TN', true, false]] as const) {
    rows.push([`matMul ${S}³ ${name}`, stockVsFixed(() => tf.matMul(a, b, tA, tB), opts.reps), gflop]);
  }
  a.dispose();
  b.dispose();
  const dense = denseStep(opts.batch);
  rows.push([`Dense 784-1024-10 train step, batch ${opts.batch}`, stockVsFixed(dense.step, opts.reps), null]);
  dense.dispose();
  for (const [shape, perm] of [[[8192, 512], [1, 0]], [[128, 512, 64], [0, 2, 1]], [[128, 64, 512], [0, 2, 1]]]) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
    rows.push([`Transpose ${JSON.stringify(shape)} by ${JSON.stringify(perm)}`, stockVsFixed(() => tf.transpose(x, perm), opts.reps, false), null]);
    x.dispose();
  }
  const bias = tf.randomNormal([8192, 512], 0, 1, 'float32', 4), tokens = tf.randomNormal([32, 512, 64], 0, 1, 'float32', 5);
  rows.push(['Sum [8192,512] over 0 (bias gradient)', stockVsFixed(() => tf.sum(bias, 0), opts.reps, false), null]);
  rows.push(['Mean [32,512,64] over 1 (token-layout LN)', stockVsFixed(() => tf.mean(tokens, 1, true), opts.reps, false), null]);
  tf.dispose([bias, tokens]);
  const images = tf.randomUniform([60000, 28, 28, 1], 0, 1, 'float32', 6);
  const batchIndices = tf.tensor1d(Array.from({length: opts.batch}, (_, i) => (i * 7919) % 60000), 'int32');
  rows.push([`GatherV2 ${opts.batch} of [60000,28,28,1] (a fit batch)`, stockVsFixed(() => tf.gather(images, batchIndices), opts.reps, false), null]);
  tf.dispose([images, batchIndices]);
  for (const mode of ['BP', 'LG-FG-A'] as const) {
    const mixer = mixerStep(mode, opts.mixerBatch);
    rows.push([`M/8/16 ${mode} step, batch ${opts.mixerBatch} (${LAYOUT_KERNELS.join('/')})`,
               await stockVsFixedOf(LAYOUT_KERNELS, mixer.step, opts.reps), null]);
    mixer.dispose();
  }
  const conv = convStep(opts.batch);
  installWasmKernels();
  timeOnce(conv.step);
  const convTimes = Array.from({length: opts.reps}, () => timeOnce(conv.step));
  conv.dispose();
  for (const [name, t, g] of rows) {
    const s = median(t.stock), f = median(t.fixed);
    const rate = g == null ? '' : `, ${(g / s * 1e3).toFixed(1)} → ${(g / f * 1e3).toFixed(1)} GFLOP/s`;
    console.log(`${name.padEnd(52)} fixed/stock ${x2(pairedRatio(t.fixed, t.stock))} ` +
                `(IQR ${pairedSpread(t.fixed, t.stock)}; ms ${ms(s)} → ${ms(f)}${rate})`);
  }
  console.log(`${`conv net train step, batch ${opts.batch}`.padEnd(40)} fixed only (stock wasm has no ` +
              `Conv2DBackpropFilter): ms ${ms(median(convTimes))}`);
  if (opts.threads) {
    const one = runChild(opts, 1), two = runChild(opts, 2);
    const t1 = median(one.times), t2 = median(two.times);
    console.log(`\nmatMul ${S}³, threads 2/1 (child processes; threads in effect: ${one.threads} and ${two.threads}): ` +
                `time ${x2(t2 / t1)} (ms ${ms(t1)} → ${ms(t2)}, ${(gflop / t1 * 1e3).toFixed(1)} → ` +
                `${(gflop / t2 * 1e3).toFixed(1)} GFLOP/s)`);
  }
}

main().catch(e => {
  console.error(e instanceof UsageError ? e.message : e);
  process.exit(e instanceof UsageError ? 2 : 1);
});
