/**
 * ForwardGradientOptimizer: a `tf.Optimizer` that replaces backpropagation inside `model.fit` by
 * forward gradients and hands the estimates to an inner tfjs optimizer (the Keras
 * LossScaleOptimizer shape: a thin wrapper that delegates the update).
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** A named tensor, as `tf.Optimizer.getWeights` returns them. */
type NamedTensor = {name: string, tensor: Tensor};

import {seedTangent, tangentOf, withTangents} from '../autodiff';
import {clearingTapeOnThrow} from '../autodiff/internal';
import {ensureWasmKernels} from '../backends/wasm';
import {warnOnTfjsCopies} from '../compat';
import {ValueError} from '../errors';
import {runLocalStep} from '../step/local_step';
import {ModelAttachment} from './model_attachment';
import {StepRecorder} from './step_recorder';
import {FORWARD_GRADIENT_CLASS_NAME, registerAutoAttach} from './auto_attach';
import {NOISE_KINDS, noiseSeed, NoiseKind, sampleNoise} from './noise';

/**
 * What is perturbed: `'weight'` (FG-W: one random direction over all weights, shared by the
 * batch), `'activity'` (FG-A: independent noise per example and position on every weight layer's
 * pre-activation; needs the model, which `fit` / `fitDataset` attach by themselves and
 * `trainOnBatch` needs `optimizer.attach(model)` for), or `'none'` (exact backprop through the same
 * pipeline: the BP baseline).
 */
export type Perturbation = 'weight'|'activity'|'none';

const PERTURBATIONS: readonly Perturbation[] = ['weight', 'activity', 'none'];

/** Options of `fg.optimizers.forwardGradient`. */
export interface ForwardGradientOptimizerArgs {
  /** What is perturbed. Defaults to `'activity'`. */
  perturb?: Perturbation;
  /**
   * The inner optimizer that applies the estimated gradients: a tfjs optimizer instance, or the
   * name of one (`'sgd'`, `'momentum'`, `'adam'`, `'rmsprop'`, `'adagrad'`, `'adadelta'`,
   * `'adamax'`) used with `learningRate`. Defaults to `'sgd'`.
   */
  optimizer?: tf.Optimizer|string;
  /** Learning rate of a named inner optimizer, a finite number > 0. Defaults to 0.01. */
  learningRate?: number;
  /** Momentum of a named `'momentum'` optimizer, in [0, 1). Defaults to 0.9. */
  momentum?: number;
  /** K: average K independent estimates, pushed through in one pass. Defaults to 1. */
  samples?: number;
  /** Distribution of the perturbations. Defaults to `'gaussian'`. */
  noise?: NoiseKind;
  /**
   * Seed of the perturbations (reproducible runs, also across save / resume): an integer in
   * [0, 2^32). Defaults to null (random).
   */
  seed?: number|null;
  /**
   * L2 weight decay, coupled: adds `weightDecay·w` to the gradient of every weight matrix (rank ≥ 2;
   * not biases, not even a grouped layer's [G, D/G] bias), after `gradientScale`, so the decay is
   * not scaled, and before the inner optimizer (it goes through its momentum), as the paper's
   * code: `grads[-1] *= last_layer_lr`, then `gw + wd·w` for weights only, then `optax.sgd`.
   */
  weightDecay?: number;
  /**
   * Multiplies the gradient of the weights of a layer (key: layer name, or a full variable name)
   * by a factor, e.g. the paper's 0.1 on its final classifier.
   */
  gradientScale?: {[layerOrVariableName: string]: number};
  /**
   * Layers whose weights get their exact gradient (one backward pass restricted to them, on the
   * same forward pass) instead of an estimate: the paper's local heads and final classifier ("the
   * last layer always uses backprop"). Needs the model, as activity perturbation does. Defaults to none.
   */
  exactLayers?: string[];
  /**
   * Use the per-(example, patch, group) derivatives that local losses record (the credit of
   * LG-FG-A and LG-FG-W). False credits every unit by its example's derivative, as global FG-A
   * and FG-W do. Defaults to true.
   */
  localCredit?: boolean;
  /**
   * Activity perturbation: credit each example with the derivative of its own loss, not divided by
   * the batch size, so the estimate is the gradient of the batch *sum* of the per-example losses (N
   * times the mean's). The paper code's global FG-A does this (`avg_batch=False`). Defaults to false.
   * (`fg.callbacks.gradientQuality` compares estimates with the batch mean's exact gradient, so it
   * reports such an estimate as N times too large.)
   */
  sumOverBatch?: boolean;
}

/** Statistics of the last step, as tensors (read them asynchronously: no host sync in a step). */
export interface ForwardGradientStats {
  /** The directional derivative of the batch loss along the step's perturbation (mean over K). */
  directionalDerivative: tf.Variable;
  /** Number of steps skipped so far because the loss, its directional derivative or a gradient
   *  was not finite (e.g. a NaN or an infinity in an input, a label or a sample weight). */
  skippedSteps: tf.Variable;
}

/** `learningRate` if it is a finite number > 0, else a ValueError naming `caller`. */
export function checkLearningRate(caller: string, learningRate: unknown): number {
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || !(learningRate > 0)) {
    throw new ValueError(`${caller}: learningRate must be a finite number > 0. Received: ${learningRate}.`);
  }
  return learningRate;
}

/** `momentum` if it is a number in [0, 1), else a ValueError naming `caller`. */
export function checkMomentum(caller: string, momentum: unknown): number {
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum < 1)) {
    throw new ValueError(`${caller}: momentum must be a number in [0, 1). Received: ${momentum}.`);
  }
  return momentum;
}

/**
 * `seed` if it is null (random noise) or an integer in [0, 2^32) (the noise streams hash it as an
 * unsigned 32-bit integer: other numbers would silently alias), else a ValueError naming `caller`.
 */
export function checkSeed(caller: string, seed: unknown): number|null {
  if (seed == null) {
    return null;
  }
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new ValueError(
        `${caller}: seed must be an integer in [0, 2^32) (or null for random noise). Received: ${seed}.`);
  }
  return seed;
}

function makeInner(args: ForwardGradientOptimizerArgs): tf.Optimizer {
  const opt = args.optimizer ?? 'sgd';
  if (typeof opt !== 'string') {
    if (!(opt instanceof tf.Optimizer)) {
      throw new ValueError(
          `forwardGradient: optimizer must be a tf.Optimizer or the name of one. Received: ${opt}.`);
    }
    return opt;
  }
  const lr = checkLearningRate('forwardGradient', args.learningRate ?? 0.01);
  const momentum = checkMomentum('forwardGradient', args.momentum ?? 0.9);
  switch (opt.toLowerCase()) {
    case 'sgd': return tf.train.sgd(lr);
    case 'momentum': return tf.train.momentum(lr, momentum);
    case 'adam': return tf.train.adam(lr);
    case 'rmsprop': return tf.train.rmsprop(lr);
    case 'adagrad': return tf.train.adagrad(lr);
    case 'adadelta': return tf.train.adadelta(lr);
    case 'adamax': return tf.train.adamax(lr);
    default:
      throw new ValueError(
          `forwardGradient: unknown optimizer '${opt}'. Use one of sgd, momentum, adam, rmsprop, ` +
          `adagrad, adadelta, adamax, or pass a tf.Optimizer.`);
  }
}

/** Every tf.Variable an optimizer holds as state (slots, moment estimates, counters). */
function optimizerState(opt: tf.Optimizer): tf.Variable[] {
  const out: tf.Variable[] = [];
  for (const value of Object.values(opt as unknown as {[k: string]: unknown})) {
    if (value instanceof tf.Variable) {
      out.push(value);
    } else if (Array.isArray(value)) {
      for (const item of value) {
        const v = (item as {variable?: unknown})?.variable;
        if (v instanceof tf.Variable) {
          out.push(v);
        }
      }
    }
  }
  return out;
}

const INNER_STATE_PREFIX = 'fg/inner/';

/**
 * `f` for a backward pass (`tf.variableGrads`, `engine.gradients`): if it throws, the tensors the
 * tape saved for the backward pass (kept, and freed only by a backward pass that now never runs)
 * are freed, so a failing loss leaks nothing.
 */
function freeingTapeOnThrow<T>(f: () => T): () => T {
  return () => {
    const tape = (tf.engine() as unknown as {state: {activeTape: Array<{saved?: Tensor[]}>|null}}).state.activeTape;
    const start = tape?.length ?? 0;
    try {
      return f();
    } catch (e) {
      for (const node of tape?.slice(start) ?? []) {
        tf.dispose(node.saved ?? []);
        node.saved = [];
      }
      throw e;
    }
  };
}

/**
 * Whether weight decay applies to `v`: weight matrices and filters (rank ≥ 2), not biases, whatever
 * their rank (a grouped linear layer's bias is [G, D/G]; tfjs-layers names biases `…bias`, with a
 * `_N` suffix when a name repeats).
 */
export function isDecayed(v: tf.Variable): boolean {
  return v.rank >= 2 && !/bias(_\d+)?$/.test(v.name);
}

/** A bool scalar: whether `value` and every element of every tensor of `tensors` are finite. */
function allFinite(value: Tensor, tensors: Tensor[]): Tensor {
  return tensors.reduce((ok, t) => tf.logicalAnd(ok, tf.all(tf.isFinite(t))), tf.isFinite(value));
}

/** The tf.Variables held directly as properties of an optimizer (not per-weight slots), by key. */
function innerScalarState(opt: tf.Optimizer): Array<[string, tf.Variable]> {
  return Object.entries(opt as unknown as {[k: string]: unknown})
      .filter((e): e is [string, tf.Variable] => e[1] instanceof tf.Variable && !e[1].isDisposed)
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * A `tf.Optimizer` that estimates gradients by forward gradients — one forward-mode pass, no
 * backward pass — and applies them with an inner tfjs optimizer. Use it in `model.compile`: inside
 * `model.fit` / `fitDataset` it attaches itself to the model that trains (through a callback it
 * registers with `tf.registerCallbackConstructor`, see `auto_attach.ts`); for `model.trainOnBatch`
 * or a custom loop with activity perturbation call `attach(model)` first.
 */
export class ForwardGradientOptimizer extends tf.Optimizer {
  /** @nocollapse */
  static get className(): string {
    return FORWARD_GRADIENT_CLASS_NAME;
  }

  /**
   * tf.Optimizer's static `Symbol.hasInstance` duck-types (any object with minimize /
   * computeGradients / applyGradients), and subclasses inherit it: without this override every tfjs
   * optimizer would be `instanceof ForwardGradientOptimizer`.
   */
  static override [Symbol.hasInstance](instance: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, instance)) {
      return true;
    }
    // another copy of this package: same class name and shape
    const o = instance as {getClassName?: () => string, attach?: unknown, computeGradients?: unknown}|null;
    return this === ForwardGradientOptimizer && o != null && typeof o.attach === 'function' &&
        typeof o.computeGradients === 'function' && typeof o.getClassName === 'function' &&
        o.getClassName() === ForwardGradientOptimizer.className;
  }

  readonly perturb: Perturbation;
  readonly inner: tf.Optimizer;
  readonly samples: number;
  readonly noise: NoiseKind;
  readonly seed: number|null;
  readonly weightDecay: number;
  readonly gradientScale: {[name: string]: number};
  readonly exactLayers: string[];
  readonly localCredit: boolean;
  readonly sumOverBatch: boolean;
  readonly stats: ForwardGradientStats;
  /** Set while the model trains in `fit` / `fitDataset` (or by `attach`). */
  attachment: ModelAttachment|null = null;
  /** Whether the last estimate was finite (a kept bool scalar; the update is skipped if not). */
  private lastFinite: Tensor|null = null;

  constructor(args: ForwardGradientOptimizerArgs = {}) {
    super();
    warnOnTfjsCopies();
    registerAutoAttach();
    const perturb = args.perturb ?? 'activity';
    if (!PERTURBATIONS.includes(perturb)) {
      throw new ValueError(
          `forwardGradient: perturb must be one of ${PERTURBATIONS.join(', ')}. Received: ${perturb}.`);
    }
    const samples = args.samples ?? 1;
    if (!Number.isInteger(samples) || samples < 1) {
      throw new ValueError(`forwardGradient: samples must be a positive integer. Received: ${samples}.`);
    }
    const noise = args.noise ?? 'gaussian';
    if (!NOISE_KINDS.includes(noise)) {
      throw new ValueError(
          `forwardGradient: noise must be one of ${NOISE_KINDS.join(', ')}. Received: ${noise}.`);
    }
    const weightDecay = args.weightDecay ?? 0;
    if (!(weightDecay >= 0)) {
      throw new ValueError(`forwardGradient: weightDecay must be ≥ 0. Received: ${weightDecay}.`);
    }
    for (const [name, scale] of Object.entries(args.gradientScale ?? {})) {
      if (typeof scale !== 'number' || !Number.isFinite(scale)) {
        throw new ValueError(
            `forwardGradient: gradientScale['${name}'] must be a finite number. Received: ${scale}.`);
      }
    }
    this.perturb = perturb;
    this.inner = makeInner(args);
    this.samples = samples;
    this.noise = noise;
    this.seed = checkSeed('forwardGradient', args.seed);
    this.weightDecay = weightDecay;
    this.gradientScale = {...(args.gradientScale ?? {})};
    const exactLayers = args.exactLayers ?? [];
    if (!Array.isArray(exactLayers) || exactLayers.some(n => typeof n !== 'string')) {
      throw new ValueError(
          `forwardGradient: exactLayers must be an array of layer names. Received: ${JSON.stringify(exactLayers)}.`);
    }
    this.exactLayers = [...exactLayers];
    this.localCredit = args.localCredit ?? true;
    this.sumOverBatch = args.sumOverBatch ?? false;
    // (in tidy: tf.variable(t) leaves t itself allocated)
    this.stats = tf.tidy(() => ({
      directionalDerivative: tf.variable(tf.scalar(0), false),
      skippedSteps: tf.variable(tf.scalar(0), false),
    }));
  }

  /**
   * Connects the optimizer to `model` for activity perturbation (what `fit` / `fitDataset` do by
   * themselves when they begin). Call it yourself before `model.trainOnBatch` or a custom
   * loop that calls `minimize` with the model's loss, and `detach()` when done. A no-op for the
   * other perturbations. Throws a ValueError for models activity perturbation cannot train (e.g.
   * with BatchNormalization) or that are not compiled.
   */
  attach(model: tfl.LayersModel): void {
    this.detach();
    if (this.perturb !== 'none') {
      this.attachment = new ModelAttachment(model, this.perturb === 'activity', this.exactLayers);
      this.attachment.variablesOfLayers(this.exactLayers);  // names checked now, not mid-fit
    }
  }

  /**
   * Undoes `attach`. (The model itself is only patched for the duration of each step, so a fit
   * that failed before `detach` leaves nothing behind in it.)
   */
  detach(): void {
    this.attachment = null;
  }

  /** The learning rate of the inner optimizer (schedules set it). */
  get learningRate(): number {
    return (this.inner as unknown as {learningRate: number}).learningRate;
  }

  /**
   * tf.Optimizer's `minimize` (estimate, then apply), except that the gradients and the loss are
   * freed when the update throws.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar|null {
    const {value, grads} = this.computeGradients(f, varList);
    try {
      this.applyGradients(varList == null ? grads : varList.map(v => ({name: v.name, tensor: grads[v.name]})));
    } catch (e) {
      value.dispose();
      throw e;
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) {
      return value;
    }
    value.dispose();
    return null;
  }

  override computeGradients(f: () => tf.Scalar, varList?: tf.Variable[]):
      {value: tf.Scalar, grads: NamedTensorMap} {
    ensureWasmKernels();  // on wasm: fast transposed matmuls, conv weight gradients (src/backends/wasm)
    const vars = varList ?? Object.values(tf.engine().registeredVariables).filter(v => v.trainable);
    if (this.perturb === 'none') {
      // Layers annotate their outputs during the step (local losses read them): open the step
      // around the whole backward pass, which still uses what they kept.
      return runLocalStep(null, () => tf.tidy(() => {
        const {value, grads: raw} = clearingTapeOnThrow(() => tf.variableGrads(freeingTapeOnThrow(f), vars));
        // The same guard as the estimators: a non-finite loss or gradient skips the step, and the
        // gradients of a skipped step are replaced by zeros (they feed the inner optimizer's state).
        const finite = allFinite(value, Object.values(raw));
        this.setLastFinite(finite);
        return {value, grads: this.postprocess(raw, vars, finite)} as unknown as tf.TensorContainer;
      })) as unknown as {value: tf.Scalar, grads: NamedTensorMap};
    }
    if (this.attachment == null && (this.perturb === 'activity' || this.exactLayers.length > 0)) {
      throw new ValueError(
          `forwardGradient({perturb: '${this.perturb}'${this.exactLayers.length > 0 ? ', exactLayers' : ''}) ` +
          `needs the model it trains (its layers and per-example losses) and was not attached to one. ` +
          `model.fit and model.fitDataset attach it by themselves; for model.trainOnBatch or a custom ` +
          `loop call optimizer.attach(model) first (and optimizer.detach() after)` +
          `${this.perturb === 'activity' ? `; or use perturb: 'weight'` : ''}. If this happened inside ` +
          `model.fit, the model comes from another copy of @tensorflow/tfjs-layers than this package's ` +
          `(${tfl.version_layers}): install one copy (npm ls @tensorflow/tfjs-layers).`);
    }
    const step = this.iterations;
    const batchShape = this.samples > 1 ? [this.samples] : [];
    const k = this.samples;
    const attachment = this.attachment;
    const local = attachment == null ? null :
        new StepRecorder(
            attachment, this.noise, this.seed, step, this.perturb === 'activity', this.localCredit, this.sumOverBatch);
    local?.setBatchShape(batchShape);
    const activity = this.perturb === 'activity' ? local : null;
    try {
      return tf.tidy(() => {
        const exactVars = attachment == null ? [] :
            attachment.variablesOfLayers(this.exactLayers).filter(v => vars.includes(v));
        const exact = new Set(exactVars.map(v => v.id));
        // Weight perturbation: every variable (FG-W), or, with activity perturbation, the weights
        // that no perturbation site covers (embeddings, normalization gains, ...).
        const weightPerturbed = vars.filter(v => !exact.has(v.id) &&
            (activity == null || (!attachment!.siteWeights.has(v.id) && !attachment!.siteBiases.has(v.id) &&
                                  !attachment!.localWeights.has(v.id))));
        const directions = weightPerturbed.map((v, i) => sampleNoise(
            [...batchShape, ...v.shape], this.noise,
            this.seed == null ? null : noiseSeed(this.seed, step, 1_000_000 + i)));
        // The model is patched for this step only (attachment.run restores it when the step ends
        // or throws).
        const traced = () => withTangents(() => runLocalStep(local, () => {
          weightPerturbed.forEach((v, i) => seedTangent(v, directions[i]));
          const grads: NamedTensorMap = {};
          let value: tf.Scalar;
          if (exactVars.length > 0) {
            // One backward pass restricted to the exact layers (the tape walks only their paths).
            const r = clearingTapeOnThrow(() => tf.engine().gradients(freeingTapeOnThrow(f), exactVars, undefined, true));
            value = r.value as tf.Scalar;
            exactVars.forEach((v, i) => {
              if (r.grads[i] != null) {
                grads[v.name] = r.grads[i];
              }
            });
          } else {
            value = f();
          }
          const d = tangentOf(value) ?? tf.zeros(batchShape);
          if (activity != null) {
            activity.weightGradients(batchShape).forEach((g, name) => grads[name] = g);
          }
          // Local credit of weight perturbation (LG-FG-W), where the model declares it.
          const credits = weightPerturbed.map(v => local?.weightCredit(v, batchShape) ?? null);
          return {value, d, grads, credits};
        }), {batchShape, observer: activity?.observer});
        const {value, d: dRaw, grads, credits} = attachment == null ? traced() : attachment.run(traced);
        // A non-finite derivative skips the step; cleaned, it keeps the gradients finite.
        const d = tf.where(tf.isFinite(dRaw), dRaw, tf.zerosLike(dRaw));
        // g = mean_k d_k·v_k for the weight-perturbed variables (or their local credit).
        weightPerturbed.forEach((v, i) => {
          const credit = credits[i] ?? tf.reshape(d, [k, ...new Array(v.rank).fill(1)]);
          grads[v.name] = tf.mean(tf.mul(credit, tf.reshape(directions[i], [k, ...v.shape])), 0);
        });
        if (activity != null) {
          this.addRegularizerGradients(grads, vars);
        }
        // A non-finite loss with a finite tangent (e.g. loss + Infinity) must skip the step too, and
        // so must a non-finite gradient (a NaN input reaches the activity and exact gradients
        // through the layers' inputs, while the loss's derivative may be cleaned to 0).
        const finite = allFinite(value, [dRaw, ...Object.values(grads)]);
        this.stats.directionalDerivative.assign(tf.mean(dRaw));
        this.setLastFinite(finite);
        return {value, grads: this.postprocess(grads, vars, finite)} as unknown as tf.TensorContainer;
      }) as unknown as {value: tf.Scalar, grads: NamedTensorMap};
    } finally {
      local?.dispose();
    }
  }

  /** Activity estimates miss the regularizers' (weight-only) terms: add them exactly. */
  private addRegularizerGradients(grads: NamedTensorMap, vars: tf.Variable[]): void {
    const model = this.attachment!.model;
    if (model.calculateLosses().length === 0) {
      return;
    }
    const a = this.attachment!;
    const covered = vars.filter(v => a.siteWeights.has(v.id) || a.siteBiases.has(v.id) || a.localWeights.has(v.id));
    if (covered.length === 0) {
      return;
    }
    // Not tf.variableGrads: it throws when no covered weight has a regularizer (e.g. only an
    // Embedding's, which its weight perturbation already carries).
    const reg = tf.engine().gradients(
        () => tf.addN(model.calculateLosses()) as tf.Scalar, covered, undefined, /*allowNoGradients*/ true);
    reg.value.dispose();
    covered.forEach((v, i) => {
      const g = reg.grads[i];
      if (g != null) {
        grads[v.name] = grads[v.name] == null ? g : tf.add(grads[v.name], g);
      }
    });
  }

  /**
   * What the optimizer does to any gradient before applying it: zeros for missing gradients, the
   * per-layer scales, then the (coupled) weight decay of weight matrices. (For callbacks that
   * compare exact gradients with the estimates, such as `gradientQuality`.)
   */
  postprocessGradients(grads: NamedTensorMap, vars: tf.Variable[]): NamedTensorMap {
    return this.postprocess(grads, vars, null);
  }

  /**
   * `ok` (a bool scalar) false replaces every gradient of a skipped step by zeros (a select, not a
   * product: a NaN gradient must not reach the inner optimizer's state).
   */
  private postprocess(grads: NamedTensorMap, vars: tf.Variable[], ok: Tensor|null): NamedTensorMap {
    const out: NamedTensorMap = {};
    for (const v of vars) {
      let g = grads[v.name] ?? tf.zerosLike(v);
      const scale = this.scaleOf(v.name);
      if (scale !== 1) {
        g = tf.mul(g, scale);
      }
      if (this.weightDecay > 0 && isDecayed(v)) {
        g = tf.add(g, tf.mul(v, this.weightDecay));
      }
      if (ok != null) {
        g = tf.where(ok, g, tf.zerosLike(g));
      }
      out[v.name] = g;
    }
    return out;
  }

  private scaleOf(variableName: string): number {
    if (this.gradientScale[variableName] != null) {
      return this.gradientScale[variableName];
    }
    // tfjs-layers makes variable names unique with a suffix ('h/kernel_1' when another model has an
    // 'h/kernel'): a key naming the weight must still match.
    const unsuffixed = variableName.replace(/_\d+$/, '');
    if (this.gradientScale[unsuffixed] != null) {
      return this.gradientScale[unsuffixed];
    }
    const layer = variableName.split('/')[0];
    return this.gradientScale[layer] ?? 1;
  }

  private setLastFinite(t: Tensor): void {
    this.lastFinite?.dispose();
    this.lastFinite = tf.keep(t);
  }

  /**
   * Applies the gradients with the inner optimizer. After a non-finite estimate the variables and
   * the inner optimizer's state are restored (weights unchanged) and the skip is counted, without
   * reading anything back from the device.
   */
  override applyGradients(variableGradients: NamedTensorMap|NamedTensor[]): void {
    const ok = this.lastFinite;
    this.lastFinite = null;
    if (ok == null) {
      this.inner.applyGradients(variableGradients);
      this.incrementIterations();
      return;
    }
    const names = Array.isArray(variableGradients) ? variableGradients.map(g => g.name) :
                                                     Object.keys(variableGradients);
    const registered = tf.engine().registeredVariables;
    const weights = names.map(n => registered[n]).filter(v => v != null);
    const stateBefore = new Set(optimizerState(this.inner));
    const restore = [...weights, ...stateBefore];
    const snapshot = tf.tidy(() => restore.map(v => tf.keep(v.clone())));
    try {
      try {
        this.inner.applyGradients(variableGradients);
      } catch (e) {
        // an update that failed half-way: back to the state before it
        tf.tidy(() => restore.forEach((v, i) => v.assign(snapshot[i])));
        throw e;
      }
      tf.tidy(() => {
        // A select: bit for bit the new value or the old one, whatever either holds (a blend
        // v·ok + old·(1 − ok) would carry a NaN of the new value into the restored one).
        restore.forEach((v, i) => v.assign(tf.where(ok, v, snapshot[i])));
        // State the inner optimizer created in this very step is left as it is: the skipped
        // step's gradients are zeros, which leaves every tfjs optimizer's new state at its initial
        // value (0, or Adagrad's initialAccumulatorValue).
        this.stats.skippedSteps.assign(tf.add(this.stats.skippedSteps, tf.cast(tf.logicalNot(ok), 'float32')));
      });
    } finally {
      tf.dispose([snapshot, ok]);
    }
    this.incrementIterations();
  }

  override dispose(): void {
    this.inner.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose skips SGD's learning-rate scalar `c`: free it too.
    const c = (this.inner as unknown as {c?: unknown}).c;
    if (this.inner instanceof tf.MomentumOptimizer && c instanceof tf.Tensor && !c.isDisposed) {
      c.dispose();
    }
    this.stats.directionalDerivative.dispose();
    this.stats.skippedSteps.dispose();
    this.lastFinite?.dispose();
    super.dispose();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    // Besides its own weights, the inner optimizer's scalar state variables that its getWeights
    // omits (Adam's β powers, which its setWeights recomputes with pow(): not bit-identical to the
    // running product, so a resumed run would drift).
    const extra = innerScalarState(this.inner).map(([key, v]) => ({name: `${INNER_STATE_PREFIX}${key}`, tensor: v}));
    return [await this.saveIterations(), {name: 'fg/skipped_steps', tensor: this.stats.skippedSteps},
            ...await this.inner.getWeights(), ...extra];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const skipped = rest.find(w => w.name === 'fg/skipped_steps');
    if (skipped != null) {
      this.stats.skippedSteps.assign(skipped.tensor as tf.Scalar);
    }
    const isOwn = (w: NamedTensor) => w.name === 'fg/skipped_steps' || w.name.startsWith(INNER_STATE_PREFIX);
    await this.inner.setWeights(rest.filter(w => !isOwn(w)));
    const saved = new Map(rest.filter(w => w.name.startsWith(INNER_STATE_PREFIX))
                              .map(w => [w.name.slice(INNER_STATE_PREFIX.length), w.tensor]));
    for (const [key, v] of innerScalarState(this.inner)) {
      const value = saved.get(key);
      if (value != null && value.dtype === v.dtype && value.size === v.size) {
        tf.tidy(() => v.assign(tf.reshape(value, v.shape)));
      }
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      perturb: this.perturb,
      samples: this.samples,
      noise: this.noise,
      seed: this.seed,
      weightDecay: this.weightDecay,
      // Lists of {name, ...}: tfjs camel-cases string values on load, except under the key `name`.
      gradientScale: Object.entries(this.gradientScale).map(([name, scale]) => ({name, scale})),
      exactLayers: this.exactLayers.map(name => ({name})),
      localCredit: this.localCredit,
      sumOverBatch: this.sumOverBatch,
      optimizer: {name: this.inner.getClassName(), config: this.inner.getConfig()},
    };
  }

  /** @nocollapse */
  static override fromConfig<T extends tf.serialization.Serializable>(
      cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const c = config as unknown as {
      perturb: Perturbation, samples: number, noise: NoiseKind, seed: number|null, weightDecay: number,
      gradientScale: Array<{name: string, scale: number}>,
      exactLayers?: Array<{name: string}>,
      localCredit?: boolean,
      sumOverBatch?: boolean,
      optimizer: {name: string, config: tf.serialization.ConfigDict},
    };
    const innerCls = tf.serialization.SerializationMap.getMap().classNameMap[c.optimizer.name];
    if (innerCls == null) {
      throw new ValueError(`forwardGradient: unknown inner optimizer class '${c.optimizer.name}'.`);
    }
    const inner = innerCls[1](innerCls[0], c.optimizer.config) as unknown as tf.Optimizer;
    return new cls({
      perturb: c.perturb, samples: c.samples, noise: c.noise, seed: c.seed, weightDecay: c.weightDecay,
      gradientScale: Object.fromEntries((c.gradientScale ?? []).map(e => [e.name, e.scale])),
      exactLayers: (c.exactLayers ?? []).map(e => e.name),
      localCredit: c.localCredit,
      sumOverBatch: c.sumOverBatch,
      optimizer: inner,
    } as unknown as tf.serialization.ConfigDict);
  }
}
tf.serialization.registerClass(ForwardGradientOptimizer);

/**
 * Creates a `ForwardGradientOptimizer`: trains any tfjs model without backpropagation.
 *
 * ```js
 * model.compile({
 *   optimizer: fg.optimizers.forwardGradient({perturb: 'activity', optimizer: tf.train.momentum(0.01, 0.9)}),
 *   loss: 'categoricalCrossentropy', metrics: ['accuracy']});
 * await model.fit(xs, ys, {epochs: 5, batchSize: 128});
 * ```
 */
export function forwardGradient(args: ForwardGradientOptimizerArgs = {}): ForwardGradientOptimizer {
  return new ForwardGradientOptimizer(args);
}
