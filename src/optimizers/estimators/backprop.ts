/**
 * The exact gradient by backpropagation (`perturb: 'none'`, the BP baseline), and the backward pass
 * restricted to the exact layers that the forward estimators run on their own forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {clearingTapeOnThrow, recordingOnlyFrom} from '../../autodiff/internal';
import {runLocalStep} from '../../step/local_step';
import {allFinite} from '../transforms';
import {Estimate, EstimatorContext} from './estimator';

/**
 * `f` for a backward pass (`tf.variableGrads`, `engine.gradients`): if it throws, the tensors the
 * tape saved for the backward pass (kept, and freed only by a backward pass that now never runs)
 * are freed, so a failing loss leaks nothing.
 */
export function freeingTapeOnThrow<T>(f: () => T): () => T {
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

/** The exact gradients of `vars` by one backward pass (an Estimator). */
export function estimate(f: () => tf.Scalar, vars: tf.Variable[], _ctx: EstimatorContext): Estimate {
  // Layers annotate their outputs during the step (local losses read them): open the step around
  // the whole backward pass, which still uses what they kept.
  const {value, grads, finite} = runLocalStep(null, () => tf.tidy(() => {
    const {value, grads} = clearingTapeOnThrow(() => tf.variableGrads(freeingTapeOnThrow(f), vars));
    // The same guard as the estimators: a non-finite loss or gradient skips the step.
    const finite = allFinite(value, Object.values(grads));
    return {value, grads, finite} as unknown as tf.TensorContainer;
  })) as unknown as {value: tf.Scalar, grads: NamedTensorMap, finite: Tensor};
  return {value, grads, finite, directionalDerivative: null};
}

/**
 * One backward pass restricted to `vars` (the tape records and walks only their paths), inside a
 * traced step: the loss and the gradients of the variables the loss reaches.
 */
export function exactGradients(f: () => tf.Scalar, vars: tf.Variable[]): {value: tf.Scalar, grads: NamedTensorMap} {
  const record = freeingTapeOnThrow(() => recordingOnlyFrom(vars, f));
  const r = clearingTapeOnThrow(() => tf.engine().gradients(record, vars, undefined, true));
  const grads: NamedTensorMap = {};
  vars.forEach((v, i) => {
    if (r.grads[i] != null) {
      grads[v.name] = r.grads[i];
    }
  });
  return {value: r.value as tf.Scalar, grads};
}
