/**
 * Building blocks for JVP rules, after JAX's `defjvp` / `deflinear` / `defbilinear` / `defjvp_zero`.
 * Most rules are one line made of these. Every helper understands tangent batch axes
 * (`ctx.batchShape`): a tangent of a primal of shape `s` has shape `[...batchShape, ...s]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {JvpContext, JvpRule, NamedTangentMap, Tangent} from './registry';

/** Number of tangent batch axes. */
export function nb(ctx: JvpContext): number {
  return ctx.batchShape.length;
}

/** Product of the tangent batch axes (1 when there are none). */
export function batchSize(ctx: JvpContext): number {
  return tf.util.sizeFromShape(ctx.batchShape as number[]);
}

/** The sum of the non-null tangents; `null` if all are null. */
export function sumTangents(...ts: Tangent[]): Tangent {
  let acc: Tangent = null;
  for (const t of ts) {
    if (t != null) {
      acc = acc == null ? t : tf.add(acc, t);
    }
  }
  return acc;
}

/** Zeros shaped like the tangent of `primal`. */
export function zerosTangent(primal: Tensor|readonly number[], ctx: JvpContext): Tensor {
  const shape = Array.isArray(primal) ? primal : (primal as Tensor).shape;
  return tf.zeros([...ctx.batchShape, ...shape]);
}

/** `t`, or zeros shaped like the tangent of `primal` when `t` is null. */
export function materialize(t: Tangent, primal: Tensor, ctx: JvpContext): Tensor {
  return t ?? zerosTangent(primal, ctx);
}

/**
 * Reshapes the tangent of a primal of shape `primalShape` so that it broadcasts against tensors of
 * rank `outRank` (right-aligned, like the primal) while its batch axes stay in front.
 */
export function alignTangent(
    t: Tensor, primalShape: readonly number[], outRank: number, ctx: JvpContext): Tensor {
  const pad = outRank - primalShape.length;
  if (pad <= 0 || nb(ctx) === 0) {
    return t;
  }
  return tf.reshape(t, [...ctx.batchShape, ...new Array(pad).fill(1), ...primalShape]);
}

/** Broadcasts a tangent up to the full tangent shape of an output of shape `outShape`. */
export function broadcastTangent(t: Tensor, outShape: readonly number[], ctx: JvpContext): Tensor {
  const full = [...ctx.batchShape, ...outShape];
  return tf.util.arraysEqual(t.shape, full) ? t : tf.broadcastTo(t, full);
}

/** Maps a (possibly negative) primal axis to the matching tangent axis. */
export function tangentAxis(axis: number, primalRank: number, ctx: JvpContext): number {
  return (axis < 0 ? axis + primalRank : axis) + nb(ctx);
}

/** Merges the batch axes into the primal's first axis: `[...b, n, ...r]` → `[B·n, ...r]`. */
export function foldBatch(t: Tensor, ctx: JvpContext): Tensor {
  if (nb(ctx) === 0) {
    return t;
  }
  const rest = t.shape.slice(nb(ctx));
  return tf.reshape(t, [batchSize(ctx) * rest[0], ...rest.slice(1)]);
}

/** Inverse of `foldBatch`: `[B·n, ...r]` → `[...b, n, ...r]`. */
export function unfoldBatch(t: Tensor, ctx: JvpContext): Tensor {
  if (nb(ctx) === 0) {
    return t;
  }
  const [bn, ...rest] = t.shape;
  return tf.reshape(t, [...ctx.batchShape, bn / batchSize(ctx), ...rest]);
}

/**
 * Applies `op` (linear, acting independently on each item of the first axis, like conv or pooling
 * over the batch) to a tangent that may carry batch axes, by folding them into the first axis.
 */
export function mapOverFirstAxis(t: Tensor, ctx: JvpContext, op: (t: Tensor) => Tensor): Tensor {
  return unfoldBatch(op(foldBatch(t, ctx)), ctx);
}

/**
 * Wraps a rule written for one direction so that it accepts tangent batch axes, by running it once
 * per direction. For odd kernels only: batched rules are much faster.
 */
export function perDirection(rule: JvpRule): JvpRule {
  return (inputs, tangents, attrs, outputs, ctx) => {
    if (nb(ctx) === 0) {
      return rule(inputs, tangents, attrs, outputs, ctx);
    }
    const k = batchSize(ctx);
    const split: {[name: string]: Tensor[]|null} = {};
    for (const name in tangents) {
      const t = tangents[name];
      split[name] = t == null ? null : tf.unstack(tf.reshape(t, [k, ...t.shape.slice(nb(ctx))]));
    }
    const single: JvpContext = {batchShape: []};
    const perDir: Tangent[][] = [];
    for (let i = 0; i < k; i++) {
      const ti: NamedTangentMap = {};
      for (const name in split) {
        ti[name] = split[name] == null ? null : split[name]![i];
      }
      const r = rule(inputs, ti, attrs, outputs, single);
      perDir.push(Array.isArray(r) ? r : [r]);
    }
    return outputs.map((y, j) => {
      if (perDir.every(r => r[j] == null)) {
        return null;
      }
      const parts = perDir.map(r => r[j] ?? tf.zeros(y.shape));
      return tf.reshape(tf.stack(parts), [...ctx.batchShape, ...y.shape]);
    });
  };
}

/** A rule for kernels whose outputs have zero derivative (comparisons, rounding, integer ops). */
export const zeroJvp: JvpRule = (_inputs, _tangents, _attrs, outputs) => outputs.map(() => null);

/**
 * A rule for an elementwise kernel of one input: `ẏ = ẋ · f'(x)`. `deriv` receives the primal
 * inputs, the primal output and the attrs, and may use the output (like JAX's `defjvp2`).
 */
export function elementwiseJvp(
    deriv: (inputs: NamedTensorMap, y: Tensor, attrs: NamedAttrMap) => Tensor,
    inputName = 'x'): JvpRule {
  return (inputs, tangents, attrs, outputs) => {
    const t = tangents[inputName];
    return t == null ? null : tf.mul(t, deriv(inputs, outputs[0], attrs));
  };
}

/**
 * A rule for a broadcasting binary elementwise kernel `y = f(a, b)`:
 * `ẏ = ȧ · ∂f/∂a + ḃ · ∂f/∂b`, each partial given as a function (or null when it is identically 1).
 */
export function binaryJvp(
    da: ((a: Tensor, b: Tensor, y: Tensor) => Tensor)|null|'one'|'minusOne',
    db: ((a: Tensor, b: Tensor, y: Tensor) => Tensor)|null|'one'|'minusOne',
    names: [string, string] = ['a', 'b']): JvpRule {
  return (inputs, tangents, _attrs, outputs, ctx) => {
    const a = inputs[names[0]], b = inputs[names[1]], y = outputs[0];
    const term = (t: Tangent, x: Tensor, d: typeof da): Tangent => {
      if (t == null || d == null) {
        return null;
      }
      const ta = alignTangent(t, x.shape, y.rank, ctx);
      return d === 'one' ? ta : d === 'minusOne' ? tf.neg(ta) : tf.mul(ta, d(a, b, y));
    };
    const sum = sumTangents(term(tangents[names[0]], a, da), term(tangents[names[1]], b, db));
    return sum == null ? null : broadcastTangent(sum, y.shape, ctx);
  };
}

/**
 * A rule for a kernel that is linear in one input and does not mix positions along the axes the
 * batch is folded into: the tangent is the kernel itself applied to the input's tangent. `apply`
 * runs the kernel on a tangent without batch axes; with batch axes, the rule maps it over them.
 */
export function linearJvp(inputName: string, apply: (t: Tensor, attrs: NamedAttrMap, inputs: NamedTensorMap) => Tensor): JvpRule {
  return perDirection((inputs, tangents, attrs) => {
    const t = tangents[inputName];
    return t == null ? null : apply(t, attrs, inputs);
  });
}

/** Runs a kernel directly (bypassing op wrappers), for rules that re-run their own kernel. */
export function runKernel(kernelName: string, inputs: NamedTensorMap, attrs: NamedAttrMap): Tensor {
  return tf.engine().runKernel(kernelName, inputs, attrs) as Tensor;
}
