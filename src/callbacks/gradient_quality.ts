/**
 * `GradientQualityCallback`: every N training steps, measures how close the optimizer's gradient
 * estimate is to the exact (backprop) gradient of the same step — same batch, same forward pass
 * (same dropout masks and batch statistics), same weights — and reports the cosine similarity and
 * the relative squared error, overall and per layer.
 *
 * How: on a measured step only, the optimizer's `computeGradients` is wrapped (an instance property,
 * installed in `onBatchBegin` and removed when that step's `computeGradients` returns or throws; if
 * `fit` throws between the two, the hook measures nothing outside that `fit` and goes at the
 * optimizer's next step). The wrapper runs the optimizer's own
 * `computeGradients(f, vars)` inside `tf.variableGrads`: the model's loss closure `f` runs ONCE (its
 * metrics, loss bookkeeping and BatchNormalization updates happen once, as in any step), the
 * forward-gradient estimate is computed as usual, and the engine's tape, recording the same forward
 * pass, yields the exact gradient of the very loss value the step returns. The tangent computations
 * are recorded too but are not on the path to the loss, so they do not contribute. The estimate that
 * is compared is the one the step then applies (its noise is the step's own, seeded or not). The
 * callbacks measuring one optimizer share one hook (and one measurement per step).
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';
import {Callback} from '@tensorflow/tfjs-layers';

import {clearingTapeOnThrow} from '../autodiff/internal';
import {ValueError} from '../errors';
import {ForwardGradientOptimizer} from '../optimizers/forward_gradient_optimizer';

/** Options of `fg.callbacks.gradientQuality`. */
export interface GradientQualityArgs {
  /** Measure every `every`-th training step (steps 0, every, 2·every, … of each `fit`). Defaults to 100. */
  every?: number;
  /** Also report per layer (`gq_cos/<layer>`, `gq_rel_sq_err/<layer>`). Defaults to true. */
  perLayer?: boolean;
  /** Add the measurements to the batch logs of measured steps. Defaults to true. */
  logs?: boolean;
}

/** Quality of the estimate of one group of variables (all of them, or one layer's). */
export interface GradientQualityStats {
  /** Cosine similarity cos(ĝ, g) (NaN if either is zero, e.g. on a skipped non-finite step). */
  cos: number;
  /** Relative squared error ‖ĝ − g‖² / ‖g‖². */
  relSqErr: number;
  /** ‖ĝ‖ / ‖g‖. */
  normRatio: number;
  /** ‖g‖, the norm of the exact gradient. */
  exactNorm: number;
  /** ‖ĝ‖, the norm of the estimate. */
  estimateNorm: number;
}

/** One measurement: a measured step. */
export interface GradientQualityRecord extends GradientQualityStats {
  /** Step within the `fit` call, counting batches across epochs from 0. */
  step: number;
  epoch: number;
  /** Batch index within the epoch. */
  batch: number;
  /** Per layer (the variable name before its first '/'), in the order of the model's weights. */
  layers: {[layer: string]: GradientQualityStats};
}

type ComputeGradients = tf.Optimizer['computeGradients'];

/** Batch logs as tfjs-layers passes them to callbacks. */
type Logs = {[key: string]: number|tf.Scalar};

/** Device-side results of a measured step, read in onBatchEnd. */
interface Pending {
  /** [numVariables, 4]: ⟨ĝ,g⟩, ‖ĝ‖², ‖g‖², ‖ĝ−g‖² per variable (kept). */
  sums: Tensor;
  names: string[];
}

/** The layer a variable belongs to: its name up to the first '/'. */
export function layerOfVariable(variableName: string): string {
  const i = variableName.indexOf('/');
  return i < 0 ? variableName : variableName.slice(0, i);
}

function statsOf(dot: number, ee: number, gg: number, dd: number): GradientQualityStats {
  const exactNorm = Math.sqrt(gg), estimateNorm = Math.sqrt(ee);
  return {
    cos: dot / (exactNorm * estimateNorm),
    relSqErr: dd / gg,
    normRatio: estimateNorm / exactNorm,
    exactNorm,
    estimateNorm,
  };
}

/**
 * A `model.fit` / `fitDataset` callback that measures, every `every` steps, the cosine similarity
 * and the relative squared error of the optimizer's gradient estimate against the exact backprop
 * gradient of the same step. See `gradientQuality`.
 */
export class GradientQualityCallback extends Callback {
  readonly every: number;
  readonly perLayer: boolean;
  readonly logToBatchLogs: boolean;
  /** Every measurement of every `fit` this callback took part in, in order. */
  readonly history: GradientQualityRecord[] = [];

  private optimizer: tf.Optimizer|null = null;
  private step = 0;
  private epoch = 0;
  /** The current step is to be measured (set in onBatchBegin, cleared by the measurement). */
  private armed = false;
  private pending: Pending|null = null;
  /** The History object of the `fit` this callback is in (identifies that fit). */
  private fitHistory: unknown = null;

  constructor(args: GradientQualityArgs = {}) {
    super();
    if (args == null || typeof args !== 'object') {
      throw new ValueError(`gradientQuality: args must be an object. Received: ${String(args)}.`);
    }
    const every = args.every ?? 100;
    if (!Number.isInteger(every) || every < 1) {
      throw new ValueError(`gradientQuality: every must be a positive integer. Received: ${every}.`);
    }
    this.every = every;
    this.perLayer = args.perLayer ?? true;
    this.logToBatchLogs = args.logs ?? true;
    // tfjs-layers calls the methods of plain {onBatchEnd} objects unbound (see LearningRateScheduler).
    this.onTrainBegin = this.onTrainBegin.bind(this);
    this.onEpochBegin = this.onEpochBegin.bind(this);
    this.onBatchBegin = this.onBatchBegin.bind(this);
    this.onBatchEnd = this.onBatchEnd.bind(this);
    this.onTrainEnd = this.onTrainEnd.bind(this);
  }

  override async onTrainBegin(): Promise<void> {
    if (this.model == null) {
      throw new ValueError(
          'gradientQuality: no model was set. Pass it to model.fit among callbacks that are all ' +
          'callback objects (wrap plain {onBatchEnd: …} objects in new tf.CustomCallback(…)).');
    }
    const optimizer = this.model.optimizer;
    if (optimizer == null) {
      throw new ValueError('gradientQuality: the model has no optimizer; compile it first.');
    }
    this.stepDone();  // a previous fit that threw between onBatchBegin and its step
    this.fitHistory = (this.model as unknown as {history?: unknown}).history;
    this.step = 0;
    this.epoch = 0;
    this.optimizer = optimizer;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchBegin(): Promise<void> {
    this.discardPending();
    this.stepDone();
    this.armed = this.step % this.every === 0;
    if (this.armed && this.optimizer != null) {
      attach(this.optimizer, this);
    }
  }

  override async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    const step = this.step++;
    this.stepDone();
    const pending = this.pending;
    if (pending == null) {
      return;
    }
    this.pending = null;
    let sums: Float32Array;
    try {
      sums = await pending.sums.data() as Float32Array;
    } finally {
      pending.sums.dispose();
    }
    const total = [0, 0, 0, 0];
    const perLayer = new Map<string, number[]>();
    pending.names.forEach((name, i) => {
      const row = sums.subarray(4 * i, 4 * i + 4);
      const layer = layerOfVariable(name);
      let acc = perLayer.get(layer);
      if (acc == null) {
        acc = [0, 0, 0, 0];
        perLayer.set(layer, acc);
      }
      for (let j = 0; j < 4; j++) {
        acc[j] += row[j];
        total[j] += row[j];
      }
    });
    const overall = statsOf(total[0], total[1], total[2], total[3]);
    const layers: {[layer: string]: GradientQualityStats} = {};
    if (this.perLayer) {
      perLayer.forEach((acc, layer) => layers[layer] = statsOf(acc[0], acc[1], acc[2], acc[3]));
    }
    this.history.push({step, epoch: this.epoch, batch, ...overall, layers});
    if (this.logToBatchLogs && logs != null) {
      const out = logs;
      out['gq_cos'] = overall.cos;
      out['gq_rel_sq_err'] = overall.relSqErr;
      out['gq_norm_ratio'] = overall.normRatio;
      for (const [layer, s] of Object.entries(layers)) {
        out[`gq_cos/${layer}`] = s.cos;
        out[`gq_rel_sq_err/${layer}`] = s.relSqErr;
      }
    }
  }

  override async onTrainEnd(): Promise<void> {
    this.discardPending();
    this.stepDone();
    this.optimizer = null;
  }

  /** The last measurement, or null. */
  get last(): GradientQualityRecord|null {
    return this.history.length > 0 ? this.history[this.history.length - 1] : null;
  }

  /** Whether this step is to be measured (asked by the optimizer hook). */
  wantsMeasurement(): boolean {
    // Only inside the `fit` that armed it (tfjs-layers gives each fit its own History object): after
    // a `fit` that threw between this callback's onBatchBegin and the step, the hook measures
    // nothing and goes at the optimizer's next step.
    const model = this.model as unknown as {isTraining?: boolean, history?: unknown}|null;
    const sameFit = model?.isTraining === true && model.history === this.fitHistory;
    return this.armed && this.pending == null && sameFit;
  }

  /** Takes the measurement of the current step (owns `sums`). */
  receive(sums: Tensor, names: string[]): void {
    this.discardPending();
    this.armed = false;
    this.pending = {sums, names};
  }

  /** Disarms and unhooks: the hook lives for one measured step (called by the hook when it ends). */
  stepDone(): void {
    this.armed = false;
    if (this.optimizer != null) {
      detach(this.optimizer, this);
    }
  }

  private discardPending(): void {
    this.pending?.sums.dispose();
    this.pending = null;
  }
}

/** The hook on an optimizer's `computeGradients` shared by the callbacks that measure it. */
interface Hook {
  wrapper: ComputeGradients;
  /** The optimizer's own `computeGradients` property before the hook, if it had one. */
  own: ComputeGradients|undefined;
  hadOwn: boolean;
  callbacks: Set<GradientQualityCallback>;
}

const HOOKS = new WeakMap<tf.Optimizer, Hook>();

function attach(optimizer: tf.Optimizer, callback: GradientQualityCallback): void {
  let hook = HOOKS.get(optimizer);
  if (hook == null) {
    const target = optimizer as unknown as {computeGradients: ComputeGradients};
    const hadOwn = Object.prototype.hasOwnProperty.call(target, 'computeGradients');
    const original = target.computeGradients;
    const callbacks = new Set<GradientQualityCallback>();
    const wrapper = function(this: tf.Optimizer, f: () => tf.Scalar, varList?: tf.Variable[]) {
      const hooked = [...callbacks];
      try {
        const armed = hooked.filter(c => c.wantsMeasurement());
        if (armed.length === 0) {
          return original.call(this, f, varList);
        }
        const {value, grads, sums, names} = measure(this, original, f, varList);
        armed.forEach((c, i) => c.receive(i === armed.length - 1 ? sums : tf.keep(sums.clone()), names));
        return {value, grads};
      } finally {
        hooked.forEach(c => c.stepDone());
      }
    } as ComputeGradients;
    target.computeGradients = wrapper;
    hook = {wrapper, own: hadOwn ? original : undefined, hadOwn, callbacks};
    HOOKS.set(optimizer, hook);
  }
  hook.callbacks.add(callback);
}

function detach(optimizer: tf.Optimizer, callback: GradientQualityCallback): void {
  const hook = HOOKS.get(optimizer);
  if (hook == null || !hook.callbacks.delete(callback) || hook.callbacks.size > 0) {
    return;
  }
  HOOKS.delete(optimizer);
  const target = optimizer as unknown as {computeGradients?: ComputeGradients};
  if (target.computeGradients !== hook.wrapper) {
    return;  // wrapped again by someone else since: the hook stays in their chain, measuring nothing
  }
  if (hook.hadOwn) {
    target.computeGradients = hook.own;
  } else {
    delete target.computeGradients;
  }
}

/**
 * One measured step: the optimizer's estimate (returned, as the step applies it) and, from the
 * tape of the same forward pass, the exact gradient; returns their comparison per variable.
 */
function measure(optimizer: tf.Optimizer, original: ComputeGradients, f: () => tf.Scalar, varList?: tf.Variable[]):
    {value: tf.Scalar, grads: NamedTensorMap, sums: Tensor, names: string[]} {
  const vars = varList ?? Object.values(tf.engine().registeredVariables).filter(v => v.trainable);
  const holder: {grads?: NamedTensorMap} = {};
  // f runs once, inside the optimizer's computeGradients, while the tape records; the estimate
  // must outlive the recording scope (minimize disposes it after applying it).
  const exact = clearingTapeOnThrow(() => tf.variableGrads(() => {
    const r = original.call(optimizer, f, vars);
    for (const name in r.grads) {
      tf.keep(r.grads[name]);
    }
    holder.grads = r.grads;
    return r.value;
  }, vars));
  const value = exact.value;
  const grads = holder.grads!;
  try {
    const sums = tf.tidy(() => {
      const counterparts = exactCounterparts(optimizer, exact.grads, vars);
      return tf.keep(tf.stack(vars.map(v => {
        const est = tf.reshape(grads[v.name] ?? tf.zerosLike(v), [-1]);
        const g = tf.reshape(counterparts[v.name], [-1]);
        const diff = tf.sub(est, g);
        return tf.stack([tf.dot(est, g), tf.dot(est, est), tf.dot(g, g), tf.dot(diff, diff)]);
      })));
    });
    return {value, grads, sums, names: vars.map(v => v.name)};
  } finally {
    tf.dispose(exact.grads);
  }
}

/**
 * The exact gradients put through what the optimizer does to its estimate before applying it: a
 * ForwardGradientOptimizer applies `gradientScale` and adds its (coupled) weight decay (its
 * `postprocessGradients`), so that with `perturb: 'none'` the two
 * coincide. Missing gradients (weights the loss does not reach) are zeros.
 */
function exactCounterparts(optimizer: tf.Optimizer, exact: NamedTensorMap, vars: tf.Variable[]): NamedTensorMap {
  if (optimizer instanceof ForwardGradientOptimizer) {
    return optimizer.postprocessGradients(exact, vars);
  }
  const out: NamedTensorMap = {};
  vars.forEach(v => out[v.name] = exact[v.name] ?? tf.zerosLike(v));
  return out;
}

/**
 * A `model.fit` / `model.fitDataset` callback that measures how good the gradient estimate is: every
 * `every` training steps (steps 0, every, 2·every, … counted across epochs from the start of each
 * `fit`) it compares the gradient the optimizer applies, ĝ, with the exact backprop gradient g of
 * the same step — same batch, same forward pass (dropout masks, batch statistics), same weights,
 * same noise — and reports
 *
 * - `gq_cos`: cosine similarity cos(ĝ, g) over all trainable weights,
 * - `gq_rel_sq_err`: relative squared error ‖ĝ − g‖² / ‖g‖²,
 * - `gq_norm_ratio`: ‖ĝ‖ / ‖g‖,
 * - per layer (a weight's layer is its name before the first '/'): `gq_cos/<layer>` and
 *   `gq_rel_sq_err/<layer>`,
 *
 * in the batch logs of measured steps (visible to the callbacks listed after this one), and keeps
 * every measurement in `history` (with the norms and the step, epoch and batch).
 *
 * For FG-W with Gaussian noise and K samples the expected relative squared error is (n + 1)/K, n
 * the number of weights; activity perturbation does far better; `perturb: 'none'` gives cos 1,
 * error 0.
 * For a ForwardGradientOptimizer, the exact gradient goes through the same weight decay and
 * `gradientScale` as the estimate; a step skipped for a non-finite estimate (ĝ = 0) reports cos
 * NaN and error 1. Works with every tfjs optimizer (a backprop one gives cos 1).
 *
 * Cost: the loss closure of the step still runs once; a measured step additionally records the
 * engine's tape over it and runs one backward pass (the memory of a backprop step, the time of about
 * one more step), plus one read back to the host in `onBatchEnd`. Other steps are untouched.
 *
 * ```js
 * const tf = require('@tensorflow/tfjs');
 * const fg = require('tfjs-forward-gradient');
 *
 * model.compile({optimizer: fg.optimizers.forwardGradient({perturb: 'activity', seed: 1}),
 *                loss: 'categoricalCrossentropy'});
 * const gq = fg.callbacks.gradientQuality({every: 50});
 * await model.fit(xs, ys, {
 *   epochs: 5, batchSize: 128,
 *   callbacks: [fg.callbacks.forwardGradient(), gq,
 *               new tf.CustomCallback({onBatchEnd: (batch, logs) => {
 *                 if (logs.gq_cos != null) console.log(batch, logs.gq_cos, logs.gq_rel_sq_err);
 *               }})],
 * });
 * console.log(gq.history.map(r => [r.step, r.cos, r.layers]));
 * ```
 */
export function gradientQuality(args: GradientQualityArgs = {}): GradientQualityCallback {
  return new GradientQualityCallback(args);
}
