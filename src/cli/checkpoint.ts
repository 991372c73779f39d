/// <reference types="node" />
/**
 * Checkpoints of `tfjs-fg train` (node, no tfjs-node): the model in the tfjs LayersModel format
 * (`model.json` + `weights.bin`, written by an IO handler made with `tf.io.withSaveHandler`, and
 * loadable with `tf.loadLayersModel`), the optimizer's state (`optimizer.getWeights()`: iterations,
 * skipped steps, the inner optimizer's slots) in `optimizer.json` + `optimizer.bin`, and the run's
 * state (epochs done, shuffle RNG state, history, configuration) in `state.json`. A checkpoint is
 * written to a temporary folder and then renamed, so an interrupted save leaves the previous one.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Name of the checkpoint folder inside a run folder. */
export const CHECKPOINT_DIR = 'checkpoint';

/** A named tensor, as `tf.Optimizer.getWeights()` lists them (names may repeat, e.g. 'iter'). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** The `model.json` of the tfjs LayersModel format. */
export interface ModelJson {
  modelTopology: {};
  format?: string;
  generatedBy?: string;
  convertedBy?: string|null;
  weightsManifest: Array<{paths: string[], weights: tf.io.WeightsManifestEntry[]}>;
}

function toBuffer(data: ArrayBuffer|ArrayBuffer[]): Buffer {
  return Buffer.from(tf.io.CompositeArrayBuffer.join(data));
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * An IO handler for `model.save` that writes `model.json` and `weights.bin` into `dir` (created if
 * needed), as `tf.io.fileSystem` of tfjs-node does.
 */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async artifacts => {
    fs.mkdirSync(dir, {recursive: true});
    const weights = artifacts.weightData != null ? toBuffer(artifacts.weightData) : Buffer.alloc(0);
    fs.writeFileSync(path.join(dir, 'weights.bin'), weights);
    const json: ModelJson = {
      modelTopology: artifacts.modelTopology as {},
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs ?? []}],
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        weightDataBytes: weights.byteLength,
      },
    };
  });
}

/** Reads `dir/model.json` and its weight files as ModelArtifacts (for `tf.io.fromMemory`). */
export function readModelArtifacts(dir: string): tf.io.ModelArtifacts {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as ModelJson;
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      buffers.push(fs.readFileSync(path.join(dir, p)));
    }
  }
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: specs,
    weightData: toArrayBuffer(Buffer.concat(buffers)),
  };
}

/** Loads a model saved by `fileSaveHandler` (its custom layers must be registered: import the library). */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(tf.io.fromMemory(readModelArtifacts(dir)));
}

/** The weights of `dir/model.json` by (original) name, for `model.loadWeights`. The caller disposes them. */
export function readModelWeights(dir: string): tf.NamedTensorMap {
  const a = readModelArtifacts(dir);
  return tf.io.decodeWeights(a.weightData as ArrayBuffer, a.weightSpecs ?? []);
}

const BYTES: {[dtype: string]: number} = {float32: 4, int32: 4, bool: 1};

/** Decodes tensors encoded by `tf.io.encodeWeights` IN ORDER (names may repeat; no quantization). */
export function decodeOrdered(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): NamedTensor[] {
  let offset = 0;
  return specs.map(spec => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = BYTES[spec.dtype];
    if (bytes == null || spec.quantization != null) {
      throw new Error(`checkpoint: cannot decode weight '${spec.name}' of dtype ${spec.dtype}.`);
    }
    const chunk = data.slice(offset, offset + size * bytes);
    offset += size * bytes;
    if (chunk.byteLength !== size * bytes) {
      throw new Error(`checkpoint: optimizer.bin is too short for weight '${spec.name}'.`);
    }
    const values = spec.dtype === 'float32' ? new Float32Array(chunk) :
        spec.dtype === 'int32' ? new Int32Array(chunk) : new Uint8Array(chunk);
    return {name: spec.name, tensor: tf.tensor(values, spec.shape, spec.dtype as tf.DataType)};
  });
}

/** What `saveCheckpoint` writes and `loadCheckpoint` gives back. */
export interface CheckpointContents<State> {
  /** The run's JSON state (epoch, RNG state, history, configuration...). */
  state: State;
  /** The optimizer's weights in `getWeights()` order (the caller disposes them after `setWeights`). */
  optimizerWeights: NamedTensor[];
  /** The model weights by original name (the caller disposes them after `loadWeights`). */
  modelWeights: tf.NamedTensorMap;
}

/** Writes the checkpoint of a run into `runDir/checkpoint/` (replacing the previous one). */
export async function saveCheckpoint<State>(
    runDir: string, model: tfl.LayersModel, optimizer: tf.Optimizer, state: State): Promise<void> {
  const final = path.join(runDir, CHECKPOINT_DIR);
  const tmp = `${final}.tmp`;
  fs.rmSync(tmp, {recursive: true, force: true});
  fs.mkdirSync(tmp, {recursive: true});
  await model.save(fileSaveHandler(tmp));
  const weights = await optimizer.getWeights();
  const {data, specs} = await tf.io.encodeWeights(weights);
  fs.writeFileSync(path.join(tmp, 'optimizer.bin'), Buffer.from(data));
  fs.writeFileSync(path.join(tmp, 'optimizer.json'), JSON.stringify({
    className: optimizer.getClassName(),
    config: optimizer.getConfig(),
    weights: specs,
  }));
  fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state, null, 1));
  const old = `${final}.old`;
  fs.rmSync(old, {recursive: true, force: true});
  if (fs.existsSync(final)) {
    fs.renameSync(final, old);
  }
  fs.renameSync(tmp, final);
  fs.rmSync(old, {recursive: true, force: true});
}

/**
 * Whether `runDir` holds a checkpoint. A save interrupted between its two renames left only
 * `checkpoint.old`: it is put back first.
 */
export function hasCheckpoint(runDir: string): boolean {
  const final = path.join(runDir, CHECKPOINT_DIR);
  const old = `${final}.old`;
  if (!fs.existsSync(final) && fs.existsSync(path.join(old, 'state.json'))) {
    fs.renameSync(old, final);
  }
  return fs.existsSync(path.join(final, 'state.json'));
}

/** Reads the state of the checkpoint in `runDir` (no tensors). */
export function readCheckpointState<State>(runDir: string): State {
  return JSON.parse(fs.readFileSync(path.join(runDir, CHECKPOINT_DIR, 'state.json'), 'utf8')) as State;
}

/** Reads the checkpoint in `runDir`: its state, the optimizer's weights and the model's. */
export function loadCheckpoint<State>(runDir: string): CheckpointContents<State> {
  const dir = path.join(runDir, CHECKPOINT_DIR);
  const state = readCheckpointState<State>(runDir);
  const opt = JSON.parse(fs.readFileSync(path.join(dir, 'optimizer.json'), 'utf8')) as
      {weights: tf.io.WeightsManifestEntry[]};
  const optimizerWeights = decodeOrdered(toArrayBuffer(fs.readFileSync(path.join(dir, 'optimizer.bin'))), opt.weights);
  return {state, optimizerWeights, modelWeights: readModelWeights(dir)};
}
