/// <reference types="node" />
/**
 * `tfjs-fg eval`: the test error and loss of a saved run (its checkpoint's model.json + weights.bin,
 * loaded with `tf.loadLayersModel`) on its data set's test split.
 */
import * as fs from 'fs';
import * as path from 'path';

import {Tensor2D, Tensor4D} from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

import {loadDataset} from '../data/files';
import {toTensors} from '../data/normalize';
import {DatasetName} from '../data/split';
import {ValueError} from '../errors';
import '../layers';  // registers the LocalMixer layers for deserialization
import {evaluate} from '../models/evaluate';
import {setUpBackend} from './backend';
import {CHECKPOINT_DIR, CHECKPOINT_STATE, damagedCheckpoint, loadModel, readJsonFile} from './checkpoint';
import {Io, UsageError} from './progress';
import {checkDataset, RunState, runStateProblem} from './train';

/** Options of `eval`. */
export interface EvalOptions {
  /** A run folder (or its checkpoint folder, or any folder with model.json). */
  modelDir: string;
  /** Data set; default: the run's. */
  data: DatasetName|null;
  /** Data folder; default: the run's. */
  dataDir: string|null;
  /** Evaluate on the first N test examples; default: the run's --limit-test (all if none). */
  limitTest: number|null;
  backend: string;
  /** Print one JSON object instead of a sentence. */
  json: boolean;
}

/** What `eval` reports. */
export interface EvalResult {
  modelDir: string;
  data: DatasetName;
  /** Epochs the run had trained, if known. */
  epoch: number|null;
  testError: number;
  testLoss: number;
  testExamples: number;
}

/** Finds the folder holding model.json and the run state (if any) of `dir`. */
function locate(dir: string): {modelDir: string, state: RunState|null} {
  const candidates = [path.join(dir, CHECKPOINT_DIR), dir];
  for (const c of candidates) {
    if (fs.existsSync(path.join(c, 'model.json'))) {
      const statePath = path.join(c, CHECKPOINT_STATE);
      if (!fs.existsSync(statePath)) {
        return {modelDir: c, state: null};
      }
      const state = readJsonFile(statePath);
      const problem = runStateProblem(state);
      if (problem != null) {
        throw damagedCheckpoint(statePath, problem);
      }
      return {modelDir: c, state: state as RunState};
    }
  }
  throw new UsageError(`--model-dir ${path.resolve(dir)}: no saved model (looked for ${candidates.map(c => path.join(c, 'model.json')).join(' and ')}).`);
}

/** Runs `eval`: loads the model and evaluates it on the test split. */
export async function evalRun(opts: EvalOptions, io: Io): Promise<EvalResult> {
  const {modelDir, state} = locate(opts.modelDir);
  const data = opts.data ?? state?.config.data ?? null;
  if (data == null) {
    throw new UsageError(`--model-dir ${modelDir} has no state.json naming its data set: pass --data.`);
  }
  checkDataset(data);
  await setUpBackend(opts.backend);
  const dataDir = opts.dataDir ?? state?.config.dataDir ?? undefined;
  const limitTest = opts.limitTest ?? state?.config.limitTest ?? null;
  const {test: split} = loadDataset(data, {dir: dataDir, limit: {train: 0, ...(limitTest != null ? {test: limitTest} : {})}, dirOption: '--data-dir'});
  const model = await loadModel(modelDir);
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== split.height || w !== split.width || c !== split.channels) {
    model.dispose();
    throw new ValueError(`the model in ${modelDir} takes ${h}×${w}×${c} images, but the ${data} test images ` +
                         `(${dataDir ?? 'default folder'}) are ${split.height}×${split.width}×${split.channels}: ` +
                         'evaluate it on the data set it was trained on (--data, --data-dir).');
  }
  const test = toTensors(split, {dataset: data}) as {xs: Tensor4D, ys: Tensor2D};
  try {
    const r = await evaluate(model, test.xs, test.ys);
    const result: EvalResult = {
      modelDir, data, epoch: state?.epoch ?? null, testError: r.error, testLoss: r.loss, testExamples: r.count,
    };
    io.out(opts.json ? JSON.stringify(result) :
                       `test error ${r.error.toFixed(2)}% (loss ${r.loss.toFixed(4)}) on ${r.count} ${data} test examples` +
                           (state != null ? `, ${state.config.model} ${state.config.mode} after ${state.epoch} epoch(s)` : ''));
    return result;
  } finally {
    tf.dispose([test.xs, test.ys]);
    model.dispose();
  }
}
