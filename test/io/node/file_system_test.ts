/**
 * fg.io.fileSystem (node): model.save / tf.loadLayersModel through a folder without tfjs-node,
 * optimizer state included, and clear errors for damaged or missing files.
 */
/// <reference types="node" />
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../../src';
import {describeBackends, seedWeights} from '../../util';

function mlp(): tfl.LayersModel {
  return seedWeights(tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [4], units: 5, activation: 'relu'}),
    tfl.layers.dense({units: 3, activation: 'softmax'}),
  ]}));
}

describeBackends('fg.io.fileSystem', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-io-'));
  });
  afterEach(() => fs.rmSync(dir, {recursive: true, force: true}));

  it('saves a model with its forward-gradient optimizer and loads it back bit for bit (folder or model.json path)', async () => {
    const model = mlp();
    const o = fg.optimizers.forwardGradient({perturb: 'activity', seed: 4, optimizer: 'adam', learningRate: 0.01});
    model.compile({optimizer: o, loss: 'categoricalCrossentropy'});
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 1);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3));
    await model.fit(x, y, {epochs: 1, batchSize: 4, verbose: 0});
    const result = await model.save(fg.io.fileSystem(path.join(dir, 'm')), {includeOptimizer: true});
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dir, 'm', 'model.json'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'm', 'weights.bin'))).toBe(true);
    for (const where of [path.join(dir, 'm'), path.join(dir, 'm', 'model.json')]) {
      const loaded = await tfl.loadLayersModel(fg.io.fileSystem(where));
      expect(loaded.getWeights().map(w => Array.from(w.dataSync())))
          .toEqual(model.getWeights().map(w => Array.from(w.dataSync())));
      expect(loaded.optimizer instanceof fg.ForwardGradientOptimizer).toBe(true);
      expect(loaded.optimizer.iterations).toBe(2);
      loaded.optimizer.dispose();
      loaded.dispose();
    }
    tf.dispose([x, y]);
    model.dispose();
    o.dispose();
  });

  it('a missing folder or a truncated weights file is a ValueError naming the file', async () => {
    await expectAsync(tfl.loadLayersModel(fg.io.fileSystem(path.join(dir, 'none'))))
        .toBeRejectedWithError(fg.ValueError, /model\.json is missing/);
    const model = mlp();
    await model.save(fg.io.fileSystem(dir));
    const bin = path.join(dir, 'weights.bin');
    fs.writeFileSync(bin, fs.readFileSync(bin).subarray(0, 10));
    await expectAsync(tfl.loadLayersModel(fg.io.fileSystem(dir)))
        .toBeRejectedWithError(fg.ValueError, /weights\.bin has 10 bytes, but .*model\.json describes \d+ bytes \(truncated\)/);
    expect(() => fg.io.fileSystem('')).toThrowError(fg.ValueError, /non-empty string/);
    model.dispose();
  });
}, ['cpu']);
