/**
 * Acceptance test: forward mode covers standard tfjs-layers models. For every model of the zoo
 * (zoo_models.ts) and every built-in tfjs-layers loss:
 *  (a) coverage: every kernel the training loss dispatches while traced has a JVP rule, and the
 *      loss runs with tangents seeded on every trainable weight;
 *  (b) correctness: the JVP of the scalar training loss along random weight directions v equals
 *      Σ_w ⟨∂loss/∂w, v_w⟩ from tf.variableGrads on the same model and batch;
 *  (c) no tensor leaks.
 * Plus: the tracer does not disturb `model.fit` when a callback calls `jvp` between batches.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {getJvpRule, jvp, seedTangent, tangentOf, withTangents} from '../../src/autodiff';
import {coveringSubset, describeBackends, expectClose, hasKernel, randn, tolScale} from '../util';
import {BATCH, lossFunction, NUM_CLASSES, trainingLoss, ZOO_LOSSES, ZOO_MODELS, ZooLoss, ZooModel} from
    './zoo_models';

/**
 * Tolerance of the JVP-vs-backprop check: |a − b| ≤ RTOL·Σ|g·v| + ATOL (times tolScale() on GPU
 * backends). In float32 on cpu and wasm the observed |a − b| / Σ|g·v| stays below 4e-7 over the
 * whole zoo (print it with FG_ZOO_VERBOSE=1), so RTOL leaves a 50× margin while still catching a
 * 1% error in the tangent of most kernels.
 */
const RTOL = 2e-5, ATOL = 1e-5;

/** Everything one spec needs, built fresh (the weights are seeded: the same in every run). */
interface Case {
  model: tfl.LayersModel;
  x: Tensor;
  y: Tensor;
  loss: () => tf.Scalar;
  dispose(): void;
}

function makeCase(zm: ZooModel, zl: ZooLoss): Case {
  const model = zm.build({head: zl.head});
  const x = zm.input(), y = zl.targets();
  const lossFn = lossFunction(model, zl.name);
  return {
    model, x, y,
    loss: () => trainingLoss(model, lossFn, x, y),
    dispose: () => {
      model.dispose();
      tf.dispose([x, y]);
    },
  };
}

/** The tf.Variables behind the model's trainable weights. */
function trainableVariables(model: tfl.LayersModel): tf.Variable[] {
  return model.trainableWeights.map(w => w.read() as tf.Variable);
}

/**
 * Names of the kernels `fn` dispatches. `tf.profile` leaves profiling on if its query throws, so
 * errors are caught inside the query and returned.
 */
async function kernelsOf(fn: () => void): Promise<{kernels: string[], error: Error|null}> {
  let error: Error|null = null;
  const info = await tf.profile(() => {
    try {
      fn();
    } catch (e) {
      error = e as Error;
    }
    return null as unknown as tf.TensorContainer;
  });
  return {kernels: [...new Set(info.kernelNames)].sort(), error};
}

/** Why tf.variableGrads cannot serve as the oracle of `zm` on `backend`, or null if it can. */
function oracleUnavailable(zm: ZooModel, backend: string): string|null {
  const missing = zm.oracleKernels.filter(k => tf.getKernel(k, backend) == null);
  if (missing.length > 0) {
    return `the reverse-mode oracle needs ${missing.join(', ')}, which ${backend} lacks`;
  }
  const broken = zm.oracleBroken?.[backend];
  return broken == null ? null : `the reverse-mode oracle is wrong on ${backend}: ${broken}`;
}

/** Runs `c.loss()` inside withTangents, seeding a tangent on each trainable weight if `seed`. */
function tracedLoss(c: Case, seed: boolean): void {
  withTangents(() => tf.tidy(() => {
    if (seed) {
      for (const v of trainableVariables(c.model)) {
        const t = tf.onesLike(v);
        seedTangent(v, t);
        t.dispose();
      }
    }
    c.loss();
  }));
}

/**
 * The backend on which reverse mode (the oracle) runs for `zm`: the spec's own, else cpu (tfjs
 * moves the weights and data there), else null. (Not cpu → wasm: int32 labels created on cpu read
 * back as garbage on wasm after tfjs moves them, in tfjs 4.22.)
 */
function oracleBackendFor(zm: ZooModel, backend: string): string|null {
  return [backend, 'cpu'].find(
      b => tf.findBackendFactory(b) != null && oracleUnavailable(zm, b) == null) ?? null;
}

const verbose = typeof process !== 'undefined' && process.env?.FG_ZOO_VERBOSE === '1';

describeBackends('JVP model zoo', backend => {
  // On the GPU backends (test/util.ts coveringSubset): every model with one loss and every loss with
  // one model; the full product runs on cpu and wasm.
  const subset = coveringSubset(backend);
  for (const zm of ZOO_MODELS) {
    for (const zl of ZOO_LOSSES) {
      if (subset && zl.name !== 'categoricalCrossentropy' && zm !== ZOO_MODELS[0]) {
        continue;
      }
      const label = `${zm.name} × ${zl.name}`;

      it(`coverage: ${label}`, async () => {
        const before = tf.memory().numTensors;
        const c = makeCase(zm, zl);
        const inside = tf.memory().numTensors;
        // The kernels the tracer intercepts: those of the forward pass inside withTangents (no tape
        // is recording, so Dense and Conv2D run the fused kernels and customGrad ops run inline).
        // Without seeded tangents no JVP rule runs, so the list holds only the model's and the
        // loss's own kernels, not those that the rules themselves dispatch.
        const primal = await kernelsOf(() => tracedLoss(c, false));
        expect(primal.error?.message ?? null)
            .withContext(`${label} [${backend}]: forward pass inside withTangents failed`)
            .toBeNull();
        const missing = primal.kernels.filter(k => getJvpRule(k) == null);
        expect(missing)
            .withContext(
                `${label} [${backend}]: kernels without a JVP rule: [${missing.join(', ')}]`)
            .toEqual([]);
        // The same pass with tangents on every trainable weight must run (every rule runs here).
        const traced = await kernelsOf(() => tracedLoss(c, true));
        expect(traced.error?.message ?? null)
            .withContext(`${label} [${backend}]: forward pass with tangents failed`)
            .toBeNull();
        if (verbose) {
          console.log(`\n[zoo ${backend}] ${label}: ${primal.kernels.join(' ')}`);
        }
        expect(tf.memory().numTensors).withContext('tensors leaked by the traced pass').toBe(inside);
        c.dispose();
        expect(tf.memory().numTensors).withContext('tensors leaked by the spec').toBe(before);
      });

      it(`correctness: ${label}`, async () => {
        // Where this backend cannot run reverse mode for the model, the reverse-mode oracle runs on
        // another backend on the same weights and batch (tfjs moves the data between backends).
        const oracleBackend = oracleBackendFor(zm, backend);
        if (oracleBackend == null) {
          pending(`no backend can run the reverse-mode oracle: ${oracleUnavailable(zm, backend)}`);
          return;
        }
        const before = tf.memory().numTensors;
        // Dropout layers have a fixed seed, so both passes drop the same units (the check of the
        // primal loss below would catch different masks).
        const c = makeCase(zm, zl);
        const vars = trainableVariables(c.model);
        const dirs = vars.map(v => randn(v.shape));
        const inside = tf.memory().numTensors;

        const [primal, dd] = withTangents(() => tf.tidy(() => {
          vars.forEach((v, i) => seedTangent(v, dirs[i]));
          const loss = c.loss();
          const t = tangentOf(loss);
          return [loss.dataSync()[0], t == null ? 0 : t.dataSync()[0]];
        }));
        expect(tf.memory().numTensors).withContext('tensors leaked by the JVP').toBe(inside);

        await tf.setBackend(oracleBackend);
        const {value, grads} = tf.variableGrads(c.loss, vars);
        let expected = 0, mag = 0;
        tf.tidy(() => {
          vars.forEach((v, i) => {
            const g = grads[v.name];
            if (g != null) {
              const gv = tf.mul(g, dirs[i]);
              expected += tf.sum(gv).dataSync()[0];
              mag += tf.sum(tf.abs(gv)).dataSync()[0];
            }
          });
        });
        const oracleLoss = value.dataSync()[0];
        tf.dispose([value, grads as tf.TensorContainer]);
        await tf.setBackend(backend);

        expect(Math.abs(primal - oracleLoss))
            .withContext(`${label}: loss ${primal} in forward mode vs ${oracleLoss} in reverse mode`)
            .toBeLessThanOrEqual(1e-5 * Math.abs(oracleLoss) + 1e-6);
        const bound = (RTOL * mag + ATOL) * tolScale();
        if (verbose) {
          console.log(`\n[zoo ${backend}] ${label}: JVP ${dd} vs ${expected}, ` +
                      `|diff|/Σ|g·v| = ${(Math.abs(dd - expected) / mag).toExponential(2)}`);
        }
        expect(mag).withContext(`${label}: the loss does not depend on the weights`)
            .toBeGreaterThan(0);
        expect(Math.abs(dd - expected))
            .withContext(
                `${label} [${backend}]: JVP ${dd} vs Σ⟨grad, v⟩ ${expected} (Σ|g·v| = ${mag})`)
            .toBeLessThanOrEqual(bound);
        expect(tf.memory().numTensors).withContext('tensors leaked by the oracle').toBe(inside);
        tf.dispose(dirs);
        c.dispose();
        expect(tf.memory().numTensors).withContext('tensors leaked by the spec').toBe(before);
      });
    }
  }

  // Forward-gradient training pushes several directions at once (tangent batch axes): the JVP of
  // each direction must match backprop too. One loss per model keeps this cheap.
  const K = 3;
  for (const zm of ZOO_MODELS) {
    const zl = ZOO_LOSSES.find(l => l.name === 'categoricalCrossentropy')!;
    const label = `${zm.name} × ${zl.name}`;
    it(`correctness, ${K} directions at once: ${label}`, async () => {
      const oracleBackend = oracleBackendFor(zm, backend);
      if (oracleBackend == null) {
        pending(`no backend can run the reverse-mode oracle: ${oracleUnavailable(zm, backend)}`);
        return;
      }
      const before = tf.memory().numTensors;
      const c = makeCase(zm, zl);
      const vars = trainableVariables(c.model);
      const dirs = vars.map(v => randn([K, ...v.shape]));
      const dd = withTangents(() => tf.tidy(() => {
        vars.forEach((v, i) => seedTangent(v, dirs[i]));
        const t = tangentOf(c.loss());
        return t == null ? new Array(K).fill(0) : Array.from(t.dataSync());
      }), {batchShape: [K]});
      await tf.setBackend(oracleBackend);
      const {value, grads} = tf.variableGrads(c.loss, vars);
      const expected = new Array(K).fill(0), mag = new Array(K).fill(0);
      tf.tidy(() => vars.forEach((v, i) => {
        const g = grads[v.name];
        if (g != null) {
          const gv = tf.reshape(tf.mul(g, dirs[i]), [K, -1]);
          tf.sum(gv, 1).dataSync().forEach((e, k) => expected[k] += e);
          tf.sum(tf.abs(gv), 1).dataSync().forEach((e, k) => mag[k] += e);
        }
      }));
      tf.dispose([value, grads as tf.TensorContainer, dirs]);
      await tf.setBackend(backend);
      expect(dd.length).toBe(K);
      for (let k = 0; k < K; k++) {
        expect(Math.abs(dd[k] - expected[k]))
            .withContext(`${label} [${backend}], direction ${k}: JVP ${dd[k]} vs Σ⟨grad, v⟩ ` +
                         `${expected[k]} (Σ|g·v| = ${mag[k]})`)
            .toBeLessThanOrEqual((RTOL * mag[k] + ATOL) * tolScale());
      }
      c.dispose();
      expect(tf.memory().numTensors).withContext('tensors leaked by the spec').toBe(before);
    });
  }

  it('model.fit is undisturbed by jvp calls in callbacks', async () => {
    const optimizers: tf.Optimizer[] = [];
    const build = () => {
      const optimizer = tf.train.sgd(0.1);
      optimizers.push(optimizer);
      const m = tfl.sequential({
        layers: [
          tfl.layers.dense({units: 5, activation: 'relu', inputShape: [4]}),
          tfl.layers.dense({units: NUM_CLASSES, activation: 'softmax'}),
        ],
      });
      m.compile({loss: 'categoricalCrossentropy', optimizer, metrics: ['acc']});
      return m;
    };
    const a = build(), b = build();
    const init = a.getWeights().map(w => w.clone());  // getWeights returns the variables
    b.setWeights(init);
    const xs = randn([2 * BATCH, 4]);
    const ys = tf.tidy(() =>
        tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), NUM_CLASSES), 'float32'));
    const mat = randn([4, 3]), p = randn([2, 4]), v = randn([2, 4]);
    const expectedTangent = tf.matMul(v, mat);
    let calls = 0;
    // An unrelated JVP in both hooks: J·v of p ↦ p·mat is v·mat.
    const check = () => {
      const r = jvp(q => tf.matMul(q, mat), [p], [v]);
      expectClose(r.tangent, expectedTangent, 1e-6, 1e-6, 'jvp inside a fit callback');
      tf.dispose([r.value, r.tangent]);
      calls++;
    };

    const before = tf.memory().numTensors;
    const fitOpts = {epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 as const};
    const histA =
        await a.fit(xs, ys, {...fitOpts, callbacks: {onBatchBegin: check, onBatchEnd: check}});
    expect(calls).toBe(4);
    expect(tf.memory().numTensors).withContext('tensors leaked by fit with jvp callbacks').toBe(before);
    const histB = await b.fit(xs, ys, fitOpts);
    expect(histA.history.loss[0]).toBe(histB.history.loss[0]);
    expect(Number.isFinite(histA.history.loss[0] as number)).toBe(true);
    // Same data, same order, same start: the jvp calls must not change a single weight.
    a.getWeights().forEach((w, i) => {
      expectClose(w, b.getWeights()[i], 0, 0, `weight ${i} after fit`);
      expect(tf.util.arraysEqual(w.dataSync(), init[i].dataSync())).toBe(false);
    });
    tf.dispose([xs, ys, mat, p, v, expectedTangent, init]);
    a.dispose();
    b.dispose();
    optimizers.forEach(o => o.dispose());
  });
});
