/**
 * The forward-gradient estimate (FG-W, FG-A and their local variants) in one forward-mode pass, no
 * backward pass through the network: noise in (weight directions as tangents, activity noise at
 * the sites the step recorder finds), the loss and its directional derivatives out, then the
 * weight gradients assembled from them. Exact layers, if any, get their gradient from one
 * backward pass restricted to them, on the same forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {tangentOf, withTangents} from '../../autodiff';
import {savingWithoutTangents} from '../../autodiff/internal';
import {ValueError} from '../../errors';
import {runLocalStep} from '../../step/local_step';
import {StepRecorder} from '../step_recorder';
import {allFinite} from '../transforms';
import {addRegularizerGradients, coveredBySites} from './activity';
import {exactGradients} from './backprop';
import {Estimate, EstimatorContext} from './estimator';
import {addWeightGradients, sampleDirections, seedDirections} from './weight';

/** Throws a ValueError if the step needs the model and the optimizer was not attached to one. */
function checkAttached(ctx: EstimatorContext): void {
  if (ctx.attachment == null && (ctx.perturb === 'activity' || ctx.exactLayers.length > 0)) {
    throw new ValueError(
        `forwardGradient({perturb: '${ctx.perturb}'${ctx.exactLayers.length > 0 ? ', exactLayers' : ''}) ` +
        `needs the model it trains (its layers and per-example losses) and was not attached to one. ` +
        `model.fit and model.fitDataset attach it by themselves; for model.trainOnBatch or a custom ` +
        `loop call optimizer.attach(model) first (and optimizer.detach() after)` +
        `${ctx.perturb === 'activity' ? `; or use perturb: 'weight'` : ''}. If this happened inside ` +
        `model.fit, the model comes from another copy of @tensorflow/tfjs-layers than this package's ` +
        `(${tfl.version_layers}): install one copy (npm ls @tensorflow/tfjs-layers).`);
  }
}

/** The forward-gradient estimate of the gradients of `vars` (an Estimator). */
export function estimate(f: () => tf.Scalar, vars: tf.Variable[], ctx: EstimatorContext): Estimate {
  checkAttached(ctx);
  const batchShape = ctx.samples > 1 ? [ctx.samples] : [];
  const k = ctx.samples;
  const attachment = ctx.attachment;
  const recorder = attachment == null ? null :
      new StepRecorder(
          attachment, ctx.noise, ctx.seed, ctx.step, ctx.perturb === 'activity', ctx.localCredit, ctx.sumOverBatch,
          ctx.keepNoiseBytes);
  recorder?.setBatchShape(batchShape);
  const activity = ctx.perturb === 'activity' ? recorder : null;
  try {
    return tf.tidy(() => {
      const exactVars = attachment == null ? [] :
          attachment.variablesOfLayers(ctx.exactLayers).filter(v => vars.includes(v));
      const exact = new Set(exactVars.map(v => v.id));
      // Weight perturbation: every variable (FG-W), or, with activity perturbation, the weights
      // that no perturbation site covers (embeddings, normalization gains, ...).
      const weightPerturbed =
          vars.filter(v => !exact.has(v.id) && (activity == null || !coveredBySites(attachment!, v)));
      const directions = sampleDirections(weightPerturbed, batchShape, ctx);
      // The model is patched for this step only (attachment.run restores it when the step ends
      // or throws).
      const traced = () => withTangents(() => runLocalStep(recorder, () => {
        seedDirections(weightPerturbed, directions);
        let value: tf.Scalar;
        let grads: NamedTensorMap = {};
        if (exactVars.length > 0) {
          // (the backward pass's own tangents are never read: its saved tensors need none)
          ({value, grads} = savingWithoutTangents(() => exactGradients(f, exactVars)));
        } else {
          value = f();
        }
        const d = tangentOf(value) ?? tf.zeros(batchShape);
        activity?.weightGradients(batchShape).forEach((g, name) => grads[name] = g);
        // Local credit of weight perturbation (LG-FG-W), where the model declares it.
        const credits = weightPerturbed.map(v => recorder?.weightCredit(v, batchShape) ?? null);
        return {value, d, grads, credits};
      }), {batchShape, observer: activity?.observer});
      const {value, d: dRaw, grads, credits} = attachment == null ? traced() : attachment.run(traced, recorder!.records);
      // A non-finite derivative skips the step; cleaned, it keeps the gradients finite.
      const d = tf.where(tf.isFinite(dRaw), dRaw, tf.zerosLike(dRaw));
      addWeightGradients(grads, weightPerturbed, directions, d, credits, k);
      if (activity != null) {
        addRegularizerGradients(grads, vars, attachment!);
      }
      // A non-finite loss with a finite tangent (e.g. loss + Infinity) must skip the step too, and
      // so must a non-finite gradient (a NaN input reaches the activity and exact gradients
      // through the layers' inputs, while the loss's derivative may be cleaned to 0).
      const finite = allFinite(value, [dRaw, ...Object.values(grads)]);
      return {value, grads, finite, directionalDerivative: dRaw} as unknown as tf.TensorContainer;
    }) as unknown as Estimate;
  } finally {
    recorder?.dispose();
  }
}
