/**
 * `evaluate`: the classification error and cross-entropy of a model on a labelled split, batch by
 * batch, as the paper reports them (test / train error in %). Unlike `model.evaluate`, it needs no
 * compiled model and no metrics, reads the last output of a multi-output model (a LocalMixer's
 * classifier), and feeds a contrastive LocalMixer (which reads two views) the same image twice.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor, Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {softmaxCrossEntropy} from '../losses/local_cross_entropy';
import {pairViews} from './training_modes';

/** Options of `evaluate`. */
export interface EvaluateArgs {
  /** Examples per `model.predict` call (bounds the memory). Integer > 0; defaults to 500. */
  batchSize?: number;
  /** Called after each batch (e.g. to report progress). */
  onBatch?: () => void;
}

/** What `evaluate` measures. */
export interface EvaluateResult {
  /** Classification error (%): argmax of the logits ≠ argmax of the one-hot label; NaN with no example. */
  error: number;
  /** Mean softmax cross-entropy of the logits against the labels; NaN with no example. */
  loss: number;
  /** Number of examples. */
  count: number;
}

/**
 * The classification error (%) and mean softmax cross-entropy of `model` on images `xs`
 * [N, H, W, C] with one-hot labels `ys` [N, classes]: the model's last output is taken as the
 * logits; a model whose input is [N, 2, H, W, C] (a contrastive LocalMixer) gets each image as
 * both views. Runs `predict` on `batchSize` examples at a time and reads two numbers back per batch;
 * disposes everything it makes (the inputs are the caller's).
 *
 * ```js
 * const {error, loss} = await fg.models.evaluate(model, testImages, testLabels);
 * console.log(`test error ${error.toFixed(2)}%, loss ${loss.toFixed(4)}`);
 * ```
 */
export async function evaluate(model: tfl.LayersModel, xs: Tensor4D, ys: Tensor2D,
                               args: EvaluateArgs = {}): Promise<EvaluateResult> {
  const batchSize = args.batchSize ?? 500;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new ValueError(`evaluate: batchSize must be a positive integer. Received: ${batchSize}.`);
  }
  if (xs?.rank !== 4 || ys?.rank !== 2 || xs.shape[0] !== ys.shape[0]) {
    throw new ValueError(
        `evaluate: expected images xs [N, H, W, C] and one-hot labels ys [N, classes] with the same N. ` +
        `Received: xs ${JSON.stringify(xs?.shape)}, ys ${JSON.stringify(ys?.shape)}.`);
  }
  const n = xs.shape[0];
  const twoViews = model.inputs[0].shape.length === 5;
  let wrong = 0, lossSum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const [w, l] = tf.tidy(() => {
      const x = tf.slice(xs, [start, 0, 0, 0], [size, -1, -1, -1]);
      const y = tf.slice(ys, [start, 0], [size, -1]);
      const out = model.predict(twoViews ? pairViews(x, x) : x) as Tensor|Tensor[];
      const logits = Array.isArray(out) ? out[out.length - 1] : out;
      const miss = tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, -1), tf.argMax(y, -1)), 'float32'));
      return [miss, tf.sum(softmaxCrossEntropy(y, logits))];
    });
    const [wv, lv] = await Promise.all([w.data(), l.data()]);
    tf.dispose([w, l]);
    wrong += wv[0];
    lossSum += lv[0];
    args.onBatch?.();
  }
  return {error: n > 0 ? 100 * wrong / n : NaN, loss: n > 0 ? lossSum / n : NaN, count: n};
}
