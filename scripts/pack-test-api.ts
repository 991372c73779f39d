// Compiled by scripts/test-pack.sh with `tsc --strict` (module nodenext, skipLibCheck false) in a
// fresh project where the packed tarball is installed: every public API of the package, used with
// the types a user would write. It only has to compile (it is not run).
import * as tf from '@tensorflow/tfjs';
import * as fg from 'tfjs-forward-gradient';
import {ForwardGradientOptimizer, jvp as rootJvp} from 'tfjs-forward-gradient';
import {jvp, withTangents} from 'tfjs-forward-gradient/autodiff';

export async function everything(xs: tf.Tensor4D, ys: tf.Tensor2D): Promise<void> {
  // autodiff: one output, several outputs (tangent is an array), aux
  const x = tf.tensor1d([1, 2]);
  const v = tf.tensor1d([1, 0]);
  const one: tf.Tensor = jvp(a => tf.sum(tf.square(a)), [x], [v]).tangent;
  const two: tf.Tensor[] = rootJvp(a => [tf.sum(a), tf.square(a)], [x], [v]).tangent;
  const withAux = fg.jvp(a => [tf.sum(a), 'note'] as [tf.Tensor, string], [x], [v], {hasAux: true});
  const aux: string = withAux.aux;
  const traced: tf.Tensor = withTangents(() => {
    fg.seedTangent(x, v);
    const y = tf.mul(fg.stopGradient(x), x);
    return fg.tangentOf(y) ?? tf.zerosLike(y);
  }, {batchShape: []});
  const tracing: boolean = fg.isTracing();
  const rule: fg.JvpRule|undefined = fg.getJvpRule('Square');
  if (rule != null) {
    fg.registerJvpRule('FgPackTestKernel', rule);
    fg.unregisterJvpRule('FgPackTestKernel');
  }
  const rules: string[] = fg.listJvpRules();
  const exact = fg.exactCustomGrad;
  const helpers = fg.jvpHelpers;
  const kernels: ReadonlySet<string> = fg.FUSED_ACTIVATION_KERNELS;

  // optimizers and callbacks
  const model = tf.sequential({layers: [tf.layers.flatten({inputShape: [28, 28, 1]}),
                                        tf.layers.dense({units: 10, activation: 'softmax'})]});
  const opt: ForwardGradientOptimizer = fg.optimizers.forwardGradient({
    perturb: 'activity', optimizer: 'momentum', learningRate: 0.01, momentum: 0.9, samples: 1, noise: 'gaussian',
    seed: 1, weightDecay: 0, gradientScale: {dense_Dense1: 1}, exactLayers: [], localCredit: true});
  const sameClass: boolean = opt instanceof fg.optimizers.ForwardGradientOptimizer;
  const perturb: fg.optimizers.Perturbation = opt.perturb;
  const stats: fg.optimizers.ForwardGradientStats = opt.stats;
  model.compile({optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['accuracy']});
  const schedule: fg.optimizers.Schedule = fg.optimizers.warmupCosineDecaySchedule({
    peakValue: 0.01, warmupSteps: 10, totalSteps: 100});
  const linear: fg.optimizers.Schedule = fg.optimizers.linearSchedule({initValue: 0.01, endValue: 0, transitionSteps: 100});
  const warmed: fg.optimizers.Schedule = fg.optimizers.linearWarmupSchedule({peakValue: 0.01, warmupSteps: 5, schedule: linear});
  fg.optimizers.setLearningRate(opt, fg.optimizers.constantSchedule(0.01)(0));
  const history = await model.fit(xs, ys, {epochs: 1, batchSize: 32, callbacks: [
    fg.callbacks.forwardGradient({logStats: true}),
    fg.callbacks.learningRateScheduler({schedule, perBatch: true}),
    fg.callbacks.gradientQuality({every: 1}),
  ]});
  const loss: number = history.history.loss[0] as number;
  opt.attach(model);
  await model.trainOnBatch(xs, ys);
  opt.detach();

  // save / load in node without tfjs-node
  await model.save(fg.io.fileSystem('/tmp/fg-pack-model'), {includeOptimizer: true});
  const loaded: tf.LayersModel = await tf.loadLayersModel(fg.io.fileSystem('/tmp/fg-pack-model'));

  // the LocalMixer, its modes, layers and losses
  const mixer = fg.models.localMixer({preset: 'S/1/1'});
  const mode: fg.models.TrainingMode = 'LG-FG-A';
  const modes: readonly fg.models.TrainingMode[] = fg.models.TRAINING_MODES;
  const mixerOpt = fg.models.compileLocalMixer(mixer, {mode, learningRate: 0.01});
  const targets: tf.Tensor[] = fg.models.localMixerTargets(mixer, ys);
  fg.models.setTrainingMode(mixer, fg.models.trainingModeOf(mixer, 'activity') ?? 'BP');
  const presets: readonly string[] = fg.models.LOCAL_MIXER_PRESETS;
  const evaluated: fg.models.EvaluateResult = await fg.models.evaluate(mixer, xs, ys, {batchSize: 64});
  const layers = [fg.layers.groupLinear({groups: 2, units: 4}), fg.layers.layerNorm({}), fg.layers.patchify({patchSize: 7}),
                  fg.layers.stopGrad({})];
  const lossFn: fg.losses.LossFunction = fg.losses.localCrossEntropy();
  const ce: tf.Tensor = fg.losses.softmaxCrossEntropy(ys, ys);
  const contrastive = fg.losses.contrastive({temperature: 0.1});

  // data helpers and backends
  const split: fg.data.ImageSplit = {images: new Uint8Array(28 * 28), labels: new Uint8Array(1), count: 1,
                                     height: 28, width: 28, channels: 1};
  const tensors = fg.data.toTensors(split, {dataset: 'mnist'});
  const flipped: tf.Tensor4D = fg.data.randomFlip(xs, 1);
  const wasm: readonly string[] = fg.backends.WASM_KERNEL_NAMES;
  const installed: boolean = fg.backends.wasmKernelsInstalled();

  // errors and version
  const errors = [new fg.ValueError('x'), new fg.TracingError('x'), new fg.UnsupportedKernelError('K', '', 'x')];
  const version: string = fg.version;
  void [one, two, aux, traced, tracing, rules, exact, helpers, kernels, sameClass, perturb, stats, linear, warmed, loss, loaded,
        mixerOpt, targets, presets, evaluated, layers, lossFn, ce, contrastive, tensors, flipped, wasm, installed, errors, version];
}
