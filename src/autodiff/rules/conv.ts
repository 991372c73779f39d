/**
 * JVP rules: convolutions, pooling, batch normalization and image resizing (`Conv2D`,
 * `FusedConv2D`, `DepthwiseConv2dNative`, `FusedDepthwiseConv2D`, `Conv2DBackpropInput`, `Conv3D`,
 * `MaxPool`, `AvgPool`, `MaxPool3D`, `AvgPool3D`, `Dilation2D`, `FusedBatchNorm`, `LRN`, `ResizeBilinear`,
 * `ResizeNearestNeighbor`).
 *
 * Convolutions are bilinear in (input, filter). The input tangent's batch axes are folded into the
 * example axis (axis 0); the filter tangent's batch axes are folded into the filter's output-channel
 * axis, so that each term is one kernel call whatever the number of directions.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {alignTangent, batchSize, broadcastTangent, foldBatch, mapOverFirstAxis, nb, runKernel, sumTangents, zerosTangent} from '../helpers';
import {JvpConfig, JvpContext, JvpRule, NamedTangentMap, Tangent} from '../registry';
import {applyFusedActivationJvp} from './fused_activation';

/** A value finite in float32 and below any input, used to pad max-pooling windows. */
const VERY_NEGATIVE = -3e38;

/** The attrs of the plain conv kernel matching a (possibly fused) conv kernel's attrs. */
function convAttrs(attrs: NamedAttrMap): NamedAttrMap {
  const {strides, pad, dataFormat, dilations, dimRoundingMode} = attrs;
  return {strides, pad, dataFormat, dilations, dimRoundingMode} as unknown as NamedAttrMap;
}

function isChannelsFirst(attrs: NamedAttrMap): boolean {
  const f = attrs.dataFormat as unknown as string|undefined;
  return f === 'NCHW' || f === 'NCDHW' || f === 'channelsFirst';
}

/**
 * Folds the batch axes of a filter tangent `[...b, ...f]` into filter axis `axis`:
 * `f[axis]` becomes `B·f[axis]` with the batch index outermost.
 */
function foldIntoFilterAxis(t: Tensor, axis: number, ctx: JvpContext): Tensor {
  const B = batchSize(ctx);
  const f = t.shape.slice(nb(ctx));
  const t1 = tf.reshape(t, [B, ...f]);
  const perm = f.map((_, i) => i + 1);
  perm.splice(axis, 0, 0);
  const moved = tf.transpose(t1, perm);
  const merged = f.slice();
  merged[axis] = B * f[axis];
  return tf.reshape(moved, merged);
}

/**
 * Inverse of the folding for a kernel's output: axis `axis` of `y` has size `outer·B·inner`
 * (batch index in the middle); returns `[...batchShape, ...shape with axis of size outer·inner]`.
 */
function unfoldFromOutputAxis(y: Tensor, axis: number, outer: number, ctx: JvpContext): Tensor {
  const B = batchSize(ctx);
  const s = y.shape;
  const inner = s[axis] / (outer * B);
  // Leave out a unit `outer` axis: WebGL transposes at most rank 6 (Conv3D outputs are rank 5).
  const split = outer === 1 ? [...s.slice(0, axis), B, inner, ...s.slice(axis + 1)] :
                              [...s.slice(0, axis), outer, B, inner, ...s.slice(axis + 1)];
  const bAxis = outer === 1 ? axis : axis + 1;
  const y1 = tf.reshape(y, split);
  const perm = [bAxis, ...split.map((_, i) => i).filter(i => i !== bAxis)];
  const moved = tf.transpose(y1, perm);
  const out = s.slice();
  out[axis] = outer * inner;
  return tf.reshape(moved, [...ctx.batchShape, ...out]);
}

/**
 * The tangent term of a conv-like kernel linear in its filter: `kernel(x, Ẇ)`, all directions in one
 * call. `filterAxis` is the filter axis that maps to output channels, `outAxis` the output's channel
 * axis and `outer` how many groups the output channels form outside it (the depthwise in-channels).
 */
function filterTerm(
    run: (filter: Tensor) => Tensor, tW: Tensor, filterAxis: number, outAxis: number,
    outer: (filterShape: number[]) => number, ctx: JvpContext): Tensor {
  if (nb(ctx) === 0) {
    return run(tW);
  }
  const f = tW.shape.slice(nb(ctx));
  return unfoldFromOutputAxis(run(foldIntoFilterAxis(tW, filterAxis, ctx)), outAxis, outer(f), ctx);
}

/** ∂conv(x, W) = conv(ẋ, W) + conv(x, Ẇ), for `Conv2D`, `DepthwiseConv2dNative` and `Conv3D`. */
function convBilinear(
    kernelName: string, depthwise: boolean, inputs: NamedTensorMap, tangents: NamedTangentMap,
    attrs: NamedAttrMap, ctx: JvpContext): Tangent {
  const {x, filter} = inputs;
  const a = convAttrs(attrs);
  const tx = tangents.x, tW = tangents.filter;
  const lhs = tx == null ? null :
      mapOverFirstAxis(tx, ctx, t => runKernel(kernelName, {x: t, filter}, a));
  let rhs: Tangent = null;
  if (tW != null) {
    const rank = x.rank;
    if (depthwise && isChannelsFirst(attrs)) {
      throw new Error(`JVP of ${kernelName}: only the NHWC data format is supported.`);
    }
    const outAxis = isChannelsFirst(attrs) ? 1 : rank - 1;
    rhs = filterTerm(
        w => runKernel(kernelName, {x, filter: w}, a), tW, filter.rank - 1, outAxis,
        f => depthwise ? f[2] : 1, ctx);
  }
  return sumTangents(lhs, rhs);
}

/**
 * Fused conv: z = conv(x, W) + bias, y = act(z).
 * ż = conv(ẋ, W) + conv(x, Ẇ) + ḃias, ẏ = act'(z)·ż (+ the prelu weights' term).
 */
function fusedConvJvp(plainKernel: string, depthwise: boolean): JvpRule {
  return (inputs, tangents, attrs, [y], ctx) => {
    if (isChannelsFirst(attrs)) {
      throw new Error(`JVP of fused ${plainKernel}: only the NHWC data format is supported.`);
    }
    const {x, filter, bias, preluActivationWeights} = inputs;
    const tconv = convBilinear(plainKernel, depthwise, inputs, tangents, attrs, ctx);
    const tb = tangents.bias == null ? null : alignTangent(tangents.bias, bias.shape, y.rank, ctx);
    const tp = tangents.preluActivationWeights;
    const tprelu = tp == null ? null : alignTangent(tp, preluActivationWeights.shape, y.rank, ctx);
    const tz = sumTangents(tconv, tb, ctx.preActivationTangent ?? null);
    if (tz == null && tprelu == null) {
      return null;
    }
    const {activation, leakyreluAlpha} =
        attrs as unknown as {activation?: string, leakyreluAlpha?: number};
    const z = () => {
      const lin = runKernel(plainKernel, {x, filter}, convAttrs(attrs));
      return bias == null ? lin : tf.add(lin, bias);
    };
    const full = tz == null ? zerosTangent(y, ctx) : broadcastTangent(tz, y.shape, ctx);
    return applyFusedActivationJvp(full, activation, y, z, leakyreluAlpha,
                                   preluActivationWeights ?? null, tprelu);
  };
}

/** The padding (before, after) of one spatial axis that makes a 'valid' window scan cover `outSize`. */
function windowPadding(
    inSize: number, outSize: number, filter: number, stride: number, before: number): [number, number] {
  const need = (outSize - 1) * stride + filter;
  return [before, Math.max(0, need - inSize - before)];
}

/**
 * The pooling windows of `x` [N, H, W, C] as a matrix [N·outH·outW·C, fh·fw] (window positions
 * row-major), via a depthwise conv with one-hot filters on `x` padded with `padValue`. Exact: every
 * output is one input times 1 plus zeros.
 */
function windows2D(x: Tensor, info: tf.backend_util.Conv2DInfo, padValue: number): Tensor {
  const {filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw} = info;
  const C = x.shape[3] as number;
  const K = fh * fw;
  const ph = windowPadding(info.inHeight, info.outHeight, fh, sh, info.padInfo.top);
  const pw = windowPadding(info.inWidth, info.outWidth, fw, sw, info.padInfo.left);
  const xp = tf.pad(x, [[0, 0], ph, pw, [0, 0]], padValue);
  const eye = tf.tile(tf.reshape(tf.eye(K), [fh, fw, 1, K]), [1, 1, C, 1]);
  let p = runKernel(tf.DepthwiseConv2dNative, {x: xp, filter: eye}, {
    strides: [sh, sw], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1],
  } as unknown as NamedAttrMap);
  if (p.shape[1] !== info.outHeight || p.shape[2] !== info.outWidth) {
    p = tf.slice(p, [0, 0, 0, 0], [-1, info.outHeight, info.outWidth, -1]);
  }
  return tf.reshape(p, [-1, K]);  // depthwise output channel c·K + k
}

/**
 * The pooling windows of `x` [N, D, H, W, C] as a matrix [N·outD·outH·outW·C, fd·fh·fw], by one
 * strided slice of `x` (padded with `padValue`) per window position.
 */
function windows3D(x: Tensor, info: tf.backend_util.Conv3DInfo, padValue: number): Tensor {
  const {filterDepth: fd, filterHeight: fh, filterWidth: fw} = info;
  const {strideDepth: sd, strideHeight: sh, strideWidth: sw} = info;
  const {outDepth: od, outHeight: oh, outWidth: ow} = info;
  const [N, , , , C] = x.shape;
  const pd = windowPadding(info.inDepth, od, fd, sd, info.padInfo.front);
  const ph = windowPadding(info.inHeight, oh, fh, sh, info.padInfo.top);
  const pw = windowPadding(info.inWidth, ow, fw, sw, info.padInfo.left);
  // Pad as rank 4 (width and channels merged): WebGL's packed rank-5 pad shader does not compile.
  const [, D, H, W] = x.shape;
  const xp = tf.reshape(
      tf.pad(tf.reshape(x, [N, D, H, W * C]), [[0, 0], pd, ph, [pw[0] * C, pw[1] * C]], padValue),
      [N, D + pd[0] + pd[1], H + ph[0] + ph[1], W + pw[0] + pw[1], C]);
  const cols: Tensor[] = [];
  for (let i = 0; i < fd; i++) {
    for (let j = 0; j < fh; j++) {
      for (let k = 0; k < fw; k++) {
        // Strided slices of rank ≤ 4 only (WebGL's rank-5 strided slice shader does not compile):
        // depth first on [N, D, H·W·C], then height and width on [N·outD, H, W, C].
        const [, Dp, Hp, Wp] = xp.shape;
        const depth = tf.stridedSlice(
            tf.reshape(xp, [N, Dp, Hp * Wp * C]), [0, i, 0], [N, i + (od - 1) * sd + 1, Hp * Wp * C],
            [1, sd, 1]);
        const s = tf.stridedSlice(
            tf.reshape(depth, [N * od, Hp, Wp, C]), [0, j, k, 0],
            [N * od, j + (oh - 1) * sh + 1, k + (ow - 1) * sw + 1, C], [1, sh, sw, 1]);
        cols.push(tf.reshape(s, [-1, 1]));
      }
    }
  }
  return tf.concat(cols, 1);
}

/**
 * Max pooling routes the tangent through the window's (first) maximum: ẏ = Σ_k mask_k · ẋ-window_k,
 * with `mask` the one-hot of the argmax of the windows of x, as a matrix [M, K]. `windows` maps a
 * tensor shaped like x (with any number of examples) to its windows matrix; `outShape` is the output
 * shape of one example group (the primal's).
 */
function maxPoolTangent(
    x: Tensor, t: Tensor, windows: (v: Tensor, padValue: number) => Tensor,
    outShape: number[], ctx: JvpContext): Tensor {
  const wx = windows(x, VERY_NEGATIVE);
  const [M, K] = wx.shape;
  const mask = tf.cast(tf.oneHot(tf.argMax(wx, 1), K), 'float32');  // [M, K]
  const B = batchSize(ctx);
  const wt = tf.reshape(windows(foldBatch(t, ctx), 0), [B, M, K]);
  return tf.reshape(tf.sum(tf.mul(wt, mask), -1), [...ctx.batchShape, ...outShape]);
}

/**
 * Σ of z over the channel window [c − r, c + r] (clipped to the channels) along the last axis, as
 * LRN sums: a sum of shifted slices of the zero-padded z (any leading axes, tangent batch axes too).
 */
function channelWindowSum(z: Tensor, depthRadius: number): Tensor {
  const c = z.shape[z.rank - 1];
  const r = Math.min(depthRadius, c - 1);  // a wider window covers the same channels
  if (r <= 0) {
    return z;
  }
  // On a [rows, c] view: webgl's PadV2 shader fails to compile for some rank-5 shapes (batched tangents).
  const rows = z.size / c;
  const padded = tf.pad(tf.reshape(z, [rows, c]), [[0, 0], [r, r]]);
  let acc = tf.slice(padded, [0, 0], [rows, c]);
  for (let k = 1; k <= 2 * r; k++) {
    acc = tf.add(acc, tf.slice(padded, [0, k], [rows, c]));
  }
  return tf.reshape(acc, z.shape);
}

/**
 * Local response normalization y = x·s^−β with s = bias + α·W(x²), W the channel window sum:
 * ẏ = ẋ·s^−β − 2αβ·x·s^(−β−1)·W(x·ẋ). The window runs along the last axis, so the batch axes of ẋ
 * just broadcast.
 */
const lrnJvp: JvpRule = (inputs, tangents, attrs) => {
  const t = tangents.x;
  if (t == null) {
    return null;
  }
  const x = inputs.x;
  const {depthRadius, bias, alpha, beta} =
      attrs as unknown as {depthRadius: number, bias: number, alpha: number, beta: number};
  const s = tf.add(bias, tf.mul(alpha, channelWindowSum(tf.square(x), depthRadius)));
  const sPowBeta = tf.pow(s, -beta);
  const coupling = tf.mul(-2 * alpha * beta, tf.div(tf.mul(x, sPowBeta), s));
  return tf.add(tf.mul(t, sPowBeta), tf.mul(coupling, channelWindowSum(tf.mul(x, t), depthRadius)));
};

/**
 * Dilation2D (grayscale dilation, max-plus): y = max over the filter taps k of x at tap k of the
 * window + f[k]; ẏ = ẋ + ḟ at the (first, as the kernels pick it) tap attaining the max. Each tap's
 * candidates are one strided slice of the padded x, so no window extraction is needed.
 */
const dilation2DJvp: JvpRule = (inputs, tangents, attrs, [y], ctx) => {
  const {x, filter} = inputs;
  const tx = tangents.x, tFilter = tangents.filter;
  if (tx == null && tFilter == null) {
    return null;
  }
  const {strides, pad, dilations} = attrs as unknown as tf.Dilation2DAttrs;
  const info = tf.backend_util.computeDilation2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number], strides,
      pad as 'valid'|'same', 'NHWC', dilations);
  const {outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw} = info;
  const {dilationHeight: dh, dilationWidth: dw, filterHeight: fh, filterWidth: fw} = info;
  const C = x.shape[3] as number;
  const M = y.size;  // N·oh·ow·C, channels fastest
  const padding: Array<[number, number]> =
      [[0, 0], [info.padInfo.top, info.padInfo.bottom], [info.padInfo.left, info.padInfo.right], [0, 0]];
  const tap = (v: Tensor, i: number, j: number) => tf.stridedSlice(
      v, [0, i * dh, j * dw, 0], [v.shape[0], i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1, C],
      [1, sh, sw, 1]);
  const xp = tf.pad(x, padding, VERY_NEGATIVE);
  const candidates: Tensor[] = [];
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      candidates.push(tf.reshape(tf.add(tap(xp, i, j), tf.reshape(tf.slice(filter, [i, j, 0], [1, 1, C]), [C])), [M]));
    }
  }
  const mask = tf.cast(tf.oneHot(tf.argMax(tf.stack(candidates, 1), 1), fh * fw), 'float32');  // [M, K]
  const B = batchSize(ctx);
  const tp = tx == null ? null : tf.pad(foldBatch(tx, ctx), padding);  // [B·N, Hp, Wp, C]
  const tf4 = tFilter == null ? null : tf.reshape(tFilter, [B, fh, fw, C]);
  let acc: Tangent = null;
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const fromX = tp == null ? null : tf.reshape(tap(tp, i, j), [B, M]);
      const fromFilter = tf4 == null ? null : tf.reshape(tf.broadcastTo(
          tf.reshape(tf.slice(tf4, [0, i, j, 0], [B, 1, 1, C]), [B, 1, C]), [B, M / C, C]), [B, M]);
      const picked = tf.reshape(tf.slice(mask, [0, i * fw + j], [M, 1]), [1, M]);
      acc = sumTangents(acc, tf.mul(sumTangents(fromX, fromFilter)!, picked));
    }
  }
  return tf.reshape(acc!, [...ctx.batchShape, ...y.shape]);
};

/** MaxPool: ẏ = ẋ at the (first) position of the window's maximum. */
const maxPoolJvp: JvpRule = (inputs, tangents, attrs, [y], ctx) => {
  const t = tangents.x;
  if (t == null) {
    return null;
  }
  const x = inputs.x;
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as tf.MaxPoolAttrs;
  const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  if (tilesExactly(info)) {
    return maxPoolTangentTiled(x, y, t, info, ctx);
  }
  return maxPoolTangent(x, t, (v, pv) => windows2D(v, info, pv), y.shape, ctx);
};

/** Non-overlapping windows that tile the input exactly, no padding (the usual 2×2 / stride 2 pool). */
function tilesExactly(info: tf.backend_util.Conv2DInfo): boolean {
  const {padInfo: p} = info;
  return info.strideHeight === info.filterHeight && info.strideWidth === info.filterWidth &&
      info.outHeight * info.filterHeight === info.inHeight &&
      info.outWidth * info.filterWidth === info.inWidth && info.dilationHeight === 1 &&
      info.dilationWidth === 1 && p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0 &&
      info.dataFormat === 'channelsLast';
}

/**
 * MaxPool over windows that tile the input: ẏ = mean of ẋ over the window positions equal to the
 * max (one position, except on exact ties), with rank-4 ops only (the max broadcast back by
 * nearest-neighbour upsampling, window sums by average pooling): a few cheap passes instead of
 * extracting windows.
 */
function maxPoolTangentTiled(
    x: Tensor, y: Tensor, t: Tensor, info: tf.backend_util.Conv2DInfo, ctx: JvpContext): Tensor {
  const size: [number, number] = [info.inHeight, info.inWidth];
  const window: [number, number] = [info.filterHeight, info.filterWidth];
  const mask = tf.cast(tf.equal(x, tf.image.resizeNearestNeighbor(y as tf.Tensor4D, size)), 'float32');
  const ties = tf.avgPool(mask as tf.Tensor4D, window, window, 'valid');  // (#maxima) / window size
  const picked = mapOverFirstAxis(t, ctx, tt => {
    const b = tt.shape[0] / x.shape[0];
    const m = b === 1 ? mask : tf.tile(mask, [b, 1, 1, 1]);
    return tf.avgPool(tf.mul(tt, m) as tf.Tensor4D, window, window, 'valid');
  });
  return tf.div(picked, ties);
}

/** MaxPool3D: ẏ = ẋ at the (first) position of the window's maximum. */
const maxPool3DJvp: JvpRule = (inputs, tangents, attrs, [y], ctx) => {
  const t = tangents.x;
  if (t == null) {
    return null;
  }
  if (isChannelsFirst(attrs)) {
    throw new Error('JVP of MaxPool3D: only the NDHWC data format is supported.');
  }
  const x = inputs.x;
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as tf.MaxPool3DAttrs;
  const info = tf.backend_util.computePool3DInfo(
      x.shape as [number, number, number, number, number], filterSize, strides, 1, pad,
      dimRoundingMode);
  return maxPoolTangent(x, t, (v, pv) => windows3D(v, info, pv), y.shape, ctx);
};

/** A kernel linear in input `name` that acts per item of axis 0: ẏ = kernel(ẋ). */
function linearPerExample(kernelName: string, name: string): JvpRule {
  return (inputs, tangents, attrs, _outputs, ctx) => {
    const t = tangents[name];
    return t == null ? null :
        mapOverFirstAxis(t, ctx, tt => runKernel(kernelName, {...inputs, [name]: tt}, attrs));
  };
}

/** JVP rules of the conv kernel family. */
export const convJvps: JvpConfig[] = [
  {
    // y = conv2d(x, W): ẏ = conv2d(ẋ, W) + conv2d(x, Ẇ).
    kernelName: tf.Conv2D,
    jvp: (inputs, tangents, attrs, _outputs, ctx) =>
        convBilinear(tf.Conv2D, false, inputs, tangents, attrs, ctx),
  },
  {
    // y = act(conv2d(x, W) + b): ẏ = act'(z)·(conv2d(ẋ, W) + conv2d(x, Ẇ) + ḃ).
    kernelName: tf.FusedConv2D,
    jvp: fusedConvJvp(tf.Conv2D, false),
  },
  {
    // y = depthwise(x, W): ẏ = depthwise(ẋ, W) + depthwise(x, Ẇ).
    kernelName: tf.DepthwiseConv2dNative,
    jvp: (inputs, tangents, attrs, _outputs, ctx) =>
        convBilinear(tf.DepthwiseConv2dNative, true, inputs, tangents, attrs, ctx),
  },
  {
    // y = act(depthwise(x, W) + b): ẏ = act'(z)·(depthwise(ẋ, W) + depthwise(x, Ẇ) + ḃ).
    kernelName: tf.FusedDepthwiseConv2D,
    jvp: fusedConvJvp(tf.DepthwiseConv2dNative, true),
  },
  {
    // y = conv3d(x, W): ẏ = conv3d(ẋ, W) + conv3d(x, Ẇ).
    kernelName: tf.Conv3D,
    jvp: (inputs, tangents, attrs, _outputs, ctx) =>
        convBilinear(tf.Conv3D, false, inputs, tangents, attrs, ctx),
  },
  {
    // y = convT(dy, W) (conv2dTranspose): ẏ = convT(ḋy, W) + convT(dy, Ẇ).
    kernelName: tf.Conv2DBackpropInput,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const {dy, filter} = inputs;
      const inputShape = attrs.inputShape as unknown as number[];
      const channelsFirst = isChannelsFirst(attrs);
      const tdy = tangents.dy, tW = tangents.filter;
      const lhs = tdy == null ? null : mapOverFirstAxis(tdy, ctx, t => runKernel(
          tf.Conv2DBackpropInput, {dy: t, filter},
          {...attrs, inputShape: [t.shape[0], ...inputShape.slice(1)]} as unknown as NamedAttrMap));
      let rhs: Tangent = null;
      if (tW != null) {
        const outAxis = channelsFirst ? 1 : 3;
        rhs = filterTerm(w => {
          const shape = y.shape.slice();
          shape[outAxis] = w.shape[2] as number;
          return runKernel(tf.Conv2DBackpropInput, {dy, filter: w},
                           {...attrs, inputShape: shape} as unknown as NamedAttrMap);
        }, tW, 2, outAxis, () => 1, ctx);
      }
      return sumTangents(lhs, rhs);
    },
  },
  {kernelName: tf.MaxPool, jvp: maxPoolJvp},
  {kernelName: tf.MaxPool3D, jvp: maxPool3DJvp},
  // Average pooling is linear: ẏ = avgPool(ẋ).
  {kernelName: tf.AvgPool, jvp: linearPerExample(tf.AvgPool, 'x')},
  // Average pooling is linear: ẏ = avgPool3d(ẋ).
  {kernelName: tf.AvgPool3D, jvp: linearPerExample(tf.AvgPool3D, 'x')},
  {kernelName: tf.LRN, jvp: lrnJvp},
  {kernelName: tf.Dilation2D, jvp: dilation2DJvp},
  // Resizing is linear in the images: ẏ = resize(ẋ).
  {kernelName: tf.ResizeBilinear, jvp: linearPerExample(tf.ResizeBilinear, 'images')},
  // Resizing is linear in the images: ẏ = resize(ẋ).
  {kernelName: tf.ResizeNearestNeighbor, jvp: linearPerExample(tf.ResizeNearestNeighbor, 'images')},
  {
    // y = (x − m)·r·s + o with r = (v + ε)^−½:
    // ẏ = (ẋ − ṁ)·r·s − ½(x − m)·r³·s·v̇ + (x − m)·r·ṡ + ȯ.
    kernelName: tf.FusedBatchNorm,
    jvp: (inputs, tangents, attrs, [y], ctx) => {
      const {x, mean, variance, scale, offset} = inputs;
      const eps = attrs.varianceEpsilon as unknown as number;
      const al = (name: string): Tangent => {
        const t = tangents[name];
        return t == null ? null : alignTangent(t, inputs[name].shape, y.rank, ctx);
      };
      const r = tf.rsqrt(tf.add(variance, eps));
      const rs = scale == null ? r : tf.mul(r, scale);
      const xm = () => tf.sub(x, mean);
      const tx = tangents.x == null ? null : tf.mul(tangents.x, rs);
      const tm = al('mean');
      const tv = al('variance');
      const ts = scale == null ? null : al('scale');
      const to = offset == null ? null : al('offset');
      const terms: Tangent[] = [
        tx,
        tm == null ? null : tf.neg(tf.mul(tm, rs)),
        tv == null ? null : tf.mul(tv, tf.mul(xm(), tf.mul(rs, tf.mul(tf.square(r), -0.5)))),
        ts == null ? null : tf.mul(ts, tf.mul(xm(), r)),
        to,
      ];
      const sum = sumTangents(...terms);
      return sum == null ? null : broadcastTangent(sum, y.shape, ctx);
    },
  },
];
