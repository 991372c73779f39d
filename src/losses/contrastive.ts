/**
 * The contrastive local loss of the paper (§2.3, eq. 6, as its code does it): SimCLR / InfoNCE on
 * the L2-normalized projections of two views, temperature τ, the other 2N − 2 embeddings of the
 * batch as negatives, and a stop-gradient on every non-anchor embedding (the positive and the
 * negatives): each row's loss carries derivative only through its own activations, which is what
 * makes forward gradients with the same noise on both views work (Fig. 4).
 *
 * Like the local cross-entropy, every (patch, group) copy has the value of the loss on the averaged
 * feature; in a forward-gradient step the per-(row, patch, group) directional derivatives come from
 * the closed form (ẋ[r,p,g,:] / P) · W_g · ∂l_r/∂proj_r, with ∂l_r/∂proj_r through the L2 norm.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {stopGradient} from '../autodiff/stop_gradient';
import {ValueError} from '../errors';
import {LossFunction, recordLocalTangents} from './local_cross_entropy';
import {contrastiveLossName, DEFAULT_TEMPERATURE, nameLoss} from './loss_name';

/** Options of `fg.losses.contrastive`. */
export interface ContrastiveOptions {
  /** τ. Defaults to 0.5, as the paper. */
  temperature?: number;
}

/** Rows [V·N, units] (view-major) of projections [N, V, units]. */
function rowsOf(yPred: Tensor): Tensor {
  const [n, v, u] = yPred.shape as number[];
  return tf.reshape(tf.transpose(yPred, [1, 0, 2]), [v * n, u]);
}

/**
 * The per-row InfoNCE losses [2N] of projections `proj` [2N, units] (view-major, two views): for
 * anchor r, logits z_r·sg(z_m)/τ over every other row m, positive = the other view of r's example.
 */
export function infoNce(proj: Tensor, temperature: number): Tensor {
  return tf.tidy(() => {
    const rows = proj.shape[0];
    const n = rows / 2;
    const z = tf.mul(proj, tf.rsqrt(tf.maximum(tf.sum(tf.square(proj), -1, true), 1e-24)));
    const logits = tf.sub(tf.div(tf.matMul(z, stopGradient(z), false, true), temperature),
                          tf.mul(tf.eye(rows), 1e9));  // no self-similarity
    const partner = tf.mod(tf.add(tf.range(0, rows, 1, 'int32'), tf.scalar(n, 'int32')), tf.scalar(rows, 'int32'));
    const positive = tf.sum(tf.mul(logits, tf.oneHot(partner, rows)), -1);
    return tf.sub(tf.logSumExp(logits, -1), positive);
  });
}

/**
 * The contrastive local loss for the projections [N, 2, units] of a `ContrastiveHead` (see the file
 * comment). Targets are ignored (give zeros of the output's shape). Per example: the mean of its
 * two views' InfoNCE losses.
 *
 * ```js
 * model.compile({optimizer, loss: [fg.losses.contrastive(), ..., fg.losses.localCrossEntropy()]});
 * ```
 */
export function contrastive(options: ContrastiveOptions = {}): LossFunction {
  const temperature = options.temperature ?? DEFAULT_TEMPERATURE;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || !(temperature > 0)) {
    throw new ValueError(`contrastive: temperature must be a finite number > 0. Received: ${temperature}.`);
  }
  const fn = (_yTrue: Tensor, yPred: Tensor): Tensor => {
    if (yPred.rank !== 3 || yPred.shape[1] !== 2) {
      throw new ValueError(
          `contrastive: expects projections [batch, 2 views, units] (a ContrastiveHead's output). ` +
          `Received: [${yPred.shape}].`);
    }
    const n = yPred.shape[0];
    const perRow = infoNce(rowsOf(yPred), temperature);
    const loss = tf.mean(tf.reshape(perRow, [2, n]), 0);
    // each row's own derivative (the other rows are under sg), halved: loss_n is the views' mean
    recordLocalTangents(loss, yPred, () => tf.grad((p: Tensor) => tf.div(tf.sum(infoNce(p, temperature)), 2))(rowsOf(yPred)));
    return loss;
  };
  Object.defineProperty(fn, 'name', {value: 'contrastive'});
  return nameLoss(fn, contrastiveLossName(temperature));
}
