/**
 * Conv2DBackpropFilter for wasm (tfjs-backend-wasm 4.22 has none, so conv layers cannot train on
 * it). Composed from wasm kernels: im2col of the padded input (one strided slice per filter tap),
 * then one matmul with the output gradient, dWᵀ = dyᵀ·patches, per slice of examples.
 */
import {backend_util, Conv2DBackpropFilter, Conv2DBackpropFilterAttrs, KernelConfig, TensorInfo} from '@tensorflow/tfjs-core';

import {accumulate, asKernelFunc, ComposedKernel, concat, dispose, examplesPerChunk, matMul, padImage, reshape, sliceBatch, toNHWC, transpose, WASM, windowGeometry, windowTap} from './kernel_utils';

/** The Conv2DBackpropFilter kernel function: inputs x, dy; the filter-shaped gradient. */
export const conv2DBackpropFilter: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x, dy} = inputs;
  const {strides, pad, dataFormat, dimRoundingMode, filterShape} = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false,
      backend_util.convertConv2DDataFormat(dataFormat));
  const g = windowGeometry(info);
  const [fh, fw, ci, co] = filterShape;
  const taps = fh * fw;
  const xN = toNHWC(backend, x, dataFormat), dyN = toNHWC(backend, dy, dataFormat);
  const xPad = padImage(backend, xN, g);
  const perExample = g.outHeight * g.outWidth * taps * ci;
  const step = examplesPerChunk(perExample, g.batch);
  let acc: TensorInfo|null = null;  // dWᵀ: [co, taps·ci]
  for (let b0 = 0; b0 < g.batch; b0 += step) {
    const nb = Math.min(step, g.batch - b0), rows = nb * g.outHeight * g.outWidth;
    const xc = sliceBatch(backend, xPad, b0, nb), dyc = sliceBatch(backend, dyN, b0, nb);
    // patches [rows, taps·ci]: the taps stacked on a leading axis, then moved inside.
    const tapList: TensorInfo[] = [];
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        tapList.push(windowTap(backend, xc, i * g.dilationHeight, j * g.dilationWidth, g.outHeight, g.outWidth,
                               g.strideHeight, g.strideWidth));
      }
    }
    const flat = tapList.map(t => reshape(backend, t, [1, rows, ci]));
    const stacked = concat(backend, flat, 0);
    const patches = taps === 1 ? reshape(backend, stacked, [rows, ci]) :
                                 transpose(backend, stacked, [1, 0, 2]);
    const patches2 = reshape(backend, patches, [rows, taps * ci]);
    const dy2 = reshape(backend, dyc, [rows, co]);
    const dyT = transpose(backend, dy2, [1, 0]);
    const part = matMul(backend, dyT, patches2);
    dispose(backend, xc, dyc, ...tapList, ...flat, stacked, patches, patches2, dy2, dyT);
    acc = accumulate(backend, acc, part);
  }
  dispose(backend, xPad);
  if (xN !== x) {
    dispose(backend, xN);
  }
  if (dyN !== dy) {
    dispose(backend, dyN);
  }
  const dwT = transpose(backend, acc!, [1, 0]);
  const dw = reshape(backend, dwT, [fh, fw, ci, co]);
  dispose(backend, acc, dwT);
  return dw;
};

/** The Conv2DBackpropFilter config registered for wasm. */
export const conv2DBackpropFilterConfig: KernelConfig =
    {kernelName: Conv2DBackpropFilter, backendName: WASM, kernelFunc: asKernelFunc(conv2DBackpropFilter)};
