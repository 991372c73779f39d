/** Generated in-memory data files for the data specs: tiny IDX files and CIFAR-10 records. */

/** Big-endian IDX bytes: magic, dims, data. */
export function idxBytes(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(Array.from(data), header.length);
  return out;
}

/** Pixel (y, x) of test image i: a pattern that differs per image, row and column. */
export function pixel(i: number, y: number, x: number, c = 0): number {
  return (i * 31 + y * 7 + x * 3 + c * 85) % 256;
}

/** An IDX image file of n images h×w with `pixel` values. */
export function idxImages(n: number, h: number, w: number): Uint8Array {
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        data.push(pixel(i, y, x));
      }
    }
  }
  return idxBytes(0x803, [n, h, w], data);
}

/** An IDX label file. */
export function idxLabels(labels: number[]): Uint8Array {
  return idxBytes(0x801, [labels.length], labels);
}

/** CIFAR-10 binary records (label, then R, G, B planes of 32×32) of images with `pixel(first + i, ...)`. */
export function cifarBytes(labels: number[], first = 0): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, i) => {
    const rec = i * 3073;
    out[rec] = label;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[rec + 1 + c * 1024 + y * 32 + x] = pixel(first + i, y, x, c);
        }
      }
    }
  });
  return out;
}
