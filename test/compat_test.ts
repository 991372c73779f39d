/**
 * Two copies of TensorFlow.js: the warning printed at import names both versions and the fix; one
 * copy (this repository) gives none.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {observeTfjsCopies, tfjsCopiesProblem} from '../src/compat';

describe('two copies of tfjs', () => {
  it('one copy: no problem, and the engine is this copy\'s', () => {
    const facts = observeTfjsCopies();
    expect(facts.foreignEngine).toBe(false);
    expect(facts.ours).toEqual({core: tf.version_core, layers: tfl.version_layers});
    expect(tfjsCopiesProblem(facts)).toBeNull();
  });

  it('two loaded copies: names both versions and folders, and the install command for the in-range one', () => {
    const problem = tfjsCopiesProblem({ours: {core: '4.22.0', layers: '4.22.0'}, foreignEngine: false, loaded: [
      {name: '@tensorflow/tfjs-core', version: '4.21.0', dir: '/p/node_modules/@tensorflow/tfjs-core'},
      {name: '@tensorflow/tfjs-core', version: '4.22.0', dir: '/p/node_modules/tfjs-forward-gradient/node_modules/@tensorflow/tfjs-core'},
    ]});
    expect(problem).toContain('this package uses @tensorflow/tfjs-core 4.22.0 and @tensorflow/tfjs-layers 4.22.0');
    expect(problem).toContain('@tensorflow/tfjs-core 4.21.0 (/p/node_modules/@tensorflow/tfjs-core)');
    expect(problem).toContain('npm install @tensorflow/tfjs@4.21.0');
  });

  it('another copy below the supported range: the command installs this package\'s version', () => {
    const problem = tfjsCopiesProblem({ours: {core: '4.22.0', layers: '4.22.0'}, foreignEngine: true, loaded: [
      {name: '@tensorflow/tfjs-core', version: '4.19.0', dir: null}, {name: '@tensorflow/tfjs-core', version: '4.22.0', dir: null}]});
    expect(problem).toContain('@tensorflow/tfjs-core 4.19.0, @tensorflow/tfjs-core 4.22.0');
    expect(problem).toContain('within >=4.20.0 <5');
    expect(problem).toContain('npm install @tensorflow/tfjs@4.22.0');
  });

  it('a foreign engine with nothing else known (a browser bundle) still warns', () => {
    expect(tfjsCopiesProblem({ours: {core: '4.22.0', layers: '4.22.0'}, foreignEngine: true, loaded: []}))
        .toContain('another copy of @tensorflow/tfjs-core was loaded first');
  });
});
