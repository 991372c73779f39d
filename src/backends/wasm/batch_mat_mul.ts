/**
 * BatchMatMul and _FusedMatMul on wasm with transposed operands done as an explicit Transpose
 * followed by the plain (NN) matmul. tfjs-backend-wasm 4.22 runs `transposeA` / `transposeB`
 * through a path that is 10–20× slower than NN (1–2 vs ~20 GFLOP/s at 1024³), and every Dense
 * backward pass uses it. A transpose is one pass over the operand, so this is never slower beyond
 * noise; results agree with the stock kernel to float rounding. _FusedMatMul also gets its bias
 * right on batched inputs (see fusedMatMulKernel).
 *
 * Batched products (more than one matrix) run as one plain 2-D matmul per matrix: the stock kernel
 * sends a batch through a generic loop instead of XNNPACK, ~100× slower for the grouped linear
 * layers' [16, 2048, 32]·[16, 32, 32] (45 ms against 16 × 0.3 ms).
 */
import {backend_util, BatchMatMul, KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo, util, _FusedMatMul} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, dispose, heapArray, makeOutput, run, swapLastTwo, transpose, WASM} from './kernel_utils';

/** The product of the batch dimensions of a matmul operand. */
function batchOf(x: TensorInfo): number {
  return util.sizeFromShape(x.shape.slice(0, -2));
}

/**
 * Matrix `index` of the batch of `x` ([..., rows, cols]) as a new [1, rows, cols] tensor (a copy on
 * the heap; a reshape when `x` holds one matrix). Rank 3: the stock _FusedMatMul reads its operands
 * as such.
 */
function matrixOf(backend: KernelBackend, x: TensorInfo, index: number): TensorInfo {
  const [rows, cols] = x.shape.slice(-2);
  if (batchOf(x) === 1) {
    return run('Reshape', backend, {x}, {shape: [1, rows, cols]});
  }
  const out = makeOutput(backend, [1, rows, cols], x.dtype);
  const size = rows * cols;
  heapArray(backend, out).set(heapArray(backend, x).subarray(index * size, (index + 1) * size));
  return out;
}

/**
 * a·b (no transposes) for batched operands, one `stock` 2-D product per matrix written into the
 * output; matrix i of the output is matrix i of each operand (or its only one). Extra inputs are
 * not passed (the callers handle bias and activation; `stockAttrs` name no activation).
 */
function perMatrix(stock: KernelFunc, backend: KernelBackend, a: TensorInfo, b: TensorInfo,
                   stockAttrs: NamedAttrMap): TensorInfo {
  const batchA = batchOf(a), batchB = batchOf(b);
  const [m] = a.shape.slice(-2), n = b.shape[b.shape.length - 1];
  const outShape = [...backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];
  const out = makeOutput(backend, outShape, a.dtype);
  const size = m * n;
  const attrs = {...stockAttrs, transposeA: false, transposeB: false} as unknown as NamedAttrMap;
  let bShared: TensorInfo|null = batchB === 1 ? matrixOf(backend, b, 0) : null;
  let aShared: TensorInfo|null = batchA === 1 ? matrixOf(backend, a, 0) : null;
  try {
    for (let i = 0; i < Math.max(batchA, batchB); i++) {
      const ai = aShared ?? matrixOf(backend, a, i), bi = bShared ?? matrixOf(backend, b, i);
      let product: TensorInfo|null = null;
      try {
        product = stock({inputs: {a: ai, b: bi}, backend, attrs}) as TensorInfo;
        heapArray(backend, out).set(heapArray(backend, product), i * size);
      } finally {
        dispose(backend, product, ai === aShared ? null : ai, bi === bShared ? null : bi);
      }
    }
  } catch (e) {
    dispose(backend, out);
    throw e;
  } finally {
    dispose(backend, aShared, bShared);
    aShared = bShared = null;
  }
  return out;
}

/**
 * Products per matrix (m·k·n) from which a batch runs per matrix: below, the stock loop wins
 * (measured: [512, 8, 8]² 1 ms stock vs 8 ms per matrix; [64, 16, 16]² break-even; [16, 128, 32]·
 * [16, 32, 32] 5.2 vs 1.2 ms).
 */
const PER_MATRIX_MIN_WORK = 16 * 32 * 32;

/**
 * Whether a·b is a batched product that `perMatrix` runs: more than one output matrix, enough
 * work per matrix (PER_MATRIX_MIN_WORK), and each
 * operand holds either one matrix or as many as the output (then its batch dimensions are the
 * output's, up to leading 1s, and matrix i pairs with output matrix i).
 */
function runsPerMatrix(a: TensorInfo, b: TensorInfo, transposeA = false): boolean {
  const batchA = batchOf(a), batchB = batchOf(b);
  const batch = util.sizeFromShape(
      backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)));
  const [rowsA, colsA] = a.shape.slice(-2), [rowsB, colsB] = b.shape.slice(-2);
  const work = rowsA * colsA * rowsB * colsB / (transposeA ? rowsA : colsA);  // m·k·n
  return batch > 1 && work >= PER_MATRIX_MIN_WORK && (batchA === 1 || batchA === batch) &&
         (batchB === 1 || batchB === batch) && a.dtype === 'float32' && b.dtype === 'float32';
}

/**
 * The kernel function that untransposes `a` / `b` and calls `stock` (wasm's own BatchMatMul or
 * _FusedMatMul kernel function) with transposeA = transposeB = false. Other inputs (bias, PReLU
 * weights) and attributes (activation) pass through.
 */
export function withoutTransposes(stock: KernelFunc): KernelFunc {
  const f: ComposedKernel = ({inputs, backend, attrs}) => {
    const {transposeA, transposeB} = attrs as {transposeA?: boolean, transposeB?: boolean};
    const batched = runsPerMatrix(inputs.a, inputs.b, transposeA);
    if (!transposeA && !transposeB && !batched) {
      return stock({inputs, backend, attrs}) as TensorInfo;
    }
    let {a, b} = inputs;
    const temporaries: TensorInfo[] = [];
    if (transposeA) {
      a = transpose(backend, a, swapLastTwo(a.shape.length));
      temporaries.push(a);
    }
    if (transposeB) {
      b = transpose(backend, b, swapLastTwo(b.shape.length));
      temporaries.push(b);
    }
    try {
      if (batched) {
        return perMatrix(stock, backend, a, b, attrs);
      }
      return stock({
        inputs: {...inputs, a, b}, backend,
        attrs: {...attrs, transposeA: false, transposeB: false} as unknown as NamedAttrMap,
      }) as TensorInfo;
    } finally {
      dispose(backend, ...temporaries);
    }
  };
  return asKernelFunc(f);
}

/** The BatchMatMul config registered for wasm, built on the stock one. */
export function batchMatMulConfig(stock: KernelConfig): KernelConfig {
  return {kernelName: BatchMatMul, backendName: WASM, setupFunc: stock.setupFunc,
          disposeFunc: stock.disposeFunc, kernelFunc: withoutTransposes(stock.kernelFunc)};
}

/** The activation kernels of _FusedMatMul's `activation` attribute. */
function activate(backend: KernelBackend, x: TensorInfo, attrs: NamedAttrMap, prelu: TensorInfo|undefined):
    TensorInfo|null {
  const {activation, leakyreluAlpha} = attrs as {activation?: string, leakyreluAlpha?: number};
  switch (activation ?? 'linear') {
    case 'linear': return null;
    case 'relu': return run('Relu', backend, {x});
    case 'relu6': return run('Relu6', backend, {x});
    case 'elu': return run('Elu', backend, {x});
    case 'sigmoid': return run('Sigmoid', backend, {x});
    case 'leakyrelu': return run('LeakyRelu', backend, {x}, {alpha: leakyreluAlpha ?? 0.2});
    case 'prelu': return run('Prelu', backend, {x, alpha: prelu!});
    default: throw new Error(`_FusedMatMul: activation '${activation}' is not supported on wasm.`);
  }
}

/**
 * _FusedMatMul: as BatchMatMul for transposes; with a bias and more than one matrix in the batch,
 * the stock kernel adds the bias to the first matrix only (tfjs-backend-wasm 4.22), so that case,
 * and every batch run per matrix, runs as matmul, then Add and the activation kernel.
 */
export function fusedMatMulKernel(stock: KernelFunc): KernelFunc {
  const fast = withoutTransposes(stock);
  const f: ComposedKernel = ({inputs, backend, attrs}) => {
    const {a, b, bias, preluActivationWeights} = inputs;
    const batch = Math.max(util.sizeFromShape(a.shape.slice(0, -2)),
                           util.sizeFromShape(b.shape.slice(0, -2)));
    if (batch === 1 || (!runsPerMatrix(a, b, (attrs as {transposeA?: boolean}).transposeA) && (bias == null || bias.shape.length !== 1))) {
      return fast({inputs, backend, attrs}) as TensorInfo;
    }
    // (per matrix, `fast` passes neither bias nor activation)
    const product = fast({inputs: {a, b}, backend, attrs: {...attrs, activation: 'linear'}}) as TensorInfo;
    let biased = product;
    if (bias != null) {
      biased = run('Add', backend, {a: product, b: bias});
      dispose(backend, product);
    }
    const out = activate(backend, biased, attrs, preluActivationWeights);
    if (out == null) {
      return biased;
    }
    dispose(backend, biased);
    return out;
  };
  return asKernelFunc(f);
}

/** The _FusedMatMul config registered for wasm, built on the stock one. */
export function fusedMatMulConfig(stock: KernelConfig): KernelConfig {
  return {kernelName: _FusedMatMul, backendName: WASM, setupFunc: stock.setupFunc,
          disposeFunc: stock.disposeFunc, kernelFunc: fusedMatMulKernel(stock.kernelFunc)};
}
