/**
 * A guard on the wasm backend's tensor allocations. tfjs-backend-wasm 4.22 does not check what
 * `malloc` returns: when its 4 GB heap cannot hold a new tensor, malloc returns 0 and the tensor is
 * written at address 0, over the module's own memory. The next kernel then traps ("memory access
 * out of bounds"), or computes on corrupted memory. That is how a `tfjs-fg reproduce` grid lost its
 * second run on Dec 7 2026: the first run had left the heap too fragmented for the next epoch's 614
 * MB of CIFAR-10 images. Guarded, such an allocation throws a clear error before anything is
 * written, and the tensors already there stay intact.
 */
import {initializedWasmModule} from './kernel_utils';

/** The emscripten module's allocator, as tfjs-backend-wasm calls it (`this.wasm._malloc`). */
interface WasmAllocator {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
}

/** Marks a guarded `_malloc`, and keeps the one it wraps. */
const ORIGINAL = Symbol.for('tfjs-forward-gradient.unguardedMalloc');

type GuardedMalloc = ((bytes: number) => number) & {[ORIGINAL]?: (bytes: number) => number};

/** The error of an allocation the wasm heap cannot hold. */
export function heapFullError(bytes: number, heapBytes: number): Error {
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  return new Error(
      `wasm heap full: cannot allocate ${mb(bytes)} MB for a tensor (the heap has grown to ${mb(heapBytes)} MB of ` +
      `its 4096 MB limit, and holds no free block that large). tfjs-backend-wasm would have written the tensor over ` +
      `its own memory; nothing was written. Free tensors, use smaller batches or fewer examples at once, run each ` +
      `training in a fresh process, or use the webgpu backend.`);
}

/** `malloc` that throws `heapFullError` where it would return 0 for a non-empty allocation. */
export function guardedMalloc(malloc: (bytes: number) => number, heapBytes: () => number): (bytes: number) => number {
  const guarded: GuardedMalloc = (bytes: number) => {
    const pointer = malloc(bytes);
    if (pointer === 0 && bytes > 0) {
      throw heapFullError(bytes, heapBytes());
    }
    return pointer;
  };
  guarded[ORIGINAL] = malloc;
  return guarded;
}

/** The initialised wasm backend's module, or null (never starts the backend). */
function wasmModule(): WasmAllocator|null {
  const module = initializedWasmModule<WasmAllocator>();
  return module != null && typeof module._malloc === 'function' ? module : null;
}

/**
 * Guards the wasm backend's tensor allocations (see the module doc). Idempotent; returns false
 * when the wasm backend is not initialised (nothing to guard yet).
 */
export function guardWasmHeap(): boolean {
  const module = wasmModule();
  if (module == null) {
    return false;
  }
  if ((module._malloc as GuardedMalloc)[ORIGINAL] != null) {
    return true;
  }
  // emscripten's first `_malloc` call replaces the property with the raw export: make it now, so
  // that the guard is not replaced later
  module._free(module._malloc(8));
  module._malloc = guardedMalloc(module._malloc.bind(module), () => module.HEAPU8.length);
  return true;
}

/** Removes the guard (restores the backend's own `_malloc`). */
export function unguardWasmHeap(): void {
  const module = wasmModule();
  const original = module == null ? undefined : (module._malloc as GuardedMalloc)[ORIGINAL];
  if (module != null && original != null) {
    module._malloc = original;
  }
}

/** Whether the wasm backend's allocations are guarded now. */
export function wasmHeapGuarded(): boolean {
  const module = wasmModule();
  return module != null && (module._malloc as GuardedMalloc)[ORIGINAL] != null;
}
