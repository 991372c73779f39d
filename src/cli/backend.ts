/// <reference types="node" />
/**
 * Backends of the `tfjs-fg` command line (node): cpu, wasm and webgpu. Each backend package is
 * required only when asked for, so a missing optional one gives a clear message. webgpu runs in
 * node through the npm package `webgpu` (Dawn), as `scripts/node-webgpu.js` does for the tests.
 * On wasm the CLI always installs the package's wasm kernels (fast transposed matmuls, conv weight
 * gradients) and, with `--threads N`, enables N XNNPACK threads (`fg.backends.enableWasmThreads`).
 */
import * as tf from '@tensorflow/tfjs-core';

import {enableWasmThreads, guardWasmHeap, installWasmKernels, MAX_WASM_THREADS} from '../backends';
import {oneOf} from './one_of';
import {UsageError} from './progress';

/** The backends the CLI can use. */
export const CLI_BACKENDS = ['cpu', 'wasm', 'webgpu'] as const;
/** One of `CLI_BACKENDS`. */
export type CliBackend = typeof CLI_BACKENDS[number];

/**
 * The default --backend: wasm (the fastest on CPUs) when @tensorflow/tfjs-backend-wasm is installed,
 * else cpu when @tensorflow/tfjs-backend-cpu is (as with @tensorflow/tfjs), else wasm (whose missing
 * package the error then names). The wasm backend is not a dependency of this package: its exact
 * peer dependency on tfjs-core would pull a second tfjs-core into projects on another tfjs 4.x.
 */
export function defaultBackend(): CliBackend {
  return isInstalled(PACKAGES.wasm) || !isInstalled(PACKAGES.cpu) ? 'wasm' : 'cpu';
}

/** Whether the npm package `name` can be loaded from here. */
function isInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Checks a --backend value (a UsageError naming the choices if unknown). */
export function checkBackend(name: string): CliBackend {
  return oneOf(name, CLI_BACKENDS, 'backend');
}

const PACKAGES: {[b in CliBackend]: string} = {
  cpu: '@tensorflow/tfjs-backend-cpu',
  wasm: '@tensorflow/tfjs-backend-wasm',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
};

function requireBackendPackage(name: CliBackend): void {
  try {
    // tslint:disable-next-line:no-require-imports
    require(PACKAGES[name]);
  } catch (e) {
    if ((e as {code?: string}).code === 'MODULE_NOT_FOUND') {
      // the backend's version must be the installed tfjs-core's (its peer dependency is exact)
      throw new UsageError(`backend '${name}' needs the npm package ${PACKAGES[name]} ` +
                           `(npm install ${PACKAGES[name]}@${tf.version_core}).`);
    }
    throw e;
  }
}

// A real dynamic import() (the npm package `webgpu` is an ES module), kept as is by tsc and rollup.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

/** Defines navigator.gpu from the npm package `webgpu`, then loads tfjs-backend-webgpu. */
async function setUpNodeWebGPU(): Promise<string> {
  if (tf.findBackendFactory('webgpu') != null) {
    return 'webgpu (already registered)';
  }
  let webgpu: {create: (flags: string[]) => GpuLike, globals: object};
  try {
    webgpu = await importEsm('webgpu') as typeof webgpu;
  } catch (e) {
    throw new UsageError(`backend 'webgpu' in node needs the npm package webgpu (npm install webgpu@0.6.2): ` +
                         `${(e as Error).message}`);
  }
  Object.assign(globalThis, webgpu.globals);
  const flags = process.env.DAWN_BACKEND ? [`backend=${process.env.DAWN_BACKEND}`] : [];
  const gpu = webgpu.create(flags);
  if (process.env.DAWN_BACKEND === 'opengles' || process.env.DAWN_BACKEND === 'opengl') {
    const request = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = (o = {}) => request({...o, featureLevel: 'compatibility'});
  }
  Object.defineProperty(globalThis, 'navigator', {value: {gpu, userAgent: 'node'}, configurable: true, writable: true});
  const adapter = await gpu.requestAdapter();
  if (adapter == null) {
    throw new UsageError('backend webgpu: no GPU adapter found (is a Vulkan loader installed? On a machine ' +
                         'without a GPU try DAWN_BACKEND=opengles EGL_PLATFORM=surfaceless).');
  }
  requireBackendPackage('webgpu');
  const info = adapter.info;
  return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'adapter';
}

interface GpuLike {
  requestAdapter: (o?: object) => Promise<{info?: {vendor: string, architecture: string, description: string}}|null>;
}

let wasmThreads = 1;

/** Sets the XNNPACK threads `setUpBackend` asks for on wasm (`--threads`; 1: single-threaded). */
export function setWasmThreads(n: number): void {
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_WASM_THREADS)) {
    throw new UsageError(`--threads must be an integer from 1 to ${MAX_WASM_THREADS}. Received: ${n}.`);
  }
  wasmThreads = n;
}

/**
 * Registers and selects a backend; returns a one-line description (e.g. the GPU adapter). Throws a
 * UsageError when its package is missing or it cannot start.
 */
export async function setUpBackend(name: string): Promise<string> {
  const backend = checkBackend(name);
  let detail = '';
  if (wasmThreads > 1 && backend !== 'wasm') {
    throw new UsageError(`--threads applies to the wasm backend only (got --backend ${backend}).`);
  }
  if (backend === 'webgpu') {
    detail = await setUpNodeWebGPU();
  } else if (tf.findBackendFactory(backend) == null) {
    requireBackendPackage(backend);
  }
  if (backend === 'cpu' && !isInstalled(PACKAGES.wasm)) {
    // The default when wasm is missing: say what the plain-JavaScript backend costs and the fix.
    detail = `plain JavaScript, matrix products ~40x slower than wasm; faster: npm install ${PACKAGES.wasm}@${tf.version_core}`;
  }
  if (backend === 'wasm') {
    installWasmKernels();
    if (wasmThreads > 1) {
      // Starts wasm with the thread pool (or warns and falls back to one thread).
      detail = `${await enableWasmThreads(wasmThreads)} threads`;
    }
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
  } catch (e) {
    throw new UsageError(`backend '${backend}' failed to start: ${(e as Error).message}`);
  }
  if (!ok) {
    throw new UsageError(`backend '${backend}' failed to start (tf.setBackend returned false).`);
  }
  await tf.ready();
  if (backend === 'wasm') {
    guardWasmHeap();  // a full heap throws instead of corrupting the module's memory
  }
  return detail ? `${backend} (${detail})` : backend;
}

/**
 * `e` with a hint when it is the wasm module's abort (`Aborted()`, emscripten's message, which says
 * nothing of the cause): on wasm that is nearly always its 4 GB heap running out in the middle of a
 * step. Other errors are returned as they are.
 */
export function explainBackendFailure(e: unknown, backend: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (backend !== 'wasm' || !/^Aborted\(/.test(message)) {
    return e;
  }
  return new Error(
      `the wasm backend aborted (${message.split('.')[0]}): its heap (at most 4 GB, which holds the ` +
      `epoch's images too) is most likely full. Use a smaller --batch or fewer --limit-train examples, ` +
      `or --backend webgpu.`);
}
