/**
 * Parser of the CIFAR-10 binary version (www.cs.toronto.edu/~kriz/cifar.html): each record is 1
 * label byte then 3072 pixel bytes, a 32×32 red plane, then green, then blue (CHW). Pure (bytes in,
 * arrays out), so it runs in browsers as well as node.
 */
import {ValueError} from '../errors';
import {checkLabels, ImageSplit} from './split';

/** Bytes per CIFAR-10 record: 1 label + 32·32·3 pixels. */
export const CIFAR10_RECORD_BYTES = 1 + 32 * 32 * 3;

/** CIFAR-10 class names, by label (from `batches.meta.txt`). */
export const CIFAR10_CLASSES: readonly string[] =
    ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/**
 * One CIFAR-10 binary batch file (e.g. `data_batch_1.bin`, `test_batch.bin`) → an `ImageSplit` of
 * 32×32×3 images converted from the file's CHW planes to HWC, with labels 0–9. The length must be a
 * whole number of 3073-byte records (else the file is truncated or not CIFAR-10); `what` names the
 * file in errors.
 */
export function parseCifar10Batch(bytes: Uint8Array, what: string): ImageSplit {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new ValueError(`${what}: ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte ` +
                         `CIFAR-10 records (${Math.floor(bytes.length / CIFAR10_RECORD_BYTES)} records and ` +
                         `${bytes.length % CIFAR10_RECORD_BYTES} bytes over): the file is empty, truncated or ` +
                         'not the CIFAR-10 binary version.');
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const plane = 32 * 32;
  const labels = new Uint8Array(count);
  const images = new Uint8Array(count * plane * 3);
  for (let i = 0; i < count; i++) {
    const src = i * CIFAR10_RECORD_BYTES;
    labels[i] = bytes[src];
    const dst = i * plane * 3;
    for (let c = 0; c < 3; c++) {
      const from = src + 1 + c * plane;
      for (let p = 0; p < plane; p++) {
        images[dst + 3 * p + c] = bytes[from + p];
      }
    }
  }
  checkLabels(labels, 10, what);
  return {images, labels, count, height: 32, width: 32, channels: 3};
}
