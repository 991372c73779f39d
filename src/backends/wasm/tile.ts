/**
 * Tile for wasm: block copies on the heap. tfjs-backend-wasm 4.22's Tile computes an index per
 * output element: broadcasting a scalar to [784, 512] (what `tf.where` / `tf.broadcastTo` do with a
 * scalar condition) takes ~25 ms, longer than the matmuls of a training step. Here the input is
 * copied once and each axis, innermost first, is repeated by copying whole blocks (copyWithin), so
 * the cost is that of writing the output. Exact (a copy); float32, int32 and bool (as the stock kernel).
 */
import {KernelConfig, Tile, TileAttrs, util} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, heapArray, makeOutput, WASM} from './kernel_utils';

/**
 * Repeats the data of shape `shape` (at the start of `buf`) `reps[a]` times along each axis a, in
 * place: axes from the last to the first, each outer block copied to its new place, the last one
 * first (a block moves only forward, so nothing is overwritten before it is read).
 */
function tileInPlace(buf: {copyWithin(target: number, start: number, end: number): unknown}, shape: number[],
                     reps: number[]): void {
  let inner = 1;  // elements per index of axis a + 1 in the current layout (already tiled)
  for (let a = shape.length - 1; a >= 0; a--) {
    const m = reps[a];
    const block = shape[a] * inner;
    if (m !== 1) {
      const outer = util.sizeFromShape(shape.slice(0, a));
      for (let i = outer - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
          if (i !== 0 || j !== 0) {
            buf.copyWithin((i * m + j) * block, i * block, (i + 1) * block);
          }
        }
      }
    }
    inner = block * m;
  }
}

/** The Tile kernel function: x tiled `reps` times along each axis. */
export const tile: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {reps} = attrs as unknown as TileAttrs;
  // (the stock wasm kernel has no string or complex64 Tile either)
  util.assert(x.dtype !== 'string' && x.dtype !== 'complex64',
              () => `wasm Tile: dtype ${x.dtype} is not supported on wasm; use the cpu backend for it.`);
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = makeOutput(backend, outShape, x.dtype);
  if (util.sizeFromShape(outShape) === 0) {
    return out;
  }
  const dst = heapArray(backend, out);
  const src = heapArray(backend, x);
  if (src.length === 1) {
    dst.fill(src[0]);  // a broadcast scalar
  } else {
    dst.set(src);
    tileInPlace(dst, x.shape, reps);
  }
  return out;
};

/** The Tile config registered for wasm (replacing the stock one). */
export const tileConfig: KernelConfig = {kernelName: Tile, backendName: WASM, kernelFunc: asKernelFunc(tile)};
