/**
 * The supervised local loss of the paper (§2.2, eqs. 4–5, Algorithm 1 "fused"): one cross-entropy
 * per (example n, patch p, group g), all with the value of the loss on the globally averaged
 * feature, stop-gradients letting only patch p / group g carry derivative into loss (n, p, g).
 *
 * Nothing is replicated. The value is one cross-entropy per example (the mean over the P·G equal
 * copies), so reverse mode gives exactly the conventional gradient (the replicated copies' gradient
 * divided by P·G, as the paper's code does). In a forward-mode training step the per-(n, p, g)
 * directional derivatives come from the closed form
 *     ṡ[n,p,g] = (ẋ[n,p,g,:] / P) · W_g · (softmax(logits_n) − y_n),
 * computed as Σ_{d∈g} ẋ[n,p,d]·e[n,d] / P with e = (softmax − y)·Wᵀ: memory N·P·D, flat in G.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {stopGradient} from '../autodiff/stop_gradient';
import {untraced} from '../autodiff/internal';
import {ValueError} from '../errors';
import {annotate, annotationOf} from '../step/local_step';
import {nameLoss} from './loss_name';

/** A tfjs-layers loss function: per-example losses from targets and predictions. */
export type LossFunction = (yTrue: Tensor, yPred: Tensor) => Tensor;

/** Per-example softmax cross-entropy from logits [N, C] and (one-hot or soft) targets [N, C]. */
export function softmaxCrossEntropy(yTrue: Tensor, logits: Tensor): Tensor {
  return tf.tidy(() => {
    const logZ = tf.logSumExp(logits, -1, true);
    return tf.neg(tf.sum(tf.mul(yTrue, tf.sub(logits, logZ)), -1));
  });
}

/**
 * The per-(example, patch, group) directional derivatives of the local cross-entropy (the closed
 * form in the file comment): `featuresTangent` [...K, N, P, D], `kernel` [D, C], `error` =
 * softmax − y [N, C] → [...K, N, P, G].
 */
export function localLossTangents(featuresTangent: Tensor, kernel: Tensor, error: Tensor, groups: number): Tensor {
  return tf.tidy(() => {
    const shape = featuresTangent.shape;
    const [n, p, d] = shape.slice(-3);
    const lead = shape.slice(0, -3);
    const e = tf.matMul(error, kernel, false, true);  // [N, D]
    const prod = tf.mul(featuresTangent, tf.reshape(e, [n, 1, d]));
    return tf.div(tf.sum(tf.reshape(prod, [...lead, n, p, groups, d / groups]), -1), p);
  });
}

/**
 * In a forward-gradient step, when `yPred` comes from a local head, records on `loss` its
 * per-(row, patch, group) tangents (the closed form above) for the optimizer's credit. `error`
 * gives ∂loss_row/∂(head output)_row, each row through its own output only.
 */
export function recordLocalTangents(loss: Tensor, yPred: Tensor, error: () => Tensor): void {
  const head = annotationOf(yPred)?.localHead;
  if (head == null || (head.shares == null && head.featuresTangent == null)) {
    return;
  }
  const local = untraced(() => tf.tidy(() => head.shares != null ?
      localLossTangentsFromShares(head.shares, error()) :
      localLossTangents(head.featuresTangent!, head.kernel!, error(), head.groups)));
  annotate(loss, {localTangents: local}, [local]);
}

/**
 * The per-(example, patch, group) directional derivatives from the head's share tangents
 * [...K, N, P, G, C] (see `LocalHeadInfo`) and `error` [N, C]: ṡ[n,p,g] = Σ_c share[n,p,g,c]·error[n,c]
 * → [...K, N, P, G].
 */
export function localLossTangentsFromShares(shares: Tensor, error: Tensor): Tensor {
  return tf.tidy(() => {
    const [n, c] = [shares.shape[shares.rank - 4], shares.shape[shares.rank - 1]];
    return tf.sum(tf.mul(shares, tf.reshape(error, [n, 1, 1, c])), -1);
  });
}

/**
 * The local cross-entropy loss for the logits of a `LocalLossHead` (see the file comment): per
 * example, the softmax cross-entropy of the head's logits. In a training step it also records
 * the per-(example, patch, group) directional derivatives for the forward-gradient optimizer, and
 * adds the DFA taps of the block (value-neutral: each tap adds L_l − sg(L_l)); under feedback
 * alignment it is sg(L − L_bw) + L_bw, L_bw the loss through the head's fixed random matrix (the
 * paper's code). On other logits it
 * is the plain softmax cross-entropy (from logits, not probabilities).
 *
 * ```js
 * model.compile({optimizer, loss: [fg.losses.localCrossEntropy(), ..., 'categoricalCrossentropy']});
 * ```
 */
export function localCrossEntropy(): LossFunction {
  const fn = (yTrue: Tensor, yPred: Tensor): Tensor => {
    if (yPred.rank !== 2 || !tf.util.arraysEqual(yTrue.shape, yPred.shape)) {
      throw new ValueError(
          `localCrossEntropy: expects logits [batch, classes] and targets of the same shape. ` +
          `Received: targets [${yTrue.shape}], logits [${yPred.shape}].`);
    }
    const ann = annotationOf(yPred);
    let loss = softmaxCrossEntropy(yTrue, yPred);
    const feedbackLogits = ann?.feedbackLogits;
    if (feedbackLogits != null) {
      // feedback alignment (the paper code's loss): the value of L, the derivative of L_bw, the
      // loss through the head's fixed random matrix
      const lossBw = softmaxCrossEntropy(yTrue, feedbackLogits);
      loss = tf.add(stopGradient(tf.sub(loss, lossBw)), lossBw);
    }
    const taps = ann?.dfaTaps;
    for (const tap of taps ?? []) {
      const local = softmaxCrossEntropy(yTrue, tf.matMul(tf.mean(tap.x, 1), tap.projection));
      loss = tf.add(loss, tf.sub(local, stopGradient(local)));
    }
    recordLocalTangents(loss, yPred, () => tf.sub(tf.mul(tf.softmax(yPred), tf.sum(yTrue, -1, true)), yTrue));
    return loss;
  };
  Object.defineProperty(fn, 'name', {value: 'localCrossEntropy'});
  return nameLoss(fn, 'fgLocalCrossEntropy');
}
