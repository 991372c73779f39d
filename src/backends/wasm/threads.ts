/**
 * Multithreaded wasm in node (opt-in, experimental). tfjs-backend-wasm 4.22 ships an XNNPACK build
 * with a thread pool but never uses it in node: it reports no thread support there (tfjs issue
 * 3830), its pthread workers are made from Blob URLs (which node's worker_threads cannot load), and
 * it caps the pool at half the logical cores. `enableWasmThreads(n)` works around the three while
 * the wasm backend initialises: Blob scripts are written to temp files (removed at exit), the
 * module's `require`d node builtins are defined for the worker scripts, and the core count it sees
 * is raised to 2n. Every patch is undone once the backend is up. The workers are unref'd, so they
 * do not keep node alive. If anything fails it warns and falls back to one thread.
 *
 * In browsers nothing is patched: threads need cross-origin isolation (COOP/COEP headers); tfjs
 * then uses up to half the logical cores.
 */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../../errors';
import {initializedWasmModule, WASM} from './kernel_utils';

/** The wasm thread pool size (emscripten allocates 8 workers up front; more cannot be shimmed). */
export const MAX_WASM_THREADS = 8;

interface NodeFs {
  mkdtempSync(prefix: string): string;
  writeFileSync(file: string, data: string): void;
  rmSync(path: string, options: {recursive: boolean, force: boolean}): void;
}
interface NodeOs {
  tmpdir(): string;
  cpus(): unknown[];
}
interface NodePath {
  join(...parts: string[]): string;
}
interface NodeProcess {
  versions?: {node?: string};
  getBuiltinModule?: (name: string) => unknown;
  once(event: 'exit', listener: () => void): void;
}
interface WorkerLike {
  unref(): void;
}
interface WasmModuleLike {
  tfjs: {getThreadsCount(): number};
  PThread?: {runningWorkers: WorkerLike[], unusedWorkers: WorkerLike[]};
}

/**
 * The node builtins the bundle of tfjs-backend-wasm 4.22 (dist/tf-backend-wasm.node.js) passes to
 * its emscripten module under these names; the worker scripts refer to them.
 */
const WORKER_PRELUDE = `var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),` +
    `require$$4=require('os'),commonjsGlobal=globalThis;\n`;

function nodeProcess(): NodeProcess|null {
  const p = (globalThis as unknown as {process?: NodeProcess}).process;
  return p?.versions?.node != null ? p : null;
}

/** The wasm backend's emscripten module (once initialised). */
function wasmModule(): WasmModuleLike|null {
  return initializedWasmModule<WasmModuleLike>();
}

/** The wasm backend's XNNPACK thread count (1 when single-threaded), or 0 if it is not running. */
export function wasmThreadsCount(): number {
  return wasmModule()?.tfjs.getThreadsCount() ?? 0;
}

function warn(message: string): void {
  console.warn(`enableWasmThreads: ${message}`);
}

/**
 * Initialises the wasm backend with `threads` XNNPACK threads and makes it the active backend;
 * resolves to the thread count in effect (check it: 1 means the fallback). Must be called before
 * the wasm backend initialises (before `tf.setBackend('wasm')` or `tf.ready()` with wasm), after
 * importing `@tensorflow/tfjs-backend-wasm`. In node it applies the shim described in the module
 * doc, needs node ≥ 20.16 (`process.getBuiltinModule`) and the node bundle of tfjs-backend-wasm
 * 4.22; threads help large matmuls / convs (1024³ matmul ~1.7× with 2 threads) and can slow small
 * ops. In browsers it only initialises wasm: threads come from cross-origin isolation there.
 * Never throws for an environment that cannot have threads: it warns and continues single-threaded.
 */
export async function enableWasmThreads(threads: number): Promise<number> {
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= MAX_WASM_THREADS)) {
    throw new ValueError(`enableWasmThreads: threads must be an integer from 1 to ${MAX_WASM_THREADS}. ` +
                         `Received: ${threads}.`);
  }
  if (tf.findBackendFactory(WASM) == null) {
    warn(`the wasm backend is not registered: import '@tensorflow/tfjs-backend-wasm' first. ` +
         `Nothing was changed.`);
    return 0;
  }
  if (wasmModule() != null) {
    const n = wasmThreadsCount();
    if (n !== threads) {
      warn(`the wasm backend is already initialised (with ${n} thread(s)); call enableWasmThreads ` +
           `before tf.setBackend('wasm') / tf.ready(). Continuing with ${n}.`);
    }
    await tf.setBackend(WASM);
    return n;
  }
  const proc = nodeProcess();
  if (proc == null || threads === 1) {
    await setWasm();
    const n = wasmThreadsCount();
    if (proc == null && n < threads) {
      warn(`the browser gave wasm ${n} thread(s): serve the page cross-origin isolated ` +
           `(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp); ` +
           `tfjs then uses up to half the logical cores.`);
    }
    return n;
  }
  if (proc.getBuiltinModule == null) {
    warn(`needs node >= 20.16 (process.getBuiltinModule); continuing single-threaded.`);
    await setWasm();
    return wasmThreadsCount();
  }
  const restore = applyNodeShim(proc, threads);
  let ok = false;
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    ok = await tf.setBackend(WASM);
  } catch (e) {
    warn(`the threaded wasm module failed to start (${(e as Error).message}).`);
  } finally {
    restore();
  }
  if (!ok) {
    warn(`continuing single-threaded.`);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await setWasm();
    return wasmThreadsCount();
  }
  const module = wasmModule();
  for (const w of [...module?.PThread?.runningWorkers ?? [], ...module?.PThread?.unusedWorkers ?? []]) {
    w.unref();  // idle pool threads must not keep node alive
  }
  const n = wasmThreadsCount();
  if (n < threads) {
    warn(`got ${n} thread(s) instead of ${threads}; continuing with ${n}.`);
  }
  return n;
}

async function setWasm(): Promise<void> {
  if (!await tf.setBackend(WASM)) {
    throw new ValueError(`enableWasmThreads: the wasm backend failed to start (see the warning above).`);
  }
}

/**
 * Patches node's globals for the threaded wasm module's start-up; returns the function that undoes
 * every patch (the temp files stay until exit: workers started later would read them).
 */
function applyNodeShim(proc: NodeProcess, threads: number): () => void {
  const fs = proc.getBuiltinModule!('fs') as NodeFs;
  const os = proc.getBuiltinModule!('os') as NodeOs;
  const path = proc.getBuiltinModule!('path') as NodePath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-fg-wasm-'));
  proc.once('exit', () => {
    try {
      fs.rmSync(dir, {recursive: true, force: true});
    } catch {
      // best effort
    }
  });
  const files = new Map<string, string>();  // script text → file
  const toFile = (text: string) => {
    let file = files.get(text);
    if (file == null) {
      file = path.join(dir, `script${files.size}.js`);
      fs.writeFileSync(file, WORKER_PRELUDE + text);
      files.set(text, file);
    }
    return file;
  };
  const TEXT = Symbol('text');
  type Texted = {[TEXT]?: string};
  const g = globalThis as unknown as {Blob: typeof Blob};
  const OriginalBlob = g.Blob;
  // A Blob that remembers its text: the module builds its worker scripts as Blobs.
  class TextBlob extends OriginalBlob {
    constructor(parts: BlobPart[] = [], options?: BlobPropertyBag) {
      super(parts, options);
      (this as Texted)[TEXT] = parts.map(String).join('');
    }
  }
  const originalCreate = URL.createObjectURL, originalRevoke = URL.revokeObjectURL;
  const originalCpus = os.cpus;
  g.Blob = TextBlob as typeof Blob;
  URL.createObjectURL = (obj: Blob|MediaSource) =>
      (obj as Texted)[TEXT] != null ? toFile((obj as Texted)[TEXT]!) : originalCreate(obj);
  URL.revokeObjectURL = (url: string) => {
    if (!url.startsWith(dir)) {
      originalRevoke(url);
    }
  };
  // The main script reaches the workers as Module.mainScriptUrlOrBlob: turn it into a file name.
  const KEY = 'mainScriptUrlOrBlob';
  Object.defineProperty(Object.prototype, KEY, {
    configurable: true,
    set(this: object, v: unknown) {
      const text = (v as Texted|null)?.[TEXT];
      Object.defineProperty(this, KEY, {value: text != null ? toFile(text) : v, writable: true, enumerable: true,
                                         configurable: true});
    },
    get() {
      return undefined;
    },
  });
  // tfjs caps the pool at half the logical cores it sees.
  const cores = originalCpus.call(os);
  os.cpus = () => Array.from({length: Math.max(cores.length, 2 * threads)}, (_, i) => cores[i % cores.length]);
  return () => {
    g.Blob = OriginalBlob;
    URL.createObjectURL = originalCreate;
    URL.revokeObjectURL = originalRevoke;
    os.cpus = originalCpus;
    delete (Object.prototype as {[KEY]?: unknown})[KEY];
  };
}
