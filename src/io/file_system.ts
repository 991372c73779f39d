/**
 * `fg.io.fileSystem(dir)`: saves and loads tfjs LayersModels to and from a folder in node
 * (`model.json` + `weights.bin`, the tfjs LayersModel format) without tfjs-node, whose
 * `file://` handler is the only file-system one tfjs ships. Works with `model.save(handler)`
 * (optimizer included with `{includeOptimizer: true}`) and `tf.loadLayersModel(handler)`.
 *
 * The module imports nothing from node at load time (it is part of the browser bundles too): it
 * reaches `fs` through `process.getBuiltinModule` (node ≥ 20.16) when a handler is used.
 */
import * as tf from '@tensorflow/tfjs-core';

import {ValueError} from '../errors';

/** The part of node's `fs` this module uses (no dependency on @types/node in the typings). */
interface NodeFs {
  readFileSync(file: string): Uint8Array;
  writeFileSync(file: string, data: Uint8Array|string): void;
  mkdirSync(dir: string, options: {recursive: boolean}): unknown;
}

/** Node's `fs`, or a ValueError saying why it is not available. */
function nodeFs(caller: string): NodeFs {
  const proc = (globalThis as unknown as {process?: {getBuiltinModule?: (id: string) => unknown}}).process;
  const fs = proc?.getBuiltinModule?.('fs') as NodeFs|undefined;
  if (fs == null) {
    throw new ValueError(
        `${caller} needs node's file system (node ≥ 20.16, process.getBuiltinModule): in a browser ` +
        `use tfjs's handlers ('indexeddb://', 'localstorage://', 'downloads://', tf.io.browserFiles).`);
  }
  return fs;
}

/** `dir/name` with the separator `dir` already uses ('/' by default). */
function join(dir: string, name: string): string {
  const sep = dir.includes('\\') && !dir.includes('/') ? '\\' : '/';
  return dir.endsWith(sep) ? `${dir}${name}` : `${dir}${sep}${name}`;
}

/** A folder given as itself or as the path of its `model.json`. */
function folderOf(pathOrModelJson: string): string {
  return pathOrModelJson.replace(/[\\/]?model\.json$/, '') || '.';
}

/** The error of a damaged or missing file: `file` and what is wrong with it. */
export type DamagedFileError = (file: string, what: string) => Error;

const defaultDamaged: DamagedFileError = (file, what) =>
    new ValueError(`fg.io.fileSystem: ${file} ${what}.`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const BYTES: {[dtype: string]: number} = {float32: 4, int32: 4, bool: 1};

function toBytes(data: ArrayBuffer|ArrayBuffer[]): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

function readFile(fs: NodeFs, file: string, damaged: DamagedFileError): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as {code?: string, message?: string};
    throw damaged(file, err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.code ?? err.message})`);
  }
}

/** Parses a JSON file; a missing, unreadable or invalid one is a `damaged` error. */
export function readJsonFile(file: string, damaged: DamagedFileError = defaultDamaged): unknown {
  const text = new TextDecoder().decode(readFile(nodeFs('readJsonFile'), file, damaged));
  try {
    return JSON.parse(text);
  } catch {
    throw damaged(file, `is not valid JSON (${text.length} characters; truncated or overwritten?)`);
  }
}

/** Checks the weight specs of a manifest (`file` names its JSON file in errors). */
export function checkSpecs(file: string, key: string, specs: unknown, damaged: DamagedFileError = defaultDamaged):
    tf.io.WeightsManifestEntry[] {
  if (!Array.isArray(specs)) {
    throw damaged(file, `has no list '${key}' of weights`);
  }
  specs.forEach((spec: unknown, i) => {
    const ok = isObject(spec) && typeof spec.name === 'string' && Array.isArray(spec.shape) &&
        spec.shape.every(d => Number.isSafeInteger(d) && d >= 0) && typeof spec.dtype === 'string' &&
        BYTES[spec.dtype] != null && spec.quantization == null;
    if (!ok) {
      throw damaged(file, `has a malformed entry ${i} in '${key}' (expected {name, shape, dtype} of ` +
                              `dtype float32, int32 or bool): ${JSON.stringify(spec)}`);
    }
  });
  return specs as tf.io.WeightsManifestEntry[];
}

/** Bytes of the tensors of `specs` (checked by `checkSpecs`). */
export function specBytes(specs: tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((sum, s) => sum + tf.util.sizeFromShape(s.shape) * BYTES[s.dtype], 0);
}

/** Throws unless `bytes` (read from `binFile`) is exactly what `jsonFile` describes. */
export function checkSize(binFile: string, bytes: number, jsonFile: string, expected: number,
                          damaged: DamagedFileError = defaultDamaged): void {
  if (bytes !== expected) {
    throw damaged(binFile, `has ${bytes} bytes, but ${jsonFile} describes ${expected} bytes ` +
                               `(${bytes < expected ? 'truncated' : 'trailing bytes'})`);
  }
}

/** Writes `data` to `file` (node). */
export function writeFile(file: string, data: Uint8Array|string): void {
  nodeFs('writeFile').writeFileSync(file, data);
}

/** Reads `file` (node), a `damaged` error if it is missing or unreadable. */
export function readBinaryFile(file: string, damaged: DamagedFileError = defaultDamaged): Uint8Array {
  return readFile(nodeFs('readBinaryFile'), file, damaged);
}

/**
 * Writes model artifacts as `dir/model.json` + `dir/weights.bin` (the folder is created if
 * needed), as tfjs-node's `tf.io.fileSystem` does.
 */
export function writeModelArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): tf.io.SaveResult {
  const fs = nodeFs('fg.io.fileSystem');
  fs.mkdirSync(dir, {recursive: true});
  const weights = artifacts.weightData != null ? toBytes(artifacts.weightData) : new Uint8Array(0);
  fs.writeFileSync(join(dir, 'weights.bin'), weights);
  const json = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    ...(artifacts.trainingConfig != null ? {trainingConfig: artifacts.trainingConfig} : {}),
    ...(artifacts.userDefinedMetadata != null ? {userDefinedMetadata: artifacts.userDefinedMetadata} : {}),
    weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs ?? []}],
  };
  fs.writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength}};
}

/**
 * Reads `dir/model.json` and its weight files as ModelArtifacts, checking that the JSON has the
 * LayersModel fields and that each weight file has exactly the bytes its manifest describes: a
 * damaged file is a `damaged` error naming it.
 */
export function readModelArtifacts(dir: string, damaged: DamagedFileError = defaultDamaged): tf.io.ModelArtifacts {
  const fs = nodeFs('fg.io.fileSystem');
  const jsonFile = join(dir, 'model.json');
  const json = readJsonFile(jsonFile, damaged);
  if (!isObject(json) || !isObject(json.modelTopology)) {
    throw damaged(jsonFile, 'has no \'modelTopology\' object (not a tfjs LayersModel model.json)');
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw damaged(jsonFile, 'has no \'weightsManifest\' list (not a tfjs LayersModel model.json)');
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  json.weightsManifest.forEach((group: unknown, g) => {
    if (!isObject(group) || !Array.isArray(group.paths) || group.paths.length === 0 ||
        !group.paths.every(p => typeof p === 'string')) {
      throw damaged(jsonFile, `has a malformed weightsManifest[${g}] (expected {paths, weights})`);
    }
    const groupSpecs = checkSpecs(jsonFile, `weightsManifest[${g}].weights`, group.weights, damaged);
    const files = (group.paths as string[]).map(p => join(dir, p));
    const data = files.map(f => readFile(fs, f, damaged));
    checkSize(files.length === 1 ? files[0] : files.join(' + '), data.reduce((a, b) => a + b.byteLength, 0),
              jsonFile, specBytes(groupSpecs), damaged);
    specs.push(...groupSpecs);
    buffers.push(...data);
  });
  const all = new Uint8Array(buffers.reduce((a, b) => a + b.byteLength, 0));
  buffers.reduce((offset, b) => (all.set(b, offset), offset + b.byteLength), 0);
  return {
    modelTopology: json.modelTopology,
    format: json.format as string|undefined,
    generatedBy: json.generatedBy as string|undefined,
    convertedBy: json.convertedBy as string|null|undefined,
    ...(isObject(json.trainingConfig) ? {trainingConfig: json.trainingConfig as unknown as tf.io.TrainingConfig} : {}),
    ...(isObject(json.userDefinedMetadata) ? {userDefinedMetadata: json.userDefinedMetadata as {}} : {}),
    weightSpecs: specs,
    weightData: all.buffer,
  };
}

/**
 * An IO handler that saves a model into the folder `path` (`model.json` + `weights.bin`, created
 * if needed) and loads it back from there (`path` may also name the `model.json`): the node
 * equivalent of tfjs-node's `file://` handler, without tfjs-node.
 *
 * ```js
 * await model.save(fg.io.fileSystem('my-model'), {includeOptimizer: true});
 * const loaded = await tf.loadLayersModel(fg.io.fileSystem('my-model'));
 * ```
 */
export function fileSystem(path: string): tf.io.IOHandler {
  if (typeof path !== 'string' || path === '') {
    throw new ValueError(`fg.io.fileSystem(path): path must be a non-empty string (a folder). Received: ${path}.`);
  }
  const dir = folderOf(path);
  return {
    save: async (artifacts: tf.io.ModelArtifacts) => writeModelArtifacts(dir, artifacts),
    load: async () => readModelArtifacts(dir),
  };
}
