/**
 * Activity perturbation (FG-A, LG-FG-A): which variables its sites cover (the rest are
 * weight-perturbed in the same pass), and the exact gradients of the regularizers, which the
 * activity estimates miss. The sites themselves are found and credited by the step's
 * `StepRecorder` (see `step_recorder.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap} from '@tensorflow/tfjs-core';

import {ModelAttachment} from '../model_attachment';

/** Whether activity perturbation estimates `v` (a site weight or bias, or a LocalLearner's weight). */
export function coveredBySites(attachment: ModelAttachment, v: tf.Variable): boolean {
  return attachment.siteWeights.has(v.id) || attachment.siteBiases.has(v.id) || attachment.localWeights.has(v.id);
}

/** Activity estimates miss the regularizers' (weight-only) terms: adds them exactly to `grads`. */
export function addRegularizerGradients(grads: NamedTensorMap, vars: tf.Variable[], attachment: ModelAttachment): void {
  const model = attachment.model;
  if (model.calculateLosses().length === 0) {
    return;
  }
  const covered = vars.filter(v => coveredBySites(attachment, v));
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
