/**
 * Slice for wasm, copied straight from the input's heap memory. tfjs-backend-wasm 4.22's Slice
 * first reads its *whole* input into a new JavaScript array (`readSync`), then copies the slice
 * out of it: `model.fit` slices each batch of 128 images from the epoch's [60000, 28, 28, 1] tensor,
 * and each slice copied all 188 MB. Here the output is written run by run, a run being the
 * contiguous memory that the innermost axes of the slice cover. Exact (a copy).
 */
import {KernelConfig, KernelFunc, Slice, SliceAttrs, slice_util, TensorInfo, util} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, heapArray, makeOutput, WASM} from './kernel_utils';

/** The stock wasm Slice, for string tensors (kept off the heap). */
let stock: KernelFunc|null = null;

/** Runs shorter than this are copied element by element (a subarray per run costs more). */
const SHORT_RUN = 16;

/** The Slice kernel function: x[begin : begin + size] along every axis. */
export const slice: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x} = inputs;
  if (x.dtype === 'string' && stock != null) {
    return stock({inputs, backend, attrs}) as TensorInfo;
  }
  const {begin: b, size: s} = attrs as unknown as SliceAttrs;
  const [begin, size] = slice_util.parseSliceParams(x, b, s);
  const out = makeOutput(backend, size, x.dtype);
  const rank = x.shape.length;  // ≥ 1: tf.slice rejects scalars
  if (util.sizeFromShape(size) === 0) {
    return out;
  }
  // views after the allocation (it may grow the heap, which detaches older views)
  const src = heapArray(backend, x), dst = heapArray(backend, out);
  const strides = [...util.computeStrides(x.shape), 1];
  // k: the innermost axis the slice does not take whole; one run covers axes k … rank − 1
  let k = rank - 1;
  while (k > 0 && size[k] === x.shape[k]) {
    k--;
  }
  const run = size[k] * strides[k];
  const index = new Array(k).fill(0);  // position in the slice along axes 0 … k − 1
  const outer = util.sizeFromShape(size.slice(0, k));
  for (let n = 0, o = 0; n < outer; n++, o += run) {
    let from = begin[k] * strides[k];
    for (let a = 0; a < k; a++) {
      from += (begin[a] + index[a]) * strides[a];
    }
    if (run < SHORT_RUN) {
      for (let i = 0; i < run; i++) {
        dst[o + i] = src[from + i];
      }
    } else {
      dst.set(src.subarray(from, from + run), o);
    }
    for (let a = k - 1; a >= 0 && ++index[a] === size[a]; a--) {
      index[a] = 0;
    }
  }
  return out;
};

/** The Slice config registered for wasm, replacing `stockConfig` (kept for strings). */
export function sliceConfig(stockConfig: KernelConfig|undefined): KernelConfig {
  stock = stockConfig?.kernelFunc ?? null;
  return {kernelName: Slice, backendName: WASM, kernelFunc: asKernelFunc(slice)};
}
