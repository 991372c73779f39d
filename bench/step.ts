/**
 * Benchmark: cost of one TRAINING STEP by forward gradients (FG-W, FG-A) against backprop (BP),
 * through the real path, `model.fit` with `fg.callbacks.forwardGradient()`.
 *
 * For each backend and model it times, interleaved in one process (warm-up first, then rotating
 * reps; medians), `model.fit` over R batches (ms/step = fit time / R) of four variants, each a
 * copy of the same model with the same initial weights:
 *   fgw   fg.optimizers.forwardGradient({perturb: 'weight'})    + the forwardGradient callback
 *   fga   fg.optimizers.forwardGradient({perturb: 'activity'})  + the forwardGradient callback
 *   bp    fg.optimizers.forwardGradient({perturb: 'none'})      + the callback (the BP baseline:
 *         exact gradients through the same optimizer pipeline)
 *   sgd   plain tf.train.sgd, no callback (tfjs's own path, for reference)
 * and the peak memory of one step: the data buffers alive during `model.trainOnBatch(x, y)` above
 * those alive when it starts (the step's working set; each buffer counted once, see
 * `peakBufferBytes`), plus the number of kernels the step runs (`tf.profile`). It prints RATIOS to bp; absolute ms and MB are supporting detail only.
 *
 * Run: npx tsc -p tsconfig.test.json && node build/bench/step.js --backends wasm,cpu
 * (see bench/README.md)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {parseArgs} from 'util';

import * as fg from '../src';
import {Column, flagParsers, median, ms, pairedRatio, pairedSpread, peakBufferBytes, printTable, quantile, setUpBackends, UsageError, x2} from './report';
import {BUILDERS, randomData} from './models';
import {ForwardGradientOptimizer} from '../src/optimizers/forward_gradient_optimizer';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');

// ---------------------------------------------------------------------------------------------
// Command line

const MODEL_NAMES = ['mlp', 'cnn', 'mixer'] as const;
type ModelName = typeof MODEL_NAMES[number];

const VARIANT_NAMES = ['fgw', 'fga', 'bp', 'sgd'] as const;
type VariantName = typeof VARIANT_NAMES[number];

interface Options {
  backends: string[];
  models: ModelName[];
  batch: number;
  /** Timed reps per backend (undefined: the backend's default). */
  reps?: number;
  /** Batches per timed fit, R (undefined: the backend's default). */
  steps?: number;
  /** Untimed warm-up fits per variant (undefined: the backend's default). */
  warmup?: number;
  learningRate: number;
  seed: number;
}

/** cpu is ~20× slower than wasm: fewer reps and batches there keep a full run within minutes. */
const DEFAULTS: Record<string, {reps: number, steps: number, warmup: number}> = {
  wasm: {reps: 4, steps: 3, warmup: 1},
  cpu: {reps: 2, steps: 2, warmup: 1},
};

function repsOf(opts: Options, backend: string): {reps: number, steps: number, warmup: number} {
  const d = DEFAULTS[backend] ?? DEFAULTS.wasm;
  return {reps: opts.reps ?? d.reps, steps: opts.steps ?? d.steps, warmup: opts.warmup ?? d.warmup};
}

/** A bad command line: printed without a stack trace. */
const USAGE = `usage: node build/bench/step.js [options]
  --backends LIST    comma-separated tfjs backends (default: wasm,cpu)
  --models LIST      comma-separated subset of ${MODEL_NAMES.join(',')} (default: all)
  --batch N          examples per batch (default: 128)
  --reps N           timed rounds (default: wasm 4, cpu 2)
  --steps R          batches per timed model.fit; ms/step = fit time / R (default: wasm 3, cpu 2)
  --warmup N         untimed warm-up fits per variant (default: 1)
  --lr X             learning rate of every variant's SGD (default: 1e-4: random data, keep weights sane)
  --seed N           seed of the initial weights, the data and the FG noise (default: 1)
  --help`;

const FLAGS = {
  backends: {type: 'string', default: 'wasm,cpu'},
  models: {type: 'string', default: MODEL_NAMES.join(',')},
  batch: {type: 'string', default: '128'},
  reps: {type: 'string'},
  steps: {type: 'string'},
  warmup: {type: 'string'},
  lr: {type: 'string', default: '1e-4'},
  seed: {type: 'string', default: '1'},
  help: {type: 'boolean', default: false},
} as const;

function parseOptions(argv: string[]): Options {
  let values;
  try {
    values = parseArgs({args: argv, options: FLAGS, strict: true, allowPositionals: false}).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const {int, list, names} = flagParsers(USAGE);
  const models = names('models', values.models, MODEL_NAMES);
  const lr = Number(values.lr);
  if (!(lr > 0)) {
    throw new UsageError(`--lr must be > 0. Received: ${values.lr}.\n${USAGE}`);
  }
  return {
    backends: list(values.backends),
    models,
    batch: int('batch', values.batch, 1),
    reps: values.reps == null ? undefined : int('reps', values.reps, 1),
    steps: values.steps == null ? undefined : int('steps', values.steps, 1),
    warmup: values.warmup == null ? undefined : int('warmup', values.warmup, 0),
    learningRate: lr,
    seed: int('seed', values.seed, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Models and data (the models of bench/jvp.ts)

function optimizerOf(variant: VariantName, lr: number, seed: number): tf.Optimizer {
  switch (variant) {
    case 'fgw': return fg.optimizers.forwardGradient({perturb: 'weight', optimizer: 'sgd', learningRate: lr, seed});
    case 'fga': return fg.optimizers.forwardGradient({perturb: 'activity', optimizer: 'sgd', learningRate: lr, seed});
    case 'bp': return fg.optimizers.forwardGradient({perturb: 'none', optimizer: 'sgd', learningRate: lr, seed});
    case 'sgd': return tf.train.sgd(lr);
  }
}

// ---------------------------------------------------------------------------------------------
// One backend × model

interface Row {
  backend: string;
  model: string;
  variant: VariantName;
  msPerStep?: number;
  timeRatio?: number;
  timeIqr?: string;
  /** Time ratio to plain tf.train.sgd (tfjs's own backprop path, without the FG pipeline). */
  timeRatioSgd?: number;
  /** Peak bytes above the bytes alive at the start of one step. */
  peakBytes?: number;
  peakRatio?: number;
  kernels?: number;
  params?: number;
  reps?: number;
  steps?: number;
  note?: string;
  error?: string;
}

/** Notes about a backend × model as a whole (leaks), printed after the table. */
const groupNotes: string[] = [];

interface Trainee {
  name: VariantName;
  model: tfl.LayersModel;
  callbacks: tfl.Callback[];
}

async function benchModel(backend: string, name: ModelName, opts: Options): Promise<Row[]> {
  const {reps, steps, warmup} = repsOf(opts, backend);
  const trainees: Trainee[] = [];
  const owned: tf.Tensor[] = [];
  const before = tf.memory().numTensors;
  const rows: Row[] = VARIANT_NAMES.map(variant => ({backend, model: name, variant}));
  try {
    // Four copies of one model, the same initial weights, each with its own optimizer.
    const base = BUILDERS[name]();
    const init = base.getWeights().map(w => w.clone());  // getWeights returns base's variables
    owned.push(...init);
    for (const variant of VARIANT_NAMES) {
      const model = BUILDERS[name]();
      model.setWeights(init);
      model.compile({optimizer: optimizerOf(variant, opts.learningRate, opts.seed), loss: 'categoricalCrossentropy'});
      trainees.push({name: variant, model, callbacks: variant === 'sgd' ? [] : [fg.callbacks.forwardGradient()]});
    }
    base.dispose();
    const params = trainees[0].model.countParams();
    const {x, y} = randomData(name, steps * opts.batch, opts.seed);
    owned.push(x, y);

    const fit = (t: Trainee) => async () => {
      const t0 = performance.now();
      const h = await t.model.fit(x, y, {
        batchSize: opts.batch, epochs: 1, shuffle: false, verbose: 0, callbacks: t.callbacks,
      });
      const msPerStep = (performance.now() - t0) / steps;
      const lastLoss = h.history.loss[h.history.loss.length - 1] as number;
      if (!Number.isFinite(lastLoss)) {
        rows[trainees.indexOf(t)].note = `loss ${lastLoss}`;
      }
      return msPerStep;
    };
    const variants = trainees.map(fit);
    for (let i = 0; i < warmup; i++) {
      for (const v of variants) {
        await v();
      }
    }
    const tensorsBefore = tf.memory().numTensors;
    const times = variants.map(() => [] as number[]);
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < variants.length; k++) {
        const j = (r + k) % variants.length;
        times[j].push(await variants[j]());
      }
    }
    const leaked = tf.memory().numTensors - tensorsBefore;

    // Sanity check: every trainable weight of every variant must have moved from its initial value
    // (an estimator that silently leaves a layer at zero gradient would look fast).
    for (const [i, t] of trainees.entries()) {
      const moved = await Promise.all(t.model.getWeights().map(async (w, j) => {
        const m = tf.tidy(() => tf.max(tf.abs(tf.sub(w, init[j]))));
        const v = (await m.data())[0];  // async read: webgpu in node has no synchronous readback
        m.dispose();
        return v;
      }));
      const frozen = moved.map((v, j) => ({v, j})).filter(({v}) => v === 0);
      if (frozen.length > 0) {
        const names = frozen.map(({j}) => t.model.weights[j].name);
        rows[i].note = (rows[i].note ? rows[i].note + '; ' : '') +
            `${frozen.length}/${init.length} weights never updated: ` +
            (names.length > 4 ? `${names.slice(0, 4).join(', ')}, ...` : names.join(', '));
      }
    }

    // Peak memory and kernel count of one step, through trainOnBatch (no callbacks there: attach
    // the model the way the callback does, then detach).
    const [xb, yb] = [tf.slice(x, 0, opts.batch), tf.slice(y, 0, opts.batch)];
    owned.push(xb, yb);
    const peaks: number[] = [], kernels: number[] = [];
    for (const t of trainees) {
      const opt = t.model.optimizer;
      const fgOpt = opt instanceof ForwardGradientOptimizer ? opt : null;
      fgOpt?.attach(t.model);
      try {
        let kernelCount = 0;
        peaks.push(await peakBufferBytes(async () => {
          kernelCount = (await tf.profile(() => t.model.trainOnBatch(xb, yb))).kernels.length;
        }));
        kernels.push(kernelCount);
      } finally {
        fgOpt?.detach();
      }
    }

    const bp = VARIANT_NAMES.indexOf('bp'), sgd = VARIANT_NAMES.indexOf('sgd');
    rows.forEach((row, i) => {
      row.params = params;
      row.reps = reps;
      row.steps = steps;
      row.msPerStep = median(times[i]);
      row.timeRatio = pairedRatio(times[i], times[bp]);
      row.timeIqr = pairedSpread(times[i], times[bp]);
      row.timeRatioSgd = pairedRatio(times[i], times[sgd]);
      row.peakBytes = peaks[i];
      row.peakRatio = peaks[i] / peaks[bp];
      row.kernels = kernels[i];
    });
    if (leaked !== 0) {
      groupNotes.push(`${backend}/${name}: tensor count changed by ${leaked} over the timed reps (all variants)`);
    }
  } catch (err) {
    if (process.env.STEP_DEBUG) console.error(err);
    const message = (err as Error).message.split('\n')[0];
    rows.forEach(r => r.error = message);
  } finally {
    owned.forEach(t => t.dispose());
    for (const t of trainees) {
      t.model.optimizer?.dispose();
      t.model.dispose();
    }
  }
  const after = tf.memory().numTensors;
  if (after !== before && rows[0].error == null) {
    groupNotes.push(`${backend}/${name}: ${after - before} tensors left after disposing the models and ` +
                    `optimizers (all variants)`);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Output

const mb = (b?: number) => b == null ? '-' : (b / 2 ** 20).toFixed(1);

const LABELS: Record<VariantName, string> = {
  fgw: 'FG-W', fga: 'FG-A', bp: 'BP', sgd: 'sgd (ref)',
};

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  console.log(`training-step benchmark: batch ${opts.batch}, SGD lr ${opts.learningRate}, ` +
              `node ${process.version}, tfjs-core ${tf.version_core}`);
  console.log('variants: FG-W = forwardGradient({perturb: weight}), FG-A = {perturb: activity}, ' +
              'BP = {perturb: none} (same pipeline), sgd = plain tf.train.sgd;');
  console.log('time: model.fit over R batches (FG variants with fg.callbacks.forwardGradient()), ' +
              'ratios = medians of per-round ratios to BP, rounds in rotating order;');
  console.log('peak: the data buffers alive during model.trainOnBatch(x, y) above those alive ' +
              'before the step (the step\'s working set).\n');

  await setUpBackends(opts.backends);
  const rows: Row[] = [];
  for (const backend of opts.backends) {
    try {
      if (!(await tf.setBackend(backend))) {
        throw new Error('setBackend returned false');
      }
      await tf.ready();
    } catch (err) {
      console.log(`${backend}: backend unavailable: ${(err as Error).message}`);
      continue;
    }
    if (backend === 'wasm') {
      fg.backends.installWasmKernels();  // the plain-sgd reference too (conv weight gradients, fast transposed matmuls)
      console.log(`wasm: SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, ` +
                  `threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`);
    }
    for (const name of opts.models) {
      const t0 = performance.now();
      const r = await benchModel(backend, name, opts);
      rows.push(...r);
      const by = (v: VariantName) => r.find(x => x.variant === v)!;
      console.log(r[0].error != null ? `${backend}/${name}: FAILED: ${r[0].error}` :
                  `${backend}/${name}: FG-A/BP time ${x2(by('fga').timeRatio)}, ` +
                  `FG-W/BP ${x2(by('fgw').timeRatio)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
  }

  const ok = rows.filter(r => r.error == null);
  console.log('');
  printTable<Row>([
    {head: 'backend', cell: r => r.backend, left: true},
    {head: 'model', cell: r => r.model, left: true},
    {head: 'variant', cell: r => LABELS[r.variant], left: true},
    {head: 'ms/step', cell: r => ms(r.msPerStep)},
    {head: 'time/BP', cell: r => x2(r.timeRatio)},
    {head: 'IQR', cell: r => r.variant === 'bp' ? '' : r.timeIqr ?? '-'},
    {head: 'time/sgd', cell: r => x2(r.timeRatioSgd)},
    {head: 'peak MB', cell: r => mb(r.peakBytes)},
    {head: 'peak/BP', cell: r => x2(r.peakRatio)},
    {head: 'kernels/step', cell: r => r.kernels == null ? '-' : String(r.kernels)},
    {head: 'params', cell: r => r.params == null ? '-' : String(r.params)},
    {head: 'reps×R', cell: r => r.reps == null ? '-' : `${r.reps}×${r.steps}`},
  ], ok, r => r.note ? `   (${r.note})` : '');
  const failed = new Set(rows.filter(r => r.error != null).map(r => `${r.backend}/${r.model}: error: ${r.error}`));
  failed.forEach(f => console.log(f));
  groupNotes.forEach(n => console.log(`note: ${n}`));

  const target = 1.0;
  const groups = [...new Set(ok.map(r => `${r.backend}/${r.model}`))];
  const get = (g: string, v: VariantName) => ok.find(r => `${r.backend}/${r.model}` === g && r.variant === v)!;
  const within = groups.filter(g => get(g, 'fga').timeRatio! <= target).length;
  console.log(
      `\nRATIOS to BP (issue target FG-A time ≤ ${target.toFixed(1)}x BP): ` +
      groups.map(g => `${g} time FG-A ${x2(get(g, 'fga').timeRatio)} FG-W ${x2(get(g, 'fgw').timeRatio)} ` +
                      `sgd ${x2(get(g, 'sgd').timeRatio)} (FG-A/sgd ${x2(get(g, 'fga').timeRatioSgd)}), ` +
                      `peak FG-A ${x2(get(g, 'fga').peakRatio)} ` +
                      `FG-W ${x2(get(g, 'fgw').peakRatio)}`).join('; ') +
      ` | FG-A ${within}/${groups.length} within target` + (failed.size > 0 ? `, ${failed.size} failed` : ''));
}

main().catch(err => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(1);
});
