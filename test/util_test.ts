/**
 * The test helpers' seeding: every spec draws from its own full name (backend tag removed), so its
 * points do not depend on which specs ran before it, on the runner's load order, or on the backend.
 */
import * as tf from '@tensorflow/tfjs-core';

import {describeBackends, maxAbsDiff, nextSeed, randn, randu, seedFor} from './util';

describeBackends('test util seeding', backend => {
  let drawnInBeforeAll: tf.Tensor;
  beforeAll(() => {
    drawnInBeforeAll = randn([5]);
  });
  afterAll(() => drawnInBeforeAll.dispose());

  it('draws in beforeAll from the suite full name', () => {
    const expected = tf.randomNormal([5], 0, 1, 'float32', seedFor('test util seeding', 0));
    expect(maxAbsDiff(drawnInBeforeAll, expected)).toBe(0);
    expected.dispose();
  });

  it('draws in a spec from the spec full name without the backend tag, a fresh seed each call', () => {
    const name = 'test util seeding draws in a spec from the spec full name without the backend tag, ' +
        'a fresh seed each call';
    const a = randn([4, 3], 2), b = randu([6], -1, 1);
    const ea = tf.mul(tf.randomNormal([4, 3], 0, 1, 'float32', seedFor(name, 0)), 2);
    const eb = tf.randomUniform([6], -1, 1, 'float32', seedFor(name, 1));
    expect(maxAbsDiff(a, ea)).withContext(`randn on ${backend}`).toBe(0);
    expect(maxAbsDiff(b, eb)).withContext(`randu on ${backend}`).toBe(0);
    expect(nextSeed()).toBe(seedFor(name, 2));
    tf.dispose([a, b, ea, eb]);
  });

  it('draws in another spec values of its own', () => {
    const a = randn([8]);
    const other = tf.randomNormal([8], 0, 1, 'float32', seedFor('test util seeding draws in another spec values of its own', 0));
    const suite = tf.randomNormal([8], 0, 1, 'float32', seedFor('test util seeding', 0));
    expect(maxAbsDiff(a, other)).toBe(0);
    expect(maxAbsDiff(a, suite)).toBeGreaterThan(0);
    tf.dispose([a, other, suite]);
  });
});
