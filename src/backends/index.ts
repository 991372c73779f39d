/**
 * Backend helpers. For the wasm backend: faster and missing kernels (`installWasmKernels`) and
 * opt-in XNNPACK threads in node (`enableWasmThreads`). See README, "Fast CPU training (wasm)".
 */
export {ensureWasmKernels, installWasmKernels, uninstallWasmKernels, WASM_KERNEL_NAMES, wasmKernelsInstalled} from './wasm';
export {guardWasmHeap, unguardWasmHeap, wasmHeapGuarded} from './wasm/heap_guard';
export {enableWasmThreads, MAX_WASM_THREADS, wasmThreadsCount} from './wasm/threads';
