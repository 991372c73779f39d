/**
 * Sum and Mean for wasm over axes that are not the innermost. tfjs-backend-wasm 4.22 transposes its
 * input to bring the reduced axes innermost first, with its slow element-by-element Transpose: a
 * mean over the middle axis of [32, 512, 64] takes 7 ms against 0.5 ms over the last, and a bias
 * gradient (a sum over the rows of [2048, 512]) 10 ms against 0.6. Reduced axes that form one
 * block followed by kept axes are summed here: leading axes as one matrix product with a row of
 * ones, middle axes row by row; the rest go to the stock kernels. Float rounding may differ from
 * the stock kernels' (another order of the additions).
 */
import {KernelBackend, KernelConfig, KernelFunc, Mean, Sum, SumAttrs, TensorInfo, util} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, dispose, heapArray, makeOutput, run, WASM} from './kernel_utils';

/**
 * x viewed as [outer, reduced, inner] when the reduced axes are one contiguous block with kept
 * axes after it (inner > 1); null otherwise.
 */
export function reductionView(shape: readonly number[], axis: number|number[]):
    {outer: number, reduced: number, inner: number, axes: number[]}|null {
  const axes = [...new Set(util.parseAxisParam(axis, shape as number[]))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((a, i) => a !== axes[0] + i)) {
    return null;
  }
  const first = axes[0], last = axes[axes.length - 1];
  const inner = util.sizeFromShape(shape.slice(last + 1) as number[]);
  if (inner <= 1) {
    return null;
  }
  return {
    outer: util.sizeFromShape(shape.slice(0, first) as number[]),
    reduced: util.sizeFromShape(shape.slice(first, last + 1) as number[]), inner, axes,
  };
}

/** A Sum or Mean kernel function over `stock` (see the module doc). */
function reduction(kernelName: string, stockOf: () => KernelFunc|null): ComposedKernel {
  return ({inputs, backend, attrs}) => {
    const {x} = inputs;
    const {axis, keepDims} = attrs as unknown as SumAttrs;  // Mean's attributes are the same
    const view = x.dtype === 'float32' ? reductionView(x.shape, axis) : null;
    if (view == null) {
      const stock = stockOf();
      if (stock == null) {
        throw new Error(`wasm kernels: no stock ${kernelName} kernel.`);
      }
      return stock({inputs, backend, attrs}) as TensorInfo;
    }
    const {outer, reduced, inner, axes} = view;
    const outShape = keepDims ? x.shape.map((d, i) => axes.includes(i) ? 1 : d) :
                                x.shape.filter((_, i) => !axes.includes(i));
    const out = outer === 1 && reduced > 0 ? sumOfRows(backend, x, reduced, inner, outShape) : makeOutput(backend, outShape, 'float32');
    // views after the allocation (it may grow the heap, which detaches older views)
    const dst = heapArray(backend, out);
    if (outer > 1 || reduced === 0) {
      const src = heapArray(backend, x);
      dst.fill(0);
      for (let o = 0; o < outer; o++) {
        const d = o * inner;
        for (let r = 0, s = o * reduced * inner; r < reduced; r++, s += inner) {
          for (let i = 0; i < inner; i++) {
            dst[d + i] += src[s + i];
          }
        }
      }
    }
    if (kernelName === Mean) {
      for (let i = 0; i < dst.length; i++) {
        dst[i] /= reduced;
      }
    }
    return out;
  };
}

/**
 * The sums of the `rows` rows of x viewed as [rows, cols], shaped `outShape`: one XNNPACK product
 * ones[1, rows]·x (a bias gradient over 8192 rows: ~0.3 ms, where a loop takes several).
 */
function sumOfRows(backend: KernelBackend, x: TensorInfo, rows: number, cols: number, outShape: number[]): TensorInfo {
  const ones = makeOutput(backend, [1, 1, rows], 'float32');
  heapArray(backend, ones).fill(1);
  const matrix = run('Reshape', backend, {x}, {shape: [1, rows, cols]});
  let product: TensorInfo|null = null;
  try {
    product = run('BatchMatMul', backend, {a: ones, b: matrix}, {transposeA: false, transposeB: false});
    return run('Reshape', backend, {x: product}, {shape: outShape});
  } finally {
    dispose(backend, ones, matrix, product);
  }
}

/** The stock kernel functions of the reductions replaced here, by kernel name. */
const stocks = new Map<string, KernelFunc>();

/** The config of `kernelName` (Sum or Mean) registered for wasm, replacing `stockConfig` (kept for the other reductions). */
function reductionConfig(kernelName: string, stockConfig: KernelConfig|undefined): KernelConfig|null {
  if (stockConfig == null) {
    return null;
  }
  stocks.set(kernelName, stockConfig.kernelFunc);
  return {kernelName, backendName: WASM, kernelFunc: asKernelFunc(reduction(kernelName, () => stocks.get(kernelName) ?? null)),
          setupFunc: stockConfig.setupFunc, disposeFunc: stockConfig.disposeFunc};
}

/** The Sum config registered for wasm. */
export const sumConfig = (stockConfig: KernelConfig|undefined) => reductionConfig(Sum, stockConfig);

/** The Mean config registered for wasm. */
export const meanConfig = (stockConfig: KernelConfig|undefined) => reductionConfig(Mean, stockConfig);
