/**
 * ForwardGradientOptimizer: a `tf.Optimizer` that replaces backpropagation inside `model.fit` by
 * forward gradients and hands the estimates to an inner tfjs optimizer (the Keras
 * LossScaleOptimizer shape: a thin wrapper that delegates the update).
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {ensureWasmKernels} from '../backends/wasm';
import {warnOnTfjsCopies} from '../compat';
import {ValueError} from '../errors';
import {ForwardGradientOptimizerArgs, Perturbation, resolveArgs} from './args';
import {FORWARD_GRADIENT_CLASS_NAME, registerAutoAttach} from './auto_attach';
import * as backprop from './estimators/backprop';
import {Estimator, EstimatorContext} from './estimators/estimator';
import * as forward from './estimators/forward';
import {applyUnlessSkipped, disposeInner, innerStateWeights, isInnerStateWeight, NamedTensor, restoreInnerState} from './inner_optimizer';
import {ModelAttachment} from './model_attachment';
import {NoiseKind} from './noise';
import {addWeightDecay, chain, scaleByLayer, zerosForMissing, zeroUnless} from './transforms';

export {checkLearningRate, checkMomentum, checkSeed, DEFAULT_KEEP_NOISE_BYTES, ForwardGradientOptimizerArgs, Perturbation} from './args';
export {isDecayed} from './transforms';

/** Statistics of the last step, as tensors (read them asynchronously: no host sync in a step). */
export interface ForwardGradientStats {
  /** The directional derivative of the batch loss along the step's perturbation (mean over K). */
  directionalDerivative: tf.Variable;
  /** Number of steps skipped so far because the loss, its directional derivative or a gradient
   *  was not finite (e.g. a NaN or an infinity in an input, a label or a sample weight). */
  skippedSteps: tf.Variable;
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
  readonly keepNoiseBytes: number;
  readonly stats: ForwardGradientStats;
  /** Set while the model trains in `fit` / `fitDataset` (or by `attach`). */
  attachment: ModelAttachment|null = null;
  /** Whether the last estimate was finite (a kept bool scalar; the update is skipped if not). */
  private lastFinite: Tensor|null = null;

  constructor(args: ForwardGradientOptimizerArgs = {}) {
    super();
    warnOnTfjsCopies();
    registerAutoAttach();
    const r = resolveArgs(args);
    this.perturb = r.perturb;
    this.inner = r.inner;
    this.samples = r.samples;
    this.noise = r.noise;
    this.seed = r.seed;
    this.weightDecay = r.weightDecay;
    this.gradientScale = r.gradientScale;
    this.exactLayers = r.exactLayers;
    this.localCredit = r.localCredit;
    this.sumOverBatch = r.sumOverBatch;
    this.keepNoiseBytes = r.keepNoiseBytes;
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
    const estimator: Estimator = this.perturb === 'none' ? backprop.estimate : forward.estimate;
    const ctx: EstimatorContext = {
      perturb: this.perturb, step: this.iterations, samples: this.samples, noise: this.noise, seed: this.seed,
      attachment: this.attachment, exactLayers: this.exactLayers, localCredit: this.localCredit,
      sumOverBatch: this.sumOverBatch, keepNoiseBytes: this.keepNoiseBytes,
    };
    return tf.tidy(() => {
      const {value, grads, finite, directionalDerivative} = estimator(f, vars, ctx);
      if (directionalDerivative != null) {
        this.stats.directionalDerivative.assign(tf.mean(directionalDerivative));
      }
      // A non-finite loss or gradient skips the step, and the gradients of a skipped step are
      // replaced by zeros (they feed the inner optimizer's state).
      this.setLastFinite(finite);
      return {value, grads: this.postprocess(grads, vars, finite)} as unknown as tf.TensorContainer;
    }) as unknown as {value: tf.Scalar, grads: NamedTensorMap};
  }

  /**
   * What the optimizer does to any gradient before applying it: zeros for missing gradients, the
   * per-layer scales, then the (coupled) weight decay of weight matrices. (For callbacks that
   * compare exact gradients with the estimates, such as `gradientQuality`.)
   */
  postprocessGradients(grads: NamedTensorMap, vars: tf.Variable[]): NamedTensorMap {
    return this.postprocess(grads, vars, null);
  }

  /** The transforms of `transforms.ts`; `ok` false (a bool scalar) zeroes a skipped step's gradients. */
  private postprocess(grads: NamedTensorMap, vars: tf.Variable[], ok: Tensor|null): NamedTensorMap {
    return chain(zerosForMissing(), scaleByLayer(this.gradientScale), addWeightDecay(this.weightDecay), zeroUnless(ok))(
        grads, vars);
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
    applyUnlessSkipped(this.inner, variableGradients, ok, this.stats.skippedSteps);
    this.incrementIterations();
  }

  override dispose(): void {
    disposeInner(this.inner);
    this.stats.directionalDerivative.dispose();
    this.stats.skippedSteps.dispose();
    this.lastFinite?.dispose();
    super.dispose();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    // Besides its own weights, the inner optimizer's scalar state variables that its getWeights
    // omits (Adam's β powers, which its setWeights recomputes with pow(): not bit-identical to the
    // running product, so a resumed run would drift).
    const extra = innerStateWeights(this.inner);
    return [await this.saveIterations(), {name: 'fg/skipped_steps', tensor: this.stats.skippedSteps},
            ...await this.inner.getWeights(), ...extra];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const skipped = rest.find(w => w.name === 'fg/skipped_steps');
    if (skipped != null) {
      this.stats.skippedSteps.assign(skipped.tensor as tf.Scalar);
    }
    const isOwn = (w: NamedTensor) => w.name === 'fg/skipped_steps' || isInnerStateWeight(w);
    await this.inner.setWeights(rest.filter(w => !isOwn(w)));
    restoreInnerState(this.inner, rest);
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
      keepNoiseBytes: this.keepNoiseBytes,
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
      keepNoiseBytes?: number,
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
      keepNoiseBytes: c.keepNoiseBytes,
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
