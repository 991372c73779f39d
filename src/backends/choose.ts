/**
 * `choose(ok, a, b)`: `a` where the bool scalar `ok` is true, else `b`, the whole tensor bit for bit:
 * `tf.where` with a scalar condition, without its elementwise work. The optimizer's non-finite guard
 * makes this choice for every weight and every slot of the inner optimizer's state, every step (new
 * value or the one before the step): as broadcast selects that was ~10 % of a LocalMixer M/1/16
 * step on wasm.
 *
 * On the CPU backends (cpu, wasm) a kernel runs synchronously and may read its inputs, so the
 * `FgChoose` kernel registered for them hands out the chosen input's buffer under a new reference
 * (no copy; tfjs never writes a buffer after it is made). Elsewhere (webgl, webgpu, tfjs-node) the op
 * is `tf.where`: no kernel there reads data back to the host.
 */
import * as tf from '@tensorflow/tfjs-core';
import {KernelConfig, KernelFunc, Tensor, TensorInfo, util} from '@tensorflow/tfjs-core';

/** The kernel's name in tfjs's registry. */
export const CHOOSE = 'FgChoose';

/** The backends whose kernels run synchronously on data in JavaScript-reachable memory. */
const SYNC_BACKENDS = ['cpu', 'wasm'];

/** What the kernel needs of MathBackendCPU and BackendWasm (both have these methods). */
interface SyncBackend {
  readSync(dataId: object): ArrayLike<number>;
  incRef(dataId: object): void;
}

const chooseKernel = (({inputs, backend}: {inputs: {[name: string]: TensorInfo}, backend: unknown}) => {
  const {condition, a, b} = inputs;
  const sync = backend as unknown as SyncBackend;
  const chosen = sync.readSync(condition.dataId)[0] ? a : b;
  sync.incRef(chosen.dataId);
  return {dataId: chosen.dataId, shape: chosen.shape, dtype: chosen.dtype};
}) as unknown as KernelFunc;

for (const backendName of SYNC_BACKENDS) {
  // Another copy of this package may have registered it already: the same kernel.
  if (tf.getKernel(CHOOSE, backendName) == null) {
    tf.registerKernel({kernelName: CHOOSE, backendName, kernelFunc: chooseKernel} as KernelConfig);
  }
}

/**
 * `a` if `ok` (a bool scalar) is true, else `b` (same shape and dtype as `a`): a new tensor holding
 * exactly the chosen one's values, NaN included. No host read on asynchronous (GPU) backends.
 */
export function choose<T extends Tensor>(ok: Tensor, a: T, b: T): T {
  util.assert(ok.dtype === 'bool' && ok.rank === 0,
              () => `choose: the condition must be a bool scalar. Received: ${ok.dtype} of shape [${ok.shape}].`);
  util.assert(util.arraysEqual(a.shape, b.shape) && a.dtype === b.dtype,
              () => `choose: both choices must have one shape and dtype. Received: ${a.dtype} [${a.shape}] ` +
                  `and ${b.dtype} [${b.shape}].`);
  if (tf.getKernel(CHOOSE, tf.getBackend()) == null) {
    return tf.where(ok, a, b);
  }
  return tf.engine().runKernel(CHOOSE, {condition: ok, a, b}) as T;
}
