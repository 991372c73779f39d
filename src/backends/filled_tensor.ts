/**
 * A float32 tensor whose values JavaScript writes once (noise, normalized images). On wasm they are
 * written straight into the tensor's heap memory; elsewhere into a fresh array that `tf.tensor`
 * takes. For large tensors this saves an allocation of the whole size (page faults) and a copy:
 * 188 MB for MNIST's training images.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {WASM, wasmTensorFilledBy} from './wasm/kernel_utils';

/** A new float32 tensor of `shape` on the active backend, its values written by `fill`. */
export function float32TensorFilledBy(shape: number[], fill: (out: Float32Array) => void): Tensor {
  if (tf.getBackend() === WASM) {
    return wasmTensorFilledBy(shape, fill);
  }
  const out = new Float32Array(tf.util.sizeFromShape(shape));
  fill(out);
  return tf.tensor(out, shape, 'float32');
}
