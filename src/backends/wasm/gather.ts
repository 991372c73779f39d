/**
 * GatherV2 for wasm, copied slice by slice on the heap. tfjs-backend-wasm 4.22's Gather computes
 * every output element's position with strided index arithmetic: `model.fit` gathers each batch of
 * 128 images from the epoch's [60000, 28, 28, 1] tensor (its batch indices), ~3 ms for 400 KB. Here
 * each gathered slice (the contiguous memory after the gather axis) is one block copy. Exact (a
 * copy); out-of-range indices throw as tfjs's kernels do. Numeric tensors only, like the stock kernel
 * (`tf.gather` rejects strings).
 */
import {backend_util, GatherV2, GatherV2Attrs, KernelConfig, util} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, heapArray, makeOutput, WASM} from './kernel_utils';

/** Slices shorter than this are copied element by element (a subarray per slice costs more). */
const SHORT_RUN = 16;

/** The GatherV2 kernel function: `x` indexed by `indices` along `axis`, per batch of `batchDims`. */
export const gatherV2: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x, indices} = inputs;
  util.assert(x.dtype !== 'string', () => 'GatherV2 on wasm: string tensors are not supported (they are not on the wasm heap).');
  const {axis, batchDims} = attrs as unknown as GatherV2Attrs;
  const parsedAxis = util.parseAxisParam(axis, x.shape)[0];
  const axisDim = x.shape[parsedAxis];
  const checked = heapArray(backend, indices);
  for (let i = 0; i < checked.length; i++) {
    const v = checked[i];
    util.assert(v <= axisDim - 1 && v >= 0, () => `GatherV2: the index value ${v} is not in [0, ${axisDim - 1}]`);
  }
  const info = backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, batchDims);
  const out = makeOutput(backend, info.outputShape, x.dtype);
  const {batchSize, outerSize, dimSize, sliceSize} = info;
  const perBatch = batchSize === 0 ? 0 : util.sizeFromShape(indices.shape) / batchSize;
  if (util.sizeFromShape(info.outputShape) === 0 || sliceSize === 0) {
    return out;
  }
  // views after the allocation (it may grow the heap, which detaches older views)
  const src = heapArray(backend, x), dst = heapArray(backend, out), idx = heapArray(backend, indices);
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < outerSize; r++) {
      const base = (b * outerSize + r) * dimSize;
      for (let i = 0; i < perBatch; i++, o += sliceSize) {
        const from = (base + idx[b * perBatch + i]) * sliceSize;
        if (sliceSize < SHORT_RUN) {
          for (let k = 0; k < sliceSize; k++) {
            dst[o + k] = src[from + k];
          }
        } else {
          dst.set(src.subarray(from, from + sliceSize), o);
        }
      }
    }
  }
  return out;
};

/** The GatherV2 config registered for wasm (replacing the stock one). */
export const gatherV2Config: KernelConfig = {kernelName: GatherV2, backendName: WASM, kernelFunc: asKernelFunc(gatherV2)};
