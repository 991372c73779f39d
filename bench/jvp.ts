/**
 * Benchmark: cost of forward-mode JVP relative to the plain forward pass, on tfjs-layers models.
 *
 * For each backend and model it times, interleaved in one process (warm-up first, then rotating
 * reps; medians):
 *   fwd   f() = loss(model.apply(x, {training: true}), y)                  (no tangents)
 *   jvp   the same f with one random tangent seeded on every trainable weight (FG-W style)
 *   jvpK  the same with K directions at once (tangent batch shape [K], K = --directions)
 * and prints RATIOS (jvp/fwd, jvpK/fwd, jvpK/(K·jvp)); absolute ms are supporting detail only.
 * Optionally (when `@jax-js/jax` is installed) it times jax-js's jvp of the same MLP in the same run.
 *
 * Run: npm run bench:jvp -- --backends cpu,wasm --models mlp,cnn,mixer   (see bench/README.md)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'fs';
import * as path from 'path';
import {parseArgs} from 'util';

import {seedTangent, tangentOf, withTangents} from '../src/autodiff';
import {Column, flagParsers, median, ms, pairedRatio, pairedSpread, printTable, quantile, setUpBackends, UsageError, x2} from './report';
import {BENCH_MODELS, BenchModelName, BUILDERS, buildMlp, randomData} from './models';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
require('@tensorflow/tfjs-layers');  // registers tfjs's gradients in node (used by fallback rules)

// ---------------------------------------------------------------------------------------------
// Command line

const MODEL_NAMES = BENCH_MODELS;
type ModelName = BenchModelName;

interface Options {
  backends: string[];
  models: ModelName[];
  batch: number;
  /** Timed reps per backend (undefined: the backend's default). */
  reps?: number;
  /** Untimed warm-up runs per variant (undefined: the backend's default). */
  warmup?: number;
  directions: number;
  jaxjs: boolean;
  seed: number;
}

const DEFAULT_REPS: Record<string, number> = {wasm: 10, cpu: 5};
const DEFAULT_WARMUP: Record<string, number> = {wasm: 2, cpu: 1};

function repsOf(opts: Options, backend: string): {reps: number, warmup: number} {
  return {
    reps: opts.reps ?? DEFAULT_REPS[backend] ?? 10,
    warmup: opts.warmup ?? DEFAULT_WARMUP[backend] ?? 2,
  };
}

/** A bad command line: printed without a stack trace. */
const USAGE = `usage: node build/bench/jvp.js [options]
  --backends LIST    comma-separated tfjs backends (default: cpu,wasm)
  --models LIST      comma-separated subset of ${MODEL_NAMES.join(',')} (default: all)
  --batch N          examples per batch (default: 128)
  --reps N           timed reps per variant (default: wasm 10, cpu 5, others 10)
  --warmup N         untimed warm-up runs per variant (default: wasm 2, cpu 1, others 2)
  --directions K     tangent directions of the batched variant; 0 or 1 skips it (default: 8)
  --no-jaxjs         skip the optional @jax-js/jax comparison
  --seed N           seed of the random weights, inputs and tangents (default: 1)
  --help`;

const FLAGS = {
  backends: {type: 'string', default: 'cpu,wasm'},
  models: {type: 'string', default: MODEL_NAMES.join(',')},
  batch: {type: 'string', default: '128'},
  reps: {type: 'string'},
  warmup: {type: 'string'},
  directions: {type: 'string', default: '8'},
  'no-jaxjs': {type: 'boolean', default: false},
  seed: {type: 'string', default: '1'},
  help: {type: 'boolean', default: false},
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseArgs({args: argv, options: FLAGS, strict: true, allowPositionals: false}).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
}

function parseOptions(argv: string[]): Options {
  const values = parseFlags(argv);
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const {int, list, names} = flagParsers(USAGE);
  const models = names('models', values.models, MODEL_NAMES);
  return {
    backends: list(values.backends),
    models,
    batch: int('batch', values.batch, 1),
    reps: values.reps == null ? undefined : int('reps', values.reps, 1),
    warmup: values.warmup == null ? undefined : int('warmup', values.warmup, 0),
    directions: int('directions', values.directions, 0),
    jaxjs: !values['no-jaxjs'],
    seed: int('seed', values.seed, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Models, data, loss

/** Mean categorical cross-entropy of softmax outputs `p` against one-hot `y` (Keras's clipping). */
function loss(p: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const eps = 1e-7;
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, eps, 1 - eps))), -1)));
}

/** One random normal tangent per weight, with leading batch axes `batchShape`. */
function randomTangents(weights: tf.Tensor[], batchShape: number[], seed: number): tf.Tensor[] {
  return weights.map((w, i) => tf.randomNormal([...batchShape, ...w.shape], 0, 1, 'float32', seed + i));
}

// ---------------------------------------------------------------------------------------------
// Timed variants. Each returns its wall time in ms, awaiting the results' data so that
// asynchronous backends are timed fully.

type Variant = () => Promise<number>;

function forwardVariant(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): Variant {
  return async () => {
    const t0 = performance.now();
    const l = tf.tidy(() => loss(model.apply(x, {training: true}) as tf.Tensor, y));
    await l.data();
    const ms = performance.now() - t0;
    l.dispose();
    return ms;
  };
}

/** JVP of the same loss with `tangents[i]` seeded on `weights[i]` (tangent batch `batchShape`). */
function jvpVariant(
    model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, weights: tf.Tensor[], tangents: tf.Tensor[],
    batchShape: number[]): Variant {
  return async () => {
    const t0 = performance.now();
    const [l, t] = withTangents(() => tf.tidy(() => {
      weights.forEach((w, i) => seedTangent(w, tangents[i]));
      const value = loss(model.apply(x, {training: true}) as tf.Tensor, y);
      const tangent = tangentOf(value);
      if (tangent == null) {
        throw new Error('the loss has no tangent: no seeded weight reached it');
      }
      return [value, tangent];
    }), {batchShape});
    await Promise.all([l.data(), t.data()]);
    const ms = performance.now() - t0;
    l.dispose();
    t.dispose();
    return ms;
  };
}

/**
 * Runs every variant `warmup` times, then `reps` timed rounds; the order of the variants rotates
 * from round to round so that drift on a noisy machine is shared. Returns the times per variant.
 */
async function interleave(variants: Variant[], warmup: number, reps: number): Promise<number[][]> {
  for (let i = 0; i < warmup; i++) {
    for (const v of variants) {
      await v();
    }
  }
  const times = variants.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < variants.length; k++) {
      const j = (r + k) % variants.length;
      times[j].push(await variants[j]());
    }
  }
  return times;
}


/**
 * Multiply-adds of the layers with a kernel (Dense, Conv2D): the forward pass does y = x·W
 * (out elements × fan-in each); the tangent pass does ẋ·W + x·Ẇ, i.e. twice that, except in the
 * first such layer, whose input x has no tangent (only x·Ẇ). Elementwise ops are ignored, so the
 * ideal ratios are (forward + tangent) / forward and (forward + K·tangent) / forward.
 */
function layerMacs(model: tfl.LayersModel, batch: number): {forward: number, tangent: number} {
  let forward = 0, tangent = 0, first = true;
  for (const layer of model.layers) {
    const kernel = layer.trainableWeights.find(w => w.shape.length >= 2);
    if (kernel == null) {
      continue;
    }
    const outShape = layer.outputShape as (number|null)[];
    const outElems = outShape.reduce((p: number, d) => p * (d ?? batch), 1);
    const fanIn = kernel.shape.slice(0, -1).reduce((p: number, d) => p * (d ?? 1), 1);
    const m = outElems * fanIn;
    forward += m;
    tangent += first ? m : 2 * m;
    first = false;
  }
  return {forward, tangent};
}

// ---------------------------------------------------------------------------------------------
// One backend × model

interface Row {
  backend: string;
  model: string;
  fwdMs?: number;
  jvpMs?: number;
  jvpKMs?: number;
  jvpOverFwd?: number;
  /** Interquartile range of the per-round jvp/fwd ratios (how noisy the machine was). */
  jvpOverFwdIqr?: string;
  jvpKOverFwd?: number;
  jvpKOverKJvp?: number;
  /** jvp/fwd and jvpK/fwd that the multiply-add count of the Dense/Conv layers alone predicts. */
  idealJvp?: number;
  idealJvpK?: number;
  params?: number;
  reps?: number;
  note?: string;
  error?: string;
}

async function benchModel(backend: string, name: ModelName, opts: Options): Promise<Row> {
  const row: Row = {backend, model: name};
  const {reps, warmup} = repsOf(opts, backend);
  const K = opts.directions;
  const owned: tf.Tensor[] = [];
  let model: tfl.LayersModel|null = null;
  const before = tf.memory().numTensors;
  try {
    model = BUILDERS[name]();
    const m = model;
    const {x, y} = randomData(name, opts.batch, opts.seed);
    owned.push(x, y);
    const weights = m.trainableWeights.map(w => w.read());
    row.params = weights.reduce((s, w) => s + w.size, 0);
    const macs = layerMacs(m, opts.batch);
    row.idealJvp = (macs.forward + macs.tangent) / macs.forward;
    row.idealJvpK = (macs.forward + Math.max(K, 1) * macs.tangent) / macs.forward;
    const t1 = randomTangents(weights, [], opts.seed + 100);
    owned.push(...t1);
    const variants = [forwardVariant(m, x, y), jvpVariant(m, x, y, weights, t1, [])];
    if (K > 1) {
      const tK = randomTangents(weights, [K], opts.seed + 200);
      owned.push(...tK);
      variants.push(jvpVariant(m, x, y, weights, tK, [K]));
    }
    const tensorsBefore = tf.memory().numTensors;
    const times = await interleave(variants, warmup, reps);
    const leaked = tf.memory().numTensors - tensorsBefore;
    row.reps = reps;
    row.fwdMs = median(times[0]);
    row.jvpMs = median(times[1]);
    row.jvpOverFwd = pairedRatio(times[1], times[0]);
    row.jvpOverFwdIqr = pairedSpread(times[1], times[0]);
    if (K > 1) {
      row.jvpKMs = median(times[2]);
      row.jvpKOverFwd = pairedRatio(times[2], times[0]);
      row.jvpKOverKJvp = pairedRatio(times[2], times[1].map(t => K * t));
    }
    if (leaked !== 0) {
      row.note = `tensor count changed by ${leaked} over the timed reps`;
    }
  } catch (err) {
    row.error = (err as Error).message.split('\n')[0];
  } finally {
    owned.forEach(t => t.dispose());
    model?.dispose();
  }
  const after = tf.memory().numTensors;
  if (after !== before && row.error == null) {
    row.note = (row.note ? row.note + '; ' : '') + `${after - before} tensors left after dispose`;
  }
  return row;
}

// ---------------------------------------------------------------------------------------------
// Optional: jax-js (https://github.com/ekzhang/jax-js), `npm install --no-save @jax-js/jax`.
// Typed here by the few members used, so that the bench type-checks without it installed.

interface JaxArray {
  readonly ref: JaxArray;
  readonly shape: number[];
  data(): Promise<Float32Array>;  // also releases the array (jax-js arrays are reference counted)
  dispose(): void;
  add(other: JaxArray): JaxArray;
  mul(other: JaxArray|number): JaxArray;
  sum(axis?: number): JaxArray;
  mean(): JaxArray;
  reshape(shape: number[]): JaxArray;
}

type JaxParams = JaxArray[];
type JaxLoss = (p: JaxParams, x: JaxArray, y: JaxArray) => JaxArray;
type JaxJvp = (p: JaxParams, t: JaxParams, x: JaxArray, y: JaxArray) => [JaxArray, JaxArray];

interface JaxModule {
  init(...devices: string[]): Promise<string[]>;
  defaultDevice(device?: string): string;
  numpy: {
    array(data: Float32Array): JaxArray;
    matmul(a: JaxArray, b: JaxArray): JaxArray;
    log(a: JaxArray): JaxArray;
    clip(a: JaxArray, lo: number, hi: number): JaxArray;
  };
  nn: {relu(a: JaxArray): JaxArray; softmax(a: JaxArray): JaxArray};
  jvp(f: (p: JaxParams) => JaxArray, primals: [JaxParams], tangents: [JaxParams]): [JaxArray, JaxArray];
  jit<F>(f: F): F&{dispose(): void};
}

function loadJax(): {jax?: JaxModule, why?: string} {
  try {
    require.resolve('@jax-js/jax');
  } catch {
    return {why: 'not installed (npm install --no-save @jax-js/jax to include it)'};
  }
  try {
    return {jax: require('@jax-js/jax') as JaxModule};
  } catch (err) {
    return {why: `failed to load: ${(err as Error).message}`};
  }
}

/**
 * Times jax-js's forward and jvp (eager and jit-compiled) of the same MLP (the same weights, batch,
 * labels, one-direction tangents and loss, copied from a tfjs MLP) next to ours on each backend,
 * all interleaved, and prints ours/theirs.
 */
async function benchJax(opts: Options): Promise<string[]> {
  const {jax, why} = loadJax();
  if (jax == null) {
    console.log(`\njax-js comparison skipped: @jax-js/jax ${why}.`);
    return [];
  }
  // init() with no argument also probes WebGPU through `navigator`, which node 20 does not define.
  await jax.init('wasm');
  jax.defaultDevice('wasm');
  const np = jax.numpy, nn = jax.nn;
  const summary: string[] = [];
  console.log(`\njax-js (@jax-js/jax ${jaxVersion()}, device wasm) vs ours, MLP 784-1024-1024-10, ` +
              `batch ${opts.batch}, one direction:`);
  interface JaxRow {
    backend: string;
    oursJvpFwd: number;
    jaxJvpFwd: number;
    jaxJitJvpFwd: number;
    oursOverJaxFwd: number;
    oursOverJax: number;
    oursOverJaxJit: number;
    oursJvpMs: number;
    jaxJvpMs: number;
    jaxJitJvpMs: number;
    rel: number;
  }
  const jaxRows: JaxRow[] = [];
  for (const backend of opts.backends) {
    const owned: tf.Tensor[] = [];
    const jaxOwned: JaxArray[] = [];
    let model: tfl.LayersModel|null = null;
    const fns: Array<{dispose(): void}> = [];
    try {
      await tf.setBackend(backend);
      await tf.ready();
      model = buildMlp();
      const m = model;
      const {x, y} = randomData('mlp', opts.batch, opts.seed);
      owned.push(x, y);
      const weights = m.trainableWeights.map(w => w.read());
      const tangents = randomTangents(weights, [], opts.seed + 100);
      owned.push(...tangents);

      const toJax = async (t: tf.Tensor) => {
        const a = np.array(new Float32Array(await t.data())).reshape(t.shape);
        jaxOwned.push(a);
        return a;
      };
      const jw: JaxParams = [];
      for (const w of weights) {
        jw.push(await toJax(w));
      }
      const jt: JaxParams = [];
      for (const t of tangents) {
        jt.push(await toJax(t));
      }
      const jx = await toJax(x), jy = await toJax(y);
      // The same computation as tfjs-layers' Dense layers + our loss (weights [w0,b0,w1,b1,w2,b2]).
      const jaxLoss: JaxLoss = (p, xs, ys) => {
        let h = nn.relu(np.matmul(xs, p[0]).add(p[1]));
        h = nn.relu(np.matmul(h, p[2]).add(p[3]));
        const probs = nn.softmax(np.matmul(h, p[4]).add(p[5]));
        return np.log(np.clip(probs, 1e-7, 1 - 1e-7)).mul(ys).sum(-1).mean().mul(-1);
      };
      const jaxJvp: JaxJvp = (p, t, xs, ys) => jax.jvp(q => jaxLoss(q, xs, ys), [p], [t]);
      const jitJvp = jax.jit(jaxJvp);
      fns.push(jitJvp);
      const refs = (ps: JaxParams) => ps.map(p => p.ref);

      let lastOurs = NaN, lastTheirs = NaN;
      const ours = jvpVariant(m, x, y, weights, tangents, []);
      const oursTangent = async () => {
        const t = withTangents(() => tf.tidy(() => {
          weights.forEach((w, i) => seedTangent(w, tangents[i]));
          return tangentOf(loss(m.apply(x, {training: true}) as tf.Tensor, y)) as tf.Tensor;
        }));
        lastOurs = (await t.data())[0];
        t.dispose();
      };
      const variants: Variant[] = [
        forwardVariant(m, x, y),
        ours,
        async () => {
          const t0 = performance.now();
          await jaxLoss(refs(jw), jx.ref, jy.ref).data();
          return performance.now() - t0;
        },
        async () => {
          const t0 = performance.now();
          const [v, t] = jaxJvp(refs(jw), refs(jt), jx.ref, jy.ref);
          const [, td] = await Promise.all([v.data(), t.data()]);
          const ms = performance.now() - t0;
          lastTheirs = td[0];
          return ms;
        },
        async () => {
          const t0 = performance.now();
          const [v, t] = jitJvp(refs(jw), refs(jt), jx.ref, jy.ref);
          await Promise.all([v.data(), t.data()]);
          return performance.now() - t0;
        },
      ];
      const {reps, warmup} = repsOf(opts, backend);
      const times = await interleave(variants, warmup, reps);
      await oursTangent();
      const rel = Math.abs(lastOurs - lastTheirs) / Math.max(Math.abs(lastTheirs), 1e-12);
      const r: JaxRow = {
        backend,
        oursJvpFwd: pairedRatio(times[1], times[0]),
        jaxJvpFwd: pairedRatio(times[3], times[2]),
        jaxJitJvpFwd: pairedRatio(times[4], times[2]),
        oursOverJaxFwd: pairedRatio(times[0], times[2]),
        oursOverJax: pairedRatio(times[1], times[3]),
        oursOverJaxJit: pairedRatio(times[1], times[4]),
        oursJvpMs: median(times[1]),
        jaxJvpMs: median(times[3]),
        jaxJitJvpMs: median(times[4]),
        rel,
      };
      jaxRows.push(r);
      summary.push(`ours(${backend})/jax-js(wasm) jvp ${x2(r.oursOverJax)} ` +
                   `(vs jit ${x2(r.oursOverJaxJit)})`);
    } catch (err) {
      console.log(`${backend}: jax-js comparison failed: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      owned.forEach(t => t.dispose());
      model?.dispose();
      jaxOwned.forEach(a => a.dispose());
      fns.forEach(f => f.dispose());
    }
  }
  printTable<JaxRow>([
    {head: 'ours on', cell: r => r.backend, left: true},
    {head: 'ours/jax jvp', cell: r => x2(r.oursOverJax)},
    {head: 'ours/jax-jit jvp', cell: r => x2(r.oursOverJaxJit)},
    {head: 'ours/jax fwd', cell: r => x2(r.oursOverJaxFwd)},
    {head: 'ours jvp/fwd', cell: r => x2(r.oursJvpFwd)},
    {head: 'jax jvp/fwd', cell: r => x2(r.jaxJvpFwd)},
    {head: 'jax-jit jvp/fwd', cell: r => x2(r.jaxJitJvpFwd)},
    {head: 'ours jvp ms', cell: r => ms(r.oursJvpMs)},
    {head: 'jax jvp ms', cell: r => ms(r.jaxJvpMs)},
    {head: 'jax-jit jvp ms', cell: r => ms(r.jaxJitJvpMs)},
    {head: '|Δtangent|/|tangent|', cell: r => r.rel.toExponential(1)},
  ], jaxRows);
  console.log('(ours/jax > 1: ours is slower. jax-js times its eager jvp and jit(jvp), ' +
              'both read back with await .data().)');
  return summary;
}

function jaxVersion(): string {
  try {  // its package.json is not in its "exports": read it next to the resolved entry point
    const dir = path.dirname(path.dirname(require.resolve('@jax-js/jax')));
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {version: string})
        .version;
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------
// Output


async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const K = opts.directions;
  const fallbacks = new Set<string>();
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    const m = /kernel '([^']+)' has no JVP rule/.exec(String(args[0]));
    if (m != null) {
      fallbacks.add(m[1]);
    }
    warn(...args);
  };
  console.log(`jvp benchmark: batch ${opts.batch}, ` +
              `warm-up ${opts.warmup ?? 'default (wasm 2, cpu 1)'}, ` +
              `reps ${opts.reps ?? 'default (wasm 10, cpu 5)'}, K = ${K} directions; ` +
              `node ${process.version}, tfjs-core ${tf.version_core}`);
  console.log('ratios are medians of per-round ratios (each round times every variant once, ' +
              'in rotating order); ms are medians.\n');

  await setUpBackends(opts.backends);
  const rows: Row[] = [];
  for (const backend of opts.backends) {
    try {
      if (!(await tf.setBackend(backend))) {
        throw new Error('setBackend returned false');
      }
      await tf.ready();
    } catch (err) {
      rows.push({backend, model: '*', error: `backend unavailable: ${(err as Error).message}`});
      continue;
    }
    if (backend === 'wasm') {
      console.log(`wasm: SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, ` +
                  `threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`);
    }
    for (const name of opts.models) {
      const row = await benchModel(backend, name, opts);
      rows.push(row);
      console.log(row.error != null ? `${backend}/${name}: FAILED: ${row.error}` :
                                      `${backend}/${name}: jvp/fwd ${x2(row.jvpOverFwd)}`);
    }
  }

  const batched = K > 1;
  const columns: Column<Row>[] = [
    {head: 'backend', cell: r => r.backend, left: true},
    {head: 'model', cell: r => r.model, left: true},
    {head: 'jvp/fwd', cell: r => x2(r.jvpOverFwd)},
    {head: 'IQR', cell: r => r.jvpOverFwdIqr ?? '-'},
    {head: '(ideal)', cell: r => x2(r.idealJvp)},
    ...(batched ? [
      {head: `jvp${K}/fwd`, cell: (r: Row) => x2(r.jvpKOverFwd)},
      {head: '(ideal)', cell: (r: Row) => x2(r.idealJvpK)},
      {head: `jvp${K}/(${K}·jvp)`, cell: (r: Row) => x2(r.jvpKOverKJvp)},
      {head: '(ideal)', cell: (r: Row) => x2(r.idealJvpK! / (K * r.idealJvp!))},
    ] : []),
    {head: 'fwd ms', cell: r => ms(r.fwdMs)},
    {head: 'jvp ms', cell: r => ms(r.jvpMs)},
    ...(batched ? [{head: `jvp${K} ms`, cell: (r: Row) => ms(r.jvpKMs)}] : []),
    {head: 'params', cell: r => r.params == null ? '-' : String(r.params)},
    {head: 'reps', cell: r => r.reps == null ? '-' : String(r.reps)},
  ];
  const ok = rows.filter(r => r.error == null);
  console.log('');
  printTable(columns, ok, r => r.note ? `   (${r.note})` : '');
  for (const r of rows.filter(r => r.error != null)) {
    console.log(`${r.backend}/${r.model}: error: ${r.error}`);
  }
  console.log('(ideal: what the multiply-adds of the Dense/Conv layers alone predict; see ' +
              'bench/README.md)');
  if (fallbacks.size > 0) {
    console.log(`\nkernels run through the gradient-derived fallback (slow; no JVP rule yet): ` +
                [...fallbacks].sort().join(', '));
  }

  let jaxSummary: string[] = [];
  if (opts.jaxjs && opts.models.includes('mlp')) {
    jaxSummary = await benchJax(opts);
  }

  const target = 2.5;
  const within = ok.filter(r => (r.jvpOverFwd ?? Infinity) <= target).length;
  console.log(
      `\nRATIOS (issue target jvp/fwd ≤ ${target}x): ` +
      ok.map(r => `${r.backend}/${r.model} jvp/fwd ${x2(r.jvpOverFwd)}` +
                  (batched ? ` jvp${K}/fwd ${x2(r.jvpKOverFwd)} jvp${K}/(${K}·jvp) ${x2(r.jvpKOverKJvp)}` : ''))
          .join('; ') +
      ` | ${within}/${ok.length} within target` +
      (rows.length > ok.length ? `, ${rows.length - ok.length} failed` : '') +
      (jaxSummary.length > 0 ? ` | ${jaxSummary.join('; ')}` : ''));
}

main().catch(err => {
  console.error(err instanceof UsageError ? err.message : err);
  process.exit(1);
});
