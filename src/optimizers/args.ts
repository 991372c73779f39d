/**
 * The options of `ForwardGradientOptimizer` and their checks: each bad value is a ValueError that
 * names the option and says what it accepts.
 */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';
import {NOISE_KINDS, NoiseKind} from './noise';

/**
 * What is perturbed: `'weight'` (FG-W: one random direction over all weights, shared by the
 * batch), `'activity'` (FG-A: independent noise per example and position on every weight layer's
 * pre-activation; needs the model, which `fit` / `fitDataset` attach by themselves and
 * `trainOnBatch` needs `optimizer.attach(model)` for), or `'none'` (exact backprop through the same
 * pipeline: the BP baseline).
 */
export type Perturbation = 'weight'|'activity'|'none';

/** The values of `perturb`. */
export const PERTURBATIONS: readonly Perturbation[] = ['weight', 'activity', 'none'];

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
  /**
   * Activity perturbation: at most this many bytes of a step's activity noise are kept from the
   * forward pass until the weight gradients are assembled; the rest is drawn again from its seed
   * (the same values). Keeping saves drawing the noise twice (on a CPU backend, up to a third of
   * an FG-A step); drawing again saves the memory (the LocalMixer M/8/16 has 16 MB of noise per
   * site at batch 128). A finite number ≥ 0 (0: always draw again). Defaults to 16 MiB
   * (`DEFAULT_KEEP_NOISE_BYTES`).
   */
  keepNoiseBytes?: number;
}

/** The default of `keepNoiseBytes`: 16 MiB. */
export const DEFAULT_KEEP_NOISE_BYTES = 16 * 1024 * 1024;

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

/** The inner optimizer `args` name (or hold). */
export function makeInner(args: ForwardGradientOptimizerArgs): tf.Optimizer {
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

/** The options of a `ForwardGradientOptimizer`, checked, with their defaults. */
export interface ResolvedArgs {
  perturb: Perturbation;
  inner: tf.Optimizer;
  samples: number;
  noise: NoiseKind;
  seed: number|null;
  weightDecay: number;
  gradientScale: {[name: string]: number};
  exactLayers: string[];
  localCredit: boolean;
  sumOverBatch: boolean;
  keepNoiseBytes: number;
}

/** Checks `args` (a ValueError names the first bad option) and fills in the defaults. */
export function resolveArgs(args: ForwardGradientOptimizerArgs): ResolvedArgs {
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
  const inner = makeInner(args);
  const seed = checkSeed('forwardGradient', args.seed);
  const exactLayers = args.exactLayers ?? [];
  if (!Array.isArray(exactLayers) || exactLayers.some(n => typeof n !== 'string')) {
    throw new ValueError(
        `forwardGradient: exactLayers must be an array of layer names. Received: ${JSON.stringify(exactLayers)}.`);
  }
  const keepNoiseBytes = args.keepNoiseBytes ?? DEFAULT_KEEP_NOISE_BYTES;
  if (typeof keepNoiseBytes !== 'number' || !Number.isFinite(keepNoiseBytes) || keepNoiseBytes < 0) {
    throw new ValueError(`forwardGradient: keepNoiseBytes must be a finite number ≥ 0 (bytes). Received: ${keepNoiseBytes}.`);
  }
  return {
    perturb, inner, samples, noise, seed, weightDecay, gradientScale: {...(args.gradientScale ?? {})},
    exactLayers: [...exactLayers], localCredit: args.localCredit ?? true, sumOverBatch: args.sumOverBatch ?? false,
    keepNoiseBytes,
  };
}
