/** CIFAR-10 binary parser (CHW → HWC) and split helpers on generated records. */
import {ValueError} from '../../src/errors';
import {concatSplits, gatherSplit, parseCifar10Batch, sliceSplit} from '../../src/data';
import {cifarBytes, pixel} from './fixtures';

describe('data: parseCifar10Batch and split helpers', () => {
  it('converts the red, green and blue planes to HWC', () => {
    const split = parseCifar10Batch(cifarBytes([3, 9, 0]), 'batch');
    expect([split.count, split.height, split.width, split.channels]).toEqual([3, 32, 32, 3]);
    expect(Array.from(split.labels)).toEqual([3, 9, 0]);
    expect(split.images.length).toBe(3 * 3072);
    for (let i = 0; i < 3; i++) {
      for (const [y, x] of [[0, 0], [0, 1], [5, 17], [31, 31]]) {
        for (let c = 0; c < 3; c++) {
          expect(split.images[i * 3072 + (y * 32 + x) * 3 + c]).toBe(pixel(i, y, x, c));
        }
      }
    }
  });

  it('rejects lengths that are not whole records, and labels > 9', () => {
    const good = cifarBytes([1, 2]);
    expect(() => parseCifar10Batch(good.subarray(0, 6000), 'data_batch_1.bin'))
        .toThrowError(ValueError, /data_batch_1.bin: 6000 bytes is not a whole number of 3073-byte.*truncated/);
    expect(() => parseCifar10Batch(new Uint8Array(0), 'empty.bin')).toThrowError(ValueError, /empty.bin: 0 bytes/);
    expect(() => parseCifar10Batch(cifarBytes([1, 10]), 'b.bin'))
        .toThrowError(ValueError, /b.bin: label 10 at index 1 is out of range/);
  });

  it('concatSplits joins in order; sliceSplit and gatherSplit copy the right images', () => {
    const a = parseCifar10Batch(cifarBytes([1, 2], 0), 'a');
    const b = parseCifar10Batch(cifarBytes([3], 2), 'b');
    const ab = concatSplits(a, b);
    expect(ab.count).toBe(3);
    expect(Array.from(ab.labels)).toEqual([1, 2, 3]);
    expect(ab.images[2 * 3072 + 4]).toBe(pixel(2, 0, 1, 1));
    const s = sliceSplit(ab, 1, 3);
    expect(Array.from(s.labels)).toEqual([2, 3]);
    expect(s.images.subarray(0, 3072)).toEqual(ab.images.subarray(3072, 6144));
    const g = gatherSplit(ab, [2, 0]);
    expect(Array.from(g.labels)).toEqual([3, 1]);
    expect(g.images.subarray(3072)).toEqual(ab.images.subarray(0, 3072));
    expect(() => concatSplits()).toThrowError(ValueError, /at least one/);
    expect(() => concatSplits(a, {...a, height: 16, images: new Uint8Array(2 * 16 * 32 * 3)}))
        .toThrowError(ValueError, /image shapes differ: 32×32×3 vs 16×32×3/);
    expect(() => sliceSplit(a, 1, 5)).toThrowError(ValueError, /sliceSplit/);
    expect(() => gatherSplit(a, [2])).toThrowError(ValueError, /index 2 .*out of range \[0, 2\)/);
  });
});
