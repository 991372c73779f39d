/**
 * Profile: the kernels of ONE training step of a LocalMixer (`model.trainOnBatch` after a warm-up
 * step), under `tf.profile`: kernel counts and kernel time per kernel name (the top ones by time),
 * the total number of kernels, the total kernel time, the step's peak memory above what was alive
 * before it, and the step's wall time.
 *
 * Counts are exact and reproducible; times depend on the machine and its load (read them as rough).
 * On wasm the script (and only the script, not the package) re-registers the wasm BatchMatMul so
 * that transposed operands go through an explicit Transpose (tfjs-backend-wasm 4.22's transposed
 * matmul is 10–20× slower; notes/ENVIRONMENT.md Appendix B, `bench/wasm-mm-fix.js`); `--mmfix off`
 * profiles the stock kernel.
 *
 * Run: npm run bench:profile -- [--preset M/1/16] [--mode LG-FG-A] [--batch 128] [--backend wasm] [--reps 3]
 *      [--top 15] [--mmfix on|off]
 */
import * as tf from '@tensorflow/tfjs-core';
import {parseArgs} from 'util';

import * as fg from '../src';
import {flagParsers, median, UsageError} from './report';

require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');

const USAGE = `usage: node build/bench/profile_step.js [options]
  --preset NAME   LocalMixer preset (${fg.models.LOCAL_MIXER_PRESETS.join(', ')}; default M/1/16)
  --mode MODE     training mode (${fg.models.TRAINING_MODES.join(', ')}; default LG-FG-A)
  --batch N       examples per batch (default 128)
  --backend NAME  tfjs backend (default wasm)
  --top N         kernel names listed, by total time (default 15)
  --mmfix on|off  wasm only: explicit-transpose BatchMatMul (default on)
  --reps N        profiled steps; times are medians over them (default 1)
  --detail NAMES  comma-separated kernel names also listed per input → output shapes (default none)
  --help`;

interface Options {
  preset: fg.models.LocalMixerPreset;
  mode: fg.models.TrainingMode;
  batch: number;
  backend: string;
  top: number;
  mmfix: boolean;
  detail: string[];
  reps: number;
}

function parse(argv: string[]): Options {
  let values;
  try {
    values = parseArgs({args: argv, strict: true, allowPositionals: false, options: {
      preset: {type: 'string', default: 'M/1/16'}, mode: {type: 'string', default: 'LG-FG-A'},
      batch: {type: 'string', default: '128'}, backend: {type: 'string', default: 'wasm'},
      top: {type: 'string', default: '15'}, mmfix: {type: 'string', default: 'on'},
      detail: {type: 'string', default: ''}, reps: {type: 'string', default: '1'},
      help: {type: 'boolean', default: false},
    }}).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const p = flagParsers(USAGE);
  const preset = values.preset as fg.models.LocalMixerPreset;
  if (!fg.models.LOCAL_MIXER_PRESETS.includes(preset)) {
    throw new UsageError(`--preset: unknown '${preset}' (known: ${fg.models.LOCAL_MIXER_PRESETS.join(', ')}).\n${USAGE}`);
  }
  const mode = values.mode as fg.models.TrainingMode;
  if (!fg.models.TRAINING_MODES.includes(mode)) {
    throw new UsageError(`--mode: unknown '${mode}' (known: ${fg.models.TRAINING_MODES.join(', ')}).\n${USAGE}`);
  }
  if (values.mmfix !== 'on' && values.mmfix !== 'off') {
    throw new UsageError(`--mmfix must be on or off. Received: ${values.mmfix}.\n${USAGE}`);
  }
  return {
    preset, mode, batch: p.int('batch', values.batch, 1), backend: values.backend as string,
    top: p.int('top', values.top, 1), mmfix: values.mmfix === 'on',
    detail: values.detail === '' ? [] : p.list(values.detail as string), reps: p.int('reps', values.reps, 1),
  };
}

/**
 * Re-registers the wasm BatchMatMul: transposeA/B become explicit wasm Transpose kernels followed
 * by a plain matmul (the profiling workaround of notes/ENVIRONMENT.md Appendix B; process-wide,
 * this script only).
 */
function applyWasmMatMulFix(): void {
  const orig = tf.getKernel(tf.BatchMatMul, 'wasm');
  const tr = tf.getKernel(tf.Transpose, 'wasm');
  if (orig == null || tr == null) {
    throw new Error('the wasm backend has no BatchMatMul or Transpose kernel to wrap.');
  }
  type Info = tf.TensorInfo;
  const swapLast = (r: number) => {
    const p = [...Array(r).keys()];
    [p[r - 2], p[r - 1]] = [p[r - 1], p[r - 2]];
    return p;
  };
  tf.unregisterKernel(tf.BatchMatMul, 'wasm');
  tf.registerKernel({
    kernelName: tf.BatchMatMul, backendName: 'wasm', setupFunc: orig.setupFunc,
    kernelFunc: ({inputs, backend, attrs}) => {
      let {a, b} = inputs as {a: Info, b: Info};
      const tmp: Info[] = [];
      const at = attrs as unknown as tf.BatchMatMulAttrs;
      if (at.transposeA) {
        a = tr.kernelFunc({inputs: {x: a}, backend, attrs: {perm: swapLast(a.shape.length)}}) as Info;
        tmp.push(a);
      }
      if (at.transposeB) {
        b = tr.kernelFunc({inputs: {x: b}, backend, attrs: {perm: swapLast(b.shape.length)}}) as Info;
        tmp.push(b);
      }
      const out = orig.kernelFunc({inputs: {a, b}, backend, attrs: {...attrs, transposeA: false, transposeB: false}});
      tmp.forEach(t => (backend as tf.KernelBackend).disposeData(t.dataId));
      return out;
    },
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.backend === 'wasm' && o.mmfix) {
    applyWasmMatMulFix();
  }
  if (!(await tf.setBackend(o.backend))) {
    throw new UsageError(`--backend: '${o.backend}' could not be initialized.\n${USAGE}`);
  }
  await tf.ready();
  const model = fg.models.localMixer({preset: o.preset, seed: 0});
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const x = tf.randomNormal([o.batch, ...inputShape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([o.batch], 0, 10, 'int32', 2), 10);
  const opt = fg.models.compileLocalMixer(model, {mode: o.mode, seed: 1});
  opt.attach(model);
  const ys = fg.models.localMixerTargets(model, y);
  await model.trainOnBatch(x, ys);  // warm-up: kernels compiled, optimizer state created
  // `--reps` profiled steps: counts from the last one (they do not change), times the median per
  // kernel name over the steps.
  const before = tf.memory().numBytes;
  const runs: Array<{info: Awaited<ReturnType<typeof tf.profile>>, wall: number}> = [];
  for (let r = 0; r < o.reps; r++) {
    const t0 = performance.now();
    const info = await tf.profile(async () => {
      await model.trainOnBatch(x, ys);
    });
    runs.push({info, wall: performance.now() - t0});
  }
  const info = runs[runs.length - 1].info;
  const wall = median(runs.map(r => r.wall));
  const timeOf = (name: string) => median(runs.map(r => r.info.kernels.filter(k => k.name === name)
      .reduce((a, k) => a + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0), 0)));
  // tf.customGrad ops are profiled as a whole (under their scope name) AND kernel by kernel inside:
  // they are counted apart, so that the totals count every kernel once.
  const isKernel = (name: string) => tf.getKernel(name, o.backend) != null;
  const custom = info.kernels.filter(k => !isKernel(k.name));
  const kernels = info.kernels.filter(k => isKernel(k.name));
  const byName = new Map<string, {count: number, ms: number}>();
  let total = 0;
  for (const k of kernels) {
    const e = byName.get(k.name) ?? {count: 0, ms: 0};
    e.count++;
    byName.set(k.name, e);
  }
  for (const [name, e] of byName) {
    e.ms = timeOf(name);
    total += e.ms;
  }
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  console.log(`# ${o.preset} ${o.mode} batch ${o.batch} on ${o.backend}` +
              `${o.backend === 'wasm' ? ` (mm-fix ${o.mmfix ? 'on' : 'off'})` : ''}: one trainOnBatch step` +
              `${o.reps > 1 ? ` (times: median of ${o.reps})` : ''}`);
  const w = Math.max(6, ...rows.slice(0, o.top).map(r => r[0].length));
  console.log(`${'kernel'.padEnd(w)}  ${'count'.padStart(6)}  ${'ms'.padStart(9)}  ${'% time'.padStart(6)}`);
  for (const [name, e] of rows.slice(0, o.top)) {
    console.log(`${name.padEnd(w)}  ${String(e.count).padStart(6)}  ${e.ms.toFixed(1).padStart(9)}  ` +
                `${(100 * e.ms / Math.max(total, 1e-9)).toFixed(1).padStart(6)}`);
  }
  if (rows.length > o.top) {
    const rest = rows.slice(o.top);
    console.log(`${`(${rest.length} more)`.padEnd(w)}  ${String(rest.reduce((a, r) => a + r[1].count, 0)).padStart(6)}  ` +
                `${rest.reduce((a, r) => a + r[1].ms, 0).toFixed(1).padStart(9)}`);
  }
  for (const name of o.detail) {
    const byShape = new Map<string, {count: number, ms: number}>();
    for (const k of kernels.filter(k => k.name === name)) {
      const key = `${k.inputShapes.map(s => `[${s}]`).join(' ')} → ${k.outputShapes.map(s => `[${s}]`).join(' ')}`;
      const e = byShape.get(key) ?? {count: 0, ms: 0};
      e.count++;
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      byShape.set(key, e);
    }
    console.log(`## ${name} by input → output shapes`);
    for (const [key, e] of [...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, o.top)) {
      console.log(`  ${String(e.count).padStart(5)}  ${e.ms.toFixed(1).padStart(8)} ms  ${key}`);
    }
  }
  console.log(`total kernels ${kernels.length}, total kernel time ${total.toFixed(1)} ms ` +
              `(plus ${custom.length} customGrad op wrappers, their kernels counted above), ` +
              `step wall ${wall.toFixed(1)} ms, peak ${((info.peakBytes - before) / 2 ** 20).toFixed(1)} MB above the ` +
              `${(before / 2 ** 20).toFixed(1)} MB alive before the step`);
  opt.detach();
  tf.dispose([x, y, ...ys]);
  model.dispose();
}

main().catch(err => {
  console.error(err instanceof UsageError ? err.message : (err as Error).stack ?? err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
