/**
 * The model zoo of the JVP acceptance test (zoo_test.ts): tiny builders of standard tfjs-layers
 * models, each with a matching input batch, and the built-in tfjs-layers losses with matching
 * output activations and targets.
 *
 * Every model ends in `dense({units: NUM_CLASSES, activation: head})`, so one builder serves every
 * loss: the loss table says which head activation and which targets a loss needs. Sizes are kept
 * tiny (batch 4, 8×8 images, a few channels): the cpu backend is slow for convolutions.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {randn, randu} from '../util';

/** Examples per batch. */
export const BATCH = 4;
/** Width of every model's output. */
export const NUM_CLASSES = 3;

/** Activation of a model's last Dense layer. */
export type Head = 'linear'|'softmax'|'sigmoid'|'softplus';

/** Options of a model builder. */
export interface BuildOptions {
  /** Activation of the output layer. */
  head: Head;
}

/** A model of the zoo. */
export interface ZooModel {
  name: string;
  /** A fresh, built model with deterministic (seeded) weights. */
  build(opts: BuildOptions): tfl.LayersModel;
  /** A batch of BATCH inputs for it (new tensor, owned by the caller). */
  input(): Tensor;
  /**
   * Kernels the reverse-mode oracle (tf.variableGrads) needs beyond the forward kernels. Some
   * backends lack them: wasm has no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput /
   * Filter (gradients of convolutions) nor UnsortedSegmentSum (gradient of GatherV2, i.e. of
   * Embedding), so the correctness check of those models runs only where the kernels exist (cpu).
   */
  oracleKernels: string[];
  /** Backends whose reverse mode gives wrong gradients for this model, with the reason. */
  oracleBroken?: {[backend: string]: string};
}

const CONV2D_GRADS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput'];
const DEPTHWISE_GRADS =
    ['DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter'];

const L = tfl.layers;

/** The output layer shared by every model. */
function head(opts: BuildOptions): tfl.layers.Layer {
  return L.dense({units: NUM_CLASSES, activation: opts.head, name: 'head'});
}

/**
 * Replaces every trainable weight with seeded values (tfjs-layers initializers draw from
 * Math.random): kernels N(0, 1/fanIn), `gamma` weights 1 + N(0, 0.1²), other vectors N(0, 0.1²).
 * Non-zero biases and betas keep the test away from the special point where they are all zero.
 */
function reseed(model: tfl.LayersModel): tfl.LayersModel {
  for (const w of model.trainableWeights) {
    const shape = w.shape as number[];
    const value = tf.tidy(() => {
      if (shape.length >= 2) {
        const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        return randn(shape, 1 / Math.sqrt(fanIn));
      }
      const v = randn(shape, 0.1);
      return /gamma$/.test(w.name) ? tf.add(v, 1) : v;
    });
    w.write(value);
    value.dispose();
  }
  return model;
}

function image(): Tensor {
  return randn([BATCH, 8, 8, 2]);
}

/** (1) Multi-layer perceptron, with an L2 kernel regularizer (a loss added by the model). */
const mlp: ZooModel = {
  name: 'mlp',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.dense({
        units: 8, activation: 'relu', inputShape: [6],
        kernelRegularizer: tfl.regularizers.l2({l2: 1e-2}),
      }),
      L.dense({units: 8, activation: 'elu'}),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, 6]),
  oracleKernels: [],
};

/** (2) CNN: Conv2D, BatchNormalization, MaxPooling2D, AveragePooling2D, Dropout, Flatten, Dense. */
const cnn: ZooModel = {
  name: 'cnn',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.conv2d(
          {inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu'}),
      L.batchNormalization(),
      L.maxPooling2d({poolSize: 2}),
      L.conv2d({filters: 4, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu'}),
      L.averagePooling2d({poolSize: 2}),
      // A fixed seed: every forward pass in training mode drops the same units, so the forward and
      // reverse passes of the correctness check see the same function.
      L.dropout({rate: 0.25, seed: 7}),
      L.flatten(),
      head(opts),
    ],
  })),
  input: image,
  oracleKernels: CONV2D_GRADS,
};

/** (3) Depthwise-separable convolutions and global average pooling. */
const separable: ZooModel = {
  name: 'separable',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.separableConv2d({
        inputShape: [8, 8, 2], filters: 4, kernelSize: 3, depthMultiplier: 2, padding: 'same',
        activation: 'relu',
      }),
      L.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh'}),
      L.globalAveragePooling2d({}),
      head(opts),
    ],
  })),
  input: image,
  oracleKernels: [...CONV2D_GRADS, ...DEPTHWISE_GRADS],
};

/** (4) Dense → LayerNormalization → Dense. */
const layerNorm: ZooModel = {
  name: 'layernorm',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.dense({units: 8, inputShape: [6]}),
      L.layerNormalization(),
      L.dense({units: 8, activation: 'tanh'}),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, 6]),
  oracleKernels: [],
};

const VOCAB = 10, SEQ = 5;

/** (5) Embedding of integer tokens, GlobalAveragePooling1D, Dense. */
const embedding: ZooModel = {
  name: 'embedding',
  build: opts => {
    const x = tfl.input({shape: [SEQ], dtype: 'int32'});
    const e = L.embedding({inputDim: VOCAB, outputDim: 6}).apply(x) as tfl.SymbolicTensor;
    const p = L.globalAveragePooling1d({}).apply(e) as tfl.SymbolicTensor;
    return reseed(tfl.model({inputs: x, outputs: head(opts).apply(p) as tfl.SymbolicTensor}));
  },
  input: () => tf.tidy(() => tf.cast(tf.floor(randu([BATCH, SEQ], 0, VOCAB)), 'int32')),
  oracleKernels: ['UnsortedSegmentSum'],
};

/**
 * (6) A one-block MLP-Mixer: 2×2 patches (Reshape / Permute / Reshape), a per-patch Dense, a token
 * mixing MLP (Permute, Dense gelu, Dense, Permute back) and a channel mixing MLP, each behind a
 * LayerNormalization and with an Add residual, then LayerNormalization, GlobalAveragePooling1D and
 * the head.
 */
const mixer: ZooModel = {
  name: 'mixer',
  build: opts => {
    const S = tfl.SymbolicTensor;
    const ap = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor|tfl.SymbolicTensor[]) =>
        layer.apply(x) as InstanceType<typeof S>;
    const tokens = 16, ch = 8;
    const x = tfl.input({shape: [8, 8, 2]});
    let h = ap(L.reshape({targetShape: [4, 2, 4, 2, 2]}), x);
    h = ap(L.permute({dims: [1, 3, 2, 4, 5]}), h);        // [4, 4, 2, 2, 2]: patch row, col, pixels
    h = ap(L.reshape({targetShape: [tokens, 8]}), h);     // 16 patches of 2·2·2 values
    h = ap(L.dense({units: ch}), h);                      // patch embedding
    // Token mixing.
    let t = ap(L.layerNormalization(), h);
    t = ap(L.permute({dims: [2, 1]}), t);
    t = ap(L.dense({units: 8, activation: 'gelu'}), t);
    t = ap(L.dense({units: tokens}), t);
    t = ap(L.permute({dims: [2, 1]}), t);
    h = ap(L.add(), [h, t]);
    // Channel mixing.
    let c = ap(L.layerNormalization(), h);
    c = ap(L.dense({units: 16, activation: 'gelu'}), c);
    c = ap(L.dense({units: ch}), c);
    h = ap(L.add(), [h, c]);
    h = ap(L.layerNormalization(), h);
    h = ap(L.globalAveragePooling1d({}), h);
    return reseed(tfl.model({inputs: x, outputs: ap(head(opts), h)}));
  },
  input: image,
  oracleKernels: [],
};

/** (7) Conv1D, MaxPooling1D, GlobalMaxPooling1D. */
const conv1d: ZooModel = {
  name: 'conv1d',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.conv1d({inputShape: [8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu'}),
      L.maxPooling1d({poolSize: 2}),
      L.conv1d({filters: 4, kernelSize: 2, activation: 'sigmoid'}),
      L.globalMaxPooling1d({}),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, 8, 3]),
  oracleKernels: CONV2D_GRADS,
};

/**
 * (8) Functional 2-D plumbing: Conv2D with a non-fusable activation, ZeroPadding2D → Cropping2D,
 * Concatenate, MaxPooling2D, Flatten.
 */
const plumbing: ZooModel = {
  name: 'plumbing',
  build: opts => {
    const ap = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor|tfl.SymbolicTensor[]) =>
        layer.apply(x) as tfl.SymbolicTensor;
    const x = tfl.input({shape: [8, 8, 2]});
    const a = ap(L.conv2d({filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh'}), x);
    // Pad and crop a (not x, which has no tangent), shifting it by one row.
    const padded = ap(L.zeroPadding2d({padding: [1, 1]}), a);
    const b = ap(L.cropping2D({cropping: [[2, 0], [1, 1]]}), padded);
    let h = ap(L.concatenate({axis: -1}), [a, b]);         // [8, 8, 6]
    h = ap(L.maxPooling2d({poolSize: 3, strides: 2}), h);  // [3, 3, 6]
    h = ap(L.flatten(), h);
    return reseed(tfl.model({inputs: x, outputs: ap(head(opts), h)}));
  },
  input: image,
  oracleKernels: CONV2D_GRADS,
};

/**
 * (9) UpSampling2D (ResizeNearestNeighbor) after a per-pixel Dense, then overlapping MaxPooling2D
 * windows and Flatten. No convolution, so that the reverse-mode oracle runs on wasm: on cpu it is
 * wrong, because tfjs-backend-cpu 4.22's ResizeNearestNeighborGrad mixes up examples when the batch
 * has more than one (it offsets dy by the stride of the *input* batch axis). Repro:
 *   x = randomNormal([2, 2, 2, 1]); r = randomNormal([2, 4, 4, 1]);
 *   grad(x => sum(resizeNearestNeighbor(x, [4, 4]) * r))(x)  ≠  4·avgPool(r, 2, 2, 'valid')
 * (max diff ≈ 5.9 on cpu, 2e-7 on wasm).
 */
const upsampling: ZooModel = {
  name: 'upsampling',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.dense({inputShape: [4, 4, 2], units: 3, activation: 'relu'}),
      L.upSampling2d({size: [2, 2]}),                      // [8, 8, 3]
      L.maxPooling2d({poolSize: 3, strides: 2}),           // [3, 3, 3]
      L.flatten(),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, 4, 4, 2]),
  oracleKernels: [],
  oracleBroken: {cpu: 'tfjs-backend-cpu\'s ResizeNearestNeighborGrad is wrong for batch > 1'},
};

/**
 * (10) A decoder-like stack: Conv2DTranspose (Conv2DBackpropInput), a strided Conv2D with elu,
 * GlobalMaxPooling2D and a BatchNormalization of rank-2 activations.
 */
const decoder: ZooModel = {
  name: 'decoder',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.conv2dTranspose({
        inputShape: [4, 4, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same',
        activation: 'relu',
      }),                                                  // [8, 8, 3]
      // Not dilated: tfjs has no gradient of a dilated Conv2D ("dilation rates greater than 1 are
      // not yet supported in gradients"), so the oracle could not check it.
      L.conv2d({filters: 3, kernelSize: 3, strides: 2, padding: 'valid', activation: 'elu'}),
      L.globalMaxPooling2d({}),
      L.batchNormalization(),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, 4, 4, 2]),
  oracleKernels: CONV2D_GRADS,
};

/**
 * (11) Recurrent: LSTM → TimeDistributed(Dense) → Bidirectional(GRU) → SimpleRNN. The recurrent
 * kernels use glorotUniform: the default orthogonal initializer of tfjs-layers 4.22 calls
 * `Tensor.flatten()`, a chained op tfjs-core 4.22 does not have (TypeError: rMat.flatten is not a
 * function). reseed() overwrites the weights anyway.
 */
const rnn: ZooModel = {
  name: 'rnn',
  build: opts => reseed(tfl.sequential({
    layers: [
      L.lstm({
        inputShape: [SEQ, 3], units: 4, returnSequences: true,
        recurrentInitializer: 'glorotUniform',
      }),
      L.timeDistributed({layer: L.dense({units: 3, activation: 'tanh'})}),
      L.bidirectional({
        layer: L.gru({units: 3, returnSequences: true, recurrentInitializer: 'glorotUniform'}) as
            tfl.RNN,
        mergeMode: 'concat',
      }),
      L.simpleRNN({units: 4, recurrentInitializer: 'glorotUniform'}),
      head(opts),
    ],
  })),
  input: () => randn([BATCH, SEQ, 3]),
  oracleKernels: [],
};

/**
 * (12) Every activation of tfjs-layers, as Dense activations and as activation layers. Not
 * ThresholdedReLU: it computes x·cast(x > θ), and tfjs's reverse mode (the oracle, and model.fit)
 * fails on it ("gradient function not found for Greater").
 */
const activations: ZooModel = {
  name: 'activations',
  build: opts => {
    const acts = ['elu', 'hardSigmoid', 'linear', 'relu', 'relu6', 'selu', 'sigmoid', 'softmax',
                  'softplus', 'softsign', 'tanh', 'swish', 'mish', 'gelu', 'gelu_new'] as const;
    const layers: tfl.layers.Layer[] = [L.dense({units: 6, inputShape: [6]})];
    for (const activation of acts) {
      layers.push(L.dense({units: 6, activation}));
    }
    layers.push(L.leakyReLU({alpha: 0.1}), L.dense({units: 6}));
    layers.push(L.prelu({alphaInitializer: 'zeros'}), L.dense({units: 6}));
    layers.push(L.elu({}), L.dense({units: 6}));
    layers.push(L.softmax({}), L.dense({units: 6}));
    layers.push(L.reLU({maxValue: 1.5}));
    layers.push(head(opts));
    return reseed(tfl.sequential({layers}));
  },
  input: () => randn([BATCH, 6]),
  oracleKernels: [],
};

/** Every model of the zoo. */
export const ZOO_MODELS: ZooModel[] =
    [mlp, cnn, separable, layerNorm, embedding, mixer, conv1d, plumbing, upsampling, decoder,
     rnn, activations];

/** Names of the built-in losses of tfjs-layers (losses.ts `lossesMap`). */
export type LossName =
    'meanSquaredError'|'meanAbsoluteError'|'meanAbsolutePercentageError'|
    'meanSquaredLogarithmicError'|'squaredHinge'|'hinge'|'categoricalHinge'|'logcosh'|
    'categoricalCrossentropy'|'sparseCategoricalCrossentropy'|'binaryCrossentropy'|
    'kullbackLeiblerDivergence'|'poisson'|'cosineProximity';

/** A built-in loss with the head activation and the targets it is meant for. */
export interface ZooLoss {
  name: LossName;
  head: Head;
  /** Targets for a batch of model outputs of shape [BATCH, NUM_CLASSES] (new tensor). */
  targets(): Tensor;
}

const shape = [BATCH, NUM_CLASSES];

function oneHot(): Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(classes(), NUM_CLASSES), 'float32'));
}

/** A class index per example: 0, 1, 2, 0 (int32, [BATCH]). */
function classes(): tf.Tensor1D {
  return tf.tensor1d(Array.from({length: BATCH}, (_, i) => i % NUM_CLASSES), 'int32');
}

/** Labels ±1: +1 for the class of the example, −1 for the others. */
function plusMinusOne(): Tensor {
  return tf.tidy(() => tf.sub(tf.mul(oneHot(), 2), 1));
}

/** Every built-in loss of tfjs-layers with a head and targets it suits. */
export const ZOO_LOSSES: ZooLoss[] = [
  {name: 'meanSquaredError', head: 'linear', targets: () => randn(shape)},
  {name: 'meanAbsoluteError', head: 'linear', targets: () => randn(shape)},
  // Targets away from 0 (the loss divides by |yTrue|).
  {name: 'meanAbsolutePercentageError', head: 'linear', targets: () => tf.tidy(() =>
       tf.mul(randu(shape, 0.5, 2), tf.sign(randn(shape))))},
  // Positive predictions and targets (the loss clips both at epsilon).
  {name: 'meanSquaredLogarithmicError', head: 'softplus', targets: () => randu(shape, 0.1, 2)},
  // Hinge losses take ±1 targets.
  {name: 'squaredHinge', head: 'linear', targets: plusMinusOne},
  {name: 'hinge', head: 'linear', targets: plusMinusOne},
  {name: 'categoricalHinge', head: 'linear', targets: oneHot},
  {name: 'logcosh', head: 'linear', targets: () => randn(shape)},
  {name: 'categoricalCrossentropy', head: 'softmax', targets: oneHot},
  // Class indices as float32 [BATCH, 1], the way model.fit passes them.
  {name: 'sparseCategoricalCrossentropy', head: 'softmax', targets: () => tf.tidy(() =>
       tf.reshape(tf.cast(classes(), 'float32'), [BATCH, 1]))},
  {name: 'binaryCrossentropy', head: 'sigmoid', targets: () => tf.tidy(() =>
       tf.cast(tf.greater(randn(shape), 0), 'float32'))},
  // Soft target distributions.
  {name: 'kullbackLeiblerDivergence', head: 'softmax',
   targets: () => tf.tidy(() => tf.softmax(randn(shape)))},
  {name: 'poisson', head: 'softplus', targets: () => tf.tidy(() => tf.floor(randu(shape, 0, 4)))},
  {name: 'cosineProximity', head: 'linear', targets: () => randn(shape)},
];

/** A per-example loss: targets and predictions [BATCH, NUM_CLASSES] → losses [BATCH]. */
export type LossFn = (yTrue: Tensor, yPred: Tensor) => Tensor;

/** The loss function tfjs-layers resolves a loss name to (what `compile({loss: name})` uses). */
export function lossFunction(model: tfl.LayersModel, name: LossName): LossFn {
  model.compile({loss: name, optimizer: 'sgd'});
  // A Sequential keeps its compiled state in an inner LayersModel.
  const m = (model as unknown as {model?: tfl.LayersModel}).model ?? model;
  return m.lossFunctions[0];
}

/**
 * The scalar training loss of `model` on (x, y), the way `model.fit` computes it: the batch mean of
 * the per-example loss of the forward pass in training mode, plus the regularization losses.
 */
export function trainingLoss(
    model: tfl.LayersModel, lossFn: LossFn, x: Tensor, y: Tensor): tf.Scalar {
  return tf.tidy(() => {
    const out = model.apply(x, {training: true}) as Tensor;
    let loss = tf.mean(lossFn(y, out)) as tf.Scalar;
    for (const reg of model.calculateLosses()) {
      loss = tf.add(loss, reg);
    }
    return loss;
  });
}
