/**
 * Benchmark: local learning on the LocalMixer.
 *
 * 1. Training step of LG-FG-A, LG-BP and BP on the same model (default M/8/16, batches 128 and 32,
 *    CIFAR-10-shaped random data): median ms/step of `model.trainOnBatch` after a warm-up, and the
 *    step's peak memory (the data buffers alive above those alive before the step, each counted
 *    once: `peakBufferBytes`; `tf.profile`'s peakBytes counts the clones tfjs saves again). Each
 *    measurement runs in its own process, one after the other (a step that does not fit in wasm's
 *    memory aborts the wasm module); ratios to BP at the same batch.
 * 2. Peak memory (on cpu) of the local loss's directional derivatives as the groups grow (1 → 32), for
 *    the fused closed form this package uses and for the naive replicated formulation (P·G
 *    stop-gradient copies, Algorithm 1 "naive"), on features [N, P, D] of the preset: the fused
 *    form must stay flat, the naive one grows with G. Prints ratios to G = 1.
 *
 * Run: npm run bench:local -- [--backend wasm] [--preset M/8/16] [--batches 128,32] [--reps 3]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawnSync} from 'child_process';
import {parseArgs} from 'util';

import * as fg from '../src';
import {localLossTangents} from '../src/losses/local_cross_entropy';
import {flagParsers, median, ms, peakBufferBytes, printTable, setUpBackends, UsageError, x2} from './report';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');

const USAGE = 'usage: node build/bench/local.js [--backend wasm|cpu|webgpu] [--preset M/8/16] [--batches 128,32] [--reps 3] [--groups 1,2,4,8,16,32]';
const MODES = ['LG-FG-A', 'LG-BP', 'BP'] as const;

function parse() {
  const p = flagParsers(USAGE);
  const {values} = parseArgs({options: {
    backend: {type: 'string', default: 'wasm'}, preset: {type: 'string', default: 'M/8/16'},
    batches: {type: 'string', default: '128,32'}, reps: {type: 'string', default: '3'},
    groups: {type: 'string', default: '1,2,4,8,16,32'},
    // internal: one measurement in a child process (a wasm out-of-memory abort kills the module)
    only: {type: 'string'}, batch: {type: 'string'},
  }});
  const preset = values.preset as fg.models.LocalMixerPreset;
  if (!fg.models.LOCAL_MIXER_PRESETS.includes(preset)) {
    throw new UsageError(`--preset: unknown '${preset}' (known: ${fg.models.LOCAL_MIXER_PRESETS.join(', ')}).\n${USAGE}`);
  }
  return {
    backend: values.backend as string, preset, reps: p.int('reps', values.reps, 1),
    batches: p.list(values.batches).map(b => p.int('batches', b, 1)),
    groups: p.list(values.groups).map(g => p.int('groups', g, 1)),
    only: values.only, batch: values.batch == null ? null : p.int('batch', values.batch, 1),
  };
}

/** Peak bytes of `fn` above what was alive before it (data buffers, each counted once). */
const peakOf = peakBufferBytes;

/** Child: one mode at one batch size → {ms, peak} on stdout. */
async function measureStep(preset: fg.models.LocalMixerPreset, mode: string, batch: number, reps: number) {
  const model = fg.models.localMixer({preset, seed: 0});
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10);
  const opt = fg.models.compileLocalMixer(model, {mode: mode as fg.models.TrainingMode, seed: 1});
  opt.attach(model);
  const ys = fg.models.localMixerTargets(model, y);
  await model.trainOnBatch(x, ys);  // warm-up: kernels, optimizer state
  const peak = await peakOf(() => model.trainOnBatch(x, ys));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await model.trainOnBatch(x, ys);
    times.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ms: median(times), peak}));
}

/** Runs this benchmark as a child process for one measurement; the reason on failure. */
function child(args: string[]): {ms?: number, peak?: number, error?: string} {
  const r = spawnSync(process.execPath, [__filename, ...args], {encoding: 'utf8', maxBuffer: 1 << 24});
  const line = (r.stdout ?? '').split('\n').reverse().find(l => l.startsWith('{'));
  if (r.status === 0 && line != null) {
    return JSON.parse(line);
  }
  const why = /Aborted\(\)/.test(r.stderr ?? '') ? 'out of memory (wasm abort)' :
      ((r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`).slice(0, 80);
  return {error: why};
}

async function stepBench(args: ReturnType<typeof parse>) {
  const rows: Array<{mode: string, batch: number, ms?: number, peak?: number, error?: string}> = [];
  for (const batch of args.batches) {
    for (const mode of MODES) {
      rows.push({mode, batch, ...child(['--only', mode, '--batch', String(batch), '--preset', args.preset,
                                        '--backend', args.backend, '--reps', String(args.reps)])});
    }
  }
  console.log(`\n## Training step, ${args.preset}, ${args.backend} (median of ${args.reps}; each in its own process)`);
  const bpOf = (b: number) => rows.find(r => r.mode === 'BP' && r.batch === b);
  printTable([
    {head: 'batch', cell: r => String(r.batch)},
    {head: 'mode', cell: r => r.mode, left: true},
    {head: 'step / BP', cell: r => r.ms == null || bpOf(r.batch)?.ms == null ? '-' : x2(r.ms / bpOf(r.batch)!.ms!)},
    {head: 'peak mem / BP', cell: r => r.peak == null || bpOf(r.batch)?.peak == null ? '-' : x2(r.peak / bpOf(r.batch)!.peak!)},
    {head: 'ms/step', cell: r => ms(r.ms)},
    {head: 'peak MB', cell: r => r.peak == null ? '-' : (r.peak / 2 ** 20).toFixed(1)},
  ], rows, r => r.error ? `  failed: ${r.error}` : '');
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
      return localLossTangents(xt, w, error, g).dataSync();
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
  if (args.only != null) {
    await measureStep(args.preset, args.only, args.batch ?? 128, args.reps);
    return;
  }
  await stepBench(args);
  // Peak memory is the tfjs engine's count of tensor bytes, the same on every backend; cpu has room
  // for the naive formulation's P·G copies, which overflow wasm's heap.
  await tf.setBackend('cpu');
  await groupsBench(args.preset, args.batches[0], args.groups);
})().catch(e => {
  console.error(e);
  process.exit(1);
});
