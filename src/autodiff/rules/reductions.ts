/**
 * JVP rules: reductions (`Sum`, `Mean`, `Max`, `Min`, `Prod`) and the cumulative product. `All` and
 * `Any` return booleans, which never get a tangent.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';

import {nb} from '../helpers';
import {JvpConfig, JvpContext, JvpRule} from '../registry';

/** The reduced axes (non-negative) of a reduction kernel, read from `attrs[axisAttr]`. */
function reducedAxes(x: Tensor, attrs: NamedAttrMap, axisAttr: string): number[] {
  return tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
}

/** Sums `t` (a tangent of `x`) over the reduced primal axes, keeping dims as the kernel does. */
function sumOverAxes(t: Tensor, axes: number[], keepDims: boolean, ctx: JvpContext): Tensor {
  return axes.length === 0 ? t : tf.sum(t, axes.map(a => a + nb(ctx)), keepDims);
}

/** A reduction whose tangent is `Σ_axes ẋ · w(x, y)`, with `w` shaped like x (or null for 1). */
function weightedSumRule(
    axisAttr: string, weight: ((x: Tensor, yKeep: Tensor, axes: number[]) => Tensor)|null,
    scale?: (x: Tensor, axes: number[]) => number): JvpRule {
  return (inputs, {x: t}, attrs, [y], ctx) => {
    if (t == null) {
      return null;
    }
    const x = inputs.x, keepDims = attrs.keepDims as boolean;
    const axes = reducedAxes(x, attrs, axisAttr);
    let w: Tensor|null = null;
    if (weight != null) {
      const yKeep = keepDims ? y : tf.reshape(y, tf.backend_util.expandShapeToKeepDim(y.shape, axes));
      w = weight(x, yKeep, axes);
    }
    const summed = sumOverAxes(w == null ? t : tf.mul(t, w), axes, keepDims, ctx);
    const s = scale == null ? 1 : scale(x, axes);
    const out = s === 1 ? summed : tf.mul(summed, s);
    // A reduction over no axes is a copy, whose shape already matches.
    return tf.reshape(out, [...ctx.batchShape, ...y.shape]);
  };
}

/**
 * Indicator of the extremal entries: tfjs's Max/Min gradient routes dy to every entry equal to the
 * result (ties included, undivided), so the JVP, its exact transpose, sums ẋ over them.
 */
function extremumWeight(x: Tensor, yKeep: Tensor): Tensor {
  return tf.cast(tf.equal(x, yKeep), 'float32');
}

/**
 * ∂(Π_axes x)/∂x_i = product of the other entries, computed without dividing (safe at zeros), as
 * tfjs's Prod gradient does: exclusive cumulative products from both ends over the flattened axes.
 */
function productOfOthers(x: Tensor, _yKeep: Tensor, axes: number[]): Tensor {
  const rank = x.rank;
  const perm = tf.backend_util.getAxesPermutation(axes, rank);
  const px = perm == null ? x : tf.transpose(x, perm);
  const outer = px.shape.slice(0, rank - axes.length);
  const inner = tf.util.sizeFromShape(px.shape.slice(rank - axes.length));
  const flat = tf.reshape(px, [...outer, inner]);
  const last = outer.length;
  const others = tf.mul(tf.cumprod(flat, last, true, false), tf.cumprod(flat, last, true, true));
  const back = tf.reshape(others, px.shape);
  return perm == null ? back : tf.transpose(back, tf.backend_util.getUndoAxesPermutation(perm));
}

/** JVP rules of the reductions kernel family. */
export const reductionsJvps: JvpConfig[] = [
  // ẏ = Σ_axes ẋ.
  {kernelName: tf.Sum, jvp: weightedSumRule('axis', null)},
  // ẏ = mean_axes ẋ.
  {
    kernelName: tf.Mean,
    jvp: weightedSumRule('axis', null, (x, axes) => 1 / axes.reduce((a, i) => a * x.shape[i], 1)),
  },
  // ẏ = Σ_axes ẋ · [x = max] (tfjs's tie convention).
  {kernelName: tf.Max, jvp: weightedSumRule('reductionIndices', extremumWeight)},
  // ẏ = Σ_axes ẋ · [x = min] (tfjs's tie convention).
  {kernelName: tf.Min, jvp: weightedSumRule('axis', extremumWeight)},
  // ẏ = Σ_axes ẋ_i · Π_{j≠i} x_j.
  {kernelName: tf.Prod, jvp: weightedSumRule('axis', productOfOthers)},
  {
    // ẏ_i = Σ_{j ∈ S(i)} ẋ_j · Π_{k ∈ S(i), k≠j} x_k, S(i) the entries y_i multiplies: for each j,
    // the cumulative product of x with x_j replaced by ẋ_j, masked to the outputs that include j.
    // Quadratic in the axis length, but exact at zeros.
    kernelName: tf.Cumprod,
    jvp: (inputs, {x: t}, attrs, [y], ctx) => {
      if (t == null) {
        return null;
      }
      const x = inputs.x;
      const {exclusive, reverse} = attrs as unknown as tf.CumprodAttrs;
      const axis = tf.util.parseAxisParam((attrs as unknown as tf.CumprodAttrs).axis, x.shape)[0];
      const n = x.shape[axis];
      // onehot[j, ..., i (at axis), ...] = [i = j], shaped to broadcast against [n, batch, ...x].
      const eyeShape = [n, ...ctx.batchShape.map(() => 1), ...x.shape.map((_, i) => i === axis ? n : 1)];
      const eye = tf.reshape(tf.oneHot(tf.range(0, n, 1, 'int32'), n), eyeShape);
      const fullShape = [n, ...ctx.batchShape, ...x.shape];
      const replaced = tf.where(tf.cast(tf.broadcastTo(eye, fullShape), 'bool'),
                                tf.broadcastTo(t, fullShape), tf.broadcastTo(x, fullShape));
      const cax = axis + nb(ctx) + 1;
      const prods = tf.cumprod(replaced, cax, exclusive, reverse);
      const included = tf.cumsum(eye, cax, exclusive, reverse);
      return tf.reshape(tf.sum(tf.mul(prods, included), 0), [...ctx.batchShape, ...y.shape]);
    },
  },
];
