/**
 * Forward mode through `tf.customGrad` ops: by default the tangent follows the custom gradient (the
 * JVP consistent with the custom VJP), checked against `tf.grad` by the adjoint identity; with
 * `{customGrad: 'forward'}` it is the derivative of the forward function (finite differences).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {isTracing, jvp, KernelObserver, seedTangent, tangentOf, withTangents} from '../../src/autodiff';
import {exactCustomGrad} from '../../src/autodiff/exact_custom_grad';
import {ValueError} from '../../src/errors';
import {checkJvp, describeBackends, expectClose, maxAbs, maxAbsDiff, randn, values} from '../util';

// tslint:disable-next-line:no-any
type CustomGradFn = any;

/** Straight-through estimator: forward round(x), gradient dy (the identity). */
const ste = tf.customGrad(((x: Tensor) => ({value: tf.round(x), gradFunc: (dy: Tensor) => dy})) as CustomGradFn) as
    (x: Tensor) => Tensor;

/** Gradient reversal: forward identity, gradient −dy. */
const reverseGrad = tf.customGrad(((x: Tensor) => ({value: x.clone(), gradFunc: (dy: Tensor) => tf.neg(dy)})) as CustomGradFn) as
    (x: Tensor) => Tensor;

/** A smooth forward, tanh(x), whose custom gradient is half the true one. */
const halfGradTanh = tf.customGrad(((x: Tensor, save: (ts: Tensor[]) => void) => {
  const y = tf.tanh(x);
  save([y]);
  return {value: y, gradFunc: (dy: Tensor, [sy]: Tensor[]) => tf.mul(dy, tf.mul(0.5, tf.sub(1, tf.square(sy))))};
}) as CustomGradFn) as (x: Tensor) => Tensor;

/** Two inputs, exact custom gradient: y = a·b + sin(a) (b broadcast over a's first axis). */
const twoInputs = tf.customGrad(((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: tf.add(tf.mul(a, b), tf.sin(a)),
    gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) =>
        [tf.mul(dy, tf.add(sb, tf.cos(sa))), tf.sum(tf.mul(dy, sa), 0)],
  };
}) as CustomGradFn) as (a: Tensor, b: Tensor) => Tensor;

/** Two inputs with a surrogate gradient: y = a·b, but the gradient to b is scaled by 3. */
const twoInputsSurrogate = tf.customGrad(((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
  save([a, b]);
  return {
    value: tf.mul(a, b),
    gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [tf.mul(dy, sb), tf.mul(3, tf.mul(dy, sa))],
  };
}) as CustomGradFn) as (a: Tensor, b: Tensor) => Tensor;

/** ⟨∇_x Σ(f(x)·u), v⟩ by reverse mode: the directional derivative backprop sees. */
function backpropDirectional(f: (x: Tensor) => Tensor, x: Tensor, u: Tensor, v: Tensor): Tensor {
  return tf.sum(tf.mul(tf.grad((a: Tensor) => tf.sum(tf.mul(f(a), u)))(x), v));
}

describeBackends('customGrad in forward mode', () => {
  let before: number;
  beforeEach(() => before = tf.memory().numTensors);
  afterEach(() => expect(tf.memory().numTensors).withContext('tensor leak').toBe(before));

  it('a straight-through estimator passes the tangent through, as backprop does', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([0.2, 1.7, -2.4]);
      const {value, tangent} = jvp(ste, [x], [tf.fill([3], 3)]);
      expect(Array.from(values(value))).toEqual([0, 2, -2]);
      expect(Array.from(values(tangent))).toEqual([3, 3, 3]);
      // The same through a larger computation, against tf.grad.
      const f = (a: Tensor) => tf.mul(tf.exp(ste(tf.mul(a, 2))), a);
      const xs = randn([6]), u = randn([6]), v = randn([6]);
      const t = jvp(f, [xs], [v]).tangent;
      expectClose(tf.sum(tf.mul(t, u)), backpropDirectional(f, xs, u, v), 1e-5, 1e-5);
    });
    const p = randn([2, 3], 3);
    checkJvp(ste, [p], {skipFd: true, batchShape: [2, 2]});
    p.dispose();
  });

  it('a gradient-reversal op flips the tangent, as backprop does', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([1, 2]);
      const {value, tangent} = jvp(a => tf.sum(reverseGrad(a)), [x], [tf.tensor1d([4, 6])]);
      expect(values(value)[0]).toBeCloseTo(3, 6);
      expect(values(tangent)[0]).toBeCloseTo(-10, 5);
      const g = tf.grad((a: Tensor) => tf.sum(reverseGrad(a)))(x);
      expect(Array.from(values(g))).toEqual([-1, -1]);
    });
    const p = randn([4]);
    checkJvp(a => tf.square(reverseGrad(a)), [p], {skipFd: true});
    p.dispose();
  });

  it('a smooth forward with a scaled custom gradient gets the scaled tangent', () => {
    tf.tidy(() => {
      const x = randn([5]), v = randn([5]);
      const vjpMode = jvp(halfGradTanh, [x], [v]).tangent;
      const exact = tf.mul(v, tf.sub(1, tf.square(tf.tanh(x))));
      expectClose(vjpMode, tf.mul(0.5, exact), 1e-5, 1e-6);
      // The explicit option differentiates the forward function: the true derivative.
      expectClose(jvp(halfGradTanh, [x], [v], {customGrad: 'forward'}).tangent, exact, 1e-5, 1e-6);
    });
    const p = randn([3, 2]);
    checkJvp(a => tf.sum(tf.mul(halfGradTanh(a), a)), [p], {skipFd: true});
    p.dispose();
  });

  it('handles several inputs, inputs without tangents, and agrees with finite differences when exact',
     () => {
       const a = randn([4, 3]), b = randn([3]), b2 = randn([4, 3]);
       // Exact custom gradient: adjoint identity, finite differences, batched tangents.
       checkJvp(twoInputs, [a, b]);
       checkJvp(twoInputs, [a, b], {wrt: [0]});
       checkJvp(twoInputs, [a, b], {wrt: [1]});
       // Surrogate gradient on b only: adjoint identity and batched tangents.
       checkJvp(twoInputsSurrogate, [a, b2], {skipFd: true});
       tf.tidy(() => {
         const ta = randn([4, 3]), tb = randn([4, 3]);
         const {tangent} = jvp(twoInputsSurrogate, [a, b2], [ta, tb]);
         expectClose(tangent, tf.add(tf.mul(ta, b2), tf.mul(3, tf.mul(a, tb))), 1e-5, 1e-6);
         // A tangent seeded on one input only (the other's cotangent is ignored).
         const onlyB = withTangents(() => {
           seedTangent(b2, tb);
           return tangentOf(twoInputsSurrogate(a, b2))!;
         });
         expectClose(onlyB, tf.mul(3, tf.mul(a, tb)), 1e-5, 1e-6);
       });
       tf.dispose([a, b, b2]);
     });

  it('batched tangents: each direction equals its own unbatched JVP', () => {
    tf.tidy(() => {
      const a = randn([2, 3]), b = randn([2, 3]);
      const ta = randn([2, 2, 2, 3]), tb = randn([2, 2, 2, 3]);
      const f = (x: Tensor, y: Tensor) => ste(twoInputsSurrogate(halfGradTanh(x), y));
      const batched = jvp(f, [a, b], [ta, tb]).tangent;
      expect(batched.shape).toEqual([2, 2, 2, 3]);
      const flatA = tf.reshape(ta, [4, 2, 3]), flatB = tf.reshape(tb, [4, 2, 3]);
      const flat = tf.reshape(batched, [4, 2, 3]);
      for (let k = 0; k < 4; k++) {
        const single = jvp(f, [a, b], [tf.gather(flatA, k), tf.gather(flatB, k)]).tangent;
        expectClose(tf.gather(flat, k), single, 1e-5, 1e-6, `direction ${k}`);
      }
    });
  });

  it('{customGrad: \'forward\'} gives the derivative of the forward function', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([0.2, 1.7, -2.4]), v = tf.fill([3], 3);
      expect(Array.from(values(jvp(ste, [x], [v], {customGrad: 'forward'}).tangent))).toEqual([0, 0, 0]);
      const r = jvp(a => tf.sum(reverseGrad(a)), [tf.tensor1d([1, 2])], [tf.tensor1d([4, 6])], {customGrad: 'forward'});
      expect(values(r.tangent)[0]).toBeCloseTo(10, 5);
      // withTangents takes the same option; the surrogate's true derivative matches finite differences.
      const a = randn([4, 3]), b = randn([4, 3]), ta = randn([4, 3]), tb = randn([4, 3]);
      const t = withTangents(() => {
        seedTangent(a, ta);
        seedTangent(b, tb);
        return tangentOf(twoInputsSurrogate(a, b))!;
      }, {customGrad: 'forward'});
      const eps = 1e-2;
      const fd = tf.div(tf.sub(twoInputsSurrogate(tf.add(a, tf.mul(ta, eps)), tf.add(b, tf.mul(tb, eps))),
                               twoInputsSurrogate(tf.sub(a, tf.mul(ta, eps)), tf.sub(b, tf.mul(tb, eps)))), 2 * eps);
      expect(maxAbsDiff(fd, t)).toBeLessThanOrEqual(1e-3 + 1e-2 * maxAbs(t));
    });
  });

  it('rejects an unknown customGrad mode', () => {
    const x = tf.scalar(1);
    expect(() => jvp(tf.square, [x], [x], {customGrad: 'true' as 'vjp'})).toThrowError(ValueError, /customGrad must be/);
    expect(() => withTangents(() => 0, {customGrad: 'backward' as 'vjp'})).toThrowError(ValueError, /customGrad must be/);
    x.dispose();
  });

  it('keeps tfjs\'s own customGrad ops traced inline: the observer sees fused kernels', () => {
    tf.tidy(() => {
      const x = randn([3, 4]), w = randn([4, 2]), b = randn([2]), labels = tf.oneHot(tf.tensor1d([0, 1, 1], 'int32'), 2);
      const seen: string[] = [];
      const observer: KernelObserver = k => {
        seen.push(k.kernelName);
        return null;
      };
      const f = (ww: Tensor) => tf.losses.softmaxCrossEntropy(
          labels, tf.logSoftmax(tf.fused.matMul({a: x, b: ww, bias: b, activation: 'relu'})));
      const v = randn([4, 2]);
      const t = withTangents(() => {
        seedTangent(w, v);
        return tangentOf(f(w))!;
      }, {observer});
      expect(seen).toContain(tf._FusedMatMul);
      expect(seen).toContain(tf.Exp);  // inside softmaxCrossEntropy / logSoftmax
      const expected = tf.sum(tf.mul(tf.grad(f)(w), v));
      expectClose(t, expected, 1e-4, 1e-6);
    });
  });

  // Each of tfjs's own customGrad ops is traced through its kernels (the observer sees the kernel
  // named here, which it could not if the op went the VJP way), with the same tangent in both modes.
  const tfjsOps: Array<[string, string, () => (a: Tensor) => Tensor]> = [
    ['fused.matMul', tf._FusedMatMul, () => {
      const w = randn([4, 2]) as tf.Tensor2D;
      return a => tf.fused.matMul({a: tf.reshape(a, [2, 4]), b: w, bias: tf.ones([2]), activation: 'relu'});
    }],
    ['fused.conv2d', tf.FusedConv2D, () => {
      const w = randn([2, 2, 2, 3]) as tf.Tensor4D;
      return a => tf.fused.conv2d<tf.Tensor4D>({x: tf.reshape(a, [1, 2, 2, 2]) as tf.Tensor4D, filter: w, strides: 1, pad: 'same', activation: 'elu'});
    }],
    ['fused.depthwiseConv2d', tf.FusedDepthwiseConv2D, () => {
      const w = randn([2, 2, 2, 1]) as tf.Tensor4D, x4 = (a: Tensor) => tf.reshape(a, [1, 2, 2, 2]) as tf.Tensor4D;
      return a => tf.fused.depthwiseConv2d<tf.Tensor4D>({x: x4(a), filter: w, strides: 1, pad: 'same'});
    }],
    ['losses.softmaxCrossEntropy', tf.Max, () => {
      const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 4);
      return a => tf.losses.softmaxCrossEntropy(labels, tf.reshape(a, [2, 4]));
    }],
    ['logSoftmax', tf.Max, () => a => tf.logSoftmax(tf.reshape(a, [2, 4]))],
    ['logSigmoid', tf.Softplus, () => a => tf.logSigmoid(a)],
  ];
  tfjsOps.forEach(([name, kernel, make]) => {
    it(`traces tfjs's ${name} (a customGrad op with an exact gradient) through its kernels`, () => {
      tf.tidy(() => {
        const f = make();
        const x = randn([8]), v = randn([8]);
        const seen: string[] = [];
        const byVjpMode = withTangents(() => {
          seedTangent(x, v);
          return tangentOf(f(x))!;
        }, {observer: k => (seen.push(k.kernelName), null)});
        expect(seen).toContain(kernel);
        expectClose(byVjpMode, jvp(f, [x], [v], {customGrad: 'forward'}).tangent, 1e-6, 1e-7);
      });
    });
  });

  it('a user customGrad op is opaque to the observer in vjp mode, traced in forward mode', () => {
    tf.tidy(() => {
      const x = randn([3]);
      for (const mode of ['vjp', 'forward'] as const) {
        const seen: string[] = [];
        withTangents(() => {
          seedTangent(x, tf.onesLike(x));
          tangentOf(halfGradTanh(x))?.dispose();
        }, {observer: k => (seen.push(k.kernelName), null), customGrad: mode});
        expect(seen.includes(tf.Tanh)).withContext(mode).toBe(mode === 'forward');
      }
    });
  });

  it('follows the custom gradient while a tape records, and the tape still gets the custom gradient',
     () => {
       tf.tidy(() => {
         const x = randn([4]), u = randn([4]), v = randn([4]);
         let t: Tensor|null = null;
         const g = withTangents(() => {
           seedTangent(x, v);
           return tf.grad((a: Tensor) => {
             const y = reverseGrad(a);
             t = tf.keep(tangentOf(y)!);
             return tf.sum(tf.mul(y, u));
           })(x);
         });
         expectClose(g, tf.neg(u));       // backprop through the custom gradient
         expectClose(t!, tf.neg(v));      // and the tangent follows it
         t!.dispose();
       });
     });

  it('passes the engine\'s IS_TEST leak check (tensors saved by the forward, taped VJP)', () => {
    tf.tidy(() => {
      const a = randn([3, 2]), b = randn([3, 2]), ta = randn([2, 3, 2]), tb = randn([2, 3, 2]);
      const f = (x: Tensor, y: Tensor) => tf.sum(halfGradTanh(twoInputsSurrogate(x, ste(y))));
      const expected = jvp(f, [a, b], [ta, tb]).tangent;
      const wasTest = tf.env().getBool('IS_TEST');
      tf.env().set('IS_TEST', true);
      let tangent: Tensor;
      try {
        tangent = jvp(f, [a, b], [ta, tb]).tangent;
      } finally {
        tf.env().set('IS_TEST', wasTest);
      }
      expectClose(tangent, expected, 0, 0);
    });
  });

  it('an error inside the user\'s gradFunc is reported and restores the engine', () => {
    const failing = tf.customGrad(((x: Tensor) => ({
      value: tf.square(x),
      gradFunc: (): Tensor => {
        throw new Error('boom in gradFunc');
      },
    })) as CustomGradFn) as (x: Tensor) => Tensor;
    const e = tf.engine() as unknown as {
      runKernelFunc: unknown, disposeTensor: unknown,
      state: {kernelDepth: number, gradientDepth: number, activeTape: unknown, activeScope: unknown}
    };
    const runKernelFunc = e.runKernelFunc, disposeTensor = e.disposeTensor, scope = e.state.activeScope;
    const x = tf.tensor1d([1, 2]), v = tf.tensor1d([1, 1]);
    const start = tf.memory().numTensors;
    expect(() => jvp(a => tf.sum(failing(tf.exp(a))), [x], [v]))
        .toThrowError(/customGrad op.*derived from its gradFunc, failed: boom in gradFunc/);
    expect(tf.memory().numTensors).toBe(start);
    expect(isTracing()).toBe(false);
    expect(e.runKernelFunc).toBe(runKernelFunc);
    expect(e.disposeTensor).toBe(disposeTensor);
    expect(e.state.kernelDepth).toBe(0);
    expect(e.state.gradientDepth).toBe(0);
    expect(e.state.activeTape).toBeNull();
    expect(e.state.activeScope).toBe(scope);
    // A failing forward too.
    const failingForward = tf.customGrad((() => {
      throw new Error('boom in forward');
    }) as CustomGradFn) as (x: Tensor) => Tensor;
    expect(() => jvp(failingForward, [x], [v])).toThrowError(/boom in forward/);
    expect(tf.memory().numTensors).toBe(start);
    expect(e.state.kernelDepth).toBe(0);
    // The engine works afterwards, in both directions.
    const r = jvp(ste, [x], [v]);
    expect(Array.from(values(r.tangent))).toEqual([1, 1]);
    tf.dispose([x, v, r.value, r.tangent]);
  });

  it('an exactCustomGrad op is traced inline: the tangent of its forward, its kernels observed', () => {
    // A deliberately wrong gradFunc shows which path forward mode took (exact ops must not have one).
    const body = ((x: Tensor) => ({value: tf.square(x), gradFunc: (dy: Tensor) => tf.mul(dy, 0)})) as CustomGradFn;
    const exact = exactCustomGrad('fgTestSquare', body);
    const user = tf.customGrad(body) as (x: Tensor) => Tensor;
    const x = tf.tensor1d([1, -2, 3]), v = tf.tensor1d([1, 1, 2]);
    const traced = jvp(exact, [x], [v]);
    expect(Array.from(values(traced.tangent))).toEqual([2, -4, 12]);  // 2x·v
    const followed = jvp(user, [x], [v]);
    expect(Array.from(values(followed.tangent))).toEqual([0, 0, 0]);  // the custom VJP (zero)
    const seen: string[] = [];
    const observer: KernelObserver = info => {
      seen.push(info.kernelName);
      return null;
    };
    const t = withTangents(() => {
      seedTangent(x, v);
      const y = exact(x);
      const ty = tangentOf(y);
      y.dispose();
      return ty;
    }, {observer});
    expect(seen).toContain('Square');
    tf.dispose([x, v, traced.value, traced.tangent, followed.value, followed.tangent, t as Tensor]);
  });

  it('an exactCustomGrad op computes a gradient given as a function only for inputs that need one', () => {
    // y = a·b; the gradient of each input is a function that counts its calls
    const calls = {a: 0, b: 0};
    const mul = exactCustomGrad('fgTestLazyMul', ((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
      save([a, b]);
      return {
        value: tf.mul(a, b),
        gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) =>
            [() => (calls.a++, tf.mul(dy, sb)), () => (calls.b++, tf.mul(dy, sa))],
      };
    }) as CustomGradFn);
    const a = tf.tensor1d([1, 2, 3]), b0 = tf.tensor1d([4, 5, 6]), b = tf.variable(b0);
    const before = tf.memory().numTensors;
    // only the variable is differentiated: a's gradient is never computed
    const {value, grads} = tf.variableGrads(() => tf.sum(mul(a, b)) as tf.Scalar, [b]);
    expect(calls).toEqual({a: 0, b: 1});
    expect(Array.from(values(grads[b.name]))).toEqual([1, 2, 3]);
    tf.dispose([value, grads[b.name]]);
    expect(tf.memory().numTensors).toBe(before);  // the unused gradient's function left nothing
    // both differentiated: each computed once, and correct
    const [ga, gb] = tf.grads((x: Tensor, y: Tensor) => tf.sum(mul(x, y)))([a, b]);
    expect(calls).toEqual({a: 1, b: 2});
    expect(Array.from(values(ga))).toEqual([4, 5, 6]);
    expect(Array.from(values(gb))).toEqual([1, 2, 3]);
    tf.dispose([a, b0, b, ga, gb]);
  });
});
