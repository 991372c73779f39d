/**
 * The wasm kernels of src/backends/wasm against the cpu backend (the oracle): BatchMatMul and
 * _FusedMatMul with transposes and batch broadcasting, Conv2DBackpropFilter / Input,
 * DepthwiseConv2dNativeBackpropInput / Filter and MaxPoolGrad on seeded random shapes, strides,
 * paddings (same, valid, numbers, explicit), dilations and batch sizes; through tf.grad of conv2d,
 * depthwiseConv2d and maxPool; no leaks; idempotent install / uninstall; and a small CNN trained by
 * model.fit on wasm in the three modes (BP, FG-W, FG-A), the optimizer installing the kernels.
 * Runs on wasm only (skipped otherwise); leaves the kernels installed (as the test runner does).
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import * as fg from '../../src';
import {installWasmKernels, uninstallWasmKernels, WASM_KERNEL_NAMES, wasmKernelsInstalled} from '../../src/backends';
import {reductionView} from '../../src/backends/wasm/reduce';
import {collapsePermutation} from '../../src/backends/wasm/transpose';
import {seedWeights, testBackends} from '../util';

const WASM_PRESENT = testBackends().includes('wasm') && tf.findBackendFactory('wasm') != null;

/** A small seeded PRNG (mulberry32) for the random test configurations. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** Runs `f` on `backend` and returns its outputs' values (the tensors are freed). */
async function valuesOn(backend: string, f: () => Tensor|Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const out = f();
    return (Array.isArray(out) ? out : [out]).map(t => t.dataSync() as Float32Array);
  });
}

/** max|a−b| ≤ tol·(1 + max|a|), per output. */
function expectAllClose(got: Float32Array[], want: Float32Array[], tol: number, what: string): void {
  expect(got.length).withContext(what).toBe(want.length);
  got.forEach((g, k) => {
    expect(g.length).withContext(`${what} output ${k} size`).toBe(want[k].length);
    let err = 0, scale = 0;
    for (let i = 0; i < g.length; i++) {
      err = Math.max(err, Math.abs(g[i] - want[k][i]));
      scale = Math.max(scale, Math.abs(want[k][i]));
    }
    expect(err).withContext(`${what} output ${k}: max|wasm − cpu| ${err} (scale ${scale})`)
        .toBeLessThanOrEqual(tol * (1 + scale));
  });
}

/** `f` on wasm equals `f` (or `oracle`) on cpu to `tol`, and leaves no tensor or wasm buffer behind. */
async function expectMatchesCpu(f: () => Tensor|Tensor[], what: string, tol = 1e-5,
                                oracle?: () => Tensor|Tensor[]): Promise<void> {
  const want = await valuesOn('cpu', oracle ?? f);
  await tf.setBackend('wasm');
  const tensors = tf.memory().numTensors, buffers = tf.backend().numDataIds();
  const got = await valuesOn('wasm', f);
  expect(tf.memory().numTensors).withContext(`${what}: tensors leaked`).toBe(tensors);
  expect(tf.backend().numDataIds()).withContext(`${what}: wasm buffers leaked`).toBe(buffers);
  expectAllClose(got, want, tol, what);
}

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

type Pad = 'same'|'valid'|number|[[number, number], [number, number], [number, number], [number, number]];
type Rounding = 'floor'|'round'|'ceil'|undefined;

function randomPad(r: () => number, explicitAllowed: boolean): Pad {
  const kind = pick(r, explicitAllowed ? ['same', 'valid', 'number', 'explicit'] : ['same', 'valid', 'number']);
  if (kind === 'number') {
    return int(r, 0, 2);
  }
  if (kind === 'explicit') {
    return [[0, 0], [int(r, 0, 2), int(r, 0, 2)], [int(r, 0, 2), int(r, 0, 2)], [0, 0]];
  }
  return kind as 'same'|'valid';
}

if (!WASM_PRESENT) {
  describe('wasm kernels', () => {
    it('are tested on the wasm backend only', () => {
      pending('the wasm backend is not among the test backends (FG_TEST_BACKENDS) or not registered');
    });
    it('installing without tfjs-backend-wasm loaded does nothing and does not throw', () => {
      if (tf.getKernel('Transpose', 'wasm') != null) {
        pending('tfjs-backend-wasm is loaded (its kernels are registered) though not tested');
      }
      const before = tf.getKernelsForBackend('wasm').length;
      expect(installWasmKernels()).toEqual([]);
      expect(wasmKernelsInstalled()).toBe(false);
      uninstallWasmKernels();
      expect(tf.getKernelsForBackend('wasm').length).toBe(before);
    });
  });
} else {
  describe('wasm kernels (src/backends/wasm)', () => {
    let previous: string;
    beforeAll(async () => {
      previous = tf.getBackend() ?? 'cpu';  // undefined before any backend is initialised
      await tf.setBackend('wasm');
      await tf.ready();
      installWasmKernels();
    });
    afterAll(async () => {
      await tf.setBackend(previous);
    });

    it('BatchMatMul: transposes and batch broadcasting on random shapes match cpu', async () => {
      const r = prng(1);
      for (let t = 0; t < 16; t++) {
        const [m, k, n] = [int(r, 1, 40), int(r, 1, 40), int(r, 1, 40)];
        const tA = r() < 0.5, tB = r() < 0.5;
        const batchA = pick(r, [[], [3], [1], [2, 3], [1, 3]]);
        const batchB = batchA.length === 0 ? pick(r, [[], [2]]) : batchA.map(d => (d === 1 ? 3 : pick(r, [d, 1])));
        const shapeA = [...batchA, ...(tA ? [k, m] : [m, k])], shapeB = [...batchB, ...(tB ? [n, k] : [k, n])];
        await expectMatchesCpu(() => tf.matMul(normal(shapeA, 10 + t), normal(shapeB, 50 + t), tA, tB),
                               `matMul ${shapeA} × ${shapeB} tA=${tA} tB=${tB}`);
      }
    });

    it('_FusedMatMul: transposes, batches, bias and activations match cpu', async () => {
      const r = prng(2);
      for (let t = 0; t < 14; t++) {
        const [m, k, n] = [int(r, 1, 30), int(r, 1, 30), int(r, 1, 30)];
        const tA = r() < 0.5, tB = r() < 0.5;
        const activation = pick(r, ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const);
        const batch = t % 2 + 1;  // stock wasm adds the bias to the first matrix of a batch only
        await expectMatchesCpu(() => tf.fused.matMul({
          a: normal(tA ? [batch, k, m] : [batch, m, k], 100 + t), b: normal(tB ? [batch, n, k] : [batch, k, n], 200 + t),
          transposeA: tA, transposeB: tB, bias: normal([n], 300 + t), activation, leakyreluAlpha: 0.1,
          preluActivationWeights: activation === 'prelu' ? normal([n], 350 + t) : undefined,
        }), `fused.matMul ${batch}×${m}×${k}×${n} tA=${tA} tB=${tB} ${activation}`);
      }
    });

    it('BatchMatMul / _FusedMatMul run per matrix (≥ 16·32·32 multiply-adds each): batches, broadcasts, ' +
       'transposes, bias and activations match cpu', async () => {
      const [m, k, n] = [40, 33, 24];  // m·k·n = 31680
      const cases: Array<[number[], number[]]> = [
        [[4], [4]], [[2, 3], [2, 3]], [[1], [3]], [[3], [1]], [[2, 2], []], [[], [3]], [[1, 3], [3]],
      ];
      for (const [i, [batchA, batchB]] of cases.entries()) {
        for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
          const a = () => normal(tA ? [...batchA, k, m] : [...batchA, m, k], 10 + i);
          const b = () => normal(tB ? [...batchB, n, k] : [...batchB, k, n], 20 + i);
          await expectMatchesCpu(() => tf.matMul(a(), b(), tA, tB), `matMul ${batchA}|${batchB} tA=${tA} tB=${tB}`);
          const activation = (['linear', 'relu', 'prelu', 'elu'] as const)[i % 4];
          await expectMatchesCpu(() => tf.fused.matMul({
            a: a(), b: b(), transposeA: tA, transposeB: tB, activation,
            bias: i % 3 === 2 ? undefined : normal(i % 3 === 0 ? [n] : [m, n], 30 + i),
            preluActivationWeights: activation === 'prelu' ? normal([n], 40 + i) : undefined,
          }), `fused.matMul ${batchA}|${batchB} tA=${tA} tB=${tB} ${activation}`);
        }
      }
    });

    it('Conv2DBackpropFilter / Input: random shapes, strides, paddings, batch sizes, NHWC and NCHW match cpu', async () => {
      const r = prng(3);
      for (let t = 0; t < 14; t++) {
        const [b, h, w, ci, co] = [int(r, 1, 3), int(r, 3, 9), int(r, 3, 9), int(r, 1, 4), int(r, 1, 5)];
        const [fh, fw] = [int(r, 1, 3), int(r, 1, 3)];
        const strides: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
        const dataFormat = t % 4 === 3 ? 'NCHW' : 'NHWC';
        const pad = randomPad(r, dataFormat === 'NHWC');
        const dimRoundingMode: Rounding = typeof pad === 'number' ? pick(r, ['floor', 'round', 'ceil'] as const) : undefined;
        const xShape = dataFormat === 'NHWC' ? [b, h, w, ci] : [b, ci, h, w];
        const info = tf.backend_util.computeConv2DInfo(
            xShape as [number, number, number, number], [fh, fw, ci, co], strides, 1, pad, dimRoundingMode, false,
            dataFormat === 'NHWC' ? 'channelsLast' : 'channelsFirst');
        if (info.outHeight <= 0 || info.outWidth <= 0) {
          continue;
        }
        const attrs = {strides, pad, dataFormat, dimRoundingMode, filterShape: [fh, fw, ci, co]};
        await expectMatchesCpu(
            () => tf.engine().runKernel('Conv2DBackpropFilter', {x: normal(xShape, 400 + t), dy: normal(info.outShape, 500 + t)},
                                        attrs as unknown as NamedAttrMap) as Tensor,
            `Conv2DBackpropFilter ${JSON.stringify({xShape, ...attrs})}`);
        await expectMatchesCpu(
            () => tf.engine().runKernel('Conv2DBackpropInput', {dy: normal(info.outShape, 450 + t), filter: normal([fh, fw, ci, co], 550 + t)},
                                        {strides, pad, dataFormat, dimRoundingMode, inputShape: xShape} as unknown as NamedAttrMap) as Tensor,
            `Conv2DBackpropInput ${JSON.stringify({xShape, ...attrs})}`);
      }
    });

    it('DepthwiseConv2dNativeBackpropInput / Filter: random shapes, strides, dilations, paddings match cpu', async () => {
      const r = prng(4);
      for (let t = 0; t < 14; t++) {
        const [b, h, w, c, cm] = [int(r, 1, 3), int(r, 4, 9), int(r, 4, 9), int(r, 1, 4), int(r, 1, 3)];
        const [fh, fw] = [int(r, 1, 3), int(r, 1, 3)];
        // tfjs allows dilations > 1 only with stride 1.
        const dilate = r() < 0.4;
        const strides: [number, number] = dilate ? [1, 1] : [int(r, 1, 3), int(r, 1, 3)];
        const dilations: [number, number] = dilate ? [int(r, 1, 2), int(r, 2, 3)] : [1, 1];
        const pad = randomPad(r, true);
        const dimRoundingMode: Rounding = typeof pad === 'number' ? pick(r, ['floor', 'round', 'ceil'] as const) : undefined;
        const info = tf.backend_util.computeConv2DInfo([b, h, w, c], [fh, fw, c, cm], strides, dilations, pad,
                                                       dimRoundingMode, true);
        if (info.outHeight <= 0 || info.outWidth <= 0) {
          continue;
        }
        const what = JSON.stringify({x: [b, h, w, c], f: [fh, fw, c, cm], strides, dilations, pad, dimRoundingMode});
        // cpu's kernels ignore dilations (tfjs's gradients never pass any): the oracle for a dilated
        // filter is the undilated kernel on the filter with zeros inserted (same windows and output).
        const [eh, ew] = [(fh - 1) * dilations[0] + 1, (fw - 1) * dilations[1] + 1];
        const spread = (f: Tensor) => {  // [fh, fw, c, cm] → [eh, ew, c, cm] with zeros between taps
          const rows = tf.stack(tf.unstack(f, 0).flatMap((r, i) => i === 0 ? [r] : [...Array(dilations[0] - 1).fill(tf.zerosLike(r)), r]));
          return tf.stack(tf.unstack(rows, 1).flatMap((col, j) => j === 0 ? [col] : [...Array(dilations[1] - 1).fill(tf.zerosLike(col)), col]), 1);
        };
        const onCpu = dilate;
        const inputOracle = () => tf.engine().runKernel(
            'DepthwiseConv2dNativeBackpropInput', {dy: normal(info.outShape, 600 + t), filter: spread(normal([fh, fw, c, cm], 700 + t))},
            {strides, dilations: [1, 1], pad, dimRoundingMode, inputShape: [b, h, w, c]} as unknown as NamedAttrMap) as Tensor;
        const filterOracle = () => {
          const full = tf.engine().runKernel(
              'DepthwiseConv2dNativeBackpropFilter', {x: normal([b, h, w, c], 800 + t), dy: normal(info.outShape, 900 + t)},
              {strides, dilations: [1, 1], pad, dimRoundingMode, filterShape: [eh, ew, c, cm]} as unknown as NamedAttrMap) as Tensor;
          return tf.reshape(tf.gather(tf.reshape(full, [eh * ew, c, cm]), tf.tensor1d(
              Array.from({length: fh * fw}, (_, k) => Math.floor(k / fw) * dilations[0] * ew + (k % fw) * dilations[1]), 'int32')),
                            [fh, fw, c, cm]);
        };
        await expectMatchesCpu(
            () => tf.engine().runKernel(
                      'DepthwiseConv2dNativeBackpropInput', {dy: normal(info.outShape, 600 + t), filter: normal([fh, fw, c, cm], 700 + t)},
                      {strides, dilations, pad, dimRoundingMode, inputShape: [b, h, w, c]} as unknown as NamedAttrMap) as Tensor,
            `DepthwiseConv2dNativeBackpropInput ${what}`, 1e-5, onCpu ? inputOracle : undefined);
        await expectMatchesCpu(
            () => tf.engine().runKernel(
                      'DepthwiseConv2dNativeBackpropFilter', {x: normal([b, h, w, c], 800 + t), dy: normal(info.outShape, 900 + t)},
                      {strides, dilations, pad, dimRoundingMode, filterShape: [fh, fw, c, cm]} as unknown as NamedAttrMap) as Tensor,
            `DepthwiseConv2dNativeBackpropFilter ${what}`, 1e-5, onCpu ? filterOracle : undefined);
      }
    });

    it('MaxPoolGrad: the shapes stock wasm gets wrong, random pools, and ties (first max wins) match cpu', async () => {
      const r = prng(5);
      const cases: Array<{x: number[], f: [number, number], s: [number, number], pad: Pad, ties: boolean}> = [
        {x: [1, 4, 4, 1], f: [2, 2], s: [2, 2], pad: 'valid', ties: false},
        {x: [2, 6, 6, 3], f: [2, 2], s: [2, 2], pad: 'valid', ties: false},
      ];
      for (let t = 0; t < 12; t++) {
        cases.push({x: [int(r, 1, 3), int(r, 3, 9), int(r, 3, 9), int(r, 1, 4)], f: [int(r, 1, 3), int(r, 1, 3)],
                    s: [int(r, 1, 3), int(r, 1, 3)], pad: pick(r, ['same', 'valid'] as const), ties: t % 2 === 1});
      }
      for (const [t, c] of cases.entries()) {
        const what = `MaxPoolGrad ${JSON.stringify(c)}`;
        // Ties: values from {0, 1, 2}, so many windows have several maxima.
        const input = () => c.ties ? tf.floor(tf.randomUniform(c.x, 0, 3, 'float32', 1000 + t)) : normal(c.x, 1000 + t);
        await expectMatchesCpu(() => {
          const x = input();
          // (numeric pads are left out: wasm's MaxPool forward disagrees with cpu's there)
          const y = tf.maxPool(x as tf.Tensor4D, c.f, c.s, c.pad as 'same'|'valid');
          const dy = normal(y.shape, 1100 + t);
          return [y, tf.engine().runKernel('MaxPoolGrad', {dy, input: x, output: y},
                                           {filterSize: c.f, strides: c.s, pad: c.pad} as unknown as NamedAttrMap) as Tensor];
        }, what, 1e-6);  // a position in several windows sums their dy in another order
      }
    });

    it('tf.grad of conv2d, depthwiseConv2d and maxPool (forward and gradients) match cpu', async () => {
      const dyOf = (y: Tensor, seed: number) => normal(y.shape, seed);
      await expectMatchesCpu(() => {
        const x = normal([3, 9, 8, 3], 1), w = normal([3, 3, 3, 4], 2);
        const f = (a: Tensor, b: Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
        const y = f(x, w);
        return [y, ...tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(f(a, b), dyOf(y, 3))))([x, w])];
      }, 'grad conv2d');
      await expectMatchesCpu(() => {
        const x = normal([2, 8, 7, 3], 4), w = normal([3, 2, 3, 2], 5);
        const f = (a: Tensor, b: Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 1], 'valid');
        const y = f(x, w);
        return [y, ...tf.grads((a: Tensor, b: Tensor) => tf.sum(tf.mul(f(a, b), dyOf(y, 6))))([x, w])];
      }, 'grad depthwiseConv2d');
      await expectMatchesCpu(() => {
        const x = normal([2, 6, 6, 3], 7);
        const f = (a: Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid');
        const y = f(x);
        return [y, tf.grad((a: Tensor) => tf.sum(tf.mul(f(a), dyOf(y, 8))))(x)];
      }, 'grad maxPool', 1e-6);
    });

    it('Tile: random shapes and reps (incl. a broadcast scalar, zero sizes), float32 / int32 / bool, ' +
       'and tf.where with a scalar condition equal cpu exactly', async () => {
      const r = prng(7);
      const cases: Array<[number[], number[]]> = [[[], []], [[1], [5]], [[1, 1], [78, 51]], [[3, 0], [2, 2]], [[2, 3], [1, 1]]];
      for (let t = 0; t < 14; t++) {
        const rank = int(r, 1, 5);
        cases.push([Array.from({length: rank}, () => int(r, 1, 4)), Array.from({length: rank}, () => int(r, 1, 3))]);
      }
      for (const [shape, reps] of cases) {
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = () => dtype === 'float32' ? normal(shape, 3) :
              dtype === 'int32' ? tf.cast(tf.mul(normal(shape, 4), 100), 'int32') : tf.greater(normal(shape, 5), 0);
          await expectMatchesCpu(() => tf.cast(tf.tile(x(), reps), 'float32'), `tile ${dtype} ${shape} × ${reps}`, 0);
        }
      }
      for (const ok of [true, false]) {
        await expectMatchesCpu(() => tf.where(tf.scalar(ok), normal([30, 17], 1), normal([30, 17], 2)), `where(${ok})`, 0);
      }
    });

    it('Slice: random shapes, begins and sizes (whole axes, single elements, -1 sizes, zero sizes), ' +
       'float32 / int32 / bool, strings, equal cpu exactly', async () => {
      const r = prng(11);
      const cases: Array<[number[], number[], number[]]> = [
        [[7], [2], [3]], [[600, 28, 28, 1], [128, 0, 0, 0], [128, 28, 28, 1]],
        [[4, 5], [1, 0], [2, 5]], [[4, 5], [0, 2], [4, 1]], [[3, 4, 5], [1, 1, 1], [-1, 2, -1]], [[3, 0, 2], [0, 0, 0], [2, 0, 2]],
      ];
      for (let t = 0; t < 24; t++) {
        const shape = Array.from({length: int(r, 1, 5)}, () => int(r, 1, 6));
        const begin = shape.map(d => int(r, 0, d - 1));
        const size = shape.map((d, i) => r() < 0.2 ? -1 : int(r, 0, d - begin[i]));
        cases.push([shape, begin, size]);
      }
      for (const [shape, begin, size] of cases) {
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = () => dtype === 'float32' ? normal(shape, 3) :
              dtype === 'int32' ? tf.cast(tf.mul(normal(shape, 4), 100), 'int32') : tf.greater(normal(shape, 5), 0);
          await expectMatchesCpu(() => tf.cast(tf.slice(x(), begin, size), 'float32'),
                                 `slice ${dtype} ${shape} from ${begin} size ${size}`, 0);
        }
      }
      await tf.setBackend('wasm');
      tf.tidy(() => expect(Array.from(tf.slice(tf.tensor1d(['a', 'b', 'c'], 'string'), [1], [2]).dataSync() as unknown as string[]))
                        .toEqual(['b', 'c']));
    });

    it('GatherV2: random shapes, axes, batchDims and indices (repeats, scalars, empty), float32 / int32 / bool, ' +
       'equal cpu exactly; out-of-range indices and strings throw', async () => {
      const r = prng(17);
      // [shape, indices shape, axis, batchDims]
      const cases: Array<[number[], number[], number, number]> = [
        [[600, 28, 28, 1], [128], 0, 0], [[7], [], 0, 0], [[4, 5], [0], 1, 0], [[0, 3], [2], 1, 0],
        [[3, 5, 20], [3, 4], 1, 1], [[2, 3, 4, 18], [2, 3, 5], 3, 2], [[6, 40], [2, 3], 0, 0],
      ];
      for (let t = 0; t < 20; t++) {
        const shape = Array.from({length: int(r, 1, 4)}, () => pick(r, [1, 2, 3, 5, 17, 33]));
        const axis = int(r, 0, shape.length - 1);
        const batchDims = r() < 0.3 ? int(r, 0, axis) : 0;
        const indexShape = [...shape.slice(0, batchDims), ...Array.from({length: int(r, 0, 2)}, () => int(r, 1, 4))];
        cases.push([shape, indexShape, axis, batchDims]);
      }
      for (const [shape, indexShape, axis, batchDims] of cases) {
        const dim = shape[axis];
        const size = indexShape.reduce((a, b) => a * b, 1);
        const indexValues = dim === 0 ? [] : Array.from({length: size}, () => int(r, 0, dim - 1));
        const index = () => tf.tensor(indexValues, indexShape, 'int32');
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = () => dtype === 'float32' ? normal(shape, 3) :
              dtype === 'int32' ? tf.cast(tf.mul(normal(shape, 4), 100), 'int32') : tf.greater(normal(shape, 5), 0);
          await expectMatchesCpu(() => tf.cast(tf.gather(x(), index(), axis, batchDims), 'float32'),
                                 `gather ${dtype} ${shape} by ${indexShape} ${indexValues.slice(0, 6)} on axis ${axis} ` +
                                 `batchDims ${batchDims}`, 0);
        }
      }
      await tf.setBackend('wasm');
      tf.tidy(() => {
        // tf.gather takes numeric tensors only; the kernel itself, asked for strings, says it cannot
        expect(() => tf.engine().runKernel('GatherV2', {x: tf.tensor1d(['a', 'b'], 'string'), indices: tf.tensor1d([1], 'int32')},
                                           {axis: 0, batchDims: 0})).toThrowError(/string tensors are not supported/);
        expect(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([0, 3], 'int32'))).toThrowError(/index value 3 is not in \[0, 2\]/);
        expect(() => tf.gather(tf.ones([3, 2]), tf.tensor1d([-1], 'int32'), 1)).toThrowError(/index value -1/);
      });
    });

    it('Transpose: random shapes and permutations (tiled swaps and the stock kernel\'s), float32 / int32 / bool, equal cpu exactly', async () => {
      const r = prng(12);
      const cases: Array<[number[], number[]]> = [
        [[300, 130], [1, 0]], [[2, 129, 3], [0, 2, 1]], [[130, 1, 7], [2, 1, 0]], [[3, 150, 5, 2], [0, 2, 3, 1]],
        [[150, 4, 5], [1, 2, 0]], [[1, 200, 1, 9], [3, 2, 1, 0]], [[5], [0]], [[4, 6], [0, 1]], [[140, 0, 3], [2, 0, 1]],
      ];
      for (let t = 0; t < 16; t++) {
        const rank = int(r, 2, 4);
        const shape = Array.from({length: rank}, () => pick(r, [1, 2, 3, 17, 130]));
        const perm = Array.from({length: rank}, (_, i) => i).sort(() => r() - 0.5);
        cases.push([shape, perm]);
      }
      for (const [shape, perm] of cases) {
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const x = () => dtype === 'float32' ? normal(shape, 6) :
              dtype === 'int32' ? tf.cast(tf.mul(normal(shape, 7), 100), 'int32') : tf.greater(normal(shape, 8), 0);
          await expectMatchesCpu(() => tf.cast(tf.transpose(x(), perm), 'float32'), `transpose ${dtype} ${shape} by ${perm}`, 0);
        }
      }
      expect(collapsePermutation([2, 3, 4, 5], [0, 1, 3, 2])).toEqual({shape: [6, 4, 5], perm: [0, 2, 1]});
      expect(collapsePermutation([8, 1, 512], [2, 1, 0])).toEqual({shape: [8, 512], perm: [1, 0]});
      expect(collapsePermutation([2, 3], [0, 1])).toEqual({shape: [6], perm: [0]});
    });

    it('Sum and Mean: random shapes, axes and keepDims (leading, middle, trailing and scattered axes), match cpu', async () => {
      const r = prng(13);
      const cases: Array<[number[], number|number[]]> = [
        [[300, 70], 0], [[4, 130, 9], 1], [[5, 6, 7, 8], [1, 2]], [[5, 6, 7], [0, 2]], [[9, 4], -1], [[3, 4], [0, 1]],
        [[1, 50, 6], [0, 1]],
      ];
      for (let t = 0; t < 14; t++) {
        const rank = int(r, 1, 4);
        const shape = Array.from({length: rank}, () => int(r, 1, 9));
        const axes = Array.from({length: rank}, (_, i) => i).filter(() => r() < 0.5);
        cases.push([shape, axes.length === 0 ? 0 : axes]);
      }
      for (const [shape, axis] of cases) {
        for (const keepDims of [false, true]) {
          await expectMatchesCpu(() => [tf.sum(normal(shape, 9), axis, keepDims), tf.mean(normal(shape, 10), axis, keepDims)],
                                 `sum / mean of ${shape} over ${axis} keepDims=${keepDims}`, 1e-5);
          await expectMatchesCpu(() => tf.cast(tf.sum(tf.cast(tf.mul(normal(shape, 11), 10), 'int32'), axis, keepDims), 'float32'),
                                 `int32 sum of ${shape} over ${axis}`, 0);
        }
      }
      // an empty reduced axis sums to 0 (the stock int32 kernel leaves such outputs unwritten)
      await expectMatchesCpu(() => tf.sum(normal([2, 0, 3], 12), 1), 'sum over an empty axis', 0);
      expect(reductionView([4, 5, 6], 1)).toEqual({outer: 4, reduced: 5, inner: 6, axes: [1]});
      expect(reductionView([4, 5, 6], [0, 1])).toEqual({outer: 1, reduced: 20, inner: 6, axes: [0, 1]});
      expect(reductionView([4, 5, 6], 2)).toBeNull();  // innermost: the stock kernel
      expect(reductionView([4, 5, 6], [0, 2])).toBeNull();
    });

    it('Identity: a clone shares the buffer, values and lifetimes stay independent, no buffer leaks', async () => {
      await tf.setBackend('wasm');
      const tensors = tf.memory().numTensors, buffers = tf.backend().numDataIds();
      const x = tf.tensor2d([[1, -2, 3], [4, 5, -6]]);
      const c = x.clone();
      expect(tf.backend().numDataIds()).withContext('the clone is not a new buffer').toBe(buffers + 1);
      x.dispose();
      expect(Array.from(c.dataSync())).withContext('clone after its source is disposed').toEqual([1, -2, 3, 4, 5, -6]);
      const v = tf.variable(c);
      tf.tidy(() => v.assign(tf.zerosLike(v)));
      expect(Array.from(c.dataSync())).withContext('clone after a variable made from it is assigned').toEqual([1, -2, 3, 4, 5, -6]);
      tf.tidy(() => {
        expect(Array.from(tf.clone(tf.greater(c, 0)).dataSync())).toEqual([1, 0, 1, 1, 1, 0]);
        expect(tf.clone(tf.scalar('s')).dataSync()[0]).toBe('s' as unknown as number);
      });
      tf.dispose([c, v]);
      expect(tf.memory().numTensors).withContext('tensors leaked').toBe(tensors);
      expect(tf.backend().numDataIds()).withContext('wasm buffers leaked').toBe(buffers);
    });

    it('installing twice is harmless; uninstall restores the stock kernels', async () => {
      await tf.setBackend('wasm');
      installWasmKernels();
      expect(wasmKernelsInstalled()).toBe(true);
      const before = WASM_KERNEL_NAMES.map(n => tf.getKernel(n, 'wasm')!.kernelFunc);
      expect(installWasmKernels()).toEqual([]);
      expect(WASM_KERNEL_NAMES.map(n => tf.getKernel(n, 'wasm')!.kernelFunc)).toEqual(before);
      try {
        uninstallWasmKernels();
        expect(wasmKernelsInstalled()).toBe(false);
        expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
        expect(tf.getKernel('BatchMatMul', 'wasm')).toBeDefined();
        uninstallWasmKernels();  // twice: harmless
        // the restored stock kernels run at once, with no setBackend in between (which would run their
        // setup again): their setup ran whichever kernels were registered when the backend was set
        tf.tidy(() => {
          const x = tf.tensor2d([[1, 2], [3, 4]]);
          expect(Array.from(tf.tile(x, [1, 2]).dataSync())).toEqual([1, 2, 1, 2, 3, 4, 3, 4]);
          expect(Array.from(tf.gather(x, tf.tensor1d([1, 1, 0], 'int32')).dataSync())).toEqual([3, 4, 3, 4, 1, 2]);
          expect(Array.from(tf.transpose(x).dataSync())).toEqual([1, 3, 2, 4]);
          expect(Array.from(tf.sum(x, 0).dataSync())).toEqual([4, 6]);
        });
      } finally {
        expect(installWasmKernels().sort()).toEqual([...WASM_KERNEL_NAMES].sort());
      }
      expect(wasmKernelsInstalled()).toBe(true);
      await expectMatchesCpu(() => tf.matMul(normal([5, 7], 1), normal([6, 7], 2), false, true), 'matMul after reinstall');
    });

    describe('a small CNN (Conv2D, MaxPool, DepthwiseConv2D, Conv2D, Dense) trains with model.fit on wasm', () => {
      const N = 4, CLASSES = 3;
      function cnn(): tfl.LayersModel {
        const model = tfl.sequential({layers: [
          tfl.layers.conv2d({inputShape: [8, 8, 2], filters: 4, kernelSize: 3, activation: 'relu', name: 'c1'}),
          tfl.layers.maxPooling2d({poolSize: 2, name: 'p1'}),
          tfl.layers.depthwiseConv2d({kernelSize: 2, padding: 'same', activation: 'relu', name: 'd1'}),
          tfl.layers.conv2d({filters: 5, kernelSize: 2, padding: 'same', activation: 'relu', name: 'c2'}),
          tfl.layers.flatten({name: 'f'}),
          tfl.layers.dense({units: CLASSES, activation: 'softmax', name: 'out'}),
        ]});
        return seedWeights(model, 77);
      }
      for (const perturb of ['none', 'weight', 'activity'] as const) {
        it(`perturb '${perturb}': fits of one epoch, finite loss, every weight changes, no leak per step` +
               (perturb === 'none' ? ', loss decreases' : ''), async () => {
          await tf.setBackend('wasm');
          uninstallWasmKernels();  // the optimizer installs them on its first step
          const model = cnn();
          const x = normal([N, 8, 8, 2], 31);
          const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), CLASSES);
          const optimizer = fg.optimizers.forwardGradient({perturb, optimizer: tf.train.sgd(0.1), seed: 5});
          model.compile({optimizer, loss: 'categoricalCrossentropy'});
          const w0 = model.getWeights().map(w => w.dataSync().slice());
          const losses: number[] = [], tensors: number[] = [];
          for (let epoch = 0; epoch < (perturb === 'none' ? 3 : 2); epoch++) {
            const h = await model.fit(x, y, {epochs: 1, batchSize: N, shuffle: false, verbose: 0,
                                             callbacks: [fg.callbacks.forwardGradient()]});
            losses.push(h.history.loss[0] as number);
            tensors.push(tf.memory().numTensors);
          }
          expect(tensors[tensors.length - 1]).withContext(`tensors after each fit ${tensors}`).toBe(tensors[0]);
          expect(wasmKernelsInstalled()).withContext('installed by the optimizer').toBe(true);
          expect(losses.every(Number.isFinite)).withContext(`losses ${losses}`).toBe(true);
          model.getWeights().forEach((w, i) => {
            const v = w.dataSync();
            expect(v.every(Number.isFinite)).withContext(`${model.weights[i].name} finite`).toBe(true);
            expect(v.some((u, j) => u !== w0[i][j])).withContext(`${model.weights[i].name} changed`).toBe(true);
          });
          if (perturb === 'none') {
            expect(losses[2]).withContext(`losses ${losses}`).toBeLessThan(losses[0]);
          }
          x.dispose();
          y.dispose();
          optimizer.dispose();
          model.dispose();
        });
      }
    });
  });
}
