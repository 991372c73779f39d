/**
 * Benchmark: local learning on the LocalMixer.
 *
 * 1. Training step of LG-FG-A, LG-BP and BP side by side on the same model (default M/8/16,
 *    batch 128, CIFAR-10-shaped random data): median ms/step of `model.trainOnBatch` over
 *    interleaved reps after a warm-up, and the step's peak memory (`tf.profile` peakBytes minus
 *    the bytes alive before the step). Prints ratios to BP.
 * 2. Peak memory of the local loss's directional derivatives as the groups grow (1 → 32), for
 *    the fused closed form this package uses and for the naive replicated formulation (P·G
 *    stop-gradient copies, Algorithm 1 "naive"), on features [N, P, D] of the preset: the fused
 *    form must stay flat, the naive one grows with G. Prints ratios to G = 1.
 *
 * Run: npm run bench:local -- [--backend wasm] [--preset M/8/16] [--batch 128] [--reps 3]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {parseArgs} from 'util';

import * as fg from '../src';
import {flagParsers, median, ms, printTable, setUpBackends, UsageError, x2} from './report';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');

const USAGE = 'usage: node build/bench/local.js [--backend wasm|cpu|webgpu] [--preset M/8/16] [--batch 128] [--reps 3] [--groups 1,2,4,8,16,32]';
const MODES = ['LG-FG-A', 'LG-BP', 'BP'] as const;

function parse() {
  const p = flagParsers(USAGE);
  const {values} = parseArgs({options: {
    backend: {type: 'string', default: 'wasm'}, preset: {type: 'string', default: 'M/8/16'},
    batch: {type: 'string', default: '128'}, reps: {type: 'string', default: '3'},
    groups: {type: 'string', default: '1,2,4,8,16,32'},
  }});
  const preset = values.preset as fg.models.LocalMixerPreset;
  if (!fg.models.LOCAL_MIXER_PRESETS.includes(preset)) {
    throw new UsageError(`--preset: unknown '${preset}' (known: ${fg.models.LOCAL_MIXER_PRESETS.join(', ')}).\n${USAGE}`);
  }
  return {
    backend: values.backend as string, preset, batch: p.int('batch', values.batch, 1), reps: p.int('reps', values.reps, 1),
    groups: p.list(values.groups).map(g => p.int('groups', g, 1)),
  };
}

/** Peak bytes of `fn` above what was alive before it. */
async function peakOf(fn: () => Promise<unknown>|unknown): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(async () => {
    await fn();
  });
  return info.peakBytes - before;
}

async function stepBench(preset: fg.models.LocalMixerPreset, batch: number, reps: number) {
  const inputShape = fg.models.localMixer({preset}).inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10);
  const variants = MODES.map(mode => {
    const model = fg.models.localMixer({preset, seed: 0});
    const opt = fg.models.compileLocalMixer(model, {mode, seed: 1});
    opt.attach(model);
    return {mode, model, ys: fg.models.localMixerTargets(model, y), times: [] as number[], peak: 0, error: ''};
  });
  for (const v of variants) {
    try {
      await v.model.trainOnBatch(x, v.ys);  // warm-up: kernels, optimizer state
      v.peak = await peakOf(() => v.model.trainOnBatch(x, v.ys));
    } catch (e) {
      // e.g. wasm's 4 GB heap: the step does not fit at this batch size
      v.error = (e as Error).message.slice(0, 80);
    }
  }
  for (let r = 0; r < reps; r++) {
    for (const v of variants.filter(w => !w.error)) {
      const t0 = performance.now();
      await v.model.trainOnBatch(x, v.ys);
      v.times.push(performance.now() - t0);
    }
  }
  const bp = variants.find(v => v.mode === 'BP')!;
  console.log(`\n## Training step, ${preset}, batch ${batch}, ${tf.getBackend()} (median of ${reps})`);
  printTable([
    {head: 'mode', cell: v => v.mode, left: true},
    {head: 'step / BP', cell: v => x2(median(v.times) / median(bp.times))},
    {head: 'peak mem / BP', cell: v => x2(v.peak / bp.peak)},
    {head: 'ms/step', cell: v => ms(median(v.times))},
    {head: 'peak MB', cell: v => (v.peak / 2 ** 20).toFixed(1)},
  ], variants, v => v.error ? `  failed: ${v.error}` : '');
  for (const v of variants) {
    (v.model.optimizer as fg.optimizers.ForwardGradientOptimizer).detach();
    v.model.dispose();
  }
  tf.dispose([x, y]);
}

/** The naive replicated losses [N, P, G] (Algorithm 1 "naive"). */
function naiveLosses(x: tf.Tensor, w: tf.Tensor, y: tf.Tensor, groups: number): tf.Tensor {
  const [n, p, d] = x.shape;
  const mean = tf.mean(x, 1, true);
  const own = tf.add(tf.div(x, p), fg.stopGradient(tf.sub(mean, tf.div(x, p))));
  const mask = tf.tidy(() => tf.cast(tf.equal(
      tf.reshape(tf.range(0, groups, 1, 'int32'), [groups, 1]),
      tf.reshape(tf.floorDiv(tf.range(0, d, 1, 'int32'), d / groups), [1, d])), 'float32'));
  const feat = tf.add(tf.mul(tf.reshape(own, [n, p, 1, d]), mask),
                      tf.mul(fg.stopGradient(tf.reshape(mean, [n, 1, 1, d])), tf.sub(1, mask)));
  const logits = tf.reshape(tf.matMul(tf.reshape(feat, [-1, d]), w), [n, p, groups, -1]);
  return tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(tf.reshape(y, [n, 1, 1, -1]), logits), -1));
}

async function groupsBench(preset: fg.models.LocalMixerPreset, batch: number, groupsList: number[]) {
  const model = fg.models.localMixer({preset});
  const [, p, d] = (model.getLayer('block_0').outputShape as number[]);
  model.dispose();
  const x = tf.randomNormal([batch, p, d], 0, 1, 'float32', 3);
  const xt = tf.randomNormal([batch, p, d], 0, 1, 'float32', 4);
  const w = tf.randomNormal([d, 10], 0, 0.05, 'float32', 5);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 6), 10);
  const rows: Array<{g: number, fused: number, naive: number|null}> = [];
  for (const g of groupsList) {
    if (d % g !== 0) {
      continue;
    }
    const fused = await peakOf(() => tf.tidy(() => {
      const error = tf.sub(tf.softmax(tf.matMul(tf.mean(x, 1), w)), y);
      return fg.losses.localLossTangents(xt, w, error, g).dataSync();
    }));
    let naive: number|null = null;
    try {
      naive = await peakOf(() => tf.tidy(() => (fg.jvp(xx => naiveLosses(xx, w, y, g), [x], [xt]).tangent as tf.Tensor).dataSync()));
    } catch (e) {
      console.log(`naive G=${g}: ${(e as Error).message}`);
    }
    rows.push({g, fused, naive});
  }
  const base = rows[0];
  console.log(`\n## Local-loss tangents [N, P, G] from features [${batch}, ${p}, ${d}] (${preset}), ${tf.getBackend()}: peak memory`);
  printTable([
    {head: 'groups', cell: r => String(r.g)},
    {head: 'fused / G=1', cell: r => x2(r.fused / base.fused)},
    {head: 'naive / G=1', cell: r => r.naive == null || base.naive == null ? '-' : x2(r.naive / base.naive)},
    {head: 'naive / fused', cell: r => r.naive == null ? '-' : x2(r.naive / r.fused)},
    {head: 'fused MB', cell: r => (r.fused / 2 ** 20).toFixed(1)},
    {head: 'naive MB', cell: r => r.naive == null ? '-' : (r.naive / 2 ** 20).toFixed(1)},
  ], rows);
  tf.dispose([x, xt, w, y]);
}

(async () => {
  let args;
  try {
    args = parse();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  await setUpBackends([args.backend]);
  await tf.setBackend(args.backend);
  await tf.ready();
  tfl.layers.dense({units: 1});  // tfjs-layers loaded (registers gradients)
  await stepBench(args.preset, args.batch, args.reps);
  await groupsBench(args.preset, args.batch, args.groups);
})().catch(e => {
  console.error(e);
  process.exit(1);
});
