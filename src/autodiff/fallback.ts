/**
 * The JVP of a kernel that has no rule, derived from its registered gradient: the VJP is linear in
 * the cotangent dy, so ⟨vjp(dy), ṫ⟩ is linear in dy and its gradient with respect to dy is J·ṫ.
 * It costs a taped forward and a backward of the VJP per call, so a one-time warning asks for a rule.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {UnsupportedKernelError} from '../errors';
import {perDirection} from './helpers';
import {JvpRule} from './registry';
import {withTapeAllowed} from './tracer_tape';

const warned = new Set<string>();

/** A rule derived from the gradient of `kernelName`; throws UnsupportedKernelError if it has none. */
export function fallbackJvpRule(kernelName: string, scope: string): JvpRule {
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
  return perDirection((inputs, tangents, attrs, outputs) => {
    if (outputs.length !== 1) {
      throw new UnsupportedKernelError(
          kernelName, scope, `the gradient-derived fallback handles one output, not ${outputs.length}.`);
    }
    const inputNames = Object.keys(inputs);
    const saved: Tensor[] = [];
    const toSave = config.saveAllInputs ? inputNames : (config.inputsToSave ?? []);
    for (const name of toSave) {
      saved.push(inputs[name]);
    }
    (config.outputsToSave ?? []).forEach((keep, i) => {
      if (keep) {
        saved.push(outputs[i]);
      }
    });
    const y = outputs[0];
    const pairing = (dy: Tensor) => {
      const grads = config.gradFunc(dy, saved, attrs);
      let acc: Tensor = tf.scalar(0);
      for (const name of inputNames) {
        const t = tangents[name];
        if (t != null && grads[name] != null) {
          acc = tf.add(acc, tf.sum(tf.mul(grads[name](), t)));
        }
      }
      return acc as tf.Scalar;
    };
    try {
      return withTapeAllowed(() => tf.grad(pairing)(tf.zerosLike(y)));
    } catch (err) {
      throw new UnsupportedKernelError(
          kernelName, scope,
          `deriving it from the gradient failed (${(err as Error).message}).`);
    }
  });
}
