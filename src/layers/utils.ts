/** Small helpers shared by the layers of this package (argument checks, single-input unwrapping). */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {isTracing} from '../autodiff/jvp';
import {ValueError} from '../errors';

/**
 * Whether an op may run as a customGrad op (`exactCustomGrad`) here. The forward mode differentiates such an
 * op's inner kernels (the tracer runs its forward inline) — except while a backward tape records (a
 * layer whose exact gradient is taken in a forward-gradient step), where the engine runs it opaquely
 * and its tangent would be lost: the ops of this package use plain kernels there.
 */
export function customGradOk(): boolean {
  return !isTracing() || !(tf.engine() as unknown as {isTapeOn(): boolean}).isTapeOn();
}

/** `x` reshaped to `shape`, without a Reshape kernel when it already has it. */
export function reshapeTo(x: Tensor, shape: number[]): Tensor {
  return x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) ? x : tf.reshape(x, shape);
}

/** True for a finite integer ≥ 1. */
export function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

/** `Xxx (layer 'name')`: the prefix of every error message a layer throws. */
export function layerLabel(layer: tfl.layers.Layer): string {
  return `${layer.getClassName()} (layer '${layer.name}')`;
}

/** The single tensor of a one-input layer (tfjs-layers may hand `call` a one-element list). */
export function singleInput(layer: tfl.layers.Layer, inputs: Tensor|Tensor[]): Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) {
      throw new ValueError(`${layerLabel(layer)} expects one input tensor. Received: ${inputs.length}.`);
    }
    return inputs[0];
  }
  return inputs;
}

/** The single shape of a one-input layer (`computeOutputShape` / `build` may get `[shape]`). */
export function singleShape(layer: tfl.layers.Layer, shape: tfl.Shape|tfl.Shape[]): tfl.Shape {
  if (Array.isArray(shape[0])) {
    const shapes = shape as tfl.Shape[];
    if (shapes.length !== 1) {
      throw new ValueError(`${layerLabel(layer)} expects one input. Received ${shapes.length} input shapes.`);
    }
    return shapes[0];
  }
  return shape as tfl.Shape;
}

/** `[a,b,c]` with `null` for unknown dimensions (error messages). */
export function fmtShape(shape: ReadonlyArray<number|null>): string {
  return `[${shape.map(d => d == null ? 'null' : String(d)).join(', ')}]`;
}
