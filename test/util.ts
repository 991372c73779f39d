/**
 * Test helpers: backend-parameterised describes, closeness checks, and the JVP oracle check used by
 * every rule test (adjoint identity against tf.grad, central finite differences, batched tangents,
 * no leaks).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {jvp} from '../src/autodiff';

/**
 * Backends the specs run on, in this order. In the browser it is `client.fgTestBackends` of
 * karma.conf.js, which karma writes into the page (`__karma__.config`) before any script runs; in
 * node it is `FG_TEST_BACKENDS`, set by scripts/test-node.js before it loads a spec. Neither depends
 * on which module a bundle evaluates first, and a missing list is an error, not a default: a default
 * silently drops every backend but one.
 */
export function testBackends(): string[] {
  const g = globalThis as unknown as {
    __karma__?: {config?: {fgTestBackends?: unknown}},
    __FG_TEST_BACKENDS?: unknown,
  };
  const list = g.__karma__ != null ? g.__karma__.config?.fgTestBackends : g.__FG_TEST_BACKENDS;
  tf.util.assert(
      Array.isArray(list) && list.length > 0 && list.every(b => typeof b === 'string' && b !== ''),
      () => `testBackends: no backend list (got ${JSON.stringify(list)}). Run the specs through ` +
          'scripts/test-node.js (FG_TEST_BACKENDS) or karma.conf.js (client.fgTestBackends).');
  return (list as string[]).slice();
}

/** Sets `backend` and checks that it is active: a backend that fails to initialise fails its specs. */
async function useBackend(backend: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
    await tf.ready();
  } catch (e) {
    throw new Error(`describeBackends: backend '${backend}' failed to initialise: ${e}`);
  }
  if (!ok || tf.getBackend() !== backend) {
    throw new Error(`describeBackends: backend '${backend}' could not be set (tf.setBackend returned ` +
                    `${ok}, active backend '${tf.getBackend()}'): its specs would run on another backend`);
  }
}

/**
 * Declares `fn`'s specs once per test backend, as `name [backend]`, with the backend set (and
 * checked) before each spec runs. `only` restricts the backends (e.g. kernels a backend lacks).
 */
export function describeBackends(
    name: string, fn: (backend: string) => void, only?: string[]): void {
  for (const backend of testBackends()) {
    if (only != null && !only.includes(backend)) {
      continue;
    }
    describe(`${name} [${backend}]`, () => {
      beforeAll(() => useBackend(backend));
      // A spec that switched backends must not move the next ones off theirs.
      beforeEach(async () => {
        if (tf.getBackend() !== backend) {
          await useBackend(backend);
        }
      });
      // A spec that leaves the engine recording (a gradient tape or depth from an unbalanced tf.grad
      // or tracer hook) would change every later spec: name it here, and reset the engine.
      afterEach(() => {
        const state = tf.engine().state as unknown as {activeTape: unknown, gradientDepth: number};
        const left = state.activeTape != null || state.gradientDepth !== 0;
        const detail = `activeTape ${state.activeTape == null ? 'null' : 'set'}, gradientDepth ${state.gradientDepth}`;
        if (left) {
          state.activeTape = null;
          state.gradientDepth = 0;
          fail(`the spec left the engine recording gradients (${detail})`);
        }
      });
      fn(backend);
    });
  }
}

/**
 * Whether a suite runs a covering subset of its cases on `backend` instead of their full product. The
 * GPU backends run on a software rasteriser in CI (SwiftShader; webgpu on llvmpipe), about fifteen
 * times slower than cpu. What they must show is that every kernel path of ours works on them (every
 * model, every loss, every rule), not every combination: suites that are products (models × losses,
 * tangent patterns × shapes, step counts of leak checks, checkJvp's finite differences where the
 * adjoint oracle runs) shrink to a subset that still touches each
 * factor there, and the full product runs on cpu and wasm in node. `FG_FULL_GPU=1` (node) or karma's
 * `client.fgFullGpu` runs everything on the GPU backends too.
 */
export function coveringSubset(backend: string): boolean {
  if (backend !== 'webgl' && backend !== 'webgpu') {
    return false;
  }
  const g = globalThis as unknown as {__karma__?: {config?: {fgFullGpu?: unknown}}};
  const full = g.__karma__ != null ? g.__karma__.config?.fgFullGpu === true :
      typeof process !== 'undefined' && process.env?.FG_FULL_GPU === '1';
  return !full;
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

/** The ` [backend]` tags describeBackends appends to suite names. */
const BACKEND_TAG = / \[(?:cpu|wasm|webgl|webgpu)\]/g;

/**
 * Where `randn` / `randu` draw from: the spec (or, in beforeAll / afterAll, the suite) that is
 * running, by full name without backend tags, and how many tensors it has drawn so far.
 */
interface SeedScope {
  name: string;
  draws: number;
}
const seedScopes: SeedScope[] = [];
let running = false;

/**
 * Keeps `seedScopes` in step with jasmine: the reporter events of a suite or spec come before its
 * hooks and body run, and its `done` event after they finish.
 */
const seedReporter: jasmine.CustomReporter = {
  jasmineStarted: () => {
    running = true;
    seedScopes.length = 0;
    seedScopes.push({name: '', draws: 0});
  },
  suiteStarted: r => void seedScopes.push({name: r.fullName.replace(BACKEND_TAG, ''), draws: 0}),
  suiteDone: () => void seedScopes.pop(),
  specStarted: r => void seedScopes.push({name: r.fullName.replace(BACKEND_TAG, ''), draws: 0}),
  specDone: () => void seedScopes.pop(),
  jasmineDone: () => {
    running = false;
  },
};
/** Without jasmine (a benchmark script importing these helpers): one sequence for the process. */
const outsideJasmine: SeedScope|null = typeof jasmine === 'undefined' ? {name: '(no jasmine)', draws: 0} : null;
if (outsideJasmine == null) {
  const g = globalThis as unknown as {__fgSeedReporter?: boolean};
  if (!g.__fgSeedReporter) {
    g.__fgSeedReporter = true;
    jasmine.getEnv().addReporter(seedReporter);
  }
}

/**
 * The seed of draw number `draw` (0, 1, …) of the spec or suite named `name` (its full name without
 * backend tags): a 32-bit FNV-1a hash of both.
 */
export function seedFor(name: string, draw: number): number {
  const s = `${name}\u0000${draw}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The next seed of the running spec: a hash of its full name (backend tags removed) and of how many
 * seeds it has taken. A spec thus draws the same values whichever specs ran before it, in whatever
 * order the runner loads and runs them (node and the browser bundle differ), and on every backend
 * (cpu, wasm and webgl check the same points, so a failure on one backend is the backend's, not the
 * draw's). In beforeAll / afterAll the sequence is the suite's. Drawing while specs are being
 * declared (in a describe body) is an error: declarations have no name to seed from that does not
 * depend on load order; draw in beforeAll, beforeEach or the spec. Outside jasmine (a benchmark)
 * the draws follow one fixed sequence from the start of the process.
 */
export function nextSeed(): number {
  if (outsideJasmine != null) {
    return seedFor(outsideJasmine.name, outsideJasmine.draws++);
  }
  tf.util.assert(running && seedScopes.length > 0, () =>
      'randn/randu/nextSeed: called while specs are being declared (in a describe body); draw in ' +
      'beforeAll, beforeEach or the spec, so that the values are seeded from the spec name.');
  const scope = seedScopes[seedScopes.length - 1];
  return seedFor(scope.name, scope.draws++);
}

/** A reproducible standard normal tensor times `scale` (each call draws fresh values: `nextSeed`). */
export function randn(shape: number[], scale = 1): Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', nextSeed()), scale));
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

/** A reproducible uniform tensor on [lo, hi) (each call draws fresh values: `nextSeed`). */
export function randu(shape: number[], lo: number, hi: number): Tensor {
  return tf.randomUniform(shape, lo, hi, 'float32', nextSeed());
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
  /**
   * Central finite differences: step ε and tolerance max|fd − J·v| ≤ fdAtol + fdRtol·max|J·v| (next to
   * kinks, one-sided differences to the same tolerance).
   */
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
 * (3) J·v equals central finite differences (f(x+εv) − f(x−εv)) / 2ε, or, for an element with a
 *     kink of f within ε of x (its central difference is off), one of its two second-order
 *     one-sided differences (−3f(x) + 4f(x ± εv/2) − f(x ± εv)) / ±ε;
 *     (on the GPU backends, test/util.ts coveringSubset, only where (2) is skipped);
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

    // On the GPU backends (coveringSubset) the adjoint identity is the oracle: the rule's code is the
    // backend's kernels plus the same formula that the finite differences check on cpu and wasm; they
    // still run where there is no adjoint oracle.
    const skipFd = opts.skipFd || (coveringSubset(tf.getBackend()) && !opts.skipAdjoint);
    if (!skipFd) {
      const eps = opts.fdEps ?? 1e-2;
      const at = (t: number) => asList(g(...ps.map((p, i) => tf.add(p, tf.mul(vs[i], t)))));
      const plus = at(eps), minus = at(-eps);
      let halfSteps: {plus: Tensor[], minus: Tensor[]}|null = null;
      plus.forEach((pl, i) => {
        expect(tangents0[i].shape).withContext(`tangent shape, output ${i}`).toEqual(pl.shape);
        const bound = (opts.fdAtol ?? 1e-3) * s + (opts.fdRtol ?? 1e-2) * s * maxAbs(tangents0[i]);
        const jv = values(tangents0[i]), fp = values(pl), fm = values(minus[i]);
        const outside: number[] = [];
        for (let e = 0; e < jv.length; e++) {
          if (!(Math.abs((fp[e] - fm[e]) / (2 * eps) - jv[e]) <= bound)) {
            outside.push(e);
          }
        }
        // An element whose central difference is off may have a kink of f (relu, relu6, max, …)
        // between x − εv and x + εv. Then f is smooth on the other side, and J·v must equal that
        // side's derivative: second-order one-sided differences with steps ε/2 and ε, to the same
        // tolerance. A wrong rule is off from both sides on smooth stretches, so it still fails.
        let worst = 0, worstAt = -1, kinks = 0;
        if (outside.length > 0) {
          halfSteps = halfSteps ?? {plus: at(eps / 2), minus: at(-eps / 2)};
          const f0 = values(direct[i]), fph = values(halfSteps.plus[i]), fmh = values(halfSteps.minus[i]);
          for (const e of outside) {
            const right = (4 * fph[e] - 3 * f0[e] - fp[e]) / eps;
            const left = (3 * f0[e] - 4 * fmh[e] + fm[e]) / eps;
            if (Math.min(Math.abs(right - jv[e]), Math.abs(left - jv[e])) <= bound) {
              kinks++;
              continue;
            }
            const err = Math.abs((fp[e] - fm[e]) / (2 * eps) - jv[e]);
            if (!(err <= worst)) {
              worst = err;
              worstAt = e;
            }
          }
        }
        expect(worst)
            .withContext(`finite differences, output ${i}: worst element ${worstAt} (J·v ${jv[worstAt]}, central ` +
                         `${(fp[worstAt] - fm[worstAt]) / (2 * eps)}); ${kinks} element(s) next to a kink ` +
                         'matched a one-sided derivative')
            .toBeLessThanOrEqual(bound);
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
