/**
 * The linear maps of the LocalMixer and their local one-layer gradients: dense and grouped
 * channel mixing, token mixing on the transposed layout, optional fixed random feedback weights
 * (feedback alignment), the LayerNorm pull-back, and the paper's initialization scale.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {exactCustomGrad, ExactCustomGradFunc} from '../autodiff/exact_custom_grad';
import {InputGradient} from '../autodiff/tracer_tape';

import {normalizeForward, normalizePullback} from './layer_norm';
import {customGradOk, reshapeTo} from './utils';

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
 * A customGrad op of this package: `f(inputs, save)` → value and gradient function, which gives
 * each input's gradient as a tensor or as a function computing it only when it is needed.
 */
type OpBody = (inputs: Tensor[], save: (ts: Tensor[]) => void) =>
    {value: Tensor, gradFunc: (dy: Tensor, saved: Tensor[]) => InputGradient[]};

/**
 * Runs `body` as the op `name`, one backward op (one tape node that keeps only what `body` saves;
 * its gradient function runs in a tidy; exact, so forward mode traces its kernels), or inline with plain kernels where a customGrad op would lose the
 * tangent (see `customGradOk`).
 */
function runOp(name: string, body: OpBody, inputs: Tensor[]): Tensor {
  if (!customGradOk()) {
    return tf.tidy(() => body(inputs, () => {}).value);
  }
  const op = exactCustomGrad(name, ((...args: unknown[]) => {
    const save = args.pop() as (ts: Tensor[]) => void;
    const {value, gradFunc} = body(args as Tensor[], save);
    // the tidy frees the intermediates of gradients computed here; functions pass through it
    return {value, gradFunc: (dy: Tensor, saved: Tensor[]) => tf.tidy(() => gradFunc(dy, saved) as tf.TensorContainer)};
  }) as unknown as ExactCustomGradFunc);
  return op(...inputs);
}

/**
 * x [..., in] · w [in, out] + b [out] as one backward op that keeps only x (and w); the input's
 * gradient uses `feedback` (same shape as w, kept by its owner) in place of w when given (FA).
 * The output has shape [..., out], or `outShape`.
 */
export function denseLinear(x: Tensor, w: Tensor, b: Tensor, feedback: Tensor|null, outShape?: number[]): Tensor {
  const [a, o] = w.shape as number[];
  const shape = outShape ?? [...x.shape.slice(0, -1), o];
  return runOp('fgDenseLinear', ([xi, wi, bi], save) => {
    save([xi, wi]);  // the inputs themselves may be freed by the caller's tidy before the backward pass
    const x2 = reshapeTo(xi, [-1, a]);
    return {
      value: reshapeTo(tf.add(tf.matMul(x2, wi), bi), shape),
      // Each gradient computed only if the backward pass needs it (the first layer's input needs
      // none); a reshape shares its input's data, so each function takes its own view of dy.
      gradFunc: (dy: Tensor, [sx, sw]: Tensor[]) => {
        const dy2 = () => reshapeTo(dy, [-1, o]);
        return [
          () => reshapeTo(tf.matMul(dy2(), feedback ?? sw, false, true), sx.shape),
          () => tf.matMul(reshapeTo(sx, [-1, a]), dy2(), true, false),
          () => tf.sum(dy2(), 0),
        ];
      },
    };
  }, [x, w, b]);
}

/**
 * Grouped linear: x [..., G·in/G] (or [..., G, in/G]), w [G, in/G, out/G], b [G, out/G] → by
 * default [..., G, out/G], or `outShape`. Groups never communicate. One batched matmul over the
 * groups in the layout [G, M, in/G] (a plain matmul when G = 1), as one backward op that keeps
 * only x (and w); `feedback` as in `denseLinear`.
 */
export function groupLinear(x: Tensor, w: Tensor, b: Tensor, feedback: Tensor|null, outShape?: number[]): Tensor {
  const [g, a, o] = w.shape as number[];
  const shape = outShape ?? [...x.shape.slice(0, -2), g, o];
  if (g === 1) {
    return denseLinear(x, tf.reshape(w, [a, o]), tf.reshape(b, [o]), feedback == null ? null : tf.reshape(feedback, [a, o]),
                       shape);
  }
  return runOp('fgGroupLinear', ([xi, wi, bi], save) => {
    save([xi, wi]);
    const byGroup = (t: Tensor, c: number) => tf.transpose(reshapeTo(t, [-1, g, c]), [1, 0, 2]);  // [G, M, c]
    const y = tf.add(tf.matMul(byGroup(xi, a), wi), tf.reshape(bi, [g, 1, o]));
    return {
      value: reshapeTo(tf.transpose(y, [1, 0, 2]), shape),
      gradFunc: (dy: Tensor, [sx, sw]: Tensor[]) => {
        const dyg = byGroup(dy, o);
        return [
          reshapeTo(tf.transpose(tf.matMul(dyg, feedback ?? sw, false, true), [1, 0, 2]), sx.shape),
          tf.matMul(byGroup(sx, a), dyg, true, false),
          tf.sum(dyg, 1),
        ];
      },
    };
  }, [x, w, b]);
}

/** relu(z + x) (a residual connection and its ReLU) as one backward op that keeps only its output. */
export function addRelu(z: Tensor, x: Tensor): Tensor {
  return runOp('fgAddRelu', ([zi, xi], save) => {
    const out = tf.relu(tf.add(zi, xi));
    save([out]);
    return {
      value: out,
      gradFunc: (dy: Tensor, [sOut]: Tensor[]) => {
        const g = tf.mul(dy, tf.step(sOut));
        return [g, g.clone()];
      },
    };
  }, [z, x]);
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
 * §3.6): the activity gradient after the norm mapped to the linear layer's output.
 */
export function layerNormBackward(h: Tensor, dy: Tensor, axis: number, epsilon: number): Tensor {
  return tf.tidy(() => {
    const {y, rstd} = normalizeForward(h, axis, epsilon);
    return normalizePullback(y, rstd, dy, axis);
  });
}

/**
 * The tangent of each (patch p, group g)'s share of a local head's output: from the tangent ẋ
 * [...K, N, P, D] of the features whose patch mean the kernel W [D, C] maps,
 * Σ_{d∈g} ẋ[n,p,d]·W[d,c] / P → [...K, N, P, G, C] (one batched matMul over the G groups). Summed
 * over p and g it is the tangent of the output through the kernel.
 */
export function logitShareTangents(featuresTangent: Tensor, kernel: Tensor, groups: number): Tensor {
  return tf.tidy(() => {
    const shape = featuresTangent.shape;
    const p = shape[shape.length - 2] as number, d = shape[shape.length - 1] as number;
    const rows = tf.util.sizeFromShape(shape.slice(0, -1));
    const classes = kernel.shape[1] as number;
    const byGroup = tf.transpose(tf.reshape(featuresTangent, [rows, groups, d / groups]), [1, 0, 2]);  // [G, rows, D/G]
    const y = tf.matMul(byGroup, tf.reshape(kernel, [groups, d / groups, classes]));  // [G, rows, C]
    return tf.reshape(tf.div(tf.transpose(y, [1, 0, 2]), p), [...shape.slice(0, -1), groups, classes]);
  });
}
