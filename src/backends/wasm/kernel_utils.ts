/**
 * Helpers for kernels composed from other wasm kernels: run a registered wasm kernel by name on the
 * backend at hand, and free intermediates. Everything here works on `TensorInfo`s (no tensors, no
 * engine scopes), as a kernel body must.
 */
import * as tf from '@tensorflow/tfjs-core';
import {DataType, KernelBackend, NamedAttrMap, TensorInfo, TypedArray, util} from '@tensorflow/tfjs-core';

/** The backend name the replacements are registered for. */
export const WASM = 'wasm';

/**
 * The initialised wasm backend's emscripten module (typed by the caller), or null; never starts the
 * backend (`tf.findBackend` would).
 */
export function initializedWasmModule<T>(): T|null {
  const registry = tf.engine().registry as {[name: string]: unknown};
  return (registry[WASM] as {wasm?: T}|undefined)?.wasm ?? null;
}

/** Runs the wasm kernel `name` (the one registered now) on `backend`; returns its single output. */
export function run(
    name: string, backend: KernelBackend, inputs: {[name: string]: TensorInfo},
    attrs: NamedAttrMap = {}): TensorInfo {
  const kernel = tf.getKernel(name, WASM);
  util.assert(kernel != null, () => `wasm kernels: the wasm backend has no '${name}' kernel.`);
  return kernel.kernelFunc({inputs, backend, attrs}) as TensorInfo;
}

/** Frees intermediate results (a reshape shares its input's data; the backend counts references). */
export function dispose(backend: KernelBackend, ...infos: Array<TensorInfo|null|undefined>): void {
  for (const t of infos) {
    if (t != null) {
      backend.disposeData(t.dataId);
    }
  }
}

/** `x` with a new shape (same data). */
export function reshape(backend: KernelBackend, x: TensorInfo, shape: number[]): TensorInfo {
  return run('Reshape', backend, {x}, {shape});
}

/** `x` with its axes permuted. */
export function transpose(backend: KernelBackend, x: TensorInfo, perm: number[]): TensorInfo {
  return run('Transpose', backend, {x}, {perm});
}

/** The permutation swapping the last two of `rank` axes. */
export function swapLastTwo(rank: number): number[] {
  const perm = Array.from({length: rank}, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

/** Zero (or `value`) padding of `x` by `paddings` ([before, after] per axis). */
export function pad(backend: KernelBackend, x: TensorInfo, paddings: Array<[number, number]>, value = 0):
    TensorInfo {
  return run('PadV2', backend, {x}, {paddings, constantValue: value});
}

/** The wasm backend's access to its heap (BackendWasm's methods; kernels write their outputs so). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): TypedArray;
}

function heap(backend: KernelBackend): HeapBackend {
  const h = backend as unknown as Partial<HeapBackend>;
  util.assert(typeof h.makeOutput === 'function' && typeof h.typedArrayFromHeap === 'function',
              () => 'wasm kernels: the backend is not tfjs-backend-wasm (no makeOutput / typedArrayFromHeap).');
  return h as HeapBackend;
}

/** A new (uninitialised) tensor of `shape` on the wasm heap, for a kernel to write. */
export function makeOutput(backend: KernelBackend, shape: number[], dtype: DataType): TensorInfo {
  return heap(backend).makeOutput(shape, dtype);
}

/** The heap memory of `t` (a view: writing it writes the tensor). */
export function heapArray(backend: KernelBackend, t: TensorInfo): TypedArray {
  return heap(backend).typedArrayFromHeap(t);
}

/**
 * A float32 tensor of `shape` on the active wasm backend's heap, its values written in place by
 * `fill` (for data made in JavaScript: no intermediate array to allocate and copy).
 */
export function wasmTensorFilledBy(shape: number[], fill: (out: Float32Array) => void): tf.Tensor {
  const backend = tf.backend();
  const out = makeOutput(backend, shape, 'float32');
  try {
    fill(heapArray(backend, out) as Float32Array);
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return tf.engine().makeTensorFromTensorInfo(out);
}

/** A new zero tensor of `shape` on the wasm heap. */
export function zeros(backend: KernelBackend, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  const out = heap(backend).makeOutput(shape, dtype);
  heap(backend).typedArrayFromHeap(out).fill(0);
  return out;
}

/**
 * The window tap (`offY`, `offX`) of a strided sliding window over a padded NHWC image `xPad`: the
 * [b, outH, outW, c] values xPad[:, offY + y·strideY, offX + x·strideX, :] (also: a crop, with
 * strides 1). A gather on the heap: wasm's StridedSlice is a slow per-element loop, and its Slice
 * copies its whole input first.
 */
export function windowTap(
    backend: KernelBackend, xPad: TensorInfo, offY: number, offX: number, outH: number, outW: number,
    strideY: number, strideX: number): TensorInfo {
  const [b, height, width, c] = xPad.shape;
  util.assert(offY + (outH - 1) * strideY < height && offX + (outW - 1) * strideX < width,
              () => `wasm kernels: window tap (${offY}, ${offX}) outside the ${height}×${width} image.`);
  const out = heap(backend).makeOutput([b, outH, outW, c], xPad.dtype);
  // Views after the allocation (it may grow the heap, which detaches older views).
  const src = heap(backend).typedArrayFromHeap(xPad), dst = heap(backend).typedArrayFromHeap(out);
  const run = outW * c, step = strideX * c;
  let o = 0;
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < outH; y++) {
      let i = ((n * height + offY + y * strideY) * width + offX) * c;
      if (strideX === 1) {
        dst.set(src.subarray(i, i + run), o);
        o += run;
        continue;
      }
      for (let x = 0; x < outW; x++, i += step) {
        for (let k = 0; k < c; k++) {
          dst[o++] = src[i + k];
        }
      }
    }
  }
  return out;
}

/**
 * The adjoint of `windowTap`, in place: adds the [b, outH, outW, c] values `v` into `acc` (an NHWC
 * image this kernel owns) at rows offY + y·strideY and columns offX + x·strideX.
 */
export function addTap(
    backend: KernelBackend, acc: TensorInfo, v: TensorInfo, offY: number, offX: number, strideY: number,
    strideX: number): void {
  const [b, height, width, c] = acc.shape;
  const [, outH, outW] = v.shape;
  util.assert(offY + (outH - 1) * strideY < height && offX + (outW - 1) * strideX < width,
              () => `wasm kernels: window tap (${offY}, ${offX}) outside the ${height}×${width} image.`);
  const dst = heap(backend).typedArrayFromHeap(acc), src = heap(backend).typedArrayFromHeap(v);
  const step = strideX * c;
  let o = 0;
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < outH; y++) {
      let i = ((n * height + offY + y * strideY) * width + offX) * c;
      for (let x = 0; x < outW; x++, i += step) {
        for (let k = 0; k < c; k++) {
          dst[i + k] += src[o++];
        }
      }
    }
  }
}

/** `acc + v`, freeing both (either may be null: the other is returned as is). */
export function accumulate(backend: KernelBackend, acc: TensorInfo|null, v: TensorInfo): TensorInfo {
  if (acc == null) {
    return v;
  }
  const sum = run('Add', backend, {a: acc, b: v});
  dispose(backend, acc, v);
  return sum;
}

/** An NHWC copy of an NCHW tensor (or `x` itself for NHWC). */
export function toNHWC(backend: KernelBackend, x: TensorInfo, dataFormat: string): TensorInfo {
  return dataFormat === 'NCHW' ? transpose(backend, x, [0, 2, 3, 1]) : x;
}

/** Geometry of a sliding window over an NHWC image, as the composed conv / pool kernels use it. */
export interface WindowGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  /** Padding before the image (rows, columns). */
  top: number;
  left: number;
  /** Height and width of the padded image: large enough for every window tap. */
  paddedHeight: number;
  paddedWidth: number;
}

/** The window geometry of tfjs's conv / pool info (`backend_util.computeConv2DInfo` etc.). */
export function windowGeometry(info: tf.backend_util.Conv2DInfo): WindowGeometry {
  const need = (out: number, stride: number, filter: number, dilation: number) =>
      (out - 1) * stride + (filter - 1) * dilation + 1;
  const {top, left, bottom, right} = info.padInfo;
  return {
    batch: info.batchSize, inHeight: info.inHeight, inWidth: info.inWidth, channels: info.inChannels,
    outHeight: info.outHeight, outWidth: info.outWidth,
    filterHeight: info.filterHeight, filterWidth: info.filterWidth,
    strideHeight: info.strideHeight, strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight, dilationWidth: info.dilationWidth, top, left,
    paddedHeight: Math.max(info.inHeight + top + bottom,
                           need(info.outHeight, info.strideHeight, info.filterHeight, info.dilationHeight)),
    paddedWidth: Math.max(info.inWidth + left + right,
                          need(info.outWidth, info.strideWidth, info.filterWidth, info.dilationWidth)),
  };
}

/** `x` (NHWC) padded with `value` to the geometry's padded size. */
export function padImage(backend: KernelBackend, x: TensorInfo, g: WindowGeometry, value = 0): TensorInfo {
  if (g.top === 0 && g.left === 0 && g.paddedHeight === g.inHeight && g.paddedWidth === g.inWidth) {
    return reshape(backend, x, x.shape);  // shares x's data
  }
  return pad(backend, x, [[0, 0], [g.top, g.paddedHeight - g.inHeight - g.top],
                          [g.left, g.paddedWidth - g.inWidth - g.left], [0, 0]], value);
}

/** The unpadded [b, inHeight, inWidth, c] part of a padded image (frees `xPad`). */
export function cropImage(backend: KernelBackend, xPad: TensorInfo, g: WindowGeometry): TensorInfo {
  const out = windowTap(backend, xPad, g.top, g.left, g.inHeight, g.inWidth, 1, 1);
  dispose(backend, xPad);
  return out;
}

/** The NN matmul a·b of rank-≥2 operands (batch dimensions broadcast), through wasm's BatchMatMul. */
export function matMul(backend: KernelBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  return run('BatchMatMul', backend, {a, b}, {transposeA: false, transposeB: false});
}

/** Concatenation of `xs` along `axis` (one input: a shared-data reshape). */
export function concat(backend: KernelBackend, xs: TensorInfo[], axis: number): TensorInfo {
  if (xs.length === 1) {
    return reshape(backend, xs[0], xs[0].shape);
  }
  return run('Concat', backend, xs as unknown as {[name: string]: TensorInfo}, {axis});
}

/** Rows [begin, begin + size) of the first axis of `x`. */
export function sliceBatch(backend: KernelBackend, x: TensorInfo, begin: number, size: number): TensorInfo {
  if (begin === 0 && size === x.shape[0]) {
    return reshape(backend, x, x.shape);
  }
  return run('Slice', backend, {x}, {begin: [begin, ...x.shape.slice(1).map(() => 0)], size: [size, ...x.shape.slice(1)]});
}

/**
 * Elements per intermediate a composed kernel allows itself (64 MiB of float32): larger batches are
 * processed in slices of examples, so the wasm heap (at most 4 GiB) is not exhausted by a patch matrix.
 */
export const CHUNK_ELEMENTS = 1 << 24;

/** Examples per slice when each example needs `perExample` elements of intermediates. */
export function examplesPerChunk(perExample: number, batch: number): number {
  return Math.max(1, Math.min(batch, Math.floor(CHUNK_ELEMENTS / Math.max(1, perExample))));
}

/** A kernel function composed here: named TensorInfo inputs on a backend (tfjs types it loosely). */
export type ComposedKernel =
    (args: {inputs: {[name: string]: TensorInfo}, backend: KernelBackend, attrs: NamedAttrMap}) => TensorInfo;

/** `f` as tfjs's KernelFunc type. */
export function asKernelFunc(f: ComposedKernel): tf.KernelFunc {
  return f as unknown as tf.KernelFunc;
}
