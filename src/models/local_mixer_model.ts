/**
 * The model class of `fg.models.localMixer`: a tfjs LayersModel whose `compile` also takes this
 * package's losses by name, so it saves with its training configuration and loads back compiled.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';

import {lossNameOf} from '../losses/loss_name';
import {lossFromName} from '../losses/registry';

type Loss = tfl.ModelCompileArgs['loss'];
type LossEntry = string|((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor);

/** `loss` (one loss, a list, or a map by output name) with `f` applied to every entry. */
function mapLosses(loss: Loss, f: (entry: LossEntry) => LossEntry): Loss {
  if (Array.isArray(loss)) {
    return (loss as LossEntry[]).map(f) as Loss;
  }
  if (loss != null && typeof loss === 'object') {
    return Object.fromEntries(Object.entries(loss as {[output: string]: LossEntry}).map(([k, v]) => [k, f(v)])) as Loss;
  }
  return f(loss as LossEntry) as Loss;
}

/**
 * A LayersModel (`fg.models.localMixer` builds one) that compiles with this package's losses given
 * as functions or by name, and records them by name: `model.save(…, {includeOptimizer: true})`
 * stores them, and `tf.loadLayersModel` compiles the loaded model with them and its saved
 * optimizer, so `fit` resumes where the saved model was.
 */
export class LocalMixerModel extends tfl.LayersModel {
  /** @nocollapse */
  static override className = 'fg.LocalMixer';

  override compile(args: tfl.ModelCompileArgs): void {
    const functions = mapLosses(args.loss, l => typeof l === 'string' ? (lossFromName(l) ?? l) : l);
    super.compile({...args, loss: functions});
    // tfjs-layers saves `loss` as names: this package's losses by theirs
    this.loss = mapLosses(args.loss, l => typeof l === 'string' ? l : (lossNameOf(l) ?? l));
  }
}
tf.serialization.registerClass(LocalMixerModel);
