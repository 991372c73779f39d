/// <reference types="node" />
/**
 * Checkpoints of `tfjs-fg train` (node, no tfjs-node): the model in the tfjs LayersModel format
 * (`model.json` + `weights.bin`, written and read by `fg.io.fileSystem`, src/io), the optimizer's state (`optimizer.getWeights()`: iterations,
 * skipped steps, the inner optimizer's slots) in `optimizer.json` + `optimizer.bin`, and the run's
 * state (epochs done, shuffle RNG state, history, configuration) in `state.json`. A checkpoint is
 * written to a temporary folder and then renamed, so an interrupted save leaves the previous one.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../errors';
import {checkSpecs, checkSize, fileSystem, readBinaryFile, readJsonFile as readJson, readModelArtifacts as readArtifacts, specBytes} from '../io/file_system';

/** Name of the checkpoint folder inside a run folder. */
export const CHECKPOINT_DIR = 'checkpoint';

/** Name of the state file (epochs done, RNG state, history, configuration) in a checkpoint folder. */
export const CHECKPOINT_STATE = 'state.json';

/** A named tensor, as `tf.Optimizer.getWeights()` lists them (names may repeat, e.g. 'iter'). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/**
 * An IO handler for `model.save` that writes `model.json` and `weights.bin` into `dir` (created if
 * needed): `fg.io.fileSystem`, the package's node file-system handler.
 */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return fileSystem(dir);
}

/**
 * The error of a damaged checkpoint file: names the file, says what is wrong with it, and how to go
 * on (the checkpoint cannot be repaired: start the run over, or restore the file).
 */
export function damagedCheckpoint(file: string, what: string): ValueError {
  const dir = path.dirname(path.resolve(file));
  return new ValueError(`damaged checkpoint: ${path.resolve(file)} ${what}. The run cannot continue from it: ` +
                        `delete ${dir} (or choose another --out) and train again without --resume, or restore ` +
                        `the file from a copy.`);
}

/** Parses a checkpoint's JSON file; a missing, unreadable or invalid one is a `damagedCheckpoint` error. */
export function readJsonFile(file: string): unknown {
  return readJson(file, damagedCheckpoint);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const BYTES: {[dtype: string]: number} = {float32: 4, int32: 4, bool: 1};

/**
 * Throws if a float32 tensor of `specs` in `data` holds NaN or ±Infinity (the run had diverged when
 * it was saved: resuming it would skip every step).
 */
export function checkFinite(file: string, data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): void {
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === 'float32') {
      const values = new Float32Array(data, offset, size);
      const bad = values.findIndex(v => !Number.isFinite(v));
      if (bad >= 0) {
        throw damagedCheckpoint(file, `holds non-finite values (${values[bad]} at index ${bad} of '${spec.name}'): ` +
                                          'the run had diverged when it was saved');
      }
    }
    offset += size * BYTES[spec.dtype];
  }
}

/**
 * Reads `dir/model.json` and its weight files as ModelArtifacts (for `tf.io.fromMemory`), checked
 * by `fg.io`'s reader: a damaged checkpoint is an error naming the file.
 */
export function readModelArtifacts(dir: string): tf.io.ModelArtifacts {
  return readArtifacts(path.resolve(dir), damagedCheckpoint);
}

/** Loads a model saved by `fileSaveHandler` (its custom layers must be registered: import the library). */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  const artifacts = readModelArtifacts(dir);
  try {
    return await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw damagedCheckpoint(path.join(dir, 'model.json'), `does not describe a loadable model (${(e as Error).message})`);
  }
}

/**
 * The weights of `dir/model.json` by (original) name, for `model.loadWeights`, after checking that
 * they are finite. The caller disposes them.
 */
export function readModelWeights(dir: string): tf.NamedTensorMap {
  const a = readModelArtifacts(dir);
  const data = a.weightData as ArrayBuffer;
  checkFinite(path.join(dir, 'weights.bin'), data, a.weightSpecs ?? []);
  return tf.io.decodeWeights(data, a.weightSpecs ?? []);
}

/**
 * Decodes tensors encoded by `tf.io.encodeWeights` IN ORDER (names may repeat; no quantization).
 * `data` must hold exactly the tensors of `specs` (checked by the caller).
 */
export function decodeOrdered(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]): NamedTensor[] {
  let offset = 0;
  return specs.map(spec => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = BYTES[spec.dtype];
    if (bytes == null || spec.quantization != null) {
      throw new ValueError(`checkpoint: cannot decode weight '${spec.name}' of dtype ${spec.dtype}.`);
    }
    const chunk = data.slice(offset, offset + size * bytes);
    offset += size * bytes;
    if (chunk.byteLength !== size * bytes) {
      throw new ValueError(`checkpoint: the data is too short for weight '${spec.name}'.`);
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
  fs.writeFileSync(path.join(tmp, CHECKPOINT_STATE), JSON.stringify(state, null, 1));
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
  if (!fs.existsSync(final) && fs.existsSync(path.join(old, CHECKPOINT_STATE))) {
    fs.renameSync(old, final);
  }
  return fs.existsSync(path.join(final, CHECKPOINT_STATE));
}

/**
 * Reads the state of the checkpoint in `runDir` (no tensors). `check` validates it (throwing a
 * message for `damagedCheckpoint`); invalid JSON or a failed check names state.json.
 */
export function readCheckpointState<State>(runDir: string, check?: (state: unknown) => string|null): State {
  const file = path.join(runDir, CHECKPOINT_DIR, CHECKPOINT_STATE);
  const state = readJsonFile(file);
  const problem = check?.(state) ?? null;
  if (problem != null) {
    throw damagedCheckpoint(file, problem);
  }
  return state as State;
}

/** Reads and checks `optimizer.json` + `optimizer.bin` of the checkpoint folder `dir` (host only). */
function readOptimizerData(dir: string): {data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]} {
  const jsonFile = path.join(dir, 'optimizer.json');
  const binFile = path.join(dir, 'optimizer.bin');
  const json = readJsonFile(jsonFile);
  const specs = checkSpecs(jsonFile, 'weights', isObject(json) ? json.weights : undefined, damagedCheckpoint);
  const bytes = readBinaryFile(binFile, damagedCheckpoint);
  const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  checkSize(binFile, data.byteLength, path.resolve(jsonFile), specBytes(specs), damagedCheckpoint);
  checkFinite(binFile, data, specs);
  return {data, specs};
}

/** A checkpoint read and checked on the host: no tensors yet (`decodeCheckpoint` makes them). */
export interface CheckpointData<State> {
  state: State;
  model: {data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]};
  optimizer: {data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[]};
}

/**
 * Reads the checkpoint in `runDir` and checks every file: the state (validated by `check`, see
 * `readCheckpointState`), JSON files with the expected fields, binary files of exactly the size
 * their JSON describes, finite values. A damaged checkpoint is an error that names the file, found
 * before any tensor is made.
 */
export function readCheckpoint<State>(runDir: string, check?: (state: unknown) => string|null): CheckpointData<State> {
  const dir = path.join(runDir, CHECKPOINT_DIR);
  const state = readCheckpointState<State>(runDir, check);
  const model = readModelArtifacts(dir);
  const modelData = model.weightData as ArrayBuffer;
  checkFinite(path.join(dir, 'weights.bin'), modelData, model.weightSpecs ?? []);
  return {state, model: {data: modelData, specs: model.weightSpecs ?? []}, optimizer: readOptimizerData(dir)};
}

/** The tensors of a checkpoint read by `readCheckpoint` (the caller disposes them). */
export function decodeCheckpoint<State>(c: CheckpointData<State>): CheckpointContents<State> {
  const modelWeights = tf.io.decodeWeights(c.model.data, c.model.specs);
  return {state: c.state, optimizerWeights: decodeOrdered(c.optimizer.data, c.optimizer.specs), modelWeights};
}

/** Reads, checks and decodes the checkpoint in `runDir` (`readCheckpoint` + `decodeCheckpoint`). */
export function loadCheckpoint<State>(runDir: string, check?: (state: unknown) => string|null): CheckpointContents<State> {
  return decodeCheckpoint(readCheckpoint<State>(runDir, check));
}
