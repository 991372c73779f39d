/**
 * The inner tfjs optimizer that applies the estimated gradients: made from a name, its state
 * (slots, moment estimates, counters) saved and restored beside its own weights, and an update
 * that leaves weights and state as they were when the estimate was not finite.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {choose} from '../backends/choose';

/** A named tensor, as `tf.Optimizer.getWeights` returns them. */
export type NamedTensor = {name: string, tensor: Tensor};

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

/** Prefix of the saved scalar state of the inner optimizer (see `innerStateWeights`). */
const INNER_STATE_PREFIX = 'fg/inner/';

/** The tf.Variables held directly as properties of an optimizer (not per-weight slots), by key. */
function innerScalarState(opt: tf.Optimizer): Array<[string, tf.Variable]> {
  return Object.entries(opt as unknown as {[k: string]: unknown})
      .filter((e): e is [string, tf.Variable] => e[1] instanceof tf.Variable && !e[1].isDisposed)
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The inner optimizer's scalar state variables that its getWeights omits (Adam's β powers, which
 * its setWeights recomputes with pow(): not bit-identical to the running product, so a resumed run
 * would drift), as named tensors to save beside its weights.
 */
export function innerStateWeights(opt: tf.Optimizer): NamedTensor[] {
  return innerScalarState(opt).map(([key, v]) => ({name: `${INNER_STATE_PREFIX}${key}`, tensor: v}));
}

/** Whether `w` is one of `innerStateWeights`' entries. */
export function isInnerStateWeight(w: NamedTensor): boolean {
  return w.name.startsWith(INNER_STATE_PREFIX);
}

/** Restores the scalar state saved by `innerStateWeights` (entries of other names are ignored). */
export function restoreInnerState(opt: tf.Optimizer, weights: NamedTensor[]): void {
  const saved = new Map(weights.filter(isInnerStateWeight).map(w => [w.name.slice(INNER_STATE_PREFIX.length), w.tensor]));
  for (const [key, v] of innerScalarState(opt)) {
    const value = saved.get(key);
    if (value != null && value.dtype === v.dtype && value.size === v.size) {
      tf.tidy(() => v.assign(tf.reshape(value, v.shape)));
    }
  }
}

/**
 * Applies `variableGradients` with `opt`; where `ok` (a bool scalar) is false, the variables and
 * the optimizer's state are restored (weights unchanged) and `skippedSteps` is incremented, without
 * reading anything back from the device. Frees `ok`.
 */
export function applyUnlessSkipped(
    opt: tf.Optimizer, variableGradients: NamedTensorMap|NamedTensor[], ok: Tensor, skippedSteps: tf.Variable): void {
  const names = Array.isArray(variableGradients) ? variableGradients.map(g => g.name) :
                                                   Object.keys(variableGradients);
  const registered = tf.engine().registeredVariables;
  const weights = names.map(n => registered[n]).filter(v => v != null);
  const stateBefore = new Set(optimizerState(opt));
  const restore = [...weights, ...stateBefore];
  const snapshot = tf.tidy(() => restore.map(v => tf.keep(v.clone())));
  try {
    try {
      opt.applyGradients(variableGradients);
    } catch (e) {
      // an update that failed half-way: back to the state before it
      tf.tidy(() => restore.forEach((v, i) => v.assign(snapshot[i])));
      throw e;
    }
    tf.tidy(() => {
      // A choice: bit for bit the new value or the old one, whatever either holds (a blend
      // v·ok + old·(1 − ok) would carry a NaN of the new value into the restored one).
      restore.forEach((v, i) => v.assign(choose(ok, v as Tensor, snapshot[i])));
      // State the inner optimizer created in this very step is left as it is: the skipped
      // step's gradients are zeros, which leaves every tfjs optimizer's new state at its initial
      // value (0, or Adagrad's initialAccumulatorValue).
      skippedSteps.assign(tf.add(skippedSteps, tf.cast(tf.logicalNot(ok), 'float32')));
    });
  } finally {
    tf.dispose([snapshot, ok]);
  }
}

/** Frees `opt`, including what tfjs 4.22's own dispose misses. */
export function disposeInner(opt: tf.Optimizer): void {
  opt.dispose();
  // tfjs 4.22's MomentumOptimizer.dispose skips SGD's learning-rate scalar `c`: free it too.
  const c = (opt as unknown as {c?: unknown}).c;
  if (opt instanceof tf.MomentumOptimizer && c instanceof tf.Tensor && !c.isDisposed) {
    c.dispose();
  }
}
