/**
 * MaxPoolGrad for wasm: tfjs-backend-wasm 4.22's kernel misplaces gradient for some shapes (e.g.
 * x [1,4,4,1] or [2,6,6,3] with 2×2 windows, stride 2: gradient on non-maximal positions and a
 * wrong total). Composed from wasm kernels with the cpu backend's semantics: each window's gradient
 * goes to the first maximal position in row-major window order. For each window tap, the positions
 * equal to the window's max and not claimed by an earlier tap receive dy there.
 */
import {backend_util, KernelConfig, MaxPoolGrad, MaxPoolGradAttrs, TensorInfo} from '@tensorflow/tfjs-core';

import {addTap, asKernelFunc, ComposedKernel, cropImage, dispose, padImage, run, WASM, windowGeometry, windowTap, zeros} from './kernel_utils';

/** The MaxPoolGrad kernel function: inputs dy, input, output (the pooled values); dx. */
export const maxPoolGrad: ComposedKernel = ({inputs, backend, attrs}) => {
  const {dy, input, output} = inputs;
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const g = windowGeometry(info);
  const xPad = padImage(backend, input, g, -Infinity);
  let claimed: TensorInfo|null = null;  // 1 where an earlier tap was the window's max
  const acc = zeros(backend, [g.batch, g.paddedHeight, g.paddedWidth, g.channels]);
  for (let i = 0; i < info.filterHeight; i++) {
    for (let j = 0; j < info.filterWidth; j++) {
      const tap = windowTap(backend, xPad, i, j, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth);
      const eq = run('Equal', backend, {a: tap, b: output});
      const eqF = run('Cast', backend, {x: eq}, {dtype: 'float32'});
      let mask = eqF;
      if (claimed != null) {
        const first = run('Greater', backend, {a: eqF, b: claimed});
        mask = run('Cast', backend, {x: first}, {dtype: 'float32'});
        const nowClaimed = run('Add', backend, {a: claimed, b: mask});
        dispose(backend, first, eqF, claimed);
        claimed = nowClaimed;
      } else {
        claimed = run('Identity', backend, {x: eqF});
      }
      const contrib = run('Multiply', backend, {a: dy, b: mask});
      addTap(backend, acc, contrib, i, j, g.strideHeight, g.strideWidth);
      dispose(backend, tap, eq, mask, contrib);
    }
  }
  dispose(backend, xPad, claimed);
  return cropImage(backend, acc, g);
};

/** The MaxPoolGrad config registered for wasm (replacing the stock one). */
export const maxPoolGradConfig: KernelConfig = {kernelName: MaxPoolGrad, backendName: WASM, kernelFunc: asKernelFunc(maxPoolGrad)};
