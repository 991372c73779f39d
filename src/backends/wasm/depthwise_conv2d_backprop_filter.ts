/**
 * DepthwiseConv2dNativeBackpropFilter for wasm (tfjs-backend-wasm 4.22 has none). Composed from wasm
 * kernels: the filter taps of the padded input stacked on a leading axis, multiplied by the output
 * gradient per channel, and summed over positions by a matmul with ones; per slice of examples.
 * Strides, dilations and every tfjs padding are supported.
 */
import {backend_util, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropFilterAttrs, KernelConfig, TensorInfo} from '@tensorflow/tfjs-core';

import {accumulate, asKernelFunc, ComposedKernel, concat, dispose, examplesPerChunk, matMul, padImage, reshape, run, sliceBatch, WASM, windowGeometry, windowTap} from './kernel_utils';

/** The DepthwiseConv2dNativeBackpropFilter kernel function: inputs x, dy; the filter's gradient. */
export const depthwiseConv2DBackpropFilter: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x, dy} = inputs;
  const {strides, dilations, pad, dimRoundingMode, filterShape} =
      attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const g = windowGeometry(info);
  const [fh, fw, c, cm] = filterShape;
  const taps = fh * fw;
  const xPad = padImage(backend, x, g);
  const step = examplesPerChunk(g.outHeight * g.outWidth * taps * c * cm, g.batch);
  let acc: TensorInfo|null = null;  // [taps, 1, c·cm]
  for (let b0 = 0; b0 < g.batch; b0 += step) {
    const nb = Math.min(step, g.batch - b0), rows = nb * g.outHeight * g.outWidth;
    const xc = sliceBatch(backend, xPad, b0, nb), dyc = sliceBatch(backend, dy, b0, nb);
    const tapList: TensorInfo[] = [];
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        tapList.push(windowTap(backend, xc, i * g.dilationHeight, j * g.dilationWidth, g.outHeight, g.outWidth,
                               g.strideHeight, g.strideWidth));
      }
    }
    const flat = tapList.map(t => reshape(backend, t, [1, rows, c, 1]));
    const stacked = concat(backend, flat, 0);                    // [taps, rows, c, 1]
    const dy4 = reshape(backend, dyc, [1, rows, c, cm]);
    const prod = run('Multiply', backend, {a: stacked, b: dy4});  // [taps, rows, c, cm]
    const prod3 = reshape(backend, prod, [taps, rows, c * cm]);
    const ones = run('Fill', backend, {}, {shape: [1, 1, rows], value: 1, dtype: 'float32'});
    const part = matMul(backend, ones, prod3);                    // [taps, 1, c·cm]
    dispose(backend, xc, dyc, ...tapList, ...flat, stacked, dy4, prod, prod3, ones);
    acc = accumulate(backend, acc, part);
  }
  dispose(backend, xPad);
  const dw = reshape(backend, acc!, [fh, fw, c, cm]);
  dispose(backend, acc);
  return dw;
};

/** The DepthwiseConv2dNativeBackpropFilter config registered for wasm. */
export const depthwiseConv2DBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter, backendName: WASM, kernelFunc: asKernelFunc(depthwiseConv2DBackpropFilter),
};
