/**
 * Test helpers: backend-parameterised describes, closeness checks, and the JVP oracle check used by
 * every rule test (adjoint identity against tf.grad, central finite differences, batched tangents,
 * no leaks).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {jvp} from '../src/autodiff';

/** Backends the specs run on: set by the node runner or the karma setup before specs load. */
export function testBackends(): string[] {
  const g = globalThis as unknown as {__FG_TEST_BACKENDS?: string[]};
  return g.__FG_TEST_BACKENDS ?? ['cpu'];
}

/**
 * Declares `fn`'s specs once per test backend, as `name [backend]`, with the backend set before
 * they run. `only` restricts the backends (e.g. kernels a backend lacks).
 */
export function describeBackends(
    name: string, fn: (backend: string) => void, only?: string[]): void {
  for (const backend of testBackends()) {
    if (only != null && !only.includes(backend)) {
      continue;
    }
    describe(`${name} [${backend}]`, () => {
      beforeAll(async () => {
        await tf.setBackend(backend);
        await tf.ready();
      });
      fn(backend);
    });
  }
}

/** Tolerance scale of a backend relative to cpu (GPU backends in the browser are less exact). */
export function tolScale(): number {
  const b = tf.getBackend();
  return b === 'webgl' || b === 'webgpu' ? 20 : 1;
}

/** Flat float values of a tensor (tests only: reads back synchronously). */
export function values(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** max |a − b| over all elements. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = values(a), y = values(b);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    m = Math.max(m, Math.abs(x[i] - y[i]));
  }
  return m;
}

/** max |a| over all elements. */
export function maxAbs(a: Tensor): number {
  return values(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

/** Expects `a` and `b` to agree: max|a−b| ≤ atol + rtol·max(|a|, |b|). */
export function expectClose(a: Tensor, b: Tensor, rtol = 1e-5, atol = 1e-6, what = ''): void {
  const err = maxAbsDiff(a, b);
  const bound = atol + rtol * Math.max(maxAbs(a), maxAbs(b));
  expect(err).withContext(`${what} max|diff| ${err} > bound ${bound}`).toBeLessThanOrEqual(bound);
}

let seedCounter = 1000;

/**
 * Runs `fn` with `randn` / `randu` drawing from the fixed seed sequence starting at `seed`: a spec
 * whose check is sensitive to where its random points fall (finite differences next to a ReLU kink)
 * then gets the same values whichever specs ran before it (the browser bundle and node load specs
 * in different orders). Afterwards the shared sequence goes on as if `fn` had drawn from it, so the
 * specs that follow see the values they always saw.
 */
export function withSeed<T>(seed: number, fn: () => T): T {
  const before = seedCounter;
  seedCounter = seed;
  try {
    return fn();
  } finally {
    seedCounter = before + (seedCounter - seed);
  }
}
/** A reproducible standard normal tensor (each call gets the next seed). */
export function randn(shape: number[], scale = 1): Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seedCounter++), scale));
}

/**
 * Overwrites a model's trainable weights with seeded values (tfjs-layers initializers draw from
 * Math.random): weight i ~ N(0, 1/fan-in) with seed `firstSeed + i`; vectors (biases) use fan-in
 * `vectorFanIn`. The same values for every model of the same architecture.
 */
export function seedWeights<M extends {trainableWeights: Array<{shape: Array<number|null>, write(v: Tensor): void}>}>(
    model: M, firstSeed = 1000, vectorFanIn = 16): M {
  model.trainableWeights.forEach((w, i) => {
    const shape = w.shape as number[];
    const fanIn = shape.length >= 2 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : vectorFanIn;
    const value = tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', firstSeed + i), 1 / Math.sqrt(fanIn)));
    w.write(value);
    value.dispose();
  });
  return model;
}

/** An optimizer that wraps another and delegates its updates (`inner`), as ForwardGradientOptimizer does. */
export class WrappingOptimizer extends tf.Optimizer {
  constructor(readonly inner: tf.Optimizer) {
    super();
  }
  applyGradients(g: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    this.inner.applyGradients(g);
  }
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** A reproducible uniform tensor on [lo, hi). */
export function randu(shape: number[], lo: number, hi: number): Tensor {
  return tf.randomUniform(shape, lo, hi, 'float32', seedCounter++);
}

/** Uniform on ±[lo, hi): values kept away from 0 (for kinks such as relu and abs at 0). */
export function randAwayFromZero(shape: number[], lo = 0.1, hi = 2): Tensor {
  return tf.tidy(() => {
    const mag = randu(shape, lo, hi);
    const sign = tf.sign(randu(shape, -1, 1));
    return tf.mul(mag, tf.where(tf.equal(sign, 0), tf.onesLike(sign), sign));
  });
}

/** Options of `checkJvp`. */
export interface CheckJvpOptions {
  /** Which primals get a tangent (by index). Defaults to all float32 primals. */
  wrt?: number[];
  /** Relative / absolute tolerance of the adjoint check ⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩. */
  adjointRtol?: number;
  adjointAtol?: number;
  /** Central finite differences: step ε and tolerance max|fd − J·v| ≤ fdAtol + fdRtol·max|J·v|. */
  fdEps?: number;
  fdRtol?: number;
  fdAtol?: number;
  /** Skip the adjoint check (kernels whose tfjs gradient is missing or not an exact oracle). */
  skipAdjoint?: boolean;
  /** Skip the finite-difference check (piecewise-constant outputs at kinks, random ops). */
  skipFd?: boolean;
  /** Tangent batch shape of the batched check (default [3]); null skips it. */
  batchShape?: number[]|null;
}

type Fn = (...xs: Tensor[]) => Tensor|Tensor[];

/** True when the current backend has a kernel (tests of kernels a backend lacks are skipped). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) != null;
}

function asList(o: Tensor|Tensor[]): Tensor[] {
  return Array.isArray(o) ? o : [o];
}

/**
 * Checks `jvp(f)` at `primals` against exact oracles, on random tangents:
 * (1) the primal value equals f(primals);
 * (2) adjoint identity with reverse mode: Σ⟨J·v, u⟩ = Σ_i ⟨v_i, ∂/∂x_i Σ⟨f, u⟩⟩ (tf.grads);
 * (3) J·v equals central finite differences (f(x+εv) − f(x−εv)) / 2ε;
 * (4) a tangent with batch axes gives, per direction, the unbatched result;
 * (5) no tensor leaks.
 */
export function checkJvp(f: Fn, primals: Tensor[], opts: CheckJvpOptions = {}): void {
  const s = tolScale();
  const wrt = opts.wrt ?? primals.map((p, i) => p.dtype === 'float32' ? i : -1).filter(i => i >= 0);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const call = (xs: Tensor[]) => f(...xs);
    // Only the `wrt` primals vary; the others are closed over.
    const g = (...vs: Tensor[]) => {
      const xs = primals.slice();
      wrt.forEach((k, j) => xs[k] = vs[j]);
      return call(xs);
    };
    const ps = wrt.map(k => primals[k]);
    const vs = ps.map(p => randn(p.shape));
    const {value, tangent} = jvp<Tensor|Tensor[]>(g, ps, vs);
    const values0 = asList(value), tangents0 = asList(tangent);
    const direct = asList(g(...ps));
    direct.forEach((d, i) => expectClose(values0[i], d, 1e-6, 1e-6, 'primal value'));

    if (!opts.skipAdjoint) {
      const us = direct.map(d => randn(d.shape));
      const lhsTerms = tangents0.map((t, i) => tf.mul(t, us[i]));
      const lhs = lhsTerms.reduce((a, b) => tf.add(a, tf.sum(b)), tf.scalar(0));
      const grads = tf.grads((...xs: Tensor[]) => {
        const outs = asList(g(...xs));
        return outs.reduce((a, o, i) => tf.add(a, tf.sum(tf.mul(o, us[i]))), tf.scalar(0)) as tf.Scalar;
      })(ps);
      const rhsTerms = grads.map((gr, i) => tf.mul(gr, vs[i]));
      const rhs = rhsTerms.reduce((a, b) => tf.add(a, tf.sum(b)), tf.scalar(0));
      const mag = lhsTerms.reduce((a, b) => a + values(tf.sum(tf.abs(b)))[0], 0) +
          rhsTerms.reduce((a, b) => a + values(tf.sum(tf.abs(b)))[0], 0);
      const err = Math.abs(values(lhs)[0] - values(rhs)[0]);
      const bound = (opts.adjointAtol ?? 1e-5) * s + (opts.adjointRtol ?? 1e-4) * s * mag;
      expect(err).withContext(`adjoint ⟨Jv,u⟩=${values(lhs)[0]} vs ⟨v,Jᵀu⟩=${values(rhs)[0]}`)
          .toBeLessThanOrEqual(bound);
    }

    if (!opts.skipFd) {
      const eps = opts.fdEps ?? 1e-2;
      const plus = asList(g(...ps.map((p, i) => tf.add(p, tf.mul(vs[i], eps)))));
      const minus = asList(g(...ps.map((p, i) => tf.sub(p, tf.mul(vs[i], eps)))));
      plus.forEach((pl, i) => {
        const fd = tf.div(tf.sub(pl, minus[i]), 2 * eps);
        const err = maxAbsDiff(fd, tangents0[i]);
        const bound = (opts.fdAtol ?? 1e-3) * s + (opts.fdRtol ?? 1e-2) * s * maxAbs(tangents0[i]);
        expect(err).withContext(`finite differences, output ${i}`).toBeLessThanOrEqual(bound);
      });
    }

    if (opts.batchShape !== null) {
      const batchShape = opts.batchShape ?? [3];
      const k = batchShape.reduce((a, b) => a * b, 1);
      const dirs = ps.map(p => randn([k, ...p.shape]));
      const batched = jvp<Tensor|Tensor[]>(g, ps, dirs.map((d, i) => tf.reshape(d, [...batchShape, ...ps[i].shape])));
      const bt = asList(batched.tangent);
      for (let j = 0; j < k; j++) {
        const single = asList(jvp<Tensor|Tensor[]>(g, ps, dirs.map(d => tf.squeeze(tf.slice(d, j, 1), [0]))).tangent);
        single.forEach((t, i) => {
          const flat = tf.reshape(bt[i], [k, ...t.shape]);
          expectClose(tf.squeeze(tf.slice(flat, j, 1), [0]), t, 1e-4 * s, 1e-5 * s,
                      `batched tangent, direction ${j}, output ${i}`);
        });
      }
    }
  });
  expect(tf.memory().numTensors).withContext('tensors leaked by jvp').toBe(before);
}
