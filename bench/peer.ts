/**
 * Benchmark: our LocalMixer training step against the same step in PyTorch on the CPU (the peer that
 * keeps us honest).
 *
 * For every model (`--models`, presets) and mode (`--modes`: LG-FG-A, BP) it runs, in alternating
 * child processes (ours, torch, then torch, ours, … for `--rounds` rounds):
 * - ours: `fg.models.localMixer({preset})` compiled with `fg.models.compileLocalMixer(model, {mode})`,
 *   one step = `model.trainOnBatch` on tfjs-backend-wasm (as bench/local.ts), random CIFAR/MNIST-shaped
 *   data;
 * - torch: bench/peer/local_mixer_torch.py, the same network and step written in PyTorch
 *   (forward-mode AD with `torch.autograd.forward_ad` for LG-FG-A), on `--threads` threads, run with
 *   /usr/bin/python3 with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they slow a current OpenBLAS).
 * Each child times `--warmup` untimed steps then `--steps` timed ones and reports their median. The
 * result is **ours/torch**: the median of the per-round ratios (the two children of a round ran back to
 * back). Absolute ms are context only. That the architecture is the same is checked twice: the
 * parameter counts of both sides against `countParams()` and the paper's Table 2, and a forward check
 * (our weights loaded into the torch model, max |Δ logits| of every output on the same batch). Torch's
 * BLAS is checked to be OpenBLAS.
 *
 * Run: npm run bench:peer -- --models M/1/16,M/8/16 --batch 128 --threads 1   (see bench/README.md)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {parseArgs} from 'util';

import * as fg from '../src';
import {flagParsers, median, ms, pairedRatio, pairedSpread, printTable, UsageError, x2} from './report';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');

const USAGE = `usage: node build/bench/peer.js [options]
  --models LIST     LocalMixer presets (default: M/1/16,M/8/16)
  --modes LIST      LG-FG-A, BP (default: both)
  --batch N         batch size (default: 128)
  --threads N       threads of both sides: torch.set_num_threads, fg.backends.enableWasmThreads (default: 1)
  --rounds N        alternating rounds, each one ours + one torch process (default: 2)
  --steps N         timed steps per process, median reported (default: 150 for the one-block
                    presets, whose steps take milliseconds, else 3)
  --warmup N        untimed steps per process first (default: 30 for the one-block presets, so that
                    V8 has compiled the step's JavaScript, else 1)
  --python PATH     the interpreter with Debian's python3-torch (default: /usr/bin/python3)
  --help`;

const MODES = ['LG-FG-A', 'BP'] as const;
type Mode = typeof MODES[number];

/** The paper's Table 2 counts (10 classes), which both sides must reproduce. */
const PAPER_PARAMS: {[preset: string]: number} = {'S/1/1': 271_892, 'M/1/16': 429_076, 'M/8/16': 918_770};

/** Largest |Δ logits| of the forward check still counted as float32 rounding. */
const FORWARD_TOLERANCE = 1e-3;

const forwardOk = (r: {forward: {diff?: number}}) => r.forward.diff != null && r.forward.diff <= FORWARD_TOLERANCE;

/** The PyTorch side, relative to the repository root (this file runs from build/bench/). */
const TORCH_SCRIPT = path.join(__dirname, '..', '..', 'bench', 'peer', 'local_mixer_torch.py');

interface Options {
  models: fg.models.LocalMixerPreset[];
  modes: Mode[];
  batch: number;
  threads: number;
  rounds: number;
  /** Timed and warm-up steps per process; null: the preset's default (`stepsOf`). */
  steps: number|null;
  warmup: number|null;
  python: string;
  /** Internal: this process is the child measuring ours for one model and mode. */
  child: {model: fg.models.LocalMixerPreset, mode: Mode}|null;
  /** Internal: this process writes our weights, a batch and our logits to this file (the forward check). */
  dump: string|null;
}

function parse(argv: string[]): Options {
  const p = flagParsers(USAGE);
  const {values} = parseArgs({args: argv, strict: true, allowPositionals: false, options: {
    models: {type: 'string', default: 'M/1/16,M/8/16'}, modes: {type: 'string', default: MODES.join(',')},
    batch: {type: 'string', default: '128'}, threads: {type: 'string', default: '1'},
    rounds: {type: 'string', default: '2'}, steps: {type: 'string'},
    warmup: {type: 'string'}, python: {type: 'string', default: '/usr/bin/python3'},
    help: {type: 'boolean', default: false},
    'child-model': {type: 'string'}, 'child-mode': {type: 'string'}, 'child-dump': {type: 'string'},
  }});
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const models = p.names('models', values.models, fg.models.LOCAL_MIXER_PRESETS);
  const modes = p.names('modes', values.modes, MODES);
  if (models.length === 0 || modes.length === 0) {
    throw new UsageError(`--models and --modes need at least one value.\n${USAGE}`);
  }
  const child = values['child-model'] == null ? null : {
    model: p.names('child-model', values['child-model'], fg.models.LOCAL_MIXER_PRESETS)[0],
    mode: p.names('child-mode', values['child-mode'] ?? 'BP', MODES)[0],
  };
  return {
    models, modes, child, python: values.python as string, dump: values['child-dump'] ?? null,
    batch: p.int('batch', values.batch, 1), threads: p.int('threads', values.threads, 1),
    rounds: p.int('rounds', values.rounds, 1),
    steps: values.steps == null ? null : p.int('steps', values.steps, 1),
    warmup: values.warmup == null ? null : p.int('warmup', values.warmup, 0),
  };
}

/** The one-block presets: a step takes milliseconds, so many steps, after V8's warm-up. */
const SMALL_PRESETS: ReadonlySet<string> = new Set(['S/1/1', 'M/1/16']);

/** Warm-up and timed steps per process for `model`: the flags, else the preset's defaults. */
function stepsOf(o: Options, model: string): {warmup: number, steps: number} {
  const small = SMALL_PRESETS.has(model);
  return {warmup: o.warmup ?? (small ? 30 : 1), steps: o.steps ?? (small ? 150 : 3)};
}

// ---------------------------------------------------------------------------------------------
// Ours (child process)

/** Child: our step for one model and mode → one JSON line {ms, steps, params, …} on stdout. */
async function measureOurs(o: Options, preset: fg.models.LocalMixerPreset, mode: Mode): Promise<void> {
  // the package's wasm kernels (what the CLI and the optimizer install) and, with --threads N > 1,
  // XNNPACK threads (fg.backends.enableWasmThreads, before wasm starts; it warns where it cannot)
  await fg.backends.enableWasmThreads(o.threads);
  fg.backends.installWasmKernels();
  const kernels = 'installWasmKernels()';
  await tf.ready();
  tfl.layers.dense({units: 1});  // tfjs-layers loaded (registers its gradients)
  const model = fg.models.localMixer({preset, seed: 0});
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([o.batch, ...inputShape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([o.batch], 0, 10, 'int32', 2), 10);
  const opt = fg.models.compileLocalMixer(model, {mode, seed: 1});
  opt.attach(model);  // what the forwardGradient callback does in fit (trainOnBatch runs no callbacks)
  const ys = fg.models.localMixerTargets(model, y);
  try {
    const {warmup, steps: timed} = stepsOf(o, preset);
    for (let i = 0; i < warmup; i++) {
      await model.trainOnBatch(x, ys);
    }
    const steps: number[] = [];
    for (let i = 0; i < timed; i++) {
      const t0 = performance.now();
      await model.trainOnBatch(x, ys);  // resolves after the losses are read: the step has run
      steps.push(performance.now() - t0);
    }
    const weights = model.trainableWeights.map(w => w.read());
    const finite = weights.every(w => tf.tidy(() => tf.all(tf.isFinite(w)).dataSync()[0] === 1));
    const wasmThreads = fg.backends.wasmThreadsCount();
    console.log(JSON.stringify({
      impl: 'ours', model: preset, mode, batch: o.batch, ms: median(steps), steps, params: model.countParams(),
      finite, simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT'), threads: wasmThreads, kernels,
    }));
  } finally {
    opt.detach();
  }
}

/**
 * Child: writes to `file` our model's weights (the classifier's random instead of zero, so that its
 * logits say something), a batch of 4 images and every output's logits on it, computed on cpu.
 */
async function dumpForward(preset: fg.models.LocalMixerPreset, file: string): Promise<void> {
  await tf.setBackend('cpu');
  const model = fg.models.localMixer({preset, seed: 0});
  const classifier = model.getLayer('classifier');
  classifier.setWeights(classifier.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, i === 0 ? 0.1 : 0.01, 'float32', 3 + i)));
  const x = tf.randomNormal([4, ...(model.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 5);
  const outputs = model.predict(x) as tf.Tensor[];
  const asJson = (t: tf.Tensor) => ({shape: t.shape, data: Array.from(t.dataSync())});
  const weights: {[name: string]: unknown} = {};
  for (const w of model.weights) {
    weights[w.originalName] = asJson(w.read());
  }
  fs.writeFileSync(file, JSON.stringify({model: preset, x: asJson(x), weights, logits: outputs.map(asJson)}));
  console.log(JSON.stringify({dumped: file}));
}

// ---------------------------------------------------------------------------------------------
// Orchestration

interface Measurement {
  ms?: number;
  steps?: number[];
  params?: number;
  finite?: boolean;
  error?: string;
  [key: string]: unknown;
}

/** Runs a child process and parses the last JSON line of its stdout; the reason on failure. */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv): Measurement {
  const r = spawnSync(cmd, args, {encoding: 'utf8', env, maxBuffer: 1 << 24});
  const line = (r.stdout ?? '').split('\n').reverse().find(l => l.startsWith('{'));
  if (r.status === 0 && line != null) {
    return JSON.parse(line);
  }
  const why = r.error != null ? r.error.message : /Aborted\(\)/.test(r.stderr ?? '') ? 'out of memory (wasm abort)' :
      ((r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`);
  return {error: why.slice(0, 120)};
}

function ours(o: Options, model: string, mode: Mode): Measurement {
  const {warmup, steps} = stepsOf(o, model);
  return runChild(process.execPath, [
    __filename, '--child-model', model, '--child-mode', mode, '--batch', String(o.batch),
    '--threads', String(o.threads), '--steps', String(steps), '--warmup', String(warmup),
  ], process.env);
}

/**
 * OpenBLAS kernels to try for the peer, fastest first. Debian's OpenBLAS 0.3.21 does not recognize
 * every current x86 CPU and then falls back to its SSE3 'Prescott' kernels (~5× slower than AVX-512
 * on this machine): the peer must get the fastest kernel that computes correctly here.
 */
const OPENBLAS_CORES = ['SkylakeX', 'Haswell', ''];

let torchCore: string|null = null;

/**
 * The OpenBLAS core type the torch peer runs with: the fastest of OPENBLAS_CORES whose 512³ matmul
 * agrees with a float64 reference (max |error| < 1e-3) on this machine ('' = OpenBLAS's own pick).
 */
function bestOpenBlasCore(python: string, threads: number): string {
  if (torchCore != null) {
    return torchCore;
  }
  const probe = 'import torch,time\n' +
      `torch.set_num_threads(${threads})\n` +
      'a=torch.randn(512,512);b=torch.randn(512,512)\n' +
      'err=((a@b)-(a.double()@b.double()).float()).abs().max().item()\n' +
      't=time.time()\nfor _ in range(20): a@b\n' +
      'print(err, 20*2*512**3/(time.time()-t)/1e9)\n';
  let best = {core: '', gflops: 0};
  for (const core of OPENBLAS_CORES) {
    const r = spawnSync(python, ['-c', probe], {env: torchEnvWith(threads, core), encoding: 'utf8'});
    const [err, gflops] = (r.stdout ?? '').trim().split(/\s+/).map(Number);
    if (r.status === 0 && err < 1e-3 && gflops > best.gflops) {
      best = {core, gflops};
    }
  }
  torchCore = best.core;
  return torchCore;
}

function torchEnvWith(threads: number, core: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads)};
  delete env.OPENBLAS_L2_SIZE;
  if (core === '') {
    delete env.OPENBLAS_CORETYPE;
  } else {
    env.OPENBLAS_CORETYPE = core;
  }
  return env;
}

/** The torch child's environment: its threads, and the fastest correct OpenBLAS kernel (above). */
function torchEnv(threads: number, python = '/usr/bin/python3'): NodeJS.ProcessEnv {
  return torchEnvWith(threads, bestOpenBlasCore(python, threads));
}

function torch(o: Options, model: string, mode: Mode): Measurement {
  const {warmup, steps} = stepsOf(o, model);
  return runChild(o.python, [
    TORCH_SCRIPT, '--model', model, '--mode', mode, '--batch', String(o.batch), '--threads', String(o.threads),
    '--steps', String(steps), '--warmup', String(warmup),
  ], torchEnv(o.threads, o.python));
}

/**
 * The forward check: our weights loaded into the torch model, both sides' logits on the same batch;
 * the largest |ours − torch| over all outputs (heads and classifier), or the reason it failed.
 */
function compareForward(o: Options, model: string): {diff?: number, scale?: number, error?: string} {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fg-peer-')), 'forward.json');
  try {
    const dump = runChild(process.execPath, [__filename, '--child-model', model, '--child-dump', file], process.env);
    if (dump.error != null || !fs.existsSync(file)) {
      return {error: `ours: ${dump.error ?? 'no dump written'}`};
    }
    const r = runChild(o.python, [TORCH_SCRIPT, '--model', model, '--compare', file], torchEnv(o.threads, o.python));
    return r.error != null ? {error: `torch: ${r.error}`} : {diff: r.max_abs_diff as number, scale: r.max_abs_logit as number};
  } finally {
    fs.rmSync(path.dirname(file), {recursive: true, force: true});
  }
}

interface Row {
  model: string;
  mode: Mode;
  ours: Measurement[];
  torch: Measurement[];
  /** Rounds where both sides measured. */
  paired: Array<[number, number]>;
  oursParams: number;
  forward: {diff?: number, scale?: number, error?: string};
  errors: string[];
}

/** Our parameter count of a preset (the model is only built, on cpu). */
function countOurs(preset: fg.models.LocalMixerPreset): number {
  const model = fg.models.localMixer({preset});
  const n = model.countParams();
  model.dispose();
  return n;
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  if (o.child != null) {
    await (o.dump != null ? dumpForward(o.child.model, o.dump) : measureOurs(o, o.child.model, o.child.mode));
    return;
  }
  await tf.setBackend('cpu');
  console.log(`# ours (tfjs wasm, model.trainOnBatch) vs PyTorch (${o.python}, forward_ad) — LocalMixer step, ` +
              `batch ${o.batch}, torch threads ${o.threads}; ${o.rounds} alternating rounds × (` +
              o.models.map(m => `${m}: ${stepsOf(o, m).warmup} warm-up + ${stepsOf(o, m).steps} timed steps`).join(', ') +
              `) per side; ours/torch = median of per-round ratios of median step times`);
  const rows: Row[] = [];
  for (const model of o.models) {
    const forward = compareForward(o, model);
    console.log(`  ${model} forward check (our weights in torch, 4 images): max |Δ logits| ` +
                (forward.error ?? `${forward.diff!.toExponential(2)} (largest |logit| ${forward.scale!.toFixed(2)})`));
    for (const mode of o.modes) {
      const row: Row = {model, mode, ours: [], torch: [], paired: [], oursParams: countOurs(model), forward, errors: []};
      for (let r = 0; r < o.rounds; r++) {
        const sides = r % 2 === 0 ? ['ours', 'torch'] : ['torch', 'ours'];
        const got: {[side: string]: Measurement} = {};
        for (const side of sides) {
          const m = side === 'ours' ? ours(o, model, mode) : torch(o, model, mode);
          got[side] = m;
          (side === 'ours' ? row.ours : row.torch).push(m);
          if (m.error != null) {
            row.errors.push(`${side}: ${m.error}`);
          }
        }
        if (got.ours.ms != null && got.torch.ms != null) {
          row.paired.push([got.ours.ms, got.torch.ms]);
        }
        process.stdout.write(`  ${model} ${mode} round ${r + 1}/${o.rounds}: ours ${ms(got.ours.ms)} ms, ` +
                             `torch ${ms(got.torch.ms)} ms\n`);
      }
      rows.push(row);
    }
  }
  report(o, rows);
}

function report(o: Options, rows: Row[]): void {
  const first = (list: Measurement[], key: string) => list.find(m => m[key] != null)?.[key];
  const allSteps = (list: Measurement[]) => list.flatMap(m => m.steps ?? []);
  const torchInfo = rows.flatMap(r => r.torch).find(m => m.error == null);
  const oursInfo = rows.flatMap(r => r.ours).find(m => m.error == null);
  console.log('');
  if (oursInfo != null) {
    console.log(`ours: tfjs-backend-wasm, SIMD ${oursInfo.simd}, threads ${oursInfo.threads}, extra kernels: ${oursInfo.kernels}`);
  }
  const problems: string[] = [];
  if (torchInfo != null) {
    console.log(`torch ${torchInfo.torch}: BLAS ${torchInfo.blas} (${(torchInfo.blas_libs as string[]).join(', ')}), ` +
                `matmul 1024³ ${torchInfo.matmul_gflops} GFLOP/s, threads ${torchInfo.threads}, ` +
                `OPENBLAS_CORETYPE ${torchCore || '(OpenBLAS\'s own pick)'}`);
    if (torchInfo.blas !== 'openblas') {
      problems.push(`torch does not run on OpenBLAS (${torchInfo.blas}): install libopenblas0-pthread; ratios are not meaningful`);
    }
  }
  const paramsOk = (r: Row) => {
    const t = first(r.torch, 'params') as number|undefined;
    const paper = PAPER_PARAMS[r.model];
    return t === r.oursParams && (paper == null || paper === r.oursParams);
  };
  printTable([
    {head: 'model', cell: r => r.model, left: true},
    {head: 'mode', cell: r => r.mode, left: true},
    {head: 'ours/torch', cell: r => r.paired.length === 0 ? '-' : x2(pairedRatio(r.paired.map(p => p[0]), r.paired.map(p => p[1])))},
    {head: 'IQR', cell: r => r.paired.length < 2 ? '-' : pairedSpread(r.paired.map(p => p[0]), r.paired.map(p => p[1]))},
    {head: 'ours ms', cell: r => allSteps(r.ours).length === 0 ? '-' : ms(median(allSteps(r.ours)))},
    {head: 'torch ms', cell: r => allSteps(r.torch).length === 0 ? '-' : ms(median(allSteps(r.torch)))},
    {head: 'params ours', cell: r => String(r.oursParams)},
    {head: 'params torch', cell: r => String(first(r.torch, 'params') ?? '-')},
    {head: 'paper', cell: r => String(PAPER_PARAMS[r.model] ?? '-')},
    {head: 'same', cell: r => paramsOk(r) ? 'yes' : 'NO'},
    {head: 'max |Δ logits|', cell: r => r.forward.diff == null ? 'failed' : r.forward.diff.toExponential(1)},
    {head: 'rounds', cell: r => `${r.paired.length}/${o.rounds}`},
  ], rows, r => r.errors.length > 0 ? `  failed: ${r.errors[0]}` : '');
  for (const r of rows) {
    if (!paramsOk(r)) {
      problems.push(`${r.model}: parameter counts differ (ours ${r.oursParams}, torch ${first(r.torch, 'params')}, ` +
                    `paper ${PAPER_PARAMS[r.model] ?? '-'}): the architectures are not the same`);
    }
    if (r.mode === rows.find(q => q.model === r.model)!.mode && !forwardOk(r)) {
      problems.push(`${r.model}: the forward check ` + (r.forward.error != null ? `failed: ${r.forward.error}` :
                    `differs: max |Δ logits| ${r.forward.diff!.toExponential(2)} (tolerance ${FORWARD_TOLERANCE}): ` +
                    `the two networks compute different functions`));
    }
    if ([...r.ours, ...r.torch].some(m => m.finite === false)) {
      problems.push(`${r.model} ${r.mode}: non-finite weights after the timed steps`);
    }
  }
  console.log(`RATIOS ours/torch (threads ${o.threads}, batch ${o.batch}): ` + rows.map(r => `${r.model} ${r.mode} ` +
      (r.paired.length === 0 ? '-' : x2(pairedRatio(r.paired.map(p => p[0]), r.paired.map(p => p[1]))))).join('; '));
  for (const p of problems) {
    console.log(`PROBLEM: ${p}`);
  }
  if (problems.length > 0 || rows.some(r => r.paired.length === 0)) {
    process.exitCode = 1;
  }
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
