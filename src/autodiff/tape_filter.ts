/**
 * A reverse-mode tape that records only what its backward pass can use. tfjs's engine records every
 * kernel run while a tape is active, and keeps the tensors each kernel's gradient needs until the
 * backward pass; it drops the kernels off the paths from the sources to the result only then. A
 * backward pass restricted to a few layers (the exact layers of a forward-gradient step) would keep
 * the activations of everything else, e.g. the statistics of a normalization in front of a local
 * head's weights, though no gradient ever flows through them.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {withTapePaused} from './tracer';

interface KernelEngine {
  runKernelFunc(params: {inputs?: NamedTensorMap}): Tensor|Tensor[];
}

/**
 * Runs `fn` (the function of a backward pass: `tf.grads`, `engine.gradients`) so that only kernels
 * with an input that depends on `sources` are recorded on the tape; the others run with the tape
 * paused and save nothing. The gradients with respect to `sources` are unchanged: a kernel that
 * no source reaches is on no path from them. The engine is restored when `fn` returns or throws.
 */
export function recordingOnlyFrom<T>(sources: readonly Tensor[], fn: () => T): T {
  const e = tf.engine() as unknown as KernelEngine;
  if (Object.prototype.hasOwnProperty.call(e, 'recordingOnlyFrom')) {
    return fn();  // nested: the outer filter already applies
  }
  const reached = new Set(sources.map(t => t.id));
  const own = Object.prototype.hasOwnProperty.call(e, 'runKernelFunc');  // a trace's patch
  const run = e.runKernelFunc;
  const dependsOnSources = (inputs: NamedTensorMap|undefined) => {
    for (const name in inputs) {
      const t = inputs[name];
      if (t != null && reached.has(t.id)) {
        return true;
      }
    }
    return false;
  };
  const patched = function(this: KernelEngine, params: {inputs?: NamedTensorMap}) {
    if (!dependsOnSources(params.inputs)) {
      return withTapePaused(() => run.call(this, params));
    }
    const out = run.call(this, params);
    for (const t of Array.isArray(out) ? out : [out]) {
      reached.add(t.id);
    }
    return out;
  };
  Object.defineProperty(e, 'recordingOnlyFrom', {value: true, configurable: true});
  e.runKernelFunc = patched;
  try {
    return fn();
  } finally {
    if (own) {
      e.runKernelFunc = run;
    } else {
      delete (e as unknown as {runKernelFunc?: unknown}).runKernelFunc;  // back to the prototype's
    }
    delete (e as unknown as {recordingOnlyFrom?: unknown}).recordingOnlyFrom;
  }
}
