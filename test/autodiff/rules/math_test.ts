import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {checkJvp, CheckJvpOptions, describeBackends, hasKernel, randAwayFromZero, randn, randu} from '../../util';

type Gen = (shape: number[]) => Tensor;
const normal: Gen = s => randn(s);
const positive: Gen = s => randu(s, 0.5, 2);
const nonzero: Gen = s => randAwayFromZero(s, 0.5, 2);
/** Half-integers vs. integers (offGrid): operands at least 0.25 apart, so never near a tie. */
const onGrid: Gen = s => tf.tidy(() => tf.div(tf.round(randn(s, 2)), 2));
const offGrid: Gen = s => tf.tidy(() => tf.add(onGrid(s), 0.25));

interface UnaryCase {
  kernel: string;
  f: (x: Tensor) => Tensor;
  gen: Gen;
  opts?: CheckJvpOptions;
}

const unaryCases: UnaryCase[] = [
  {kernel: tf.Neg, f: tf.neg, gen: normal},
  {kernel: tf.Square, f: tf.square, gen: normal},
  {kernel: tf.Sqrt, f: tf.sqrt, gen: positive},
  {kernel: tf.Rsqrt, f: tf.rsqrt, gen: positive},
  {kernel: tf.Reciprocal, f: tf.reciprocal, gen: nonzero},
  {kernel: tf.Abs, f: tf.abs, gen: s => randAwayFromZero(s)},
  {kernel: tf.Exp, f: tf.exp, gen: normal},
  {kernel: tf.Expm1, f: tf.expm1, gen: normal},
  {kernel: tf.Log, f: tf.log, gen: positive},
  {kernel: tf.Log1p, f: tf.log1p, gen: s => randu(s, -0.5, 2)},
  {kernel: tf.Sin, f: tf.sin, gen: normal},
  {kernel: tf.Cos, f: tf.cos, gen: normal},
  {kernel: tf.Tan, f: tf.tan, gen: s => randu(s, -1, 1)},
  {kernel: tf.Asin, f: tf.asin, gen: s => randu(s, -0.8, 0.8)},
  {kernel: tf.Acos, f: tf.acos, gen: s => randu(s, -0.8, 0.8)},
  {kernel: tf.Atan, f: tf.atan, gen: normal},
  {kernel: tf.Sinh, f: tf.sinh, gen: normal},
  {kernel: tf.Cosh, f: tf.cosh, gen: normal},
  {kernel: tf.Asinh, f: tf.asinh, gen: normal},
  {kernel: tf.Acosh, f: tf.acosh, gen: s => randu(s, 1.2, 3)},
  {kernel: tf.Atanh, f: tf.atanh, gen: s => randu(s, -0.8, 0.8)},
  {kernel: tf.Erf, f: tf.erf, gen: normal},
];

interface BinaryCase {
  kernel: string;
  f: (a: Tensor, b: Tensor) => Tensor;
  genA: Gen;
  genB: Gen;
  opts?: CheckJvpOptions;
  /**
   * tfjs's gradient of this kernel does not reduce over broadcast axes (tf.grads throws a shape
   * error), so with broadcasting shapes reverse mode is no oracle: finite differences only.
   */
  noBroadcastGrad?: boolean;
}

const binaryCases: BinaryCase[] = [
  {kernel: tf.Add, f: tf.add, genA: normal, genB: normal},
  {kernel: tf.Sub, f: tf.sub, genA: normal, genB: normal},
  {kernel: tf.Multiply, f: tf.mul, genA: normal, genB: normal},
  {kernel: tf.RealDiv, f: tf.div, genA: normal, genB: nonzero},
  // Ties are measure-zero for normal inputs; a smaller FD step keeps ±εv from crossing one.
  {kernel: tf.Maximum, f: tf.maximum, genA: onGrid, genB: offGrid, noBroadcastGrad: true},
  {kernel: tf.Minimum, f: tf.minimum, genA: onGrid, genB: offGrid, noBroadcastGrad: true},
  {kernel: tf.SquaredDifference, f: tf.squaredDifference, genA: normal, genB: normal, noBroadcastGrad: true},
  {kernel: tf.Pow, f: tf.pow, genA: positive, genB: normal},
  {kernel: tf.Atan2, f: tf.atan2, genA: nonzero, genB: nonzero},
];

const broadcastShapes: Array<[number[], number[]]> = [[[2, 3], [2, 3]], [[2, 3], [3]], [[2, 1], [1, 3]], [[3], [2, 3]]];

function skipIfMissing(kernel: string): void {
  if (!hasKernel(kernel)) {
    pending(`no ${kernel} kernel on ${tf.getBackend()}`);
  }
}

describeBackends('JVP rules: math', () => {
  for (const c of unaryCases) {
    it(`${c.kernel}`, () => {
      skipIfMissing(c.kernel);
      const x = c.gen([2, 3]);
      checkJvp(c.f, [x], c.opts);
      tf.dispose(x);
    });
  }

  it('unary rule with two tangent batch axes (Sin, batchShape [2, 2])', () => {
    const x = randn([2, 3]);
    checkJvp(tf.sin, [x], {batchShape: [2, 2]});
    tf.dispose(x);
  });

  for (const c of binaryCases) {
    for (const [sa, sb] of broadcastShapes) {
      it(`${c.kernel} [${sa}] with [${sb}]`, () => {
        skipIfMissing(c.kernel);
        const a = c.genA(sa), b = c.genB(sb);
        const broadcasts = !tf.util.arraysEqual(sa, sb);
        checkJvp(c.f, [a, b], {...c.opts, skipAdjoint: c.noBroadcastGrad && broadcasts});
        tf.dispose([a, b]);
      });
    }
    for (const wrt of [0, 1]) {
      it(`${c.kernel} with a tangent on operand ${wrt} only`, () => {
        skipIfMissing(c.kernel);
        const a = c.genA([2, 3]), b = c.genB([3]);
        checkJvp(c.f, [a, b], {...c.opts, wrt: [wrt], skipAdjoint: c.noBroadcastGrad && wrt === 1});
        tf.dispose([a, b]);
      });
    }
  }

  it('Multiply with two tangent batch axes', () => {
    const a = randn([2, 1]), b = randn([1, 3]);
    checkJvp(tf.mul, [a, b], {batchShape: [2, 2]});
    tf.dispose([a, b]);
  });

  it('Maximum and Minimum send ties where tfjs\'s gradients do', () => {
    const a = tf.tensor2d([[1, -2, 0.5], [3, 3, -1]]), b = tf.tensor2d([[1, -1, 0.5], [2, 3, -1]]);
    // Exact ties sit on a kink: finite differences are meaningless there; tfjs is the oracle.
    checkJvp(tf.maximum, [a, b], {skipFd: true});
    checkJvp(tf.minimum, [a, b], {skipFd: true});
    tf.dispose([a, b]);
  });

  it('Pow with a scalar integer exponent on a negative base', () => {
    const a = randAwayFromZero([2, 3]);
    checkJvp(x => tf.pow(x, 3), [a]);
    tf.dispose(a);
  });

  it('Pow at a non-positive base: the exponent term uses log(a) := 0, as tfjs does', () => {
    const a = tf.tensor2d([[-1.5, 0, 2], [-0.5, 1.2, 0]]), b = tf.tensor1d([2, 3, 1.5]);
    // pow(a<0, non-integer b) is NaN, so finite differences in b are undefined here.
    checkJvp(tf.pow, [a, b], {wrt: [1], skipFd: true});
    tf.dispose([a, b]);
  });

  it('AddN', () => {
    const xs = [randn([2, 3]), randn([2, 3]), randn([2, 3])];
    checkJvp((p, q, r) => tf.addN([p, q, r]), xs);
    tf.dispose(xs);
  });

  it('AddN with a tangent on one input only', () => {
    const xs = [randn([2, 3]), randn([2, 3]), randn([2, 3])];
    checkJvp((p, q, r) => tf.addN([p, q, r]), xs, {wrt: [1]});
    tf.dispose(xs);
  });

  describe('Mod', () => {
    // Values chosen so that a/b stays ≥ 0.1 away from an integer (mod jumps there).
    it('Mod [2,3] with [3]', () => {
      skipIfMissing(tf.Mod);
      const a = tf.tensor2d([[2.5, -1.3, 4.4], [0.7, 3.3, -2.6]]), b = tf.tensor1d([1.1, 1.7, 2.9]);
      checkJvp(tf.mod, [a, b]);
      tf.dispose([a, b]);
    });
    it('Mod [2,1] with [1,3]', () => {
      skipIfMissing(tf.Mod);
      const a = tf.tensor2d([[2.5], [-1.3]]), b = tf.tensor2d([[1.1, 1.7, 2.9]]);
      checkJvp(tf.mod, [a, b]);
      tf.dispose([a, b]);
    });
    for (const wrt of [0, 1]) {
      it(`Mod with a tangent on operand ${wrt} only`, () => {
        skipIfMissing(tf.Mod);
        const a = tf.tensor2d([[2.5, -1.3, 4.4], [0.7, 3.3, -2.6]]), b = tf.tensor1d([1.1, 1.7, 2.9]);
        checkJvp(tf.mod, [a, b], {wrt: [wrt]});
        tf.dispose([a, b]);
      });
    }
  });

  it('ClipByValue', () => {
    skipIfMissing(tf.ClipByValue);
    const x = tf.tensor2d([[-2, -0.5, 0.3], [0.8, 1.6, -1.4]]);
    checkJvp(t => tf.clipByValue(t, -1, 1), [x]);
    tf.dispose(x);
  });

  it('ClipByValue at its bounds has derivative 1, as tfjs\'s gradient', () => {
    skipIfMissing(tf.ClipByValue);
    const x = tf.tensor2d([[-1, 1, 0.3], [1, -1, 2]]);
    // On the bounds the clip has a kink: finite differences do not apply; tfjs is the oracle.
    checkJvp(t => tf.clipByValue(t, -1, 1), [x], {skipFd: true});
    tf.dispose(x);
  });

  it('Abs at 0 follows tfjs\'s gradient', () => {
    const x = tf.tensor1d([0, -1, 2]);
    checkJvp(tf.abs, [x], {skipFd: true});  // kink at 0
    tf.dispose(x);
  });
});
