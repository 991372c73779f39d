/** Save / load round trip of a model with every layer of src/layers. */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {layerNorm, patchify, stopGrad} from '../../src/layers';
import {describeBackends, expectClose, randn, seedWeights} from '../util';

/** images [8, 8, 2] → patches → LN → dense → group LN → LN over patches → stop-gradient → head. */
function buildModel(): tfl.LayersModel {
  const images = tfl.input({shape: [8, 8, 2]});
  let h = patchify({patchSize: [4, 2], name: 'patch_ify'}).apply(images) as tfl.SymbolicTensor;  // [null, 8, 16]
  h = layerNorm({name: 'ln_in'}).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.dense({units: 12, name: 'mix'}).apply(h) as tfl.SymbolicTensor;
  h = layerNorm({groups: 4, epsilon: 1e-3, name: 'ln_group'}).apply(h) as tfl.SymbolicTensor;
  h = layerNorm({axis: 1, name: 'ln_tokens'}).apply(h) as tfl.SymbolicTensor;
  h = stopGrad({name: 'stop_grad'}).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.flatten().apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({units: 3, name: 'head'}).apply(h) as tfl.SymbolicTensor;
  return seedWeights(tfl.model({inputs: images, outputs: out}));
}

describeBackends('layers: serialization', () => {
  it('a model with the layers saves and reloads: same configs, identical predictions', async () => {
    const before = tf.memory().numTensors;
    const model = buildModel();
    let artifacts: tf.io.ModelArtifacts|null = null;
    await model.save(tf.io.withSaveHandler(async a => {
      artifacts = a;
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    const topology = JSON.stringify(artifacts!.modelTopology);
    for (const cls of ['fg.Patchify', 'fg.LayerNorm', 'fg.StopGrad']) {
      expect(topology).toContain(`"class_name":"${cls}"`);
    }
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));

    const names = model.layers.map(l => l.name);
    expect(loaded.layers.map(l => l.name)).toEqual(names);  // underscores in names survive
    model.layers.forEach((l, i) => {
      expect(loaded.layers[i].getClassName()).toBe(l.getClassName());
      expect(loaded.layers[i].getConfig()).withContext(l.name).toEqual(l.getConfig());
    });
    expect(loaded.getLayer('patch_ify').getConfig()['patchSize']).toEqual([4, 2]);
    expect(loaded.getLayer('ln_group').getConfig()).toEqual(jasmine.objectContaining({axis: -1, groups: 4, epsilon: 1e-3}));
    expect(loaded.getLayer('ln_tokens').getConfig()).toEqual(jasmine.objectContaining({axis: 1, groups: 1, epsilon: 1e-5}));

    const x = randn([3, 8, 8, 2]);
    const y0 = model.predict(x) as Tensor, y1 = loaded.predict(x) as Tensor;
    expect(y0.shape).toEqual([3, 3]);
    expectClose(y1, y0, 0, 0, 'reloaded predictions');
    tf.dispose([x, y0, y1]);
    model.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describeBackends('layers: serialization of the LocalMixer layers', () => {
  it('a contrastive LocalMixer (views, blocks, projectors, readout) and a GroupLinear save and reload identically', async () => {
    const before = tf.memory().numTensors;
    const mixer = fg.models.localMixer({inputShape: [4, 4, 2], patchSize: 2, blocks: 2, channels: 8, groups: 2,
                                        classes: 3, objective: 'contrastive', projection: 4, seed: 3});
    fg.models.setTrainingMode(mixer, 'LG-FA');
    const images = tfl.input({shape: [5, 6]});
    const grouped = tfl.model({inputs: images, outputs: fg.layers.groupLinear({units: 4, groups: 2, seed: 1, name: 'gl'}).apply(images) as tfl.SymbolicTensor});
    for (const model of [mixer, grouped]) {
      let artifacts: tf.io.ModelArtifacts|null = null;
      await model.save(tf.io.withSaveHandler(async a => {
        artifacts = a;
        return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
      }));
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
      model.layers.forEach((l, i) => expect(loaded.layers[i].getConfig()).withContext(l.name).toEqual(l.getConfig()));
      const x = randn([3, ...(model.inputs[0].shape.slice(1) as number[])]);
      const a = [model.predict(x)].flat() as Tensor[], b = [loaded.predict(x)].flat() as Tensor[];
      a.forEach((t, i) => expectClose(b[i], t, 0, 0, `${model.name} output ${i}`));
      tf.dispose([x, a, b]);
      loaded.dispose();
    }
    expect(fg.models.trainingModeOf(mixer, 'none')).toBe('LG-FA');
    mixer.dispose();
    grouped.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
