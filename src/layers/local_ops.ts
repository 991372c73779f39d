/**
 * The linear maps of the LocalMixer and their local one-layer gradients: dense and grouped
 * channel mixing, token mixing on the transposed layout, optional fixed random feedback weights
 * (feedback alignment), the LayerNorm pull-back, and the paper's initialization scale.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {normalizeForward, normalizePullback} from './layer_norm';

/** The three linear maps of a LocalMixer block (paper §3.1). */
export type LinearKind =
    /** x [..., in] · W [in, out] + b [out] */
    'dense'|
    /** per group g: x [..., G, in/G] · W[g] [in/G, out/G] + b[g] ([G, out/G]) */
    'group';

/**
 * The paper's initialization scale ("kaiming" in its code): σ = min(2/√fan_in, 0.1) with
 * fan_in = shape[-2] (note 2/√fan_in, not √(2/fan_in)).
 */
export function initScale(shape: number[]): number {
  const fanIn = shape[shape.length - 2];
  return Math.min(2 / Math.sqrt(fanIn), 0.1);
}

/**
 * x·w where the backward pass uses `feedback` (same size as w, kept by its owner) in place of w for
 * the input's gradient (FA).
 */
function feedbackMatMul(x: Tensor, w: Tensor, feedback: Tensor): Tensor {
  const op = tf.customGrad(((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    save([a, b]);  // the inputs themselves may be freed by the caller's tidy before the backward pass
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) =>
          [tf.matMul(dy, tf.reshape(feedback, sb.shape), false, true), tf.matMul(sa, dy, true, false)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, w);
}

/** x [..., in] · w [in, out] + b, with optional random feedback for the input's gradient. */
export function denseLinear(x: Tensor, w: Tensor, b: Tensor, feedback: Tensor|null): Tensor {
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2 = tf.reshape(x, [-1, x.shape[x.rank - 1]]);
    const y = feedback == null ? tf.matMul(x2, w) : feedbackMatMul(x2, w, feedback);
    return tf.reshape(tf.add(y, b), [...lead, w.shape[1] as number]);
  });
}

/**
 * Grouped linear: x [..., G, in/G], w [G, in/G, out/G], b [G, out/G] → [..., G, out/G]. Groups
 * never communicate. One batched matmul over the groups (a plain matmul when G = 1).
 */
export function groupLinear(x: Tensor, w: Tensor, b: Tensor, feedback: Tensor|null): Tensor {
  return tf.tidy(() => {
    const [g, a, o] = w.shape as number[];
    const lead = x.shape.slice(0, -2);
    if (g === 1) {
      const y = denseLinear(tf.reshape(x, [-1, a]), tf.reshape(w, [a, o]), tf.reshape(b, [o]), feedback);
      return tf.reshape(y, [...lead, 1, o]);
    }
    const xt = tf.transpose(tf.reshape(x, [-1, g, a]), [1, 0, 2]);  // [G, M, in/G]
    const y = feedback == null ? tf.matMul(xt, w) : feedbackMatMul(xt, w, feedback);  // [G, M, out/G]
    return tf.reshape(tf.add(tf.transpose(y, [1, 0, 2]), b), [...lead, g, o]);
  });
}

/**
 * The local weight gradients of a linear map from the gradient `gy` of its output: dW = Σ xᵀ·gy
 * and db = Σ gy over every example and position (no derivative crosses the input).
 */
export function linearWeightGradients(kind: LinearKind, x: Tensor, gy: Tensor, wShape: number[]): Tensor[] {
  return tf.tidy(() => {
    if (kind === 'dense') {
      const [a, o] = wShape;
      const x2 = tf.reshape(x, [-1, a]);
      const g2 = tf.reshape(gy, [-1, o]);
      return [tf.matMul(x2, g2, true, false), tf.sum(g2, 0)];
    }
    const [g, a, o] = wShape;
    const xt = tf.transpose(tf.reshape(x, [-1, g, a]), [1, 0, 2]);
    const gt = tf.transpose(tf.reshape(gy, [-1, g, o]), [1, 0, 2]);
    return [tf.matMul(xt, gt, true, false), tf.sum(gt, 1)];
  });
}

/**
 * The pull-back through a parameter-free LayerNorm y = (h − μ)/σ over `axis` (σ² the biased
 * variance + ε): dh = (dy − mean(dy) − y·mean(dy·y)) / σ. This is the code's `norm_grad` (paper
 * §1.5): the activity gradient after the norm mapped to the linear layer's output.
 */
export function layerNormBackward(h: Tensor, dy: Tensor, axis: number, epsilon: number): Tensor {
  return tf.tidy(() => {
    const {y, rstd} = normalizeForward(h, axis, epsilon);
    return normalizePullback(y, rstd, dy, axis);
  });
}
