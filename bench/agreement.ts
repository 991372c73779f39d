/**
 * Cross-backend agreement of forward mode (a device check, not a test): for every model of the zoo
 * (test/autodiff/zoo_models.ts) with two losses, the JVP of the training loss along fixed random
 * weight directions on a target backend vs on cpu (same weights, batch and directions). Prints the
 * relative difference |jvp_B − jvp_cpu| / max(|jvp_cpu|, Σ-scale) per case; reads results
 * asynchronously only, so it runs on webgpu in node.
 *
 *   node build/bench/agreement.js --backend webgpu      (scripts/node-webgpu.js sets up webgpu)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';

import {seedTangent, tangentOf, withTangents} from '../src/autodiff';
import {lossFunction, trainingLoss, ZOO_LOSSES, ZOO_MODELS} from '../test/autodiff/zoo_models';
import {randn} from '../test/util';
import {setUpBackends} from './report';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

interface HostTensor {
  values: Float32Array|Int32Array|Uint8Array;
  shape: number[];
  dtype: tf.DataType;
}

async function toHost(t: tf.Tensor): Promise<HostTensor> {
  return {values: await t.data() as Float32Array, shape: t.shape, dtype: t.dtype};
}

function fromHost(h: HostTensor): tf.Tensor {
  return tf.tensor(h.values, h.shape, h.dtype);
}

/** The JVP of the loss along `dirs` on the current backend, with the given weights and batch. */
async function lossJvp(
    model: tfl.LayersModel, lossName: Parameters<typeof lossFunction>[1], weights: HostTensor[],
    x: HostTensor, y: HostTensor, dirs: HostTensor[]): Promise<number> {
  const lossFn = lossFunction(model, lossName);
  model.setWeights(weights.map(fromHost));
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const xt = fromHost(x), yt = fromHost(y), dt = dirs.map(fromHost);
  const t = withTangents(() => tf.tidy(() => {
    vars.forEach((v, i) => seedTangent(v, dt[i]));
    return tangentOf(trainingLoss(model, lossFn, xt, yt)) ?? tf.scalar(0);
  }));
  const value = (await t.data())[0];
  tf.dispose([t, xt, yt, dt]);
  return value;
}

async function main(): Promise<void> {
  const backend = flag('backend', 'wasm');
  await setUpBackends([backend]);
  const losses = ZOO_LOSSES.filter(l => ['categoricalCrossentropy', 'meanSquaredError'].includes(l.name));
  let worst = 0;
  console.log(`JVP of the training loss, ${backend} vs cpu (same weights, batch, directions)`);
  for (const zm of ZOO_MODELS) {
    for (const zl of losses) {
      await tf.setBackend('cpu');
      const model = zm.build({head: zl.head});
      const x = zm.input(), y = zl.targets();
      const weights = await Promise.all(model.getWeights().map(toHost));
      const dirs = await Promise.all(model.trainableWeights.map(async w => {
        const d = randn(w.shape as number[]);
        const h = await toHost(d);
        d.dispose();
        return h;
      }));
      const xh = await toHost(x), yh = await toHost(y);
      tf.dispose([x, y]);
      const ref = await lossJvp(model, zl.name, weights, xh, yh, dirs);
      model.dispose();
      await tf.setBackend(backend);
      const m2 = zm.build({head: zl.head});
      let line: string;
      try {
        const got = await lossJvp(m2, zl.name, weights, xh, yh, dirs);
        const rel = Math.abs(got - ref) / Math.max(Math.abs(ref), 1e-3);
        worst = Math.max(worst, rel);
        line = `jvp ${got.toPrecision(7)} vs cpu ${ref.toPrecision(7)}  rel. diff ${rel.toExponential(2)}`;
      } catch (e) {
        line = `FAILED: ${(e as Error).message}`;
        worst = Infinity;
      }
      m2.dispose();
      console.log(`${backend} ${zm.name.padEnd(11)} ${zl.name.padEnd(24)} ${line}`);
    }
  }
  console.log(`worst relative difference ${backend} vs cpu: ${worst.toExponential(2)}`);
  process.exit(0);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
