/**
 * The credit maths of activity perturbation (FG-A, LG-FG-A) and of weight perturbation with local
 * credit (LG-FG-W), on plain tensors: no model, no tracer. One JVP yields, per direction k, the
 * directional derivatives of the per-example (and, for local losses, per-(example, patch, group))
 * losses; the activity gradient estimate is ĝ_z = mean_k d_k ⊙ u_k, each unit credited by the
 * derivatives of the losses it can reach (paper §3.3 and §4; the official code's `update_forward_grad_activations` and
 * `update_forward_grad_weights`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';
import {ActivityLayout, WeightLayout} from '../step/local_step';

/** The per-example loss of one model output in the current step. */
export interface LossRecord {
  perExample: Tensor;
  tangent: Tensor|null;
  /** Per-(example, patch, group) tangents [...K, N, P, G] of a local loss, if it records them. */
  localTangents: Tensor|null;
  sampleWeights: Tensor|null;
}

/** The directional derivatives credited by one output's loss, normalized as the batch loss. */
export interface OutputDerivatives {
  /** Per example, [K, N]. */
  perExample: Tensor;
  /** Per (example, patch, group), [K, N, P, G], for local losses. */
  local: Tensor|null;
}

/**
 * The mean over the leading axis of directions [K, ...]: with one direction the tensor itself,
 * without a kernel (the mean of one value is that value, bit for bit).
 */
export function meanOverDirections(t: Tensor): Tensor {
  return t.shape[0] === 1 ? tf.reshape(t, t.shape.slice(1)) : tf.mean(t, 0);
}

/**
 * The directional derivatives credited to each output's loss, normalized like the batch loss
 * (weighted loss of example n / number of loss elements; with `sumOverBatch`, not divided by the
 * batch size: the batch sum of the per-example losses): per example [K, N], and per
 * (example, patch, group) [K, N, P, G] for local losses. Non-finite values (the step will be
 * skipped) are zeroed: the gradients feed the inner optimizer's state. `outputNames` name the
 * outputs in error messages and to `onScalarLoss`, called for each output whose loss is a scalar.
 */
export function outputDerivatives(
    records: ReadonlyArray<LossRecord|null>, batchShape: readonly number[], sumOverBatch: boolean,
    outputNames: readonly string[], onScalarLoss?: (outputName: string) => void): Array<OutputDerivatives|null> {
  const nb = batchShape.length;
  const k = tf.util.sizeFromShape(batchShape as number[]);
  const finite = (t: Tensor) => tf.where(tf.isFinite(t), t, tf.zerosLike(t));
  return records.map((r, i) => {
    if (r == null || r.tangent == null) {
      return null;
    }
    const lossShape = r.perExample.shape;
    let t = r.tangent;
    if (lossShape.length === 0) {
      // A loss already reduced to a scalar (e.g. tf.losses.*): one term shared by the batch. Its
      // tangent credits every example's activities (unbiased, FG-W-like variance). The training
      // loss is then mean(loss · w) = loss · mean(w).
      onScalarLoss?.(outputNames[i]);
      t = tf.reshape(t, [k, 1]);
      return {perExample: finite(r.sampleWeights == null ? t : tf.mul(t, tf.mean(r.sampleWeights))), local: null};
    }
    const n = lossShape[0];
    // the batch mean (or, sumOverBatch, the batch sum) of the per-example losses
    const denominator = sumOverBatch ? r.perExample.size / n : r.perExample.size;
    if (n === 0) {
      throw new ValueError(
          `forwardGradient: the batch has 0 examples (the loss of output '${outputNames[i]}' is ` +
          `empty); per-example credit needs at least one. Check the data and the batch size.`);
    }
    if (r.sampleWeights != null) {
      t = tf.mul(t, r.sampleWeights);
    }
    // Sum the non-example axes (e.g. time steps) of the per-example loss.
    const extra = lossShape.slice(1).map((_, i) => nb + 1 + i);
    if (extra.length > 0) {
      t = tf.sum(t, extra);
    }
    const perExample = finite(tf.reshape(tf.div(t, denominator), [k, n]));
    let local: Tensor|null = null;
    if (r.localTangents != null) {
      // rows: N, or V·N for V views per example (view-major)
      const [rows, p, g] = r.localTangents.shape.slice(-3) as number[];
      let l = tf.reshape(r.localTangents, [k, rows / n, n, p, g]);
      if (r.sampleWeights != null) {
        l = tf.mul(l, tf.reshape(r.sampleWeights, [1, 1, n, 1, 1]));
      }
      local = finite(tf.reshape(tf.div(l, denominator), [k, rows, p, g]));
    }
    return {perExample, local};
  });
}

/**
 * ĝ_z = mean over the K directions of d_n · u, where `perRow` [K, N] is the derivative of each row
 * (example) and `noise` [K, ...zShape] the activity noise: each unit is credited by its row's
 * derivative. Shape `zShape`.
 */
export function perRowEstimate(perRow: Tensor, noise: Tensor, zShape: number[]): Tensor {
  const k = perRow.shape[0];
  const n = perRow.shape[1] as number;
  const u = tf.reshape(noise, [k, n, tf.util.sizeFromShape(zShape) / n]);
  return tf.reshape(meanOverDirections(tf.mul(tf.reshape(perRow, [k, n, 1]), u)), zShape);
}

/** The gradient of a bias added on the last (channel) axis of z, from the activity gradient `gz`. */
export function biasGradient(gz: Tensor, biasShape: number[]): Tensor {
  const channelAxis = gz.rank - 1;
  const axes = gz.shape.map((_, i) => i).filter(i => i !== channelAxis);
  return tf.reshape(tf.sum(gz, axes), biasShape);
}

/**
 * mean_k credit_k ⊙ u_k for an activity of shape `zShape` declared with `layout` by layer
 * `layerName`: each unit is credited by the local derivative of the (example, patch, group) losses
 * it can reach (its layout) when the loss is local and reads this layer directly (`direct`), else
 * by its example's (row's) derivative.
 */
export function declaredSiteEstimate(
    d: OutputDerivatives, noise: Tensor, zShape: number[], layout: ActivityLayout, layerName: string,
    direct: boolean): Tensor {
  const z = zShape;
  const k = d.perExample.shape[0];
  const n = z[0];
  const size = tf.util.sizeFromShape(z);
  if (d.local == null || !direct) {
    // per example (per row): a loss without local structure, or a layer upstream of the layer
    // the local loss reads (its units reach every patch and group of the loss)
    const perRow = d.local == null ? d.perExample : tf.sum(d.local, [2, 3]);
    if (perRow.shape[1] !== n) {
      throw new ValueError(
          `forwardGradient: the loss credits ${perRow.shape[1]} rows per batch but layer ` +
          `'${layerName}' has ${n} (views of an example need a loss with per-row tangents).`);
    }
    return perRowEstimate(perRow, noise, z);
  }
  const [p, g] = d.local.shape.slice(2) as number[];
  const patchAxis = layout === 'tokens' ? z.length - 1 : 1;
  if (z[patchAxis] !== p || (layout === 'channels' && (size / (n * p)) % g !== 0)) {
    throw new ValueError(
        `forwardGradient: the local loss of layer '${layerName}' has ${p} patches and ` +
        `${g} groups, which do not match its activity of shape [${z}] (layout '${layout}'). ` +
        `Give the block and its head the same groups.`);
  }
  if (layout === 'channels') {
    // rank-3 views (wasm's broadcasting kernels are per-element index loops, slower at rank 5)
    const u = tf.reshape(noise, [k, n * p * g, size / (n * p * g)]);
    return tf.reshape(meanOverDirections(tf.mul(tf.reshape(d.local, [k, n * p * g, 1]), u)), z);
  }
  const u = tf.reshape(noise, [k * n, size / (n * p), p]);
  return tf.reshape(meanOverDirections(tf.reshape(tf.mul(tf.reshape(tf.sum(d.local, -1), [k * n, 1, p]), u), [k, -1])), z);
}

/**
 * Weight perturbation with local credit (LG-FG-W; the official code's `update_forward_grad_weights`): the credit of each direction by
 * one output's loss for weight `v`, broadcastable to [K, ...v.shape]: per (block, group) sums of the
 * loss's local derivatives laid out by `layout` when the loss is local and reads the layer directly
 * (`direct`), else the loss's total derivative.
 */
export function weightCreditTerm(
    d: OutputDerivatives, v: tf.Variable, layout: WeightLayout, direct: boolean): Tensor {
  const k = d.perExample.shape[0];
  if (d.local == null || layout === 'shared' || !direct) {
    const total = tf.sum(d.local ?? d.perExample, d.local == null ? 1 : [1, 2, 3]);  // [K]
    return tf.reshape(total, [k, ...v.shape.map(() => 1)]);
  }
  const g = d.local.shape[3] as number;
  const perGroup = tf.sum(d.local, [1, 2]);  // [K, G]
  const last = v.shape[v.rank - 1];
  if (layout === 'columns') {
    if (last % g !== 0) {
      throw new ValueError(`forwardGradient: ${g} groups do not divide the columns of weight '${v.name}' [${v.shape}].`);
    }
    const c = tf.reshape(perGroup, [k, ...v.shape.slice(0, -1).map(() => 1), g, 1]);
    return tf.reshape(tf.tile(c, [1, ...v.shape.slice(0, -1).map(() => 1), 1, last / g]), [k, ...v.shape.slice(0, -1).map(() => 1), last]);
  }
  if (v.shape[0] !== g) {
    throw new ValueError(`forwardGradient: weight '${v.name}' [${v.shape}] has not ${g} groups on its first axis.`);
  }
  return tf.reshape(perGroup, [k, g, ...v.shape.slice(1).map(() => 1)]);
}
