/** GroupLinear and the LocalMixer's linear maps: values against a block-diagonal dense layer, JVPs, errors. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {groupLinear, layerNormBackward} from '../../src/layers/local_ops';
import {checkJvp, describeBackends, expectClose, randn, tolScale} from '../util';

describeBackends('GroupLinear', () => {
  it('equals a dense layer with a block-diagonal kernel; groups never communicate', () => {
    const layer = fg.layers.groupLinear({units: 6, groups: 3, seed: 2});
    const x = randn([4, 5, 9]);
    tf.tidy(() => {
      const y = layer.apply(x) as Tensor;
      const [w, b] = layer.getWeights();  // [3, 3, 2], [3, 2]
      const blocks = tf.unstack(w);
      const dense = tf.concat(blocks.map((blk, g) => tf.pad(blk, [[g * 3, (2 - g) * 3], [0, 0]])), 1);  // [9, 6]
      const want = tf.add(tf.reshape(tf.matMul(tf.reshape(x, [-1, 9]), dense), [4, 5, 6]), tf.reshape(b, [6]));
      expectClose(y, want, 1e-5 * tolScale(), 1e-5 * tolScale());
      expect(layer.countParams()).toBe(3 * 3 * 2 + 6);
    });
    tf.dispose(x);
  });

  it('forward mode through the grouped map and the LayerNorm pull-back agree with the oracles', () => {
    const w = randn([2, 3, 4]), b = randn([2, 4], 0.1);
    checkJvp((x: Tensor) => groupLinear(x, w, b, null), [randn([5, 2, 3])]);
    checkJvp((x: Tensor, ww: Tensor) => groupLinear(x, ww, b, null), [randn([5, 2, 3]), w]);
    // layerNormBackward is the VJP of normalize: ⟨J·v, u⟩ = ⟨v, layerNormBackward(u)⟩
    tf.tidy(() => {
      const h = randn([4, 6]), v = randn([4, 6]), u = randn([4, 6]);
      const {tangent} = fg.jvp(hh => fg.layers.normalize(hh), [h], [v]);
      const lhs = tf.sum(tf.mul(tangent as Tensor, u));
      const rhs = tf.sum(tf.mul(v, layerNormBackward(h, u, -1, 1e-5)));
      expectClose(lhs, rhs, 1e-4 * tolScale(), 1e-5);
    });
    tf.dispose([w, b]);
  });

  it('rejects groups that do not divide the channels', () => {
    expect(() => fg.layers.groupLinear({units: 6, groups: 4})).toThrowError(/does not divide units 6/);
    expect(() => fg.layers.groupLinear({units: 4, groups: 2}).apply(tfl.input({shape: [5]}))).toThrowError(/does not divide the 5 input channels/);
  });
});
