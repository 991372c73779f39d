/**
 * DepthwiseConv2dNativeBackpropInput for wasm (tfjs-backend-wasm 4.22 has none). Composed from wasm
 * kernels: for each filter tap, the output gradient times that tap's weights (summed over the
 * channel multiplier) is added at the tap's input positions of the padded image (`addTap`); the
 * padding is cropped at the end. Strides, dilations and every tfjs padding work.
 */
import {backend_util, DepthwiseConv2dNativeBackpropInput, DepthwiseConv2dNativeBackpropInputAttrs, KernelConfig} from '@tensorflow/tfjs-core';

import {addTap, asKernelFunc, ComposedKernel, cropImage, dispose, reshape, run, WASM, windowGeometry, zeros} from './kernel_utils';

/** The DepthwiseConv2dNativeBackpropInput kernel function: inputs dy, filter; the input's gradient. */
export const depthwiseConv2DBackpropInput: ComposedKernel = ({inputs, backend, attrs}) => {
  const {dy, filter} = inputs;
  const {strides, dilations, pad, dimRoundingMode, inputShape} =
      attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const info = backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode,
      true);
  const g = windowGeometry(info);
  const [fh, fw, c, cm] = filter.shape;
  const [b, oh, ow] = dy.shape;
  const dy5 = reshape(backend, dy, [b, oh, ow, c, cm]);
  const acc = zeros(backend, [g.batch, g.paddedHeight, g.paddedWidth, g.channels]);  // the padded input's gradient
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const w = run('Slice', backend, {x: filter}, {begin: [i, j, 0, 0], size: [1, 1, c, cm]});
      const w2 = reshape(backend, w, [c, cm]);
      const prod = run('Multiply', backend, {a: dy5, b: w2});  // [b, oh, ow, c, cm]
      const contrib = cm === 1 ? reshape(backend, prod, [b, oh, ow, c]) :
                                 run('Sum', backend, {x: prod}, {axis: [4], keepDims: false});
      addTap(backend, acc, contrib, i * g.dilationHeight, j * g.dilationWidth, g.strideHeight, g.strideWidth);
      dispose(backend, w, w2, prod, contrib);
    }
  }
  dispose(backend, dy5);
  return cropImage(backend, acc, g);
};

/** The DepthwiseConv2dNativeBackpropInput config registered for wasm. */
export const depthwiseConv2DBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput, backendName: WASM, kernelFunc: asKernelFunc(depthwiseConv2DBackpropInput),
};
