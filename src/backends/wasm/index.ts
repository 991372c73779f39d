/**
 * Faster and missing wasm kernels, installed into tfjs's kernel registry with one call.
 *
 * tfjs-backend-wasm 4.22 runs transposed matmuls 10–20× slower than plain ones, has no kernels for
 * the conv / depthwise-conv weight gradients (so conv layers cannot train on it) and gives wrong
 * MaxPoolGrad for some shapes. `installWasmKernels()` registers, for the 'wasm' backend:
 *
 * - `BatchMatMul`, `_FusedMatMul`: transposes done as Transpose + the plain matmul (replaced);
 * - `Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`,
 *   `DepthwiseConv2dNativeBackpropFilter`: composed from wasm kernels (added);
 * - `MaxPoolGrad`: composed from wasm kernels, with the cpu backend's semantics (replaced);
 * - `Conv2DBackpropInput`: per-tap XNNPACK matmuls, ~4× faster than the stock kernel (replaced);
 * - `Tile`: block copies, what `tf.where` / `tf.broadcastTo` of a scalar run (~25 ms for a
 *   [784, 512] output with the stock kernel) (replaced);
 * - `Identity`: shares the input's buffer instead of copying it, as cpu does (replaced);
 * - `Slice`: copied from the input's heap memory; the stock kernel first copies its whole input to
 *   JavaScript (all 188 MB of MNIST's training images for each batch `model.fit` slices) (replaced);
 * - `GatherV2`: one block copy per gathered slice; the stock kernel computes every element's position
 *   (~3 ms for the 128 images of a batch `model.fit` gathers from MNIST's training images) (replaced);
 * - `Transpose`: swaps of two axes (after merging the axes that stay together) copied in tiles; the
 *   stock kernel writes element by element across the whole output, 20–35 ns an element for a
 *   [8192, 512] matrix (replaced; other permutations: the stock kernel);
 * - `Sum`, `Mean` over a block of axes followed by kept axes (bias gradients, a LayerNorm over the
 *   channels of a [N, D, P] layout): summed row by row; the stock kernels transpose first, with
 *   their slow Transpose (replaced; other reductions: the stock kernels).
 *
 * It also guards the backend's tensor allocations (`guardWasmHeap`): where the 4 GB heap is full,
 * tfjs-backend-wasm would write a new tensor over its own memory; guarded, it throws a clear error.
 *
 * Each changes results by float rounding at most (Tile, Identity, Slice, GatherV2, Transpose: none). Installing is idempotent and harmless when the
 * wasm backend is not loaded (nothing is installed then); `uninstallWasmKernels()` restores the
 * stock kernels. The forward-gradient optimizer installs them itself when it first steps on wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import {KernelConfig} from '@tensorflow/tfjs-core';

import {batchMatMulConfig, fusedMatMulConfig} from './batch_mat_mul';
import {conv2DBackpropFilterConfig} from './conv2d_backprop_filter';
import {conv2DBackpropInputConfig} from './conv2d_backprop_input';
import {depthwiseConv2DBackpropFilterConfig} from './depthwise_conv2d_backprop_filter';
import {depthwiseConv2DBackpropInputConfig} from './depthwise_conv2d_backprop_input';
import {WASM} from './kernel_utils';
import {gatherV2Config} from './gather';
import {guardWasmHeap, unguardWasmHeap} from './heap_guard';
import {identityConfig} from './identity';
import {maxPoolGradConfig} from './max_pool_grad';
import {meanConfig, sumConfig} from './reduce';
import {sliceConfig} from './slice';
import {tileConfig} from './tile';
import {transposeConfig} from './transpose';

/** Marks kernel functions registered here (recognised across copies of this package). */
const MARK = Symbol.for('tfjs-forward-gradient.wasmKernel');

/** One replacement: its kernel name and how to build it from the stock config (undefined if none). */
interface Replacement {
  kernelName: string;
  make: (stock: KernelConfig|undefined) => KernelConfig | null;
}

const REPLACEMENTS: Replacement[] = [
  {kernelName: 'BatchMatMul', make: s => s == null ? null : batchMatMulConfig(s)},
  {kernelName: '_FusedMatMul', make: s => s == null ? null : fusedMatMulConfig(s)},
  {kernelName: 'Conv2DBackpropFilter', make: () => conv2DBackpropFilterConfig},
  {kernelName: 'Conv2DBackpropInput', make: () => conv2DBackpropInputConfig},
  {kernelName: 'DepthwiseConv2dNativeBackpropInput', make: () => depthwiseConv2DBackpropInputConfig},
  {kernelName: 'DepthwiseConv2dNativeBackpropFilter', make: () => depthwiseConv2DBackpropFilterConfig},
  {kernelName: 'MaxPoolGrad', make: () => maxPoolGradConfig},
  {kernelName: 'Tile', make: () => tileConfig},
  {kernelName: 'Identity', make: s => identityConfig(s)},
  {kernelName: 'Slice', make: s => sliceConfig(s)},
  {kernelName: 'GatherV2', make: () => gatherV2Config},
  {kernelName: 'Transpose', make: s => transposeConfig(s)},
  {kernelName: 'Sum', make: s => sumConfig(s)},
  {kernelName: 'Mean', make: s => meanConfig(s)},
];

/** The kernels this module registers for wasm (replaced or added). */
export const WASM_KERNEL_NAMES: readonly string[] = REPLACEMENTS.map(r => r.kernelName);

/** The stock configs (undefined: the kernel did not exist) of the kernels installed by this copy. */
const originals = new Map<string, KernelConfig|undefined>();

function isOurs(config: KernelConfig|undefined): boolean {
  return config != null && (config.kernelFunc as unknown as {[MARK]?: boolean})[MARK] === true;
}

/** Whether the wasm backend's kernels are registered (tfjs-backend-wasm was imported). */
function wasmKernelsRegistered(): boolean {
  return tf.getKernel('Transpose', WASM) != null;
}

/**
 * Registers the faster / missing wasm kernels (see the module doc) and returns the names of the
 * kernels registered now (empty when they already were, or when tfjs-backend-wasm is not loaded).
 * Idempotent; works before or after the wasm backend is initialised, active or not.
 */
export function installWasmKernels(): string[] {
  if (!wasmKernelsRegistered()) {
    return [];
  }
  const done: string[] = [];
  for (const r of REPLACEMENTS) {
    const current = tf.getKernel(r.kernelName, WASM);
    if (isOurs(current)) {
      continue;
    }
    const config = r.make(current);
    if (config == null) {
      continue;
    }
    const kernelFunc = config.kernelFunc;
    const marked: KernelConfig['kernelFunc'] = (args) => kernelFunc(args);
    (marked as unknown as {[MARK]: boolean})[MARK] = true;
    if (current != null) {
      tf.unregisterKernel(r.kernelName, WASM);
    }
    // The stock kernel's setup binds its C function when the backend initialises; keep it, so that
    // the stock kernel still works when `uninstallWasmKernels` restores it after that.
    tf.registerKernel({...config, kernelFunc: marked, setupFunc: config.setupFunc ?? current?.setupFunc,
                       disposeFunc: config.disposeFunc ?? current?.disposeFunc});
    originals.set(r.kernelName, current);
    done.push(r.kernelName);
  }
  guardWasmHeap();
  return done;
}

/** Restores the stock wasm kernels replaced by `installWasmKernels` (and removes the added ones). */
export function uninstallWasmKernels(): void {
  for (const [name, original] of originals) {
    if (isOurs(tf.getKernel(name, WASM))) {
      tf.unregisterKernel(name, WASM);
      if (original != null) {
        tf.registerKernel(original);
      }
    }
  }
  originals.clear();
  unguardWasmHeap();
}

/** Whether all of this module's kernels are registered for wasm now. */
export function wasmKernelsInstalled(): boolean {
  return WASM_KERNEL_NAMES.every(name => isOurs(tf.getKernel(name, WASM)));
}

/**
 * Installs the kernels when the active backend is wasm and they are not yet there: what the
 * optimizer calls before each step (a cheap check after the first time).
 */
export function ensureWasmKernels(): void {
  if (tf.getBackend() === WASM) {
    if (!isOurs(tf.getKernel('BatchMatMul', WASM))) {
      installWasmKernels();
    }
    guardWasmHeap();
  }
}
