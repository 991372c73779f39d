/**
 * The variance simulation of the paper's Appendix 10 / Fig. 8 (Ren et al. 2023, Table 1 and
 * Propositions 3–4), shared by `variance_test.ts` and `bench/variance.ts`.
 *
 * Network: x ∈ R^p → z = xᵀW1 + b1 ∈ R^q → h = tanh(z) → out = w2ᵀh + b2, per-example loss
 * L_n = (out_n − y_n)², batch loss L = (1/N) Σ_n L_n. Every estimator is a gradient of L with
 * respect to the first-layer weights W1 (p × q: p = fan-in, q = fan-out), and every derivative is
 * computed with this library's forward mode (`jvp`, `withTangents`, `seedTangent`, `tangentOf`):
 *
 * - `backprop`: the exact batch gradient, the mean of exact per-example gradients. Those come from
 *   one `jvp` with the p·q basis directions of W1 as a tangent batch axis (forward mode with
 *   p·q directions = the full Jacobian of the per-example losses).
 * - `fgwShared` (FG-W, shared perturbation): g = ⟨∇L, v⟩ v, one v ~ N(0, I) of W1's shape per
 *   batch.
 * - `fgwIndependent` (FG-W, independent): g = (1/N) Σ_n ⟨∇L_n, v_n⟩ v_n, one v_n per example.
 * - `fgaIndependent` (FG-A, independent): u_n ~ N(0, I_q) seeded on the pre-activation z_n of each
 *   example, d_n = ⟨∂L_n/∂z_n, u_n⟩ (the tangent of L_n), g = (1/N) Σ_n x_n (d_n u_n)ᵀ.
 * - `fgaShared` (FG-A, shared): the same with one u for the whole batch (Table 1's fourth cell).
 *
 * Many draws are computed in one pass. The R draws of a chunk are independent copies of the
 * problem: FG-W replicates W1 once per draw (shared) or once per example (independent) — the
 * primal values are identical, but each copy gets its own tangent, so one `jvp` with a single
 * (block) direction yields every draw's directional derivative. FG-A needs no copies: the seeded
 * pre-activations already belong to one example each.
 *
 * The data distribution is the uniform distribution over a fixed, seeded pool of `poolSize`
 * examples (batches are drawn i.i.d. with replacement). Its per-example gradient moments, V and S
 * below, are therefore computed exactly from the pool, and Table 1's predictions are exact
 * numbers: the only error left in a measured variance is the Monte-Carlo error of the draws.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {jvp, seedTangent, tangentOf, withTangents} from '../../src/autodiff';

/** The estimators compared. */
export type Estimator = 'backprop'|'fgwShared'|'fgwIndependent'|'fgaIndependent'|'fgaShared';

export const ESTIMATORS: Estimator[] =
    ['backprop', 'fgwShared', 'fgwIndependent', 'fgaIndependent', 'fgaShared'];

/** Display names, as in the paper's Fig. 8 legend. */
export const ESTIMATOR_NAMES: Record<Estimator, string> = {
  backprop: 'backprop',
  fgwShared: 'FG-W shared',
  fgwIndependent: 'FG-W independent',
  fgaIndependent: 'FG-A independent',
  fgaShared: 'FG-A shared',
};

/** Options of `makeProblem`. */
export interface ProblemOptions {
  /** Fan-in (input dimension). Defaults to 4. */
  p?: number;
  /** Fan-out (hidden units). Defaults to 4. */
  q?: number;
  /** Number of examples of the data distribution. Defaults to 8192. */
  poolSize?: number;
  /** Seed of the network and the data. Defaults to 1. */
  seed?: number;
}

/**
 * A fixed random network and data distribution. Tensors are owned by the problem (`dispose`).
 *
 * Data: x ~ N(1, I_p) (a non-zero mean, so that the mean gradient, S, is sizeable next to V, as in
 * Fig. 8), y = aᵀx + 0.5·ε with a random teacher a ~ N(0, I/p) and ε ~ N(0, 1). Network:
 * W1 ~ N(0, 1/p), b1 ~ N(0, 0.25), w2 ~ N(0, 1), b2 = 0.
 */
export interface Problem {
  p: number;
  q: number;
  poolSize: number;
  W1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
  /** Inputs [poolSize, p] and targets [poolSize] of the data distribution. */
  xPool: Tensor;
  yPool: Tensor;
  /** Exact per-example gradients ∂L_n/∂W1, row-major [poolSize, p·q] (float64 on the host). */
  grads: Float64Array;
  /** The exact gradient of the expected loss, E_n[∂L_n/∂W1], [p·q]. */
  mean: Float64Array;
  /** Element-wise average variance of the per-example gradient: (1/pq) Σ_ij Var_n(∂L_n/∂W1_ij). */
  V: number;
  /** Element-wise average squared mean gradient: (1/pq) Σ_ij (E_n ∂L_n/∂W1_ij)². */
  S: number;
  dispose(): void;
}

/** Per-example losses (out − y)² from the hidden pre-activation z [..., q]; y has z's leading shape. */
export function lossFromPreactivation(prob: Problem, z: Tensor, y: Tensor): Tensor {
  return tf.tidy(() => {
    const out = tf.add(tf.sum(tf.mul(tf.tanh(z), prob.w2), -1), prob.b2);
    return tf.square(tf.sub(out, y));
  });
}

/** Pre-activations z = xW + b1: x [..., p] with W [p, q], or batched x [B, K, p] with W [B, p, q]. */
export function preactivation(prob: Problem, x: Tensor, W: Tensor): Tensor {
  return tf.tidy(() => tf.add(tf.matMul(x, W), prob.b1));
}

/** Exact per-example gradients of the losses of `x`, `y` w.r.t. W1, by forward mode: [B, p·q]. */
export function exactGradients(prob: Problem, x: Tensor, y: Tensor): Tensor {
  const d = prob.p * prob.q;
  return tf.tidy(() => {
    const basis = tf.reshape(tf.eye(d), [d, prob.p, prob.q]);  // tangent batch axis: d directions
    const {tangent} = jvp(W => lossFromPreactivation(prob, preactivation(prob, x, W), y), [prob.W1],
                          [basis]);
    return tf.transpose(tangent);  // [d, B] → [B, d]
  });
}

/** Builds the seeded network and data distribution and its exact gradient moments V, S. */
export function makeProblem(options: ProblemOptions = {}): Problem {
  const {p = 4, q = 4, poolSize = 8192, seed = 1} = options;
  const s = seed * 1000;
  const [W1, b1, w2, b2, xPool, yPool] = tf.tidy(() => {
    const x = tf.add(tf.randomNormal([poolSize, p], 0, 1, 'float32', s + 1), 1);
    const a = tf.randomNormal([p], 0, 1 / Math.sqrt(p), 'float32', s + 2);
    const y = tf.add(tf.sum(tf.mul(x, a), -1), tf.randomNormal([poolSize], 0, 0.5, 'float32', s + 3));
    return [
      tf.randomNormal([p, q], 0, 1 / Math.sqrt(p), 'float32', s + 4),
      tf.randomNormal([q], 0, 0.5, 'float32', s + 5),
      tf.randomNormal([q], 0, 1, 'float32', s + 6),
      tf.scalar(0),
      x,
      y,
    ];
  });
  const prob: Problem = {
    p, q, poolSize, W1, b1, w2, b2, xPool, yPool,
    grads: new Float64Array(0), mean: new Float64Array(0), V: 0, S: 0,
    dispose: () => tf.dispose([W1, b1, w2, b2, xPool, yPool]),
  };
  const g = exactGradients(prob, xPool, yPool);
  prob.grads = Float64Array.from(g.dataSync());
  g.dispose();
  const d = p * q;
  const mean = new Float64Array(d), sq = new Float64Array(d);
  for (let n = 0; n < poolSize; n++) {
    for (let i = 0; i < d; i++) {
      const v = prob.grads[n * d + i];
      mean[i] += v;
      sq[i] += v * v;
    }
  }
  let V = 0, S = 0;
  for (let i = 0; i < d; i++) {
    mean[i] /= poolSize;
    V += sq[i] / poolSize - mean[i] * mean[i];  // population variance over the pool
    S += mean[i] * mean[i];
  }
  prob.mean = mean;
  prob.V = V / d;
  prob.S = S / d;
  return prob;
}

/**
 * Table 1 (Propositions 3–4) for batch size N: the element-wise average variance of each estimator
 * from V and S. Backprop's is the data-sampling variance V/N.
 */
export function predictedVariance(prob: Problem, N: number): Record<Estimator, number> {
  const {p, q, V, S} = prob;
  const pq = p * q;
  return {
    backprop: V / N,
    fgwShared: (pq + 2) / N * V + (pq + 1) * S,
    fgwIndependent: (pq + 2) / N * V + (pq + 1) / N * S,
    fgaIndependent: (q + 2) / N * V + (q + 1) / N * S,
    fgaShared: (q + 2) / N * V + (q + 1) * S,
  };
}

/** What `simulate` measured for one estimator over R draws. */
export interface EstimatorStats {
  /** Element-wise average variance: (1/pq) Σ_ij of the sample variance (divisor R − 1) over draws. */
  variance: number;
  /** Standard error of `variance` (from the spread of the per-draw squared deviations). */
  stdErr: number;
  /** Mean of the estimates over the draws, [p·q]. */
  mean: Float64Array;
  /** ‖mean − exact gradient‖ (Euclidean over the p·q elements). */
  meanError: number;
  /** Its root-mean-square value for an unbiased estimator: sqrt(Σ_ij Var_ij / R). */
  meanErrorScale: number;
}

/** Options of `simulate`. */
export interface SimulateOptions {
  /** Batch size. */
  N: number;
  /** Number of draws (data batch and noise resampled each draw). */
  draws: number;
  /** Seed of the draws. Defaults to 7. */
  seed?: number;
  /** Which estimators. Defaults to all. */
  estimators?: Estimator[];
  /** Upper bound on the floats of one chunk's largest tensor (memory). Defaults to 2^22. */
  chunkFloats?: number;
}

/**
 * Shape of the noise of a forward-gradient estimator for C draws of batch size N: one v of W1's
 * shape per draw (FG-W shared) or per example (FG-W independent), one u of z's shape per example
 * (FG-A independent) or per draw (FG-A shared).
 */
export function noiseShape(prob: Problem, est: Estimator, C: number, N: number): number[] {
  const {p, q} = prob;
  switch (est) {
    case 'fgwShared': return [C, p, q];
    case 'fgwIndependent': return [C * N, p, q];
    case 'fgaIndependent': return [C * N, q];
    case 'fgaShared': return [C, q];
    default: throw new Error(`${est} is not a forward-gradient estimator.`);
  }
}

/**
 * The estimates of C draws of a forward-gradient estimator, [C, p·q], from their batches
 * (x [C·N, p], y [C·N], draw-major) and noise (`noiseShape`), by forward mode.
 */
export function forwardGradientEstimates(
    prob: Problem, est: Estimator, x: Tensor, y: Tensor, N: number, noise: Tensor): Tensor {
  const {p, q} = prob;
  const C = x.shape[0] / N;
  return tf.tidy(() => {
    if (est === 'fgwShared' || est === 'fgwIndependent') {
      // One copy of W1 per draw (shared) or per example (independent), each with its own
      // direction v: a single jvp gives every copy's ⟨∇L, v⟩.
      const copies = noise.shape[0];
      const xs = tf.reshape(x, [copies, -1, p]);  // [copies, examples per copy, p]
      const ys = tf.reshape(y, [copies, -1]);
      const Wrep = tf.tile(tf.expandDims(prob.W1, 0), [copies, 1, 1]);
      // A copy's loss is its batch's mean loss (shared) or its example's loss (independent).
      const {tangent} = jvp(W => tf.mean(lossFromPreactivation(prob, preactivation(prob, xs, W), ys), -1),
                            [Wrep], [noise]);
      const g = tf.mul(tf.reshape(tangent, [copies, 1, 1]), noise);  // ⟨∇L, v⟩ v per copy
      return tf.mean(tf.reshape(g, [C, -1, p * q]), 1);  // (1/N) Σ_n for independent
    }
    // FG-A: the noise is a tangent of the pre-activation z of each example.
    const u = est === 'fgaIndependent' ?
        noise :
        tf.reshape(tf.tile(tf.expandDims(noise, 1), [1, N, 1]), [C * N, q]);  // same u for a batch
    const d = withTangents(() => tf.tidy(() => {
      const z = preactivation(prob, x, prob.W1);  // [C·N, q]
      seedTangent(z, u);
      return tangentOf(lossFromPreactivation(prob, z, y)) as Tensor;  // d_n = ⟨∂L_n/∂z_n, u_n⟩
    }));
    const activityGrad = tf.reshape(tf.mul(tf.expandDims(d, 1), u), [C, N, q]);  // d_n u_n
    // g = (1/N) Σ_n x_n (d_n u_n)ᵀ per draw: [C, p, N] × [C, N, q].
    const g = tf.div(tf.matMul(tf.reshape(x, [C, N, p]), activityGrad, true, false), N);
    return tf.reshape(g, [C, p * q]);
  });
}

/** Running sums of the per-draw estimates (float64). */
class Moments {
  readonly sum: Float64Array;
  readonly rows: number[][] = [];
  constructor(readonly d: number) {
    this.sum = new Float64Array(d);
  }
  add(row: ArrayLike<number>): void {
    const r = Array.from(row);
    r.forEach((v, i) => this.sum[i] += v);
    this.rows.push(r);
  }
  stats(exact: Float64Array): EstimatorStats {
    const R = this.rows.length, d = this.d;
    const mean = this.sum.map(s => s / R);
    // Per-draw average squared deviation a_r = (1/d) Σ_i (g_ri − mean_i)²; variance = ΣA/(R − 1).
    const a = this.rows.map(r => r.reduce((acc, v, i) => acc + (v - mean[i]) ** 2, 0) / d);
    const aMean = a.reduce((x, y) => x + y, 0) / R;
    const variance = aMean * R / (R - 1);
    const aVar = a.reduce((acc, v) => acc + (v - aMean) ** 2, 0) / (R - 1);
    let err2 = 0;
    mean.forEach((m, i) => err2 += (m - exact[i]) ** 2);
    return {
      variance,
      stdErr: Math.sqrt(aVar / R),
      mean,
      meanError: Math.sqrt(err2),
      meanErrorScale: Math.sqrt(variance * d / R),
    };
  }
}

/**
 * Draws `draws` independent batches of size N (with replacement from the pool) and, for each,
 * fresh noise, and returns each estimator's measured element-wise average variance and mean. All
 * estimators see the same batches (their noises differ). Deterministic for a given seed.
 */
export function simulate(prob: Problem, options: SimulateOptions): Record<Estimator, EstimatorStats> {
  const {N, draws, seed = 7, estimators = ESTIMATORS, chunkFloats = 1 << 22} = options;
  const {p, q, poolSize} = prob;
  const d = p * q;
  // Largest tensor of a chunk: FG-W independent's W1 copies, C·N·p·q floats.
  const chunk = Math.max(1, Math.min(draws, Math.floor(chunkFloats / (N * Math.max(d, 8)))));
  const moments = new Map(estimators.map(e => [e, new Moments(d)]));
  for (let start = 0, c = 0; start < draws; start += chunk, c++) {
    const C = Math.min(chunk, draws - start);
    const chunkSeed = seed * 1000003 + N * 10007 + c * 17;
    const idx = tf.randomUniform([C * N], 0, poolSize, 'int32', chunkSeed);
    const x = tf.gather(prob.xPool, idx), y = tf.gather(prob.yPool, idx);
    const idxHost = idx.dataSync();
    estimators.forEach((est, k) => {
      const m = moments.get(est)!;
      if (est === 'backprop') {
        // Exact batch gradient: mean of the exact (forward-mode) per-example gradients.
        for (let r = 0; r < C; r++) {
          const row = new Float64Array(d);
          for (let n = 0; n < N; n++) {
            const off = idxHost[r * N + n] * d;
            for (let i = 0; i < d; i++) {
              row[i] += prob.grads[off + i] / N;
            }
          }
          m.add(row);
        }
        return;
      }
      const noise = tf.randomNormal(noiseShape(prob, est, C, N), 0, 1, 'float32', chunkSeed + k + 1);
      const g = forwardGradientEstimates(prob, est, x, y, N, noise);
      const host = g.dataSync();
      tf.dispose([g, noise]);
      for (let r = 0; r < C; r++) {
        m.add(host.subarray(r * d, (r + 1) * d));
      }
    });
    tf.dispose([idx, x, y]);
  }
  const out = {} as Record<Estimator, EstimatorStats>;
  moments.forEach((m, e) => out[e] = m.stats(prob.mean));
  return out;
}
