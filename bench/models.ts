/**
 * The models the benchmarks share: an MLP 784-1024-1024-10, a small CNN and a small MLP-Mixer, all
 * on 28×28×1 inputs (MNIST-sized), 10 classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Names of the benchmark models. */
export const BENCH_MODELS = ['mlp', 'cnn', 'mixer'] as const;
/** A benchmark model's name. */
export type BenchModelName = typeof BENCH_MODELS[number];

export function buildMlp(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({inputShape: [784], units: 1024, activation: 'relu'}),
      tfl.layers.dense({units: 1024, activation: 'relu'}),
      tfl.layers.dense({units: 10, activation: 'softmax'}),
    ],
  });
}

export function buildCnn(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({inputShape: [28, 28, 1], filters: 16, kernelSize: 3, activation: 'relu'}),
      tfl.layers.maxPooling2d({poolSize: 2}),
      tfl.layers.conv2d({filters: 32, kernelSize: 3, activation: 'relu'}),
      tfl.layers.maxPooling2d({poolSize: 2}),
      tfl.layers.flatten(),
      tfl.layers.dense({units: 10, activation: 'softmax'}),
    ],
  });
}

/**
 * A small MLP-Mixer: 28×28 images cut into 49 patches of 4×4 = 16 pixels, a per-patch Dense 64,
 * two mixer blocks (token mixing: Permute → Dense 64 gelu → Dense 49 → Permute, + residual;
 * channel mixing: Dense 128 gelu → Dense 64, + residual; no LayerNorm), global average pooling
 * over patches, Dense 10 softmax.
 */
export function buildMixer(): tfl.LayersModel {
  type S = tfl.SymbolicTensor;
  const inp = tfl.input({shape: [28, 28, 1]});
  let h = tfl.layers.reshape({targetShape: [7, 4, 7, 4]}).apply(inp) as S;  // [pr, r, pc, c]
  h = tfl.layers.permute({dims: [1, 3, 2, 4]}).apply(h) as S;               // [pr, pc, r, c]
  h = tfl.layers.reshape({targetShape: [49, 16]}).apply(h) as S;
  h = tfl.layers.dense({units: 64}).apply(h) as S;                          // [49 tokens, 64]
  for (let block = 0; block < 2; block++) {
    let t = tfl.layers.permute({dims: [2, 1]}).apply(h) as S;               // [64, 49]
    t = tfl.layers.dense({units: 64, activation: 'gelu'}).apply(t) as S;
    t = tfl.layers.dense({units: 49}).apply(t) as S;
    t = tfl.layers.permute({dims: [2, 1]}).apply(t) as S;                   // [49, 64]
    h = tfl.layers.add().apply([h, t]) as S;
    let c = tfl.layers.dense({units: 128, activation: 'gelu'}).apply(h) as S;
    c = tfl.layers.dense({units: 64}).apply(c) as S;
    h = tfl.layers.add().apply([h, c]) as S;
  }
  h = tfl.layers.globalAveragePooling1d().apply(h) as S;
  const out = tfl.layers.dense({units: 10, activation: 'softmax'}).apply(h) as S;
  return tfl.model({inputs: inp, outputs: out});
}

/** Builders by name. */
export const BUILDERS: Record<BenchModelName, () => tfl.LayersModel> = {
  mlp: buildMlp,
  cnn: buildCnn,
  mixer: buildMixer,
};

/** Input shape (without the batch axis) by name. */
export const INPUT_SHAPES: Record<BenchModelName, number[]> = {
  mlp: [784],
  cnn: [28, 28, 1],
  mixer: [28, 28, 1],
};

/** `n` random examples: inputs uniform [0, 1), random one-hot labels of 10 classes. */
export function randomData(model: BenchModelName, n: number, seed: number): {x: tf.Tensor, y: tf.Tensor} {
  return tf.tidy(() => {
    const x = tf.randomUniform([n, ...INPUT_SHAPES[model]], 0, 1, 'float32', seed);
    const labels = tf.randomUniform([n], 0, 10, 'int32', seed + 1);
    return {x, y: tf.cast(tf.oneHot(labels, 10), 'float32')};
  });
}
