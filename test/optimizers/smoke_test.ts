import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {describeBackends, randn} from '../util';

describeBackends('forward-gradient optimizer smoke', () => {
  for (const perturb of ['weight', 'activity', 'none'] as const) {
    it(`fits an MLP (${perturb})`, async () => {
      const model = tfl.sequential({layers: [
        tfl.layers.dense({inputShape: [6], units: 8, activation: 'relu'}),
        tfl.layers.dense({units: 3, activation: 'softmax'})]});
      const opt = fg.optimizers.forwardGradient({perturb, optimizer: 'sgd', learningRate: 0.05, seed: 1});
      model.compile({optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
      const xs = randn([32, 6]);
      const ys = tf.tidy(() => tf.oneHot(tf.argMax(tf.matMul(xs, randn([6, 3])), 1), 3));
      const before = tf.memory().numTensors;
      const h = await model.fit(xs, ys, {epochs: 3, batchSize: 8, verbose: 0, callbacks: [fg.callbacks.forwardGradient()]});
      expect(tf.memory().numTensors).toBe(before);
      console.log(perturb, h.history.loss, h.history.acc);
      model.dispose();
      tf.dispose([xs, ys]);
    });
  }
});
