/**
 * FG-A masks units whose ReLU is inactive (their true gradient is exactly 0), also where tfjs runs
 * the layer's ReLU as a separate kernel (DepthwiseConv2D, SeparableConv2D) instead of fusing it.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {describeBackends, seedWeights} from '../util';

function model(activation: 'relu'|'linear', biasValue: number): tfl.LayersModel {
  const m = seedWeights(tfl.sequential({layers: [
    tfl.layers.depthwiseConv2d({inputShape: [5, 5, 2], kernelSize: 2, activation, name: 'dw'}),
    tfl.layers.flatten(),
    tfl.layers.dense({units: 3, activation: 'softmax', name: 'out'})]}), 3000);
  const [kernel, bias] = m.getLayer('dw').getWeights();
  const newBias = tf.fill(bias.shape, biasValue);
  m.getLayer('dw').setWeights([kernel, newBias]);
  newBias.dispose();
  m.compile({optimizer: 'sgd', loss: 'categoricalCrossentropy'});
  return m;
}

/** The FG-A estimate of the depthwise kernel, on a fixed batch and seed. */
function estimate(m: tfl.LayersModel): tf.Tensor {
  const x = tf.randomUniform([4, 5, 5, 2], 0, 1, 'float32', 5);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3));
  const opt = fg.optimizers.forwardGradient({perturb: 'activity', seed: 11});
  opt.attach(m);
  const inner = (m as unknown as {model: tfl.LayersModel}).model;
  const lossFns = (inner as unknown as {lossFunctions: Array<(a: tf.Tensor, b: tf.Tensor) => tf.Tensor>}).lossFunctions;
  const vars = m.trainableWeights.map(w => w.read() as tf.Variable);
  const {value, grads} = opt.computeGradients(
      () => tf.mean(lossFns[0](y, m.apply(x, {training: true}) as tf.Tensor)) as tf.Scalar, vars);
  opt.detach();
  const g = grads[vars[0].name].clone();
  tf.dispose([value, grads as tf.TensorContainer, x, y]);
  opt.dispose();
  return g;
}

describeBackends('FG-A masks inactive ReLU units', () => {
  it('a DepthwiseConv2D whose (separate-kernel) ReLU is dead everywhere gets an exactly zero estimate', () => {
    const before = tf.memory().numTensors;
    // Dead units: the true gradient is 0, but the directional derivative d_n is not (the output
    // layer is perturbed too), so without the mask the estimate d_n·u would not be 0.
    const dead = model('relu', -100);
    const gDead = estimate(dead);
    expect(tf.tidy(() => tf.max(tf.abs(gDead)).dataSync()[0])).toBe(0);
    tf.dispose(gDead);
    dead.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with live units the masked estimate is zero exactly where the ReLU is inactive', () => {
    const live = model('relu', 0);
    const g = estimate(live);
    expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0);
    tf.dispose(g);
    live.dispose();
  });
});
