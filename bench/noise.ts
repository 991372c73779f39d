/**
 * Perturbation noise on a backend (a device check, not a test): statistics of `sampleNoise` —
 * mean, variance, lag-1 and cross-seed correlations, gaussian tail mass, reproducibility — and its
 * time against tfjs's own (JavaScript) random ops for the same shape, as a ratio (both read back).
 * On webgpu and webgl `sampleNoise` runs a GPU kernel; elsewhere the package's ziggurat sampler in
 * JavaScript (src/optimizers/noise_cpu.ts).
 *
 *   node build/bench/noise.js --backend webgpu      (scripts/node-webgpu.js sets webgpu up)
 *   node build/bench/noise.js --backend wasm
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

import {NoiseKind, sampleNoise} from '../src/optimizers/noise';
import {median, setUpBackends} from './report';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function values(t: tf.Tensor): Promise<Float32Array> {
  const v = await t.data() as Float32Array;
  t.dispose();
  return v;
}

async function stats(kind: NoiseKind, n: number): Promise<string> {
  const a = await values(sampleNoise([n], kind, 1234));
  const again = await values(sampleNoise([n], kind, 1234));
  const b = await values(sampleNoise([n], kind, 1235));
  let mean = 0, sq = 0, lag = 0, cross = 0, tail = 0, same = 0;
  for (let i = 0; i < n; i++) {
    mean += a[i];
    sq += a[i] * a[i];
    cross += a[i] * b[i];
    if (i > 0) lag += a[i] * a[i - 1];
    if (Math.abs(a[i]) > 3) tail++;
    if (a[i] === again[i]) same++;
  }
  mean /= n;
  const variance = sq / n - mean * mean;
  const se = 1 / Math.sqrt(n);
  return `${kind.padEnd(10)} n ${n}: mean ${mean.toFixed(5)} (±${(3 * se).toFixed(5)} at 3σ), ` +
      `variance ${variance.toFixed(5)}, lag-1 corr ${(lag / n).toFixed(5)}, cross-seed corr ` +
      `${(cross / n).toFixed(5)}, P(|x|>3) ${(tail / n).toFixed(5)}${kind === 'gaussian' ? ' (N(0,1): 0.00270)' : ''}, ` +
      `same seed reproduces ${same === n ? 'exactly' : `${same}/${n}`}`;
}

async function time(f: () => tf.Tensor, reps: number): Promise<number> {
  await values(f());  // warm-up (shader compilation)
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await values(f());
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function main(): Promise<void> {
  const backend = flag('backend', 'cpu');
  await setUpBackends([backend]);
  await tf.setBackend(backend);
  await tf.ready();
  const n = Number(flag('n', String(1 << 20)));
  console.log(`backend ${tf.getBackend()}`);
  for (const kind of ['gaussian', 'rademacher'] as NoiseKind[]) {
    console.log(await stats(kind, n));
  }
  const shape = [1024, 1024];
  const ours = await time(() => sampleNoise(shape, 'gaussian', 7), 10);
  const theirs = await time(() => tf.randomNormal(shape, 0, 1, 'float32', 7), 10);
  console.log(`gaussian noise 1024×1024: sampleNoise ${ours.toFixed(2)} ms, tf.randomNormal ` +
              `${theirs.toFixed(2)} ms; ratio sampleNoise / tf.randomNormal ${(ours / theirs).toFixed(3)}`);
  process.exit(0);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
