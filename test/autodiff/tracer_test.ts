import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {getJvpRule, jvp, KernelObserver, listJvpRules, registerJvpRule, seedTangent, tangentOf, unregisterJvpRule, withTangents} from '../../src/autodiff';
import {savingWithoutTangents} from '../../src/autodiff/internal';
import {UnsupportedKernelError} from '../../src/errors';
import {describeBackends, expectClose, randn} from '../util';

const TEST_KERNEL = 'FgTestScaleByTwo';

/** Registers a kernel y = 2x for the current backend, built from its Multiply kernel. */
function registerTestKernel(): void {
  const backendName = tf.getBackend();
  if (tf.getKernel(TEST_KERNEL, backendName) != null) {
    return;
  }
  tf.registerKernel({
    kernelName: TEST_KERNEL, backendName,
    kernelFunc: ({inputs, backend}) => {
      const two = tf.engine().makeTensor(new Float32Array([2]), [], 'float32', backend as tf.KernelBackend);
      const out = tf.getKernel(tf.Multiply, backendName)!.kernelFunc(
          {inputs: {a: inputs.x, b: two}, backend: backend as tf.KernelBackend, attrs: {}});
      two.dispose();
      return out;
    },
  });
}

const scaleByTwo = (x: tf.Tensor) => tf.engine().runKernel(TEST_KERNEL, {x}, {}) as tf.Tensor;

describeBackends('tracer', () => {
  beforeEach(registerTestKernel);
  afterEach(() => {
    if (tf.getGradient(TEST_KERNEL) != null) {
      tf.unregisterGradient(TEST_KERNEL);
    }
    if (getJvpRule(TEST_KERNEL) != null) {
      unregisterJvpRule(TEST_KERNEL);
    }
  });

  it('throws an error that names a kernel with neither rule nor gradient, and leaks nothing', () => {
    const x = randn([3]), v = randn([3]);
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      jvp(a => tf.sum(scaleByTwo(tf.exp(a))), [x], [v]);
    } catch (e) {
      error = e;
    }
    expect(error instanceof UnsupportedKernelError).toBe(true);
    expect((error as UnsupportedKernelError).kernelName).toBe(TEST_KERNEL);
    expect((error as Error).message).toMatch(/No JVP rule for kernel 'FgTestScaleByTwo'/);
    expect((error as Error).message).toMatch(/registerJvpRule\('FgTestScaleByTwo'/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, v]);
  });

  it('derives a JVP from a registered gradient, with a one-time warning', () => {
    tf.registerGradient({kernelName: TEST_KERNEL, gradFunc: (dy: tf.Tensor|tf.Tensor[]) => ({x: () => tf.mul(dy as tf.Tensor, 2)})});
    const warn = spyOn(console, 'warn');
    tf.tidy(() => {
      const x = randn([2, 3]), v = randn([2, 3]);
      for (let i = 0; i < 2; i++) {
        const {tangent} = jvp(scaleByTwo, [x], [v]);
        expectClose(tangent, tf.mul(v, 2));
      }
      // batched tangents go through the fallback too, one direction at a time
      const vb = randn([4, 2, 3]);
      expectClose(jvp(scaleByTwo, [x], [vb]).tangent, tf.mul(vb, 2));
    });
    expect(warn.calls.count()).toBeLessThanOrEqual(1);  // once per kernel per process
  });

  it('a gradient-derived fallback that fails leaks nothing and names the kernel', () => {
    // The gradient runs EluGrad, which has no gradient: differentiating it with respect to dy fails
    // in the backward pass, after the tape saved tensors.
    tf.registerGradient({
      kernelName: TEST_KERNEL, inputsToSave: ['x'],
      gradFunc: (dy: tf.Tensor|tf.Tensor[], [x]: tf.Tensor[]) => ({
        x: () => tf.mul(tf.engine().runKernel(tf.EluGrad, {dy: dy as tf.Tensor, y: x}) as tf.Tensor, x),
      }),
    });
    spyOn(console, 'warn');
    const x = randn([3]), v = randn([3]);
    const state = (tf.engine() as unknown as {state: {gradientDepth: number, kernelDepth: number, activeTape: unknown}}).state;
    const before = tf.memory().numTensors;
    const tapeBefore = state.activeTape;  // what the engine had (restored, whatever other specs left)
    for (const batch of [[], [2]]) {
      let error: unknown;
      try {
        jvp(a => tf.sum(scaleByTwo(tf.exp(a))), [x], [batch.length ? tf.tidy(() => tf.stack([v, v])) : v]);
      } catch (e) {
        error = e;
      }
      expect(error instanceof UnsupportedKernelError).toBe(true);
      expect((error as UnsupportedKernelError).kernelName).toBe(TEST_KERNEL);
      expect((error as Error).message).toMatch(/deriving it from the gradient failed.*EluGrad/);
    }
    expect(tf.memory().numTensors).toBe(before + 1);  // the stacked tangent of the batched call
    expect(state.gradientDepth).toBe(0);
    expect(state.kernelDepth).toBe(0);
    expect(state.activeTape).toBe(tapeBefore);
    tf.dispose([x, v]);
  });

  it('without its rule, Dilation2D gets a clear UnsupportedKernelError (its gradient cannot be ' +
     'differentiated), no leak', () => {
    if (tf.getKernel(tf.Dilation2D, tf.getBackend()) == null) {
      pending(`no Dilation2D kernel on ${tf.getBackend()}`);
    }
    const x = randn([1, 4, 4, 2]), f = randn([2, 2, 2]), v = randn([1, 4, 4, 2]);
    const before = tf.memory().numTensors;
    const rule = getJvpRule(tf.Dilation2D)!;
    unregisterJvpRule(tf.Dilation2D);
    let error: unknown;
    try {
      jvp(a => tf.dilation2d(a as tf.Tensor4D, f as tf.Tensor3D, 1, 'same'), [x], [v]);
    } catch (e) {
      error = e;
    } finally {
      registerJvpRule(tf.Dilation2D, rule);
    }
    expect(error instanceof UnsupportedKernelError).toBe(true);
    expect((error as UnsupportedKernelError).kernelName).toBe(tf.Dilation2D);
    expect((error as Error).message).toMatch(/No JVP rule for kernel 'Dilation2D'.*Dilation2DBackpropInput/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, f, v]);
  });

  it('uses a rule registered with registerJvpRule', () => {
    registerJvpRule(TEST_KERNEL, (_inputs, tangents) => tangents.x == null ? null : tf.mul(tangents.x, 2));
    expect(listJvpRules()).toContain(TEST_KERNEL);
    tf.tidy(() => {
      const x = randn([5]), v = randn([5]);
      expectClose(jvp(scaleByTwo, [x], [v]).tangent, tf.mul(v, 2));
    });
  });

  it('reports a rule that returns a wrongly shaped tangent, naming the kernel', () => {
    registerJvpRule(TEST_KERNEL, (_inputs, tangents) => tf.sum(tangents.x!));
    const x = randn([5]), v = randn([5]);
    expect(() => jvp(scaleByTwo, [x], [v])).toThrowError(/JVP rule of kernel 'FgTestScaleByTwo'.*shape/);
    tf.dispose([x, v]);
  });

  it('validates registerJvpRule arguments', () => {
    expect(() => registerJvpRule('', () => null)).toThrowError(/non-empty string/);
    expect(() => registerJvpRule('X', 3 as unknown as () => null)).toThrowError(/must be a function/);
    expect(() => unregisterJvpRule('NoSuchKernelAnywhere')).toThrowError(/has no JVP rule/);
  });

  it('traces a tfjs-layers Dense (fused kernel in customGrad) + softmaxCrossEntropy under IS_TEST', () => {
    tf.tidy(() => {
      const layer = tfl.layers.dense({units: 4, activation: 'relu', inputShape: [3]});
      const x = randn([5, 3]), labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0], 'int32'), 4);
      layer.apply(x);  // build
      const weights = layer.trainableWeights.map(w => w.read() as tf.Variable);
      const vs = weights.map(w => randn(w.shape));
      const loss = () => tf.losses.softmaxCrossEntropy(labels, layer.apply(x) as tf.Tensor) as tf.Scalar;
      // Exact reference by reverse mode (outside IS_TEST: tfjs's own softmaxCrossEntropy backprop
      // trips its leak checker there).
      const {grads} = tf.variableGrads(loss, weights);
      const expected = weights.reduce((acc, w, i) => tf.add(acc, tf.sum(tf.mul(grads[w.name], vs[i]))), tf.scalar(0));
      const wasTest = tf.env().getBool('IS_TEST');
      tf.env().set('IS_TEST', true);
      let tangent: tf.Tensor;
      try {
        tangent = jvp(() => loss(), weights, vs).tangent;
      } finally {
        tf.env().set('IS_TEST', wasTest);
      }
      expectClose(tangent, expected, 1e-4, 1e-6);
      layer.dispose();
    });
  });

  for (const activation of ['relu', 'sigmoid', 'linear'] as const) {
    it(`a kernel observer perturbs a fused kernel's pre-activation (${activation}) like a seed on z`, () => {
      tf.tidy(() => {
        const x = randn([5, 4]), w = randn([4, 3]), b = randn([3]), u = randn([5, 3]), r = randn([5, 3]);
        const lossOf = (y: tf.Tensor) => tf.sum(tf.mul(y, r));
        // Reference: the unfused computation with the tangent u seeded on z = x·w + b.
        const expected = withTangents(() => {
          const z = tf.add(tf.matMul(x, w), b);
          seedTangent(z, u);
          const act = {relu: tf.relu, sigmoid: tf.sigmoid, linear: (t: tf.Tensor) => t}[activation];
          return tangentOf(lossOf(act(z)))!;
        });
        let seen = 0;
        const observer: KernelObserver = k => {
          if (k.kernelName !== tf._FusedMatMul) {
            return null;
          }
          seen++;
          return tf.reshape(u, k.outputs[0].shape);
        };
        const got = withTangents(
            () => tangentOf(lossOf(tf.fused.matMul({a: x, b: w, bias: b, activation})))!, {observer});
        expect(seen).toBe(1);
        expectClose(got, expected, 1e-5, 1e-6);
      });
    });
  }

  it('a kernel observer adds to the output tangent of an unfused kernel, on top of its JVP', () => {
    tf.tidy(() => {
      const x = randn([3, 4]), w = randn([4, 2]), vw = randn([4, 2]), u = randn([3, 2]);
      const expected = withTangents(() => {
        seedTangent(w, vw);
        const z = tf.matMul(x, w);
        seedTangent(z, u);
        return tangentOf(tf.sum(tf.tanh(z)))!;
      });
      const got = withTangents(() => {
        seedTangent(w, vw);
        return tangentOf(tf.sum(tf.tanh(tf.matMul(x, w))))!;
      }, {observer: k => k.kernelName === tf.BatchMatMul ? u.clone() : null});
      expectClose(got, expected, 1e-5, 1e-6);
    });
  });
  it('savingWithoutTangents: what tfjs saves for a backward pass gets no tangent inside it; restored after', () => {
    const x = randn([3, 4]), v = randn([3, 4]);
    const save = (t: tf.Tensor) => (tf.engine() as unknown as {clone(t: tf.Tensor): tf.Tensor}).clone(t);
    withTangents(() => tf.tidy(() => tf.grad((a: tf.Tensor) => {  // the clones need a recording tape
      seedTangent(a, v);
      const y = tf.tanh(a);
      const saved = save(y);  // how tfjs keeps a tensor for a backward pass
      expect(tangentOf(saved)).not.toBeNull();
      savingWithoutTangents(() => {
        const savedLean = save(y);
        expect(tangentOf(savedLean)).toBeNull();
        expect(tangentOf(tf.tanh(a))).not.toBeNull();  // the forward pass keeps its tangents
      });
      expect(tangentOf(save(y))).not.toBeNull();  // restored
      return tf.sum(y);
    })(x)));
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'clone')).toBe(false);
    // restored when the function throws, too
    expect(() => withTangents(() => savingWithoutTangents(() => {
      throw new Error('boom');
    }))).toThrowError(/boom/);
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'clone')).toBe(false);
    tf.dispose([x, v]);
  });
});
