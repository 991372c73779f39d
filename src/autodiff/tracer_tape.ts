/** Engine access for JVPs derived from gradients (kept apart from the tracer to avoid a cycle). */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

interface TapeState {
  kernelDepth: number;
  gradientDepth: number;
  activeTape: Array<{saved?: Tensor[]}>|null;
}

interface TapeEngine {
  state: TapeState;
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: (tensors: Tensor[]) => void) => Tensor,
    backwardsFunc: (dy: Tensor, saved: Tensor[]) => {[inputName: string]: () => Tensor},
    inputs: {[inputName: string]: Tensor},
  }): Tensor;
  gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean):
      {value: Tensor, grads: Array<Tensor|undefined>};
}

/**
 * The gradient of the scalar `f()` with respect to `x` (`null` when `f` does not depend on `x`),
 * recorded on a tape of its own: it works at any depth (inside a customGrad op, kernelDepth > 0, or
 * under an outer `tf.grad`, whose tape it neither sees nor extends). If the backward pass throws
 * (a kernel without a gradient), the tensors its tape saved are disposed: nothing leaks.
 */
export function gradientOnOwnTape(f: () => tf.Scalar, x: Tensor): Tensor|null {
  const e = tf.engine() as unknown as TapeEngine;
  const state = e.state;
  const {kernelDepth, gradientDepth, activeTape} = state;
  state.kernelDepth = 0;
  state.gradientDepth = 0;
  try {
    const {value, grads} = e.gradients(f, [x], undefined, /* allowNoGradients */ true);
    value.dispose();
    return grads[0] ?? null;
  } finally {
    // On success the engine has freed its tape (activeTape = null); on failure free it here.
    for (const node of state.activeTape ?? []) {
      for (const t of node.saved ?? []) {
        t.dispose();
      }
    }
    state.kernelDepth = kernelDepth;
    state.gradientDepth = gradientDepth;
    state.activeTape = activeTape;
  }
}

/**
 * Runs `run`, a call of `tf.variableGrads` or `engine.gradients`, so that a throw leaves no tape
 * behind. When the function being differentiated throws, tfjs 4.22 keeps its last tape in the
 * engine's state (`activeTape`), holding the tensors saved for a backward pass that never runs. The
 * outermost gradient call disposes them and clears the tape: a failed step leaves the engine as it
 * found it.
 */
export function clearingTapeOnThrow<T>(run: () => T): T {
  const state = (tf.engine() as unknown as TapeEngine).state;
  const outermost = state.gradientDepth === 0;
  try {
    return run();
  } catch (e) {
    if (outermost && state.gradientDepth === 0) {
      for (const node of state.activeTape ?? []) {
        tf.dispose(node.saved ?? []);
        node.saved = [];
      }
      state.activeTape = null;
    }
    throw e;
  }
}

/** One input's gradient for `runCustomGradOp`: the tensor, or a function that computes it. */
export type InputGradient = Tensor|(() => Tensor);

/**
 * What `tf.customGrad` does, with one difference: the gradient function may give an input's
 * gradient as a function, which the backward pass calls only if that input needs a gradient (tfjs
 * prunes inputs that no differentiated tensor reaches, e.g. a first layer's input), each in a tidy.
 * `forward(save)` computes the value and hands tensors for the backward pass to `save`.
 */
export function runCustomGradOp(
    inputs: Tensor[], forward: (save: (tensors: Tensor[]) => void) => Tensor,
    gradients: (dy: Tensor, saved: Tensor[]) => InputGradient[]): Tensor {
  const inputMap: {[inputName: string]: Tensor} = {};
  inputs.forEach((t, i) => inputMap[i] = t);
  return (tf.engine() as unknown as TapeEngine).runKernelFunc({
    forwardFunc: (_backend, save) => forward(save),
    backwardsFunc: (dy, saved) => {
      const grads = gradients(dy, saved);
      tf.util.assert(grads.length === inputs.length,
                     () => `customGrad op: ${grads.length} gradients for ${inputs.length} inputs.`);
      const out: {[inputName: string]: () => Tensor} = {};
      grads.forEach((g, i) => out[i] = g instanceof tf.Tensor ? () => g : () => tf.tidy(g));
      return out;
    },
    inputs: inputMap,
  });
}
