/**
 * Identity (`tf.clone`, `tensor.clone()`) for wasm without a copy: the output shares the input's
 * buffer, its reference count raised, as the cpu backend's Identity and wasm's own Reshape do.
 * tfjs never writes a tensor's buffer after it is made (a Variable's assign takes a new buffer), so
 * sharing is safe. tfjs-backend-wasm 4.22 copies the whole buffer: ~700 copies in one LocalMixer
 * forward-gradient step (tangents are cloned so that they never alias).
 */
import {Identity, KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, WASM} from './kernel_utils';

/** The stock wasm Identity, for string tensors (kept off the heap). */
let stock: KernelFunc|null = null;

/** The Identity kernel function: `x`'s data under a new reference. */
export const identity: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x} = inputs;
  if (x.dtype === 'string' && stock != null) {
    return stock({inputs, backend, attrs}) as TensorInfo;
  }
  (backend as unknown as {incRef(dataId: object): void}).incRef(x.dataId);
  return {dataId: x.dataId, shape: x.shape, dtype: x.dtype};
};

/** The Identity config registered for wasm, replacing `stockConfig` (kept for strings). */
export function identityConfig(stockConfig: KernelConfig|undefined): KernelConfig {
  stock = stockConfig?.kernelFunc ?? null;
  return {kernelName: Identity, backendName: WASM, kernelFunc: asKernelFunc(identity)};
}
