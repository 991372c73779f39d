/** Patchify layer: the paper's patch order, shapes, forward mode, bad configurations. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {ValueError} from '../../src/errors';
import {Patchify, patchify} from '../../src/layers';
import {checkJvp, describeBackends, expectClose, randn} from '../util';

/** The expected patches of an [N, H, W, C] image given as a flat row-major array, by loops. */
function patchesByHand(img: Float32Array, [n, h, w, c]: number[], [ph, pw]: number[]): number[] {
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h / ph; i++) {      // patch row
      for (let j = 0; j < w / pw; j++) {    // patch column: row-major over the grid
        for (let a = 0; a < ph; a++) {      // (h, w, c) inside a patch
          for (let q = 0; q < pw; q++) {
            for (let k = 0; k < c; k++) {
              out.push(img[((b * h + i * ph + a) * w + j * pw + q) * c + k]);
            }
          }
        }
      }
    }
  }
  return out;
}

describeBackends('layers: Patchify', (backend) => {
  it('infers symbolic shapes in a functional model', () => {
    const mnist = tfl.input({shape: [28, 28, 1]});
    expect((patchify({patchSize: 7}).apply(mnist) as tfl.SymbolicTensor).shape).toEqual([null, 16, 49]);
    const rect = tfl.input({shape: [4, 8, 3]});
    expect((patchify({patchSize: [2, 4]}).apply(rect) as tfl.SymbolicTensor).shape).toEqual([null, 4, 24]);
    const unknownHeight = tfl.input({shape: [null, 8, 3]});
    expect((patchify({patchSize: 2}).apply(unknownHeight) as tfl.SymbolicTensor).shape).toEqual([null, null, 12]);
    expect(new Patchify({patchSize: 2}).getClassName()).toBe('fg.Patchify');
  });

  it('cuts an arange image into exactly the paper\'s patch vectors', () => {
    const shape = [2, 4, 6, 3], size = [2, 3];
    const x = tf.tidy(() => tf.reshape(tf.range(0, 2 * 4 * 6 * 3, 1, 'float32'), shape));
    const layer = patchify({patchSize: size as [number, number]});
    const before = tf.memory().numTensors;
    const y = layer.apply(x) as Tensor;
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(y.shape).toEqual([2, 4, 18]);
    expect(Array.from(y.dataSync())).toEqual(patchesByHand(x.dataSync() as Float32Array, shape, size));
    // first patch of the first image: rows 0–1, columns 0–2, all channels
    expect(Array.from(y.dataSync().slice(0, 18))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 18, 19, 20, 21, 22, 23, 24, 25, 26]);
    tf.dispose([x, y]);
  });

  it('matches the paper\'s rank-6 reshape [N, n, h, n, w, C] → [N, (n n), (h w C)]', () => {
    if (backend !== 'cpu') {
      return;  // rank-6 transposes: cpu is the reference
    }
    const x = randn([3, 6, 6, 2]);
    tf.tidy(() => {
      const y = patchify({patchSize: 3}).apply(x) as Tensor;
      const ref = tf.reshape(tf.transpose(tf.reshape(x, [3, 2, 3, 2, 3, 2]), [0, 1, 3, 2, 4, 5]), [3, 4, 18]);
      expectClose(y, ref, 0, 0);
    });
    x.dispose();
  });

  it('forward mode: JVP through the layer (also with batched tangents)', () => {
    const layer = patchify({patchSize: [2, 1]});
    const x = randn([2, 4, 3, 2]);
    checkJvp(a => layer.apply(a) as Tensor, [x]);
    checkJvp(a => tf.square(layer.apply(a) as Tensor), [x]);
    x.dispose();
  });

  it('bad configurations raise a clear ValueError', () => {
    expect(() => patchify({patchSize: 5}).apply(tfl.input({shape: [28, 28, 1]})))
        .toThrowError(ValueError, /Patchify.*patch size 5 does not divide the image height 28/);
    expect(() => patchify({patchSize: [2, 5]}).apply(tfl.input({shape: [4, 8, 1]})))
        .toThrowError(ValueError, /patch size 5 does not divide the image width 8/);
    expect(() => patchify({patchSize: 2}).apply(tfl.input({shape: [4, 4]})))
        .toThrowError(ValueError, /rank 4.*Received: input shape \[null, 4, 4\]/);
    expect(() => patchify({patchSize: 0})).toThrowError(ValueError, /patchSize must be .*Received: patchSize=0/);
    expect(() => patchify({patchSize: [2] as unknown as number})).toThrowError(ValueError, /Received: patchSize=\[2\]/);
    expect(() => patchify({patchSize: 1.5})).toThrowError(ValueError, /Received: patchSize=1.5/);
    expect(() => patchify({} as {patchSize: number})).toThrowError(ValueError, /patchSize/);
    // a height unknown when the model was built is checked when the layer runs
    const layer = patchify({patchSize: 2, name: 'p_eager'});
    const x = tf.zeros([1, 3, 4, 1]);
    expect(() => layer.apply(x)).toThrowError(ValueError, /'p_eager'.*patch size 2 does not divide the image height 3/);
    x.dispose();
  });
});
