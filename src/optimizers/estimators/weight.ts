/**
 * Weight perturbation (FG-W, and LG-FG-W with local credit): one random direction v_k per weight,
 * seeded as the tangent of the weight; from the directional derivatives d_k of the loss (or, with
 * local credit, of the losses each weight's units reach) the estimate is ĝ = mean_k d_k·v_k.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {seedTangent} from '../../autodiff';
import {noiseSeed, sampleNoise} from '../noise';
import {EstimatorContext} from './estimator';

/** Offset of the weight directions' noise streams (activity sites use 1, 2, ...). */
const WEIGHT_STREAM_OFFSET = 1_000_000;

/** The K directions [K?, ...v.shape] of each variable (no K axis when K = 1). */
export function sampleDirections(vars: readonly tf.Variable[], batchShape: readonly number[], ctx: EstimatorContext): Tensor[] {
  return vars.map((v, i) => sampleNoise(
      [...batchShape, ...v.shape], ctx.noise,
      ctx.seed == null ? null : noiseSeed(ctx.seed, ctx.step, WEIGHT_STREAM_OFFSET + i)));
}

/** Seeds each direction as its variable's tangent (inside the traced step). */
export function seedDirections(vars: readonly tf.Variable[], directions: readonly Tensor[]): void {
  vars.forEach((v, i) => seedTangent(v, directions[i]));
}

/**
 * g = mean_k credit_k·v_k into `grads` for each variable: its local credit [K, ...1s or v.shape]
 * where the model declares one (LG-FG-W), else the directional derivative `d` [K] of the loss.
 */
export function addWeightGradients(
    grads: NamedTensorMap, vars: readonly tf.Variable[], directions: readonly Tensor[], d: Tensor,
    credits: ReadonlyArray<Tensor|null>, k: number): void {
  vars.forEach((v, i) => {
    const credit = credits[i] ?? tf.reshape(d, [k, ...new Array(v.rank).fill(1)]);
    grads[v.name] = tf.mean(tf.mul(credit, tf.reshape(directions[i], [k, ...v.shape])), 0);
  });
}
