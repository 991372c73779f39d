/**
 * A watchdog for runs on wasm threads (`--threads` > 1). tfjs-backend-wasm 4.22's threaded build can
 * deadlock in node: on Dec 7 2026 two M/8/16 runs with two threads stopped for good, the main
 * thread spinning inside the wasm allocator's `free()` (found by pausing it in the inspector), once
 * in a broadcasting Multiply of a step and once in a tidy's end. A spinning main thread runs no
 * JavaScript, so nothing on it can notice; a worker thread watches a counter that training advances
 * (`trainingProgress`), and when it stands still for the timeout it says what happened and how to
 * continue, and kills the process (its run folder's lock is then stale, and `--resume` removes it).
 */
import {Worker} from 'worker_threads';

/** Minutes without training progress after which a run on wasm threads is stopped. */
export const STALL_MINUTES = 10;

/** The worker's body: checks the progress counter; on a stall writes `message` to stderr and kills the process. */
const WATCHER = `
const {workerData} = require('worker_threads');
const fs = require('fs');
const progress = new Int32Array(workerData.progress);
let seen = Atomics.load(progress, 0), since = Date.now();
setInterval(() => {
  const now = Atomics.load(progress, 0);
  if (now !== seen) {
    seen = now;
    since = Date.now();
  } else if (Date.now() - since >= workerData.timeoutMs) {
    fs.writeSync(2, workerData.message);
    process.kill(process.pid, 'SIGKILL');
  }
}, workerData.checkMs);
`;

let progress: Int32Array|null = null;
let watcher: Worker|null = null;

/**
 * Starts watching (or restarts the clock of the watcher running): if `trainingProgress` is not
 * called for `timeoutMs`, `message` goes to stderr and the process is killed (exit by SIGKILL).
 * The watcher does not keep node alive.
 */
export function startStallWatchdog(timeoutMs: number, message: string): void {
  stopStallWatchdog();
  progress = new Int32Array(new SharedArrayBuffer(4));
  watcher = new Worker(WATCHER, {
    eval: true,
    workerData: {progress: progress.buffer, timeoutMs, message, checkMs: Math.max(10, Math.min(1000, timeoutMs / 4))},
  });
  watcher.unref();
}

/** Tells the watchdog that training advanced (a step, an evaluation batch); a no-op when none runs. */
export function trainingProgress(): void {
  if (progress != null) {
    Atomics.add(progress, 0, 1);
  }
}

/** Stops the watchdog (if one runs). */
export function stopStallWatchdog(): void {
  void watcher?.terminate();
  watcher = null;
  progress = null;
}

/** The message of a stall with `threads` wasm threads. */
export function stallMessage(threads: number): string {
  return `\ntfjs-fg: no training progress for ${STALL_MINUTES} minutes with ${threads} wasm threads: the ` +
      `threaded wasm backend has most likely deadlocked (tfjs-backend-wasm 4.22 in node can hang in its ` +
      `allocator, the main thread spinning in free()). The process is stopped. Continue from the last ` +
      `finished epoch with the same command and --resume, and --threads 1 (see the README, "Threads").\n`;
}
