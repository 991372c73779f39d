/**
 * JVPs derived from VJPs. A VJP is linear in the cotangent dy, so ⟨vjp(dy), ṫ⟩ is linear in dy and
 * its gradient with respect to dy is J·ṫ (the "transpose trick"). Two users: kernels without a JVP
 * rule (from their registered tfjs gradient) and `tf.customGrad` ops (from their custom gradient,
 * see `tracer.ts`). It costs a taped run and a backward pass of the VJP per direction.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {UnsupportedKernelError} from '../errors';
import {perDirection} from './helpers';
import {JvpRule} from './registry';
import {gradientOnOwnTape} from './tracer_tape';

/** Cotangents of an op's inputs, keyed like its inputs: lazy thunks, as in tfjs's gradients. */
export type NamedCotangentMap = {[inputName: string]: () => Tensor};

/** A VJP: the cotangents of the inputs of an op with one output, given the output's cotangent. */
export type Vjp =
    (dy: Tensor, inputs: NamedTensorMap, attrs: NamedAttrMap, outputs: Tensor[]) => NamedCotangentMap;

/**
 * The JVP rule of an op known by its VJP: ẏ = ∇_dy Σᵢ⟨vjp(dy)ᵢ, ṫᵢ⟩ over the inputs that have a
 * tangent (the others' cotangents are never computed). One output only; tangent batch axes are
 * handled one direction at a time. The cotangent of each input must have the input's shape.
 */
export function jvpRuleFromVjp(vjp: Vjp): JvpRule {
  return perDirection((inputs, tangents, attrs, outputs) => {
    if (outputs.length !== 1) {
      throw new Error(`a JVP derived from a gradient handles one output, not ${outputs.length}.`);
    }
    const y = outputs[0];
    const dy = tf.zerosLike(y);  // any point will do: the pairing is linear in dy
    const pairing = (): tf.Scalar => {
      const cotangents = vjp(dy, inputs, attrs, outputs);
      let acc: Tensor = tf.scalar(0);
      for (const name of Object.keys(inputs)) {
        const t = tangents[name];
        const thunk = cotangents[name];
        if (t == null || thunk == null) {
          continue;
        }
        const g = thunk();
        if (!tf.util.arraysEqual(g.shape, inputs[name].shape)) {
          throw new Error(
              `the gradient of input '${name}' has shape [${g.shape}]; the input has shape ` +
              `[${inputs[name].shape}].`);
        }
        acc = tf.add(acc, tf.sum(tf.mul(g, t)));
      }
      return acc as tf.Scalar;
    };
    return gradientOnOwnTape(pairing, dy);
  });
}

/**
 * Kernels whose registered gradient runs kernels that have no gradient themselves, so no JVP can be
 * derived from it: the reason, for the error. The built-in rules cover them; this list serves a
 * user who unregisters one. (Any other such kernel fails in the backward pass, with the same error.)
 */
const NOT_DERIVABLE: {[kernelName: string]: string} = {
  'Dilation2D': 'its gradient runs Dilation2DBackpropInput / Dilation2DBackpropFilter, which have ' +
      'no gradient, so no JVP can be derived from it.',
  'LRN': 'its gradient runs LRNGrad, which has no gradient, so no JVP can be derived from it.',
};

const warned = new Set<string>();

/** A rule derived from the gradient of `kernelName`; throws UnsupportedKernelError if it has none. */
export function fallbackJvpRule(kernelName: string, scope: string): JvpRule {
  if (NOT_DERIVABLE[kernelName] != null) {
    throw new UnsupportedKernelError(kernelName, scope, NOT_DERIVABLE[kernelName]);
  }
  const config = tf.getGradient(kernelName);
  if (config == null) {
    throw new UnsupportedKernelError(
        kernelName, scope, 'it has no registered gradient to derive one from.');
  }
  if (!warned.has(kernelName)) {
    warned.add(kernelName);
    console.warn(
        `tfjs-forward-gradient: kernel '${kernelName}' has no JVP rule; using one derived from its ` +
        `gradient (slower). Register a rule with registerJvpRule('${kernelName}', rule).`);
  }
  const rule = jvpRuleFromVjp((dy, inputs, attrs, outputs) => {
    const saved: Tensor[] = [];
    const toSave = config.saveAllInputs ? Object.keys(inputs) : (config.inputsToSave ?? []);
    for (const name of toSave) {
      saved.push(inputs[name]);
    }
    (config.outputsToSave ?? []).forEach((keep, i) => {
      if (keep) {
        saved.push(outputs[i]);
      }
    });
    return config.gradFunc(dy, saved, attrs);
  });
  return (inputs, tangents, attrs, outputs, ctx) => {
    if (outputs.length !== 1) {
      throw new UnsupportedKernelError(
          kernelName, scope, `the gradient-derived fallback handles one output, not ${outputs.length}.`);
    }
    try {
      return rule(inputs, tangents, attrs, outputs, ctx);
    } catch (err) {
      throw new UnsupportedKernelError(
          kernelName, scope, `deriving it from the gradient failed (${(err as Error).message}).`);
    }
  };
}
