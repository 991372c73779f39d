/**
 * Conv2DBackpropInput for wasm, replacing the stock kernel for speed (it is correct, but in a
 * small conv net's training step it took ~40% of the time). Composed from wasm kernels: per filter
 * tap, one XNNPACK matmul of the output gradient with that tap's weights, added at the tap's input
 * positions of the padded image (`addTap`); the padding is cropped at the end.
 */
import {backend_util, Conv2DBackpropInput, Conv2DBackpropInputAttrs, KernelConfig} from '@tensorflow/tfjs-core';

import {addTap, asKernelFunc, ComposedKernel, cropImage, dispose, matMul, reshape, run, toNHWC, transpose, WASM, windowGeometry, zeros} from './kernel_utils';

/** The Conv2DBackpropInput kernel function: inputs dy, filter; the input's gradient. */
export const conv2DBackpropInput: ComposedKernel = ({inputs, backend, attrs}) => {
  const {dy, filter} = inputs;
  const {strides, pad, dataFormat, dimRoundingMode, inputShape} = attrs as unknown as Conv2DBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false,
      backend_util.convertConv2DDataFormat(dataFormat));
  const g = windowGeometry(info);
  const [fh, fw, ci, co] = filter.shape;
  const dyN = toNHWC(backend, dy, dataFormat);
  const rows = g.batch * g.outHeight * g.outWidth;
  const dy2 = reshape(backend, dyN, [rows, co]);
  const filterT = transpose(backend, filter, [0, 1, 3, 2]);  // [fh, fw, co, ci]
  const acc = zeros(backend, [g.batch, g.paddedHeight, g.paddedWidth, ci]);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const w = run('Slice', backend, {x: filterT}, {begin: [i, j, 0, 0], size: [1, 1, co, ci]});
      const w2 = reshape(backend, w, [co, ci]);
      const contrib = matMul(backend, dy2, w2);  // [rows, ci]
      const c4 = reshape(backend, contrib, [g.batch, g.outHeight, g.outWidth, ci]);
      addTap(backend, acc, c4, i * g.dilationHeight, j * g.dilationWidth, g.strideHeight, g.strideWidth);
      dispose(backend, w, w2, contrib, c4);
    }
  }
  dispose(backend, dy2, filterT);
  if (dyN !== dy) {
    dispose(backend, dyN);
  }
  const dx = cropImage(backend, acc, g);
  if (dataFormat !== 'NCHW') {
    return dx;
  }
  const dxNCHW = transpose(backend, dx, [0, 3, 1, 2]);
  dispose(backend, dx);
  return dxNCHW;
};

/** The Conv2DBackpropInput config registered for wasm (replacing the stock one). */
export const conv2DBackpropInputConfig: KernelConfig =
    {kernelName: Conv2DBackpropInput, backendName: WASM, kernelFunc: asKernelFunc(conv2DBackpropInput)};
