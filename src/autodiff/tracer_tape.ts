/** Engine access for the gradient-derived fallback (kept apart from the tracer to avoid a cycle). */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `fn` with tape recording allowed even inside a customGrad op (kernelDepth > 0), as the
 * gradient-derived fallback rule needs `tf.grad` to work there.
 */
export function withTapeAllowed<T>(fn: () => T): T {
  const state = (tf.engine() as unknown as {state: {kernelDepth: number}}).state;
  const depth = state.kernelDepth;
  state.kernelDepth = 0;
  try {
    return fn();
  } finally {
    state.kernelDepth = depth;
  }
}
