/**
 * The linear readout of a contrastive LocalMixer, trained as the paper's code trains it
 * (`train_mixer_contrastive.py`: `run_exp`'s "Run readout for one epoch", `readout_step_fn`,
 * `update_backprop_readout`): after each pretraining epoch, one epoch over un-augmented training
 * images, plain SGD (lr 0.1·last_layer_lr = 0.01, no momentum) on the classifier alone, its
 * cross-entropy's exact gradient plus wd·W on the kernel. The backbone is only read.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {makeRng, permutation} from '../data/random';
import {ValueError} from '../errors';
import {ClassifierHead, ContrastiveHead} from '../layers/local_loss_head';
import {softmaxCrossEntropy} from '../losses/local_cross_entropy';
import {pairViews} from './training_modes';

/** Options of `trainReadout`. */
export interface TrainReadoutArgs {
  /** Learning rate of the plain SGD. Defaults to 0.01 (the code's 0.1·last_layer_lr). */
  learningRate?: number;
  /** Batch size. Defaults to 128. */
  batchSize?: number;
  /** Added to the kernel's gradient, ×kernel (coupled; not the bias). Defaults to 1e-4. */
  weightDecay?: number;
  /**
   * Seed of the order of the examples (a permutation per call; give e.g. `${seed}/${epoch}`), or
   * null to keep their order. Defaults to null.
   */
  seed?: string|number|null;
}

/**
 * Trains the classifier (linear readout) of a contrastive LocalMixer for one epoch over `images`
 * [N, H, W, C] (normalized, un-augmented) with one-hot `labels` [N, classes]: floor(N / batchSize)
 * plain-SGD steps on its exact gradient, nothing else changed (see the file comment). Returns the
 * mean readout cross-entropy over the steps (NaN if there were none).
 */
export async function trainReadout(model: tfl.LayersModel, images: Tensor4D, labels: Tensor2D,
                                   args: TrainReadoutArgs = {}): Promise<number> {
  const classifier = model.layers.find((l): l is ClassifierHead => l instanceof ClassifierHead);
  if (classifier == null || !model.layers.some(l => l instanceof ContrastiveHead)) {
    throw new ValueError(
        `trainReadout: model '${model.name}' is not a contrastive LocalMixer (fg.models.localMixer({objective: 'contrastive'})).`);
  }
  const lr = args.learningRate ?? 0.01;
  const batchSize = args.batchSize ?? 128;
  const wd = args.weightDecay ?? 1e-4;
  if (!(lr > 0) || !Number.isFinite(lr) || !Number.isInteger(batchSize) || batchSize < 1 || !(wd >= 0)) {
    throw new ValueError(
        `trainReadout: learningRate must be a finite number > 0, batchSize a positive integer and ` +
        `weightDecay ≥ 0. Received: ${lr}, ${batchSize}, ${wd}.`);
  }
  const n = images.shape[0];
  if (labels.shape[0] !== n) {
    throw new ValueError(`trainReadout: ${n} images but ${labels.shape[0]} labels.`);
  }
  // the classifier's input: the first view's stop-gradient features (the layer that feeds it)
  const featureLayer = classifier.inboundNodes[0].inboundLayers[0];
  const features = tfl.model({inputs: model.inputs, outputs: featureLayer.output as tfl.SymbolicTensor});
  const [kernel, bias] = classifier.trainableWeights.map(w => w.read() as tf.Variable);
  const order = args.seed == null ? null : permutation(makeRng(`readout/${String(args.seed)}`), n);
  const steps = Math.floor(n / batchSize);
  const losses: Tensor[] = [];
  for (let s = 0; s < steps; s++) {
    losses.push(tf.tidy(() => {
      const idx = order == null ? null : tf.tensor1d(order.subarray(s * batchSize, (s + 1) * batchSize), 'int32');
      const x = idx == null ? tf.slice(images, s * batchSize, batchSize) : tf.gather(images, idx);
      const y = idx == null ? tf.slice(labels, s * batchSize, batchSize) : tf.gather(labels, idx);
      const f = features.predict(pairViews(x, x)) as Tensor;
      const {value, grads} = tf.variableGrads(
          () => tf.mean(softmaxCrossEntropy(y, classifier.apply(f) as Tensor)) as tf.Scalar, [kernel, bias]);
      kernel.assign(tf.sub(kernel, tf.mul(tf.add(grads[kernel.name], tf.mul(kernel, wd)), lr)));
      bias.assign(tf.sub(bias, tf.mul(grads[bias.name], lr)));
      return value;
    }));
  }
  const values = await Promise.all(losses.map(l => l.data()));
  tf.dispose(losses);
  return steps === 0 ? NaN : values.reduce((a, v) => a + v[0], 0) / steps;
}
