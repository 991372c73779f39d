/**
 * Parser of IDX files, the format of MNIST and Fashion-MNIST (yann.lecun.com/exdb/mnist): a
 * big-endian header (magic 0x0000 TT DD: type TT, DD dimensions), DD big-endian uint32 sizes, then
 * the data row-major. Pure (bytes in, arrays out), so it runs in browsers as well as node.
 */
import {ValueError} from '../errors';
import {checkLabels, ImageSplit} from './split';

/** IDX magic number of a rank-3 uint8 array: images [n, rows, cols]. */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** IDX magic number of a rank-1 uint8 array: labels [n]. */
export const IDX_LABELS_MAGIC = 0x00000801;

/** A parsed IDX file: its magic number, its dimensions and its uint8 data (a view into the input). */
export interface IdxArray {
  magic: number;
  dims: number[];
  data: Uint8Array;
}

const hex = (m: number) => `0x${m.toString(16).padStart(8, '0')}`;

/**
 * Parses an IDX file of unsigned bytes (type 0x08, any rank ≥ 1) and checks it thoroughly: magic
 * number, non-zero sizes and an exact byte length, so that a truncated download or a file with
 * trailing bytes fails loudly instead of yielding shifted images. `what` names the file in errors.
 * `data` is a view into `bytes` (no copy).
 */
export function parseIdx(bytes: Uint8Array, what: string): IdxArray {
  if (bytes.length < 4) {
    throw new ValueError(`${what}: not an IDX file: ${bytes.length} bytes is shorter than the 4-byte header ` +
                         '(truncated or empty file).');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = bytes[2], rank = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type !== 0x08 || rank === 0) {
    throw new ValueError(`${what}: bad IDX magic number ${hex(magic)}: expected ${hex(IDX_IMAGES_MAGIC)} (uint8 ` +
                         `images) or ${hex(IDX_LABELS_MAGIC)} (uint8 labels). Not an (uncompressed) IDX file?`);
  }
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new ValueError(`${what}: truncated IDX header: ${bytes.length} bytes, the header of a rank-${rank} ` +
                         `file has ${headerLength}.`);
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    dims.push(view.getUint32(4 + 4 * i, false));
  }
  if (dims.slice(1).some(d => d === 0)) {
    throw new ValueError(`${what}: IDX dimensions [${dims.join(', ')}] have a zero size.`);
  }
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    const kind = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    throw new ValueError(`${what}: IDX file ${kind}: ${bytes.length} bytes, but dimensions ` +
                         `[${dims.join(', ')}] need exactly ${expected}.`);
  }
  return {magic, dims, data: bytes.subarray(headerLength)};
}

/**
 * MNIST-format images and labels (IDX files, uncompressed) → an `ImageSplit` of `count` grey
 * images [height, width, 1] with labels 0–9. The image and label files must have the same count.
 * `what` names the split in errors (e.g. 'mnist train'). The arrays are copies.
 */
export function parseMnist(imagesBytes: Uint8Array, labelsBytes: Uint8Array, what: string): ImageSplit {
  const images = parseIdx(imagesBytes, `${what} images`);
  const labels = parseIdx(labelsBytes, `${what} labels`);
  if (images.magic !== IDX_IMAGES_MAGIC) {
    throw new ValueError(`${what} images: IDX magic ${hex(images.magic)} is not that of uint8 images ` +
                         `[n, rows, cols] (${hex(IDX_IMAGES_MAGIC)}). Are the image and label files swapped?`);
  }
  if (labels.magic !== IDX_LABELS_MAGIC) {
    throw new ValueError(`${what} labels: IDX magic ${hex(labels.magic)} is not that of uint8 labels [n] ` +
                         `(${hex(IDX_LABELS_MAGIC)}). Are the image and label files swapped?`);
  }
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new ValueError(`${what}: the image file has ${count} images but the label file has ` +
                         `${labels.dims[0]} labels (files from different splits or data sets?).`);
  }
  checkLabels(labels.data, 10, `${what} labels`);
  return {
    images: new Uint8Array(images.data),
    labels: new Uint8Array(labels.data),
    count,
    height,
    width,
    channels: 1,
  };
}
