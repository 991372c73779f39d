/**
 * Transpose for wasm, tiled. tfjs-backend-wasm 4.22 transposes a matrix element by element in
 * input order, so its writes stride through the whole output: 20–35 ns an element for a
 * [8192, 512] matrix (a weight gradient's operand at batch 128), where a tiled copy takes 2–3.
 * Permutations that collapse to a swap of two axes, with or without leading batch axes, are
 * copied here in 16 × 16 tiles; the others (and strings) go to the stock kernel. Exact (a copy).
 */
import {KernelConfig, KernelFunc, TensorInfo, Transpose, TransposeAttrs, TypedArray} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, heapArray, makeOutput, WASM} from './kernel_utils';

/** The stock wasm Transpose, for the permutations not handled here. */
let stock: KernelFunc|null = null;

/** Side of the square tiles. */
const TILE = 16;

/**
 * Rows of the swapped matrices below which the stock kernel is kept: its writes stride by the rows,
 * which cost little while a stride stays within a few cache lines ([128, 64, 512] → [0, 2, 1]:
 * 1.2 ns an element, tiles 3.7), and much beyond.
 */
const MIN_ROWS = 128;

/**
 * `shape` and `perm` with the size-1 axes dropped and the runs of input axes that stay adjacent and
 * in order merged: e.g. [2, 3, 4, 5] with perm [0, 1, 3, 2] → [6, 4, 5] with perm [0, 2, 1].
 */
export function collapsePermutation(shape: readonly number[], perm: readonly number[]): {shape: number[], perm: number[]} {
  const order = perm.filter(a => shape[a] !== 1);  // input axes in output order
  const groups: number[][] = [];
  for (const a of order) {
    const last = groups[groups.length - 1];
    if (last != null && last[last.length - 1] === a - 1) {
      last.push(a);
    } else {
      groups.push([a]);
    }
  }
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  return {
    shape: byInput.map(g => g.reduce((n, a) => n * shape[a], 1)),
    perm: groups.map(g => byInput.indexOf(g)),
  };
}

/**
 * dst[b, j, i] = src[b, i, j] for `batch` matrices [rows, cols], in TILE × TILE tiles, each tile
 * written row by row of the output (sequential writes, strided reads: measured 2–3 ns an element).
 */
function transposeMatrices(src: TypedArray, dst: TypedArray, batch: number, rows: number, cols: number): void {
  const size = rows * cols;
  for (let b = 0, off = 0; b < batch; b++, off += size) {
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(j0 + TILE, cols);
      for (let i0 = 0; i0 < rows; i0 += TILE) {
        const i1 = Math.min(i0 + TILE, rows);
        for (let j = j0; j < j1; j++) {
          for (let i = i0, s = off + i0 * cols + j, d = off + j * rows + i0; i < i1; i++, s += cols, d++) {
            dst[d] = src[s];
          }
        }
      }
    }
  }
}

/** The Transpose kernel function (see the module doc). */
export const transpose: ComposedKernel = ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {perm} = attrs as unknown as TransposeAttrs;
  const outShape = perm.map(a => x.shape[a]);
  const c = collapsePermutation(x.shape, perm);
  const swap = c.perm.length === 2 ? c.perm[0] === 1 :
      c.perm.length === 3 && c.perm[0] === 0 && c.perm[1] === 2 && c.perm[2] === 1;
  const copy = c.perm.length <= 1;
  const rows = c.shape[c.shape.length - 2] ?? 0;
  if ((!(swap && rows >= MIN_ROWS) && !copy) || x.dtype === 'string' || x.dtype === 'complex64') {
    return stock!({inputs, backend, attrs}) as TensorInfo;
  }
  const out = makeOutput(backend, outShape, x.dtype);
  // views after the allocation (it may grow the heap, which detaches older views)
  const src = heapArray(backend, x), dst = heapArray(backend, out);
  if (copy) {
    dst.set(src);
  } else {
    transposeMatrices(src, dst, c.perm.length === 3 ? c.shape[0] : 1, rows, c.shape[c.shape.length - 1]);
  }
  return out;
};

/** The Transpose config registered for wasm, replacing `stockConfig` (kept for other permutations). */
export function transposeConfig(stockConfig: KernelConfig|undefined): KernelConfig|null {
  if (stockConfig == null) {
    return null;
  }
  stock = stockConfig.kernelFunc;
  return {kernelName: Transpose, backendName: WASM, kernelFunc: asKernelFunc(transpose),
          setupFunc: stockConfig.setupFunc, disposeFunc: stockConfig.disposeFunc};
}
