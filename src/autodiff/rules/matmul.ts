/** JVP rules: matrix products (`BatchMatMul`, the fused `_FusedMatMul`, `Einsum`). */
import * as tf from '@tensorflow/tfjs-core';
import {BatchMatMulAttrs, NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {alignTangent, batchSize, broadcastTangent, nb, sumTangents, zerosTangent} from '../helpers';
import {JvpConfig, JvpContext, NamedTangentMap, Tangent} from '../registry';
import {applyFusedActivationJvp} from './fused_activation';

/**
 * tfjs's matmul broadcasts batch axes correctly only when one side has a single batch item; give
 * `x` (rank ≥ 2) the batch axes `outer` explicitly otherwise.
 */
function broadcastOuter(x: Tensor, outer: number[]): Tensor {
  const own = x.shape.slice(0, -2);
  if (tf.util.sizeFromShape(own) === 1 || tf.util.arraysEqual(own, outer)) {
    return x;
  }
  return tf.broadcastTo(x, [...outer, ...x.shape.slice(-2)]);
}

/** d(a·b) = ȧ·b + a·ḃ; tangent batch axes ride along as extra (broadcast) matmul batch axes. */
function matMulTangent(
    inputs: NamedTensorMap, tangents: NamedTangentMap, attrs: NamedAttrMap, y: Tensor,
    ctx: JvpContext): Tangent {
  const {a, b} = inputs;
  const {transposeA, transposeB} = attrs as unknown as BatchMatMulAttrs;
  const ta = tangents.a, tb = tangents.b;
  const outer = [...ctx.batchShape, ...y.shape.slice(0, -2)];
  const mm = (x: Tensor, w: Tensor) =>
      tf.matMul(broadcastOuter(x, outer), broadcastOuter(w, outer), transposeA, transposeB);
  const lhs = ta == null ? null :
      foldedLhs(ta, a, b, transposeA, transposeB, y, ctx) ?? mm(alignTangent(ta, a.shape, y.rank, ctx), b);
  const rhs = tb == null ? null :
      foldedRhs(tb, a, b, transposeA, transposeB, y, ctx) ?? mm(a, alignTangent(tb, b.shape, y.rank, ctx));
  return sumTangents(lhs, rhs);
}

function outerSize(x: Tensor): number {
  return tf.util.sizeFromShape(x.shape.slice(0, -2));
}

/**
 * ȧ·b with K directions as one 2-D matmul, the directions folded into the rows of ȧ (the common
 * Dense case: b a single matrix). Batched matmuls are much slower than one large matmul on wasm.
 */
function foldedLhs(
    ta: Tensor, a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean, y: Tensor,
    ctx: JvpContext): Tensor|null {
  if (nb(ctx) === 0 || transposeA || outerSize(b) !== 1) {
    return null;
  }
  const inner = a.shape[a.rank - 1];
  const out = tf.matMul(tf.reshape(ta, [-1, inner]), tf.reshape(b, b.shape.slice(-2)), false, transposeB);
  return tf.reshape(out, [...ctx.batchShape, ...y.shape]);
}

/** a·ḃ with K directions as one 2-D matmul, the directions folded into the columns of ḃ. */
function foldedRhs(
    tb: Tensor, a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean, y: Tensor,
    ctx: JvpContext): Tensor|null {
  if (nb(ctx) === 0 || transposeB || outerSize(a) !== 1 || outerSize(b) !== 1) {
    return null;
  }
  const k = batchSize(ctx);
  const [rows, cols] = b.shape.slice(-2);
  const m = y.shape[y.rank - 2];
  const columns = tf.reshape(tf.transpose(tf.reshape(tb, [k, rows, cols]), [1, 0, 2]), [rows, k * cols]);
  const out = tf.matMul(tf.reshape(a, a.shape.slice(-2)), columns, transposeA, false);  // [m, k·cols]
  return tf.reshape(tf.transpose(tf.reshape(out, [m, k, cols]), [1, 0, 2]), [...ctx.batchShape, ...y.shape]);
}

/** JVP rules of the matmul family. */
export const matmulJvps: JvpConfig[] = [
  {
    kernelName: tf.BatchMatMul,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const t = matMulTangent(inputs, tangents, attrs, y, ctx);
      return t == null ? null : broadcastTangent(t, y.shape, ctx);
    },
  },
  {
    // y = act(a·b + bias): ż = ȧ·b + a·ḃ + ḃias, ẏ = act'(z)·ż.
    kernelName: tf._FusedMatMul,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const {bias, preluActivationWeights} = inputs;
      const tz0 = matMulTangent(inputs, tangents, attrs, y, ctx);
      const tbias = tangents.bias == null ? null : alignTangent(tangents.bias, bias.shape, y.rank, ctx);
      const tp = tangents.preluActivationWeights;
      const tprelu = tp == null ? null : alignTangent(tp, preluActivationWeights.shape, y.rank, ctx);
      const tz = sumTangents(tz0, tbias, ctx.preActivationTangent ?? null);
      if (tz == null && tprelu == null) {
        return null;
      }
      const {activation, leakyreluAlpha, transposeA, transposeB} =
          attrs as unknown as {activation?: string, leakyreluAlpha?: number, transposeA: boolean, transposeB: boolean};
      const z = () => {
        const lin = tf.matMul(inputs.a, inputs.b, transposeA, transposeB);
        return bias == null ? lin : tf.add(lin, bias);
      };
      const full = tz == null ? zerosTangent(y, ctx) : broadcastTangent(tz, y.shape, ctx);
      return applyFusedActivationJvp(full, activation, y, z, leakyreluAlpha,
                                     preluActivationWeights ?? null, tprelu);
    },
  },
  {
    // Einsum of two operands is bilinear: each tangent term is the same einsum with a new leading
    // index for the tangent batch axes.
    kernelName: tf.Einsum,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const {equation} = attrs as unknown as {equation: string};
      const names = Object.keys(inputs).sort((p, q) => Number(p) - Number(q));
      const [lhsSpec, outSpec] = equation.replace(/\s/g, '').split('->');
      const specs = lhsSpec.split(',');
      const used = new Set(equation.replace(/[^a-zA-Z]/g, ''));
      const free = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('').filter(c => !used.has(c));
      const bAxes = free.slice(0, nb(ctx)).join('');
      const terms = names.map((name, i) => {
        const t = tangents[name];
        if (t == null) {
          return null;
        }
        const eq = specs.map((s, j) => j === i ? bAxes + s : s).join(',') + '->' + bAxes + outSpec;
        const operands = names.map((n, j) => j === i ? t : inputs[n]);
        return tf.einsum(eq, ...operands);
      });
      const sum = sumTangents(...terms);
      return sum == null ? null : broadcastTangent(sum, y.shape, ctx);
    },
  },
];
