/**
 * JVP rules: shape kernels (reshapes, permutations, slices, pads, gathers, concatenation and
 * splitting, selection, space/batch/depth rearrangements, segment sums, top-k, cumulative sums).
 * All of them are linear in their float input(s), so the tangent is the same kernel applied to the
 * tangent, with the tangent batch axes kept in front.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';

import {alignTangent, batchSize, foldBatch, materialize, mapOverFirstAxis, nb, tangentAxis, unfoldBatch} from '../helpers';
import {JvpConfig, JvpContext} from '../registry';

/** `[0, 1, ..., n-1]`. */
function iota(n: number): number[] {
  return Array.from({length: n}, (_, i) => i);
}

/** A permutation of the tangent axes that applies `perm` to the primal axes only. */
function liftPerm(perm: number[], ctx: JvpContext): number[] {
  return [...iota(nb(ctx)), ...perm.map(p => p + nb(ctx))];
}

/** Moves the tangent batch axes from the front to just before primal axis `k`. */
function batchAxesTo(t: Tensor, k: number, ctx: JvpContext): Tensor {
  const n = nb(ctx);
  if (n === 0 || k === 0) {
    return t;
  }
  const rest = iota(t.rank - n).map(i => i + n);
  return tf.transpose(t, [...rest.slice(0, k), ...iota(n), ...rest.slice(k)]);
}

/** Inverse of `batchAxesTo`: moves the batch axes found at position `k` back to the front. */
function batchAxesFrom(t: Tensor, k: number, ctx: JvpContext): Tensor {
  const n = nb(ctx);
  if (n === 0 || k === 0) {
    return t;
  }
  const others = iota(t.rank).filter(i => i < k || i >= k + n);
  return tf.transpose(t, [...iota(n).map(i => i + k), ...others]);
}

/** The tangents of a variadic kernel's inputs ('0', '1', ...), in order. */
function orderedNames(inputs: {[name: string]: unknown}): string[] {
  return Object.keys(inputs).sort((p, q) => Number(p) - Number(q));
}

/** Zero padding for the tangent batch axes. */
function batchPads(ctx: JvpContext): Array<[number, number]> {
  return ctx.batchShape.map((): [number, number] => [0, 0]);
}

/** A rule for a kernel with one differentiable input whose tangent is just reshaped to the output. */
function reshapeRule(inputName: string): JvpConfig['jvp'] {
  return (_inputs, tangents, _attrs, [y], ctx) => {
    const t = tangents[inputName];
    return t == null ? null : tf.reshape(t, [...ctx.batchShape, ...y.shape]);
  };
}

/**
 * SpaceToBatchND / BatchToSpaceND act on each item of the primal batch axis, but put the block
 * offsets in front of it: fold the tangent batch axes just behind the block offsets.
 */
function spaceToBatchTangent(t: Tensor, attrs: NamedAttrMap, y: Tensor, ctx: JvpContext): Tensor {
  const {blockShape, paddings} = attrs as unknown as tf.SpaceToBatchNDAttrs;
  const out = tf.spaceToBatchND(foldBatch(t, ctx), blockShape, paddings);
  if (nb(ctx) === 0) {
    return out;
  }
  // out: [P·B·n, ...] → [P, B, n, ...] → [B, P, n, ...] → [...b, P·n, ...].
  const p = tf.util.sizeFromShape(blockShape), k = batchSize(ctx);
  const rest = y.shape.slice(1);
  const split = tf.reshape(out, [p, k, y.shape[0] / p, ...rest]);
  const moved = tf.transpose(split, [1, 0, ...iota(rest.length + 1).map(i => i + 2)]);
  return tf.reshape(moved, [...ctx.batchShape, ...y.shape]);
}

function batchToSpaceTangent(
    t: Tensor, attrs: NamedAttrMap, x: Tensor, ctx: JvpContext): Tensor {
  const {blockShape, crops} = attrs as unknown as tf.BatchToSpaceNDAttrs;
  if (nb(ctx) === 0) {
    return tf.batchToSpaceND(t, blockShape, crops);
  }
  // t: [...b, P·n, ...] → [B, P, n, ...] → [P, B, n, ...] → [P·B·n, ...]; the result is [B·n, ...].
  const p = tf.util.sizeFromShape(blockShape), k = batchSize(ctx);
  const rest = x.shape.slice(1);
  const split = tf.reshape(t, [k, p, x.shape[0] / p, ...rest]);
  const moved = tf.transpose(split, [1, 0, ...iota(rest.length + 1).map(i => i + 2)]);
  const folded = tf.reshape(moved, [p * k * (x.shape[0] / p), ...rest]);
  return unfoldBatch(tf.batchToSpaceND(folded, blockShape, crops), ctx);
}

/** JVP rules of the shape kernel family. */
export const shapeJvps: JvpConfig[] = [
  // ẏ = reshape(ẋ).
  {kernelName: tf.Reshape, jvp: reshapeRule('x')},
  // ẏ = expand_dims(ẋ).
  {kernelName: tf.ExpandDims, jvp: reshapeRule('input')},
  // ẏ = ẋ.
  {kernelName: tf.Identity, jvp: (_inputs, {x}) => x},
  {
    // ẏ = ẋ for a float result; an integer or boolean result has no tangent.
    kernelName: tf.Cast,
    jvp: (_inputs, {x}, _attrs, [y]) => x != null && y.dtype === 'float32' ? x : null,
  },
  {
    // ẏ = transpose(ẋ, [batch axes, ...perm]).
    kernelName: tf.Transpose,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      const {perm} = attrs as unknown as tf.TransposeAttrs;
      return x == null ? null : tf.transpose(x, liftPerm(perm, ctx));
    },
  },
  {
    // ẏ = concat(ẋ_i, axis); missing tangents are zeros.
    kernelName: tf.Concat,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const names = orderedNames(inputs);
      if (names.every(n => tangents[n] == null)) {
        return null;
      }
      const axis = tangentAxis(
          tf.util.parseAxisParam((attrs as unknown as tf.ConcatAttrs).axis, y.shape)[0], y.rank, ctx);
      const parts = names.filter(n => inputs[n].size > 0)
                        .map(n => materialize(tangents[n], inputs[n], ctx));
      if (parts.length === 0) {
        return tf.zeros([...ctx.batchShape, ...y.shape]);
      }
      return parts.length === 1 ? parts[0] : tf.concat(parts, axis);
    },
  },
  {
    // ẏ = stack(ẋ_i, axis); missing tangents are zeros.
    kernelName: tf.Pack,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const names = orderedNames(inputs);
      if (names.every(n => tangents[n] == null)) {
        return null;
      }
      const {axis} = attrs as unknown as tf.PackAttrs;
      const parts = names.map(n => materialize(tangents[n], inputs[n], ctx));
      return tf.stack(parts, tangentAxis(axis, y.rank, ctx));
    },
  },
  {
    // ẏ_i = unstack(ẋ, axis)_i.
    kernelName: tf.Unpack,
    jvp: (inputs, {value}, attrs, outputs, ctx) => {
      const {axis} = attrs as unknown as tf.UnpackAttrs;
      return value == null ? outputs.map(() => null) :
                             tf.unstack(value, tangentAxis(axis, inputs.value.rank, ctx));
    },
  },
  {
    // ẏ_i = split(ẋ, sizes, axis)_i.
    kernelName: tf.SplitV,
    jvp: (inputs, {x}, attrs, outputs, ctx) => {
      if (x == null) {
        return outputs.map(() => null);
      }
      const axis = tf.util.parseAxisParam((attrs as unknown as tf.SplitVAttrs).axis, inputs.x.shape)[0];
      return tf.split(x, outputs.map(o => o.shape[axis]), axis + nb(ctx));
    },
  },
  {
    // ẏ = slice(ẋ, [0, ...begin], [batch, ...size]).
    kernelName: tf.Slice,
    jvp: (inputs, {x}, attrs, _outputs, ctx) => {
      if (x == null) {
        return null;
      }
      const {begin, size} = attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(inputs.x, begin, size);
      return tf.slice(x, [...ctx.batchShape.map(() => 0), ...b], [...ctx.batchShape, ...s]);
    },
  },
  {
    // ẏ = strided_slice(ẋ) with a full slice prepended for each batch axis (masks shifted).
    kernelName: tf.StridedSlice,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      if (x == null) {
        return null;
      }
      const a = attrs as unknown as tf.StridedSliceAttrs;
      const n = nb(ctx), full = (1 << n) - 1;
      const zeros = new Array(n).fill(0);
      const strides = a.strides ?? a.begin.map(() => 1);
      return tf.stridedSlice(
          x, [...zeros, ...a.begin], [...zeros, ...a.end], [...new Array(n).fill(1), ...strides],
          ((a.beginMask ?? 0) << n) | full, ((a.endMask ?? 0) << n) | full,
          (a.ellipsisMask ?? 0) << n, (a.newAxisMask ?? 0) << n, (a.shrinkAxisMask ?? 0) << n);
    },
  },
  {
    // ẏ = pad(ẋ, paddings, 0): the constant does not move.
    kernelName: tf.PadV2,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      const {paddings} = attrs as unknown as tf.PadV2Attrs;
      if (x == null) {
        return null;
      }
      // With the first axis unpadded, fold the batch axes into it: WebGL's packed pad shader does
      // not compile beyond rank 4, and conv inputs are rank 4 already.
      if (nb(ctx) > 0 && paddings[0][0] === 0 && paddings[0][1] === 0) {
        return mapOverFirstAxis(x, ctx, t => tf.pad(t, paddings, 0));
      }
      return tf.pad(x, [...batchPads(ctx), ...paddings], 0);
    },
  },
  {
    // ẏ = mirror_pad(ẋ, paddings, mode).
    kernelName: tf.MirrorPad,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      const {paddings, mode} = attrs as unknown as tf.MirrorPadAttrs;
      if (x == null) {
        return null;
      }
      if (nb(ctx) > 0 && paddings[0][0] === 0 && paddings[0][1] === 0) {  // see PadV2
        return mapOverFirstAxis(x, ctx, t => tf.mirrorPad(t, paddings, mode));
      }
      return tf.mirrorPad(x, [...batchPads(ctx), ...paddings], mode);
    },
  },
  {
    // ẏ = tile(ẋ, [1, ...reps]).
    kernelName: tf.Tile,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      const {reps} = attrs as unknown as tf.TileAttrs;
      return x == null ? null : tf.tile(x, [...ctx.batchShape.map(() => 1), ...reps]);
    },
  },
  {
    // ẏ = broadcast_to(ẋ, [batch, ...shape]).
    kernelName: tf.BroadcastTo,
    jvp: (inputs, {x}, attrs, _outputs, ctx) => {
      const {shape} = attrs as unknown as tf.BroadCastToAttrs;
      return x == null ? null :
                         tf.broadcastTo(alignTangent(x, inputs.x.shape, shape.length, ctx),
                                        [...ctx.batchShape, ...shape]);
    },
  },
  {
    // ẏ = reverse(ẋ, dims + batch rank).
    kernelName: tf.Reverse,
    jvp: (inputs, {x}, attrs, _outputs, ctx) => {
      if (x == null) {
        return null;
      }
      const {dims} = attrs as unknown as tf.ReverseAttrs;
      const axes = tf.util.parseAxisParam(dims, inputs.x.shape);
      return axes.length === 0 ? x : tf.reverse(x, axes.map(d => d + nb(ctx)));
    },
  },
  {
    // ẏ = gather(ẋ, indices, axis): the batch axes sit just after the gather's own batch dims.
    kernelName: tf.GatherV2,
    jvp: (inputs, {x}, attrs, [y], ctx) => {
      if (x == null) {
        return null;
      }
      const {axis, batchDims} = attrs as unknown as tf.GatherV2Attrs;
      const ax = tf.util.parseAxisParam(axis, inputs.x.shape)[0];
      const bd = batchDims < 0 ? batchDims + inputs.indices.rank : (batchDims ?? 0);
      const moved = batchAxesTo(x, bd, ctx);
      const out = tf.gather(moved, inputs.indices, ax + nb(ctx), bd);
      return y.size === 0 ? tf.zeros([...ctx.batchShape, ...y.shape]) : batchAxesFrom(out, bd, ctx);
    },
  },
  {
    // ẏ = gather_nd(ẋ, indices): the batch axes sit just after the indexed axes.
    kernelName: tf.GatherNd,
    jvp: (inputs, {params}, _attrs, _outputs, ctx) => {
      if (params == null) {
        return null;
      }
      const {indices} = inputs;
      const q = indices.shape[indices.rank - 1];
      const out = tf.gatherND(batchAxesTo(params, q, ctx), indices);
      return batchAxesFrom(out, indices.rank - 1, ctx);
    },
  },
  {
    // ẏ = where(condition, ṫ, ė); a missing tangent is zero.
    kernelName: tf.Select,
    jvp: (inputs, {t, e}, _attrs, [y], ctx) => {
      if (t == null && e == null) {
        return null;
      }
      let cond = inputs.condition;
      if (cond.rank === 1 && y.rank > 1) {
        // A rank-1 condition picks whole rows of the first axis.
        cond = tf.reshape(cond, [cond.shape[0], ...new Array(y.rank - 1).fill(1)]);
      }
      return tf.where(cond, materialize(t, inputs.t, ctx), materialize(e, inputs.e, ctx));
    },
  },
  {
    // ẏ = space_to_batch(ẋ) per tangent direction (folded into the primal batch axis).
    kernelName: tf.SpaceToBatchND,
    jvp: (_inputs, {x}, attrs, [y], ctx) => x == null ? null : spaceToBatchTangent(x, attrs, y, ctx),
  },
  {
    // ẏ = batch_to_space(ẋ) per tangent direction (folded into the primal batch axis).
    kernelName: tf.BatchToSpaceND,
    jvp: (inputs, {x}, attrs, _outputs, ctx) =>
        x == null ? null : batchToSpaceTangent(x, attrs, inputs.x, ctx),
  },
  {
    // ẏ = depth_to_space(ẋ), mapped over the primal batch axis.
    kernelName: tf.DepthToSpace,
    jvp: (_inputs, {x}, attrs, _outputs, ctx) => {
      const {blockSize, dataFormat} = attrs as unknown as tf.DepthToSpaceAttrs;
      return x == null ? null :
                         mapOverFirstAxis(x, ctx, t => tf.depthToSpace(t as tf.Tensor4D, blockSize, dataFormat));
    },
  },
  {
    // ẏ = unsorted_segment_sum(ẋ, segmentIds): the batch axes sit just after the segmented axes.
    kernelName: tf.UnsortedSegmentSum,
    jvp: (inputs, {x}, attrs, _outputs, ctx) => {
      if (x == null) {
        return null;
      }
      const {numSegments} = attrs as unknown as tf.UnsortedSegmentSumAttrs;
      const k = inputs.segmentIds.rank;
      const out = tf.unsortedSegmentSum(batchAxesTo(x, k, ctx), inputs.segmentIds as tf.Tensor1D, numSegments);
      return batchAxesFrom(out, 1, ctx);
    },
  },
  {
    // values: ẏ = ẋ gathered at the top-k indices along the last axis; indices: none.
    kernelName: tf.TopK,
    jvp: (inputs, {x}, _attrs, [values, indices], ctx) => {
      if (x == null) {
        return [null, null];
      }
      const shape = inputs.x.shape, n = shape[shape.length - 1];
      const rows = tf.util.sizeFromShape(shape.slice(0, -1)), k = values.shape[values.rank - 1];
      // Flat position of each selected element: row · n + index.
      const flatIdx = tf.add(tf.reshape(tf.range(0, rows * n, n, 'int32'), [rows, 1]),
                             tf.reshape(indices, [rows, k]));
      const flatT = tf.reshape(x, [...ctx.batchShape, rows * n]);
      const out = tf.gather(flatT, tf.reshape(flatIdx, [rows * k]), nb(ctx));
      return [tf.reshape(out, [...ctx.batchShape, ...values.shape]), null];
    },
  },
  {
    // ẏ = cumsum(ẋ, axis, exclusive, reverse).
    kernelName: tf.Cumsum,
    jvp: (inputs, {x}, attrs, _outputs, ctx) => {
      const {axis, exclusive, reverse} = attrs as unknown as tf.CumsumAttrs;
      return x == null ? null :
                         tf.cumsum(x, tangentAxis(axis, inputs.x.rank, ctx), exclusive, reverse);
    },
  },
];

