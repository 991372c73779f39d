/**
 * The record of one training step of an attached model: the per-example losses and their
 * tangents (written by the model's wrapped loss functions, see `ModelAttachment.run`), and, when
 * activities are perturbed (FG-A, LG-FG-A), the perturbation sites (kernel sites found by the
 * kernel observer, sites declared by LocalLearner layers) with their noise. From the record it
 * assembles the weight gradients of activity perturbation (one-layer VJPs of the activity
 * estimates: no backward pass through the network) and the local credit of weight perturbation
 * (LG-FG-W), which records the losses without perturbing any activity.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {isTracing, KernelObserver, seedTangent} from '../autodiff';
import {untraced} from '../autodiff/internal';
import {LocalStepListener, SiteDeclaration, SiteHandle, WeightLayout} from '../step/local_step';
import {biasGradient, declaredSiteEstimate, LossRecord, OutputDerivatives, outputDerivatives, perRowEstimate, weightCreditTerm} from './credit';
import {ModelAttachment} from './model_attachment';
import {noiseSeed, NoiseKind, sampleNoise} from './noise';
import {KernelSite, KernelSiteObserver, masked, NoiseDraw, reluActiveMask, SiteSink} from './sites';

/** Per model, the outputs whose scalar loss `warnScalarLoss` has reported. */
const scalarLossWarned = new WeakMap<object, Set<string>>();

/**
 * A scalar loss hides which example each loss value came from, so its one derivative credits every
 * example's activities: the estimate stays unbiased, but its variance is that of weight
 * perturbation. Said once per model and output, since the user can fix it.
 */
function warnScalarLoss(model: object, outputName: string): void {
  const warned = scalarLossWarned.get(model) ?? new Set<string>();
  scalarLossWarned.set(model, warned);
  if (warned.has(outputName)) {
    return;
  }
  warned.add(outputName);
  console.warn(
      `tfjs-forward-gradient: the loss of output '${outputName}' returns a scalar, so activity ` +
      `perturbation cannot credit each example with its own loss: every example shares the batch's ` +
      `derivative (unbiased, but with the variance of weight perturbation). Return one loss per ` +
      `example, e.g. tfjs's named losses ('categoricalCrossentropy') or tf.losses.* with ` +
      `reduction tf.losses.Reduction.NONE.`);
}

/** A site declared by a layer (the LocalMixer's normalized pre-activations). */
interface DeclaredSite {
  decl: SiteDeclaration;
  saved: Tensor[];
  noise: NoiseDraw;
  /** True where the unit's ReLU passes (bool, kept), or null. */
  mask: Tensor|null;
  zShape: number[];
}

/** The losses, and for activity perturbation the perturbation sites, of one training step. */
export class StepRecorder implements LocalStepListener, SiteSink {
  readonly sites: KernelSite[] = [];
  readonly declaredSites: DeclaredSite[] = [];
  /** The per-example losses recorded so far, by output index (see `ModelAttachment.run`). */
  readonly records: Array<LossRecord|null>;
  private readonly kept: Tensor[] = [];
  private readonly kernelSites: KernelSiteObserver;
  /** Noise kept from the forward pass, by draw (see `keepNoiseBytes`). */
  private readonly keptNoise = new Map<NoiseDraw, Tensor>();
  private noiseBytesLeft: number;

  /**
   * `perturbActivities` false: only the losses are recorded (weight perturbation with local
   * credit); no site is perturbed. Up to `keepNoiseBytes` of the sites' noise is kept from the
   * forward pass for the gradients; the rest is drawn again.
   */
  constructor(
      private readonly attachment: ModelAttachment, private readonly noise: NoiseKind,
      private readonly seed: number|null, private readonly step: number,
      readonly perturbActivities = true, readonly localCredit = true, readonly sumOverBatch = false,
      keepNoiseBytes = 0) {
    this.noiseBytesLeft = keepNoiseBytes;
    this.records = new Array(attachment.numOutputs).fill(null);
    this.kernelSites = new KernelSiteObserver(attachment, this);
  }

  /** The kernel observer that perturbs every kernel site's pre-activation. */
  get observer(): KernelObserver {
    return this.kernelSites.observe;
  }

  /** The noise of the next site, of activity shape `shape` (see `noiseOf`). */
  drawNoise(batchShape: readonly number[], shape: number[]): NoiseDraw {
    return {batchShape: [...batchShape], shape: [...shape], seed: this.siteSeed()};
  }

  /**
   * The noise of a site: i.i.d. per example and position; the V rows of one example (the views of
   * a contrastive model) get the same noise. The same tensor values every time for one `draw`:
   * kept from the first call while the step's noise budget lasts, else drawn again.
   */
  noiseOf(draw: NoiseDraw): Tensor {
    const kept = this.keptNoise.get(draw);
    if (kept != null) {
      return kept.clone();
    }
    const u = this.sample(draw);
    const bytes = 4 * u.size;
    if (bytes <= this.noiseBytesLeft) {
      this.noiseBytesLeft -= bytes;
      this.keptNoise.set(draw, this.keep(untraced(() => u.clone())));
    }
    return u;
  }

  /** Frees the kept noise of `draw`, once its site's gradients are assembled. */
  private releaseNoise(draw: NoiseDraw): void {
    this.keptNoise.get(draw)?.dispose();
    this.keptNoise.delete(draw);
  }

  /** Draws `draw`'s noise from its seed. */
  private sample({batchShape, shape, seed}: NoiseDraw): Tensor {
    const views = this.attachment.views;
    if (views === 1 || shape.length === 0 || shape[0] % views !== 0) {
      return sampleNoise([...batchShape, ...shape], this.noise, seed);
    }
    return tf.tidy(() => {
      const u = sampleNoise([...batchShape, shape[0] / views, ...shape.slice(1)], this.noise, seed);
      return tf.concat(new Array(views).fill(u), batchShape.length);
    });
  }

  /**
   * The next site's noise seed (kernel and declared sites share the counter); a random one when
   * the optimizer has no seed.
   */
  private siteSeed(): number {
    const index = this.sites.length + this.declaredSites.length;
    return this.seed == null ? Math.floor(Math.random() * 2 ** 32) : noiseSeed(this.seed, this.step, 1 + index);
  }

  /**
   * LocalStepListener: a layer's site. Its noise u is added to the tangent of z (the primal is not
   * perturbed); its weights' gradients come from the layer's local VJP of the activity estimate.
   */
  declareSite(decl: SiteDeclaration): SiteHandle {
    if (!this.perturbActivities || !isTracing()) {
      return {setActive: () => {}};
    }
    const noise = this.drawNoise(this.batchShape(), decl.z.shape);
    const u = this.noiseOf(noise);
    seedTangent(decl.z, u);
    u.dispose();  // the trace keeps its own reference while z lives
    const site: DeclaredSite = {
      decl, saved: decl.saved.map(t => this.keep(untraced(() => t.clone()))), noise, mask: null,
      zShape: decl.z.shape,
    };
    this.declaredSites.push(site);
    return {
      setActive: (post: Tensor) => {
        site.mask = this.keep(untraced(() => tf.tidy(() => tf.reshape(reluActiveMask(post, 'relu'), site.zShape))));
      },
    };
  }

  private batchShapeCache: readonly number[]|null = null;
  /** The tangent batch shape of the running step. */
  private batchShape(): readonly number[] {
    return this.batchShapeCache ?? [];
  }
  /** Set by the optimizer before the forward pass. */
  setBatchShape(batchShape: readonly number[]): void {
    this.batchShapeCache = [...batchShape];
  }

  /** Keeps `t` until the step ends (`dispose`). */
  keep<T extends Tensor>(t: T): T {
    this.kept.push(t);
    return tf.keep(t);
  }

  /** Computed once per step (the tensors live in the optimizer's tidy). */
  private derivatives: Array<OutputDerivatives|null>|null = null;

  private outputDerivatives(batchShape: readonly number[]): Array<OutputDerivatives|null> {
    if (this.derivatives == null) {
      this.derivatives =
          outputDerivatives(this.records, batchShape, this.sumOverBatch, this.attachment.model.outputNames,
                            output => warnScalarLoss(this.attachment.model, output));
    }
    return this.derivatives;
  }

  /**
   * Gradients of the site weights and biases from the activity estimates, keyed by variable name.
   * Sites of the same weight (a layer applied twice) add up.
   */
  weightGradients(batchShape: readonly number[]): Map<string, Tensor> {
    const grads = new Map<string, Tensor>();
    const add = (v: tf.Variable, g: Tensor) => {
      const prev = grads.get(v.name);
      grads.set(v.name, prev == null ? g : tf.add(prev, g));
    };
    const derivatives = this.outputDerivatives(batchShape);
    // Each site's gradients in a tidy of their own: the activation-sized intermediates (the noise,
    // the estimate, the masked product) are freed site by site, not at the step's end.
    for (const site of this.sites) {
      const terms = site.weight.outputs.map(i => derivatives[i]?.perExample).filter((d): d is Tensor => d != null);
      if (terms.length === 0) {
        continue;  // no loss depends on this site in this step
      }
      const w = site.weight.variable, bias = site.weight.bias;
      const [gw, gb] = tf.tidy(() => {
        const d = terms.length === 1 ? terms[0] : tf.addN(terms);  // [K, N]
        const gz = masked(perRowEstimate(d, this.noiseOf(site.noise), site.zShape), site.mask);
        // the one-layer VJP: tfjs's own gradient of the site kernel
        const vjp = tf.getGradient(site.spec.gradKernel)!.gradFunc(gz, site.saved, site.attrs);
        const gWeight = tf.reshape(vjp[site.spec.weightInput](), w.shape);
        return bias == null ? [gWeight] : [gWeight, biasGradient(gz, bias.shape)];
      });
      this.releaseNoise(site.noise);
      add(w, gw);
      if (bias != null) {
        add(bias, gb!);
      }
    }
    for (const site of this.declaredSites) {
      const outputs = (this.attachment.outputsOfLayer.get(site.decl.layerName) ?? []).filter(i => derivatives[i] != null);
      if (outputs.length === 0) {
        continue;
      }
      const g = tf.tidy(() => {
        const noise = this.noiseOf(site.noise);
        const terms = outputs.map(i => declaredSiteEstimate(
            derivatives[i]!, noise, site.zShape, site.decl.layout, site.decl.layerName,
            this.localCredit && this.attachment.directInputs[i].has(site.decl.layerName)));
        return site.decl.gradients(masked(terms.length === 1 ? terms[0] : tf.addN(terms), site.mask), site.saved);
      });
      this.releaseNoise(site.noise);
      site.decl.weights.forEach((w, i) => add(w, g[i]));
    }
    return grads;
  }

  /**
   * Weight perturbation with local credit (LG-FG-W; the official code's `update_forward_grad_weights`): for a weight of a LocalLearner,
   * the credit of each direction broadcast to the weight's shape [K, ...w.shape], from the
   * per-(block, group) sums of its local losses' derivatives; null for the global credit.
   */
  weightCredit(v: tf.Variable, batchShape: readonly number[]): Tensor|null {
    const local = this.attachment.localWeights.get(v.id);
    const layout: WeightLayout|null = local?.layer.weightLayout(v) ?? null;
    if (local == null || layout == null) {
      return null;
    }
    const k = tf.util.sizeFromShape(batchShape as number[]);
    const derivatives = this.outputDerivatives(batchShape);
    const outputs = this.attachment.outputsOfLayer.get(local.layerName) ?? [];
    const terms = outputs.filter(i => derivatives[i] != null).map(i => weightCreditTerm(
        derivatives[i]!, v, layout, this.localCredit && this.attachment.directInputs[i].has(local.layerName)));
    if (terms.length === 0) {
      return tf.zeros([k, ...v.shape.map(() => 1)]);
    }
    return terms.reduce((a, b) => tf.add(a, b));
  }

  /** Frees everything the step kept. */
  dispose(): void {
    tf.dispose(this.kept);
    for (const r of this.records) {
      r?.tangent?.dispose();
      r?.localTangents?.dispose();
    }
    this.records.fill(null);
  }
}
