/**
 * BatchMatMul and _FusedMatMul on wasm with transposed operands done as an explicit Transpose
 * followed by the plain (NN) matmul. tfjs-backend-wasm 4.22 runs `transposeA` / `transposeB`
 * through a path that is 10–20× slower than NN (1–2 vs ~20 GFLOP/s at 1024³), and every Dense
 * backward pass uses it. A transpose is one pass over the operand, so this is never slower beyond
 * noise; results agree with the stock kernel to float rounding. _FusedMatMul also gets its bias
 * right on batched inputs (see fusedMatMulKernel).
 */
import {BatchMatMul, KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo, _FusedMatMul} from '@tensorflow/tfjs-core';

import {asKernelFunc, ComposedKernel, dispose, run, swapLastTwo, transpose, WASM} from './kernel_utils';

/**
 * The kernel function that untransposes `a` / `b` and calls `stock` (wasm's own BatchMatMul or
 * _FusedMatMul kernel function) with transposeA = transposeB = false. Other inputs (bias, PReLU
 * weights) and attributes (activation) pass through.
 */
export function withoutTransposes(stock: KernelFunc): KernelFunc {
  const f: ComposedKernel = ({inputs, backend, attrs}) => {
    const {transposeA, transposeB} = attrs as {transposeA?: boolean, transposeB?: boolean};
    if (!transposeA && !transposeB) {
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
 * the stock kernel adds the bias to the first matrix only (tfjs-backend-wasm 4.22), so that case
 * runs as matmul, then Add and the activation kernel.
 */
export function fusedMatMulKernel(stock: KernelFunc): KernelFunc {
  const fast = withoutTransposes(stock);
  const f: ComposedKernel = ({inputs, backend, attrs}) => {
    const {a, b, bias, preluActivationWeights} = inputs;
    const batch = Math.max(a.shape.slice(0, -2).reduce((p, d) => p * d, 1),
                           b.shape.slice(0, -2).reduce((p, d) => p * d, 1));
    if (bias == null || batch === 1 || bias.shape.length !== 1) {
      return fast({inputs, backend, attrs}) as TensorInfo;
    }
    const product = fast({inputs: {a, b}, backend, attrs: {...attrs, activation: 'linear'}}) as TensorInfo;
    const biased = run('Add', backend, {a: product, b: bias});
    dispose(backend, product);
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
