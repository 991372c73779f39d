/**
 * What the optimizer does to every gradient before the inner optimizer applies it, as a chain of
 * small named transforms in the optax manner (`optax.chain`): each maps the gradients of the
 * variables to new gradients. The order is the paper code's: the per-layer scale
 * (`grads[-1] *= last_layer_lr`), then the coupled weight decay (`gw + wd·w`, weights only), then,
 * for a skipped step, zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {choose} from '../backends/choose';
/** Maps the gradients of `vars` (by variable name) to new gradients. */
export type GradientTransform = (grads: NamedTensorMap, vars: readonly tf.Variable[]) => NamedTensorMap;

/** The transforms applied one after the other. */
export function chain(...transforms: GradientTransform[]): GradientTransform {
  return (grads, vars) => transforms.reduce((g, t) => t(g, vars), grads);
}

/** Applies `f` to the gradient of each variable of `vars` (and only those). */
function eachVariable(f: (g: Tensor, v: tf.Variable) => Tensor): GradientTransform {
  return (grads, vars) => {
    const out: NamedTensorMap = {};
    for (const v of vars) {
      out[v.name] = f(grads[v.name], v);
    }
    return out;
  };
}

/** Zeros for the variables that have no gradient (a loss that does not reach them). */
export function zerosForMissing(): GradientTransform {
  return eachVariable((g, v) => g ?? tf.zerosLike(v));
}

/**
 * The factor of a variable in `gradientScale`: keyed by the full variable name, the name without
 * the `_N` suffix tfjs-layers adds to repeated names, or the layer name; 1 if none.
 */
export function scaleOf(gradientScale: {[name: string]: number}, variableName: string): number {
  if (gradientScale[variableName] != null) {
    return gradientScale[variableName];
  }
  // tfjs-layers makes variable names unique with a suffix ('h/kernel_1' when another model has an
  // 'h/kernel'): a key naming the weight must still match.
  const unsuffixed = variableName.replace(/_\d+$/, '');
  if (gradientScale[unsuffixed] != null) {
    return gradientScale[unsuffixed];
  }
  const layer = variableName.split('/')[0];
  return gradientScale[layer] ?? 1;
}

/** Multiplies each variable's gradient by its factor in `gradientScale` (see `scaleOf`). */
export function scaleByLayer(gradientScale: {[name: string]: number}): GradientTransform {
  return eachVariable((g, v) => {
    const scale = scaleOf(gradientScale, v.name);
    return scale === 1 ? g : tf.mul(g, scale);
  });
}

/**
 * Whether weight decay applies to `v`: weight matrices and filters (rank ≥ 2), not biases, whatever
 * their rank (a grouped linear layer's bias is [G, D/G]; tfjs-layers names biases `…bias`, with a
 * `_N` suffix when a name repeats).
 */
export function isDecayed(v: tf.Variable): boolean {
  return v.rank >= 2 && !/bias(_\d+)?$/.test(v.name);
}

/** Adds `rate·w` to the gradient of every decayed weight (see `isDecayed`): coupled L2 decay. */
export function addWeightDecay(rate: number): GradientTransform {
  return eachVariable((g, v) => rate > 0 && isDecayed(v) ? tf.add(g, tf.mul(v, rate)) : g);
}

/**
 * `ok` (a bool scalar) false replaces every gradient by zeros (a choice, not a product: a NaN
 * gradient must not reach the inner optimizer's state); null changes nothing.
 */
export function zeroUnless(ok: Tensor|null): GradientTransform {
  return eachVariable(g => ok == null ? g : choose(ok, g, tf.zerosLike(g)));
}

/** A bool scalar: whether `value` and every element of every tensor of `tensors` are finite. */
export function allFinite(value: Tensor, tensors: Tensor[]): Tensor {
  return tensors.reduce((ok, t) => tf.logicalAnd(ok, tf.all(tf.isFinite(t))), tf.isFinite(value));
}
