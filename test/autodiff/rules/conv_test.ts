import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {checkJvp, CheckJvpOptions, coveringSubset, describeBackends, hasKernel, randn, randu} from '../../util';

/**
 * Distinct values with spacing 0.1, shuffled deterministically and centred on 0: max-pooling windows
 * never tie, and small finite-difference steps never change the argmax.
 */
function distinct(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let stride = 37;
  while (n % stride === 0) {
    stride += 2;
  }
  const vals = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    vals[i] = ((i * stride) % n - n / 2) * 0.1;
  }
  return tf.tensor(vals, shape);
}

type Pad = 'same'|'valid';

describeBackends('JVP rules: conv', backend => {
  // Tangents on every input, and on each alone; on the GPU backends (test/util.ts coveringSubset) only
  // on every input, which runs every term of each rule there.
  const tangentPatterns = coveringSubset(backend) ? [[0, 1]] : [[0, 1], [0], [1]];
  const wasm = backend === 'wasm';
  const pendingWithout = (...kernels: string[]) => {
    for (const k of kernels) {
      if (!hasKernel(k)) {
        pending(`no ${k} kernel on ${tf.getBackend()}`);
      }
    }
  };
  // tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter and no DepthwiseConv2dNativeBackpropInput /
  // BackpropFilter kernels, so tf.grad (the adjoint oracle) fails there for filter tangents of
  // Conv2D / conv2dTranspose and for every depthwise conv: finite differences still check them.
  const noFilterGradOnWasm = (wrt: number[], filterIndex = 1) =>
      wasm && wrt.includes(filterIndex);

  // --- Conv2D ----------------------------------------------------------------------------------
  const convCases: Array<{name: string, x: number[], w: number[], strides: number, pad: Pad|number,
                          dilations: number}> = [
    {name: 'stride 1 same', x: [2, 6, 6, 3], w: [3, 3, 3, 4], strides: 1, pad: 'same', dilations: 1},
    {name: 'stride 2 valid', x: [2, 6, 6, 3], w: [3, 3, 3, 4], strides: 2, pad: 'valid', dilations: 1},
    {name: 'stride 2 same', x: [2, 5, 6, 3], w: [2, 2, 3, 2], strides: 2, pad: 'same', dilations: 1},
    {name: 'explicit pad 1', x: [1, 5, 5, 2], w: [3, 3, 2, 3], strides: 1, pad: 1, dilations: 1},
    {name: 'dilation 2 same', x: [2, 6, 6, 3], w: [3, 3, 3, 2], strides: 1, pad: 'same', dilations: 2},
  ];
  for (const c of convCases) {
    for (const wrt of tangentPatterns) {
      it(`Conv2D ${c.name}, tangents on ${wrt.map(i => ['x', 'filter'][i]).join('+')}`, () => {
        const x = randn(c.x), w = randn(c.w, 0.5);
        // tfjs's conv2d gradient rejects dilations > 1: no adjoint oracle there.
        const skipAdjoint = c.dilations > 1 || noFilterGradOnWasm(wrt);
        checkJvp((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, 'NHWC',
                                     c.dilations),
                 [x, w], {wrt, skipAdjoint});
        tf.dispose([x, w]);
      });
    }
  }

  it('Conv2D NCHW', () => {
    if (backend !== 'cpu') {
      pending(`the ${backend} Conv2D kernel does not support NCHW`);
    }
    const x = randn([2, 3, 6, 5]), w = randn([3, 3, 3, 4], 0.5);
    checkJvp((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same', 'NCHW'), [x, w]);
    tf.dispose([x, w]);
  });

  it('Conv2D with batch shape [2, 2]', () => {
    const x = randn([1, 5, 5, 2]), w = randn([3, 3, 2, 3], 0.5);
    checkJvp((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), [x, w],
             {batchShape: [2, 2], skipAdjoint: wasm});
    tf.dispose([x, w]);
  });

  it('Conv1D (through tf.conv1d) stride 1 same and stride 2 valid', () => {
    const x = randn([2, 8, 3]), w = randn([3, 3, 4], 0.5);
    for (const [stride, pad] of [[1, 'same'], [2, 'valid']] as Array<[number, Pad]>) {
      checkJvp((a, b) => tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, stride, pad), [x, w],
               {skipAdjoint: wasm});
    }
    tf.dispose([x, w]);
  });

  it('Conv1D dilation 2 (through tf.conv1d)', () => {
    const x = randn([2, 8, 3]), w = randn([3, 3, 2], 0.5);
    checkJvp((a, b) => tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, 1, 'same', 'NWC', 2), [x, w],
             {skipAdjoint: true});  // tfjs's conv2d gradient rejects dilations > 1
    tf.dispose([x, w]);
  });

  // --- FusedConv2D -----------------------------------------------------------------------------
  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
  for (const activation of activations) {
    for (const [strides, pad] of [[1, 'same'], [2, 'valid']] as Array<[number, Pad]>) {
      // The specs with kinks are seeded: finite differences fail for a few draws (not for these),
      // and an unseeded spec's draws depend on the specs that ran before it.
      it(`FusedConv2D ${activation} with bias, stride ${strides} ${pad}`, () => {
        // Filter scaled so that pre-activations are O(1): few land near the kinks at 0 and 6.
        const x = randn([2, 6, 6, 3]), w = randn([3, 3, 3, 4], 0.3), b = randn([4], 0.5);
        checkJvp((a, f, c) => tf.fused.conv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D,
                                               bias: c, strides, pad, activation, leakyreluAlpha: 0.1}),
                 [x, w, b], {skipAdjoint: wasm});
        tf.dispose([x, w, b]);
      });
    }
  }

  it('FusedConv2D prelu', () => {
    const x = randn([2, 6, 6, 3]), w = randn([3, 3, 3, 4], 0.3), b = randn([4], 0.5);
    const alpha = randn([4], 0.3);
    checkJvp((a, f, c, p) => tf.fused.conv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D, bias: c,
                                              strides: 1, pad: 'same', activation: 'prelu',
                                              preluActivationWeights: p}),
             [x, w, b, alpha], {skipAdjoint: wasm});
    tf.dispose([x, w, b, alpha]);
  });

  for (const [label, wrt] of [['x', [0]], ['filter', [1]], ['bias', [2]], ['prelu weights', [3]]] as
       Array<[string, number[]]>) {
    it(`FusedConv2D prelu, tangent on ${label} only`, () => {
      const x = randn([1, 5, 5, 2]), w = randn([3, 3, 2, 3], 0.3), b = randn([3], 0.5);
      const alpha = randn([3], 0.3);
      checkJvp((a, f, c, p) => tf.fused.conv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D, bias: c,
                                                strides: 2, pad: 'same', activation: 'prelu',
                                                preluActivationWeights: p}),
               [x, w, b, alpha], {wrt, skipAdjoint: noFilterGradOnWasm(wrt)});
      tf.dispose([x, w, b, alpha]);
    });
  }

  it('FusedConv2D relu without bias, dilation 2', () => {
    const x = randn([2, 6, 6, 3]), w = randn([3, 3, 3, 2], 0.3);
    checkJvp((a, f) => tf.fused.conv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1,
                                        pad: 'same', dilations: 2, activation: 'relu'}),
             [x, w], {skipAdjoint: true});  // no dilated gradient in tfjs
    tf.dispose([x, w]);
  });

  // --- DepthwiseConv2dNative / FusedDepthwiseConv2D ------------------------------------------------
  const dwCases: Array<{name: string, strides: number, pad: Pad, dilations: number}> = [
    {name: 'stride 1 same', strides: 1, pad: 'same', dilations: 1},
    {name: 'stride 2 valid', strides: 2, pad: 'valid', dilations: 1},
    {name: 'stride 2 same', strides: 2, pad: 'same', dilations: 1},
    {name: 'dilation 2 valid', strides: 1, pad: 'valid', dilations: 2},
  ];
  for (const c of dwCases) {
    for (const wrt of tangentPatterns) {
      it(`DepthwiseConv2dNative ${c.name}, tangents on ${wrt.map(i => ['x', 'filter'][i]).join('+')}`, () => {
        const x = randn([2, 6, 6, 3]), w = randn([3, 3, 3, 2], 0.5);
        checkJvp((a, b) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad,
                                              'NHWC', c.dilations),
                 [x, w], {wrt, skipAdjoint: wasm || c.dilations > 1});
        tf.dispose([x, w]);
      });
    }
  }

  const depthwiseActivations = ['linear', 'relu', 'sigmoid', 'leakyrelu'] as const;
  for (const activation of depthwiseActivations) {
    // Seeded: with the kinks, finite differences fail for a few draws; not for these.
    it(`FusedDepthwiseConv2D ${activation} with bias`, () => {
      const x = randn([2, 6, 6, 3]), w = randn([3, 3, 3, 2], 0.4), b = randn([6], 0.5);
      checkJvp((a, f, c) => tf.fused.depthwiseConv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D,
                                                      bias: c, strides: 2, pad: 'same', activation,
                                                      // tfjs-backend-cpu's fused depthwise leakyrelu
                                                      // yields NaN when leakyreluAlpha is undefined.
                                                      leakyreluAlpha: 0.1}),
               [x, w, b], {skipAdjoint: wasm});
      tf.dispose([x, w, b]);
    });
  }

  it('FusedDepthwiseConv2D prelu', () => {
    const x = randn([1, 5, 5, 2]), w = randn([3, 3, 2, 2], 0.4), b = randn([4], 0.5);
    const alpha = randn([4], 0.3);
    checkJvp((a, f, c, p) => tf.fused.depthwiseConv2d({x: a as tf.Tensor4D, filter: f as tf.Tensor4D,
                                                       bias: c, strides: 1, pad: 'same',
                                                       activation: 'prelu', preluActivationWeights: p}),
             [x, w, b, alpha], {skipAdjoint: wasm});
    tf.dispose([x, w, b, alpha]);
  });

  it('SeparableConv2D (through tf.separableConv2d)', () => {
    const x = randn([2, 6, 6, 3]), dw = randn([3, 3, 3, 2], 0.5), pw = randn([1, 1, 6, 4], 0.5);
    checkJvp((a, d, p) => tf.separableConv2d(a as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same'),
             [x, dw, pw], {skipAdjoint: wasm});
    tf.dispose([x, dw, pw]);
  });

  // --- Conv2DBackpropInput (conv2dTranspose) ---------------------------------------------------
  const tCases: Array<{name: string, x: number[], w: number[], out: [number, number, number, number],
                       strides: number, pad: Pad}> = [
    {name: 'stride 2 same', x: [2, 3, 3, 4], w: [3, 3, 3, 4], out: [2, 6, 6, 3], strides: 2, pad: 'same'},
    {name: 'stride 1 valid', x: [2, 4, 4, 4], w: [3, 3, 2, 4], out: [2, 6, 6, 2], strides: 1, pad: 'valid'},
    {name: 'stride 2 valid', x: [1, 3, 3, 2], w: [2, 2, 3, 2], out: [1, 6, 6, 3], strides: 2, pad: 'valid'},
  ];
  for (const c of tCases) {
    for (const wrt of tangentPatterns) {
      it(`Conv2DBackpropInput (conv2dTranspose) ${c.name}, tangents on ${wrt.map(i => ['dy', 'filter'][i]).join('+')}`, () => {
        const x = randn(c.x), w = randn(c.w, 0.5);
        checkJvp((a, b) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, c.out, c.strides, c.pad),
                 [x, w], {wrt, skipAdjoint: noFilterGradOnWasm(wrt)});
        tf.dispose([x, w]);
      });
    }
  }

  // --- Conv3D ----------------------------------------------------------------------------------
  for (const [strides, pad] of [[1, 'same'], [2, 'valid']] as Array<[number, Pad]>) {
    it(`Conv3D stride ${strides} ${pad}`, () => {
      pendingWithout(tf.Conv3D);
      const x = randn([1, 4, 5, 4, 2]), w = randn([2, 3, 2, 2, 3], 0.5);
      checkJvp((a, b) => tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, strides, pad), [x, w],
               {skipAdjoint: wasm});  // wasm's Conv3DBackprop*V2 return garbage: no oracle there
      tf.dispose([x, w]);
    });
  }

  it('Conv3D tangent on the filter only', () => {
    pendingWithout(tf.Conv3D);
    const x = randn([2, 4, 4, 4, 2]), w = randn([2, 2, 2, 2, 3], 0.5);
    checkJvp((a, b) => tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, 1, 'same'), [x, w],
             {wrt: [1], skipAdjoint: wasm});
    tf.dispose([x, w]);
  });

  // --- Pooling ---------------------------------------------------------------------------------
  const poolCases: Array<{filter: number, strides: number, pad: Pad|number, x: number[]}> = [
    {filter: 2, strides: 2, pad: 'valid', x: [2, 6, 6, 3]},
    {filter: 3, strides: 1, pad: 'same', x: [2, 6, 6, 3]},
    {filter: 3, strides: 2, pad: 'same', x: [2, 7, 6, 2]},
    {filter: 3, strides: 2, pad: 'valid', x: [1, 7, 7, 2]},
    {filter: 3, strides: 1, pad: 1, x: [1, 5, 5, 2]},
  ];
  // AVG_POOL_GRAD: tfjs's AvgPoolGrad / AvgPool3DGrad divide by the full window size, while the
  // forward kernels average over the in-bounds positions only: no adjoint oracle with padding.
  for (const c of poolCases) {
    const label = `filter ${c.filter} stride ${c.strides} pad ${c.pad}`;
    it(`MaxPool ${label}`, () => {
      const x = distinct(c.x);
      // tfjs-backend-wasm's MaxPoolGrad is wrong for some shapes: no adjoint oracle on wasm.
      checkJvp(a => tf.maxPool(a as tf.Tensor4D, c.filter, c.strides, c.pad), [x],
               {fdEps: 1e-3, skipAdjoint: wasm});
      tf.dispose(x);
    });
    it(`AvgPool ${label}`, () => {
      const x = randn(c.x);
      checkJvp(a => tf.avgPool(a as tf.Tensor4D, c.filter, c.strides, c.pad), [x],
               {skipAdjoint: c.pad !== 'valid'});  // see AVG_POOL_GRAD
      tf.dispose(x);
    });
  }

  it('MaxPool and AvgPool with pad 1 and dimRoundingMode ceil (a window past the padding)', () => {
    if (wasm) {
      // Not a rule problem: wasm's MaxPool sizes its output with ceil but leaves the extra windows
      // unwritten (uninitialized memory), so even the primal value is not reproducible.
      pending('the wasm MaxPool kernel does not implement dimRoundingMode ceil');
    }
    const x = distinct([1, 6, 6, 2]);
    // tfjs's MaxPool gradient drops dimRoundingMode: no adjoint oracle.
    checkJvp(a => tf.maxPool(a as tf.Tensor4D, 3, 2, 1, 'ceil'), [x], {fdEps: 1e-3, skipAdjoint: true});
    checkJvp(a => tf.avgPool(a as tf.Tensor4D, 3, 2, 1, 'ceil'), [x], {skipAdjoint: true});  // AVG_POOL_GRAD
    tf.dispose(x);
  });

  it('MaxPool of a negative input with same padding (padding never wins)', () => {
    const x = tf.tidy(() => tf.sub(distinct([1, 4, 4, 2]), 100));
    checkJvp(a => tf.maxPool(a as tf.Tensor4D, 3, 2, 'same'), [x], {fdEps: 1e-3, skipAdjoint: wasm});
    tf.dispose(x);
  });

  const pool3Cases: Array<{filter: number, strides: number, pad: Pad}> = [
    {filter: 2, strides: 2, pad: 'valid'},
    {filter: 3, strides: 1, pad: 'same'},
    {filter: 3, strides: 2, pad: 'same'},
  ];
  for (const c of pool3Cases) {
    const label = `filter ${c.filter} stride ${c.strides} pad ${c.pad}`;
    it(`MaxPool3D ${label}`, () => {
      pendingWithout(tf.MaxPool3D);
      const x = distinct([2, 4, 5, 4, 2]);
      // Like MaxPoolGrad, wasm's MaxPool3DGrad is not trusted as an oracle.
      checkJvp(a => tf.maxPool3d(a as tf.Tensor5D, c.filter, c.strides, c.pad), [x],
               {fdEps: 1e-3, skipAdjoint: wasm});
      tf.dispose(x);
    });
    it(`AvgPool3D ${label}`, () => {
      pendingWithout(tf.AvgPool3D);
      const x = randn([2, 4, 5, 4, 2]);
      checkJvp(a => tf.avgPool3d(a as tf.Tensor5D, c.filter, c.strides, c.pad), [x],
               {skipAdjoint: c.pad !== 'valid'});  // see AVG_POOL_GRAD
      tf.dispose(x);
    });
  }

  // --- FusedBatchNorm --------------------------------------------------------------------------
  it('FusedBatchNorm with tangents on x, mean, variance, offset and scale', () => {
    const x = randn([2, 4, 4, 3]), mean = randn([3]), variance = randu([3], 0.5, 2);
    const offset = randn([3]), scale = randn([3]);
    checkJvp((a, m, v, o, s) => tf.batchNorm(a, m, v, o, s, 1e-3), [x, mean, variance, offset, scale]);
    tf.dispose([x, mean, variance, offset, scale]);
  });

  for (const [label, wrt] of [['x', [0]], ['mean', [1]], ['variance', [2]], ['offset', [3]],
                              ['scale', [4]]] as Array<[string, number[]]>) {
    it(`FusedBatchNorm tangent on ${label} only`, () => {
      const x = randn([2, 3, 3, 2]), mean = randn([2]), variance = randu([2], 0.5, 2);
      const offset = randn([2]), scale = randn([2]);
      checkJvp((a, m, v, o, s) => tf.batchNorm(a, m, v, o, s, 1e-3),
               [x, mean, variance, offset, scale], {wrt});
      tf.dispose([x, mean, variance, offset, scale]);
    });
  }

  it('FusedBatchNorm without scale and offset, 2-D input', () => {
    const x = randn([5, 3]), mean = randn([3]), variance = randu([3], 0.5, 2);
    // tfjs's FusedBatchNorm gradient saves the (missing) scale input and crashes: no adjoint oracle.
    checkJvp((a, m, v) => tf.batchNorm(a, m, v), [x, mean, variance], {skipAdjoint: true});
    tf.dispose([x, mean, variance]);
  });

  it('FusedBatchNorm in training mode (mean and variance computed from x)', () => {
    const x = randn([4, 3, 3, 2]), offset = randn([2]), scale = randn([2]);
    checkJvp((a, o, s) => {
      const {mean, variance} = tf.moments(a, [0, 1, 2]);
      return tf.batchNorm(a, mean, variance, o, s, 1e-3);
    }, [x, offset, scale]);
    tf.dispose([x, offset, scale]);
  });

  // --- Resizing --------------------------------------------------------------------------------
  // tfjs's resize gradients ignore halfPixelCenters, and tfjs-backend-cpu's are wrong for
  // non-square images, and its ResizeNearestNeighborGrad for batches of more than one image: the
  // adjoint oracle is used only where it is right (finite differences check every case).
  const resizeCases: Array<{alignCorners: boolean, halfPixelCenters: boolean, x: number[],
                            size: [number, number]}> = [
    {alignCorners: false, halfPixelCenters: false, x: [2, 4, 4, 3], size: [7, 7]},
    {alignCorners: false, halfPixelCenters: false, x: [1, 4, 4, 3], size: [7, 7]},
    {alignCorners: true, halfPixelCenters: false, x: [1, 5, 5, 2], size: [3, 3]},
    {alignCorners: true, halfPixelCenters: false, x: [2, 4, 4, 3], size: [8, 8]},
    {alignCorners: false, halfPixelCenters: false, x: [2, 5, 5, 2], size: [3, 3]},
    {alignCorners: false, halfPixelCenters: true, x: [2, 4, 4, 3], size: [7, 7]},
    {alignCorners: false, halfPixelCenters: false, x: [2, 4, 5, 3], size: [7, 8]},
    {alignCorners: true, halfPixelCenters: false, x: [1, 5, 3, 2], size: [3, 9]},
  ];
  for (const c of resizeCases) {
    const label = `alignCorners=${c.alignCorners} halfPixelCenters=${c.halfPixelCenters} ` +
        `[${c.x}] to ${c.size}`;
    const skipAdjoint = c.halfPixelCenters || c.x[1] !== c.x[2] || c.size[0] !== c.size[1];
    it(`ResizeBilinear ${label}`, () => {
      const x = randn(c.x);
      checkJvp(a => tf.image.resizeBilinear(a as tf.Tensor4D, c.size, c.alignCorners, c.halfPixelCenters),
               [x], {skipAdjoint});
      tf.dispose(x);
    });
    it(`ResizeNearestNeighbor ${label}`, () => {
      const x = randn(c.x);
      checkJvp(a => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, c.size, c.alignCorners,
                                                   c.halfPixelCenters), [x],
               {skipAdjoint: skipAdjoint || (backend === 'cpu' && c.x[0] > 1)});
      tf.dispose(x);
    });
  }

  // --- Dilation2D ------------------------------------------------------------------------------
  const dilationCases: Array<{x: number[], f: number[], strides: number, pad: Pad, dilations: number}> = [
    {x: [2, 5, 5, 2], f: [3, 3, 2], strides: 1, pad: 'same', dilations: 1},
    {x: [1, 6, 5, 3], f: [2, 3, 3], strides: 2, pad: 'valid', dilations: 1},
    {x: [1, 6, 6, 2], f: [2, 2, 2], strides: 1, pad: 'same', dilations: 2},
    {x: [2, 5, 4, 1], f: [2, 2, 1], strides: 2, pad: 'same', dilations: 1},
  ];
  dilationCases.forEach(c => {
    for (const wrt of tangentPatterns) {
      it(`Dilation2D [${c.x}] filter [${c.f}] stride ${c.strides} ${c.pad} dilation ${c.dilations}, ` +
         `tangents on ${wrt.map(i => ['x', 'filter'][i]).join('+')}`, () => {
        pendingWithout(tf.Dilation2D);
        // tfjs-backend-wasm 4.22's Dilation2D starts its max at FLT_MIN (a window whose max is
        // negative gives 1.2e-38): shift x there so that every max is positive. Max-plus is
        // piecewise linear: where a step changes a window's argmax, checkJvp's one-sided fallback applies.
        const x = tf.tidy(() => tf.add(randn(c.x), wasm ? 6 : 0)), f = randn(c.f, 0.5);
        checkJvp((a, b) => tf.dilation2d(a as tf.Tensor4D, b as tf.Tensor3D, c.strides, c.pad, c.dilations),
                 [x, f], {wrt, skipAdjoint: !hasKernel(tf.Dilation2DBackpropInput) || !hasKernel(tf.Dilation2DBackpropFilter)});
        tf.dispose([x, f]);
      });
    }
  });

  // --- LRN -----------------------------------------------------------------------------------
  const lrnCases: Array<{x: number[], depthRadius: number, bias: number, alpha: number, beta: number}> = [
    {x: [2, 3, 3, 6], depthRadius: 2, bias: 1, alpha: 0.5, beta: 0.75},
    {x: [1, 2, 3, 4], depthRadius: 1, bias: 2, alpha: 1.5, beta: 0.5},
    {x: [1, 2, 2, 3], depthRadius: 5, bias: 0.5, alpha: 0.2, beta: 1.2},  // window wider than C
    {x: [2, 2, 2, 5], depthRadius: 0, bias: 1, alpha: 1, beta: 0.6},
  ];
  for (const c of lrnCases) {
    it(`LRN [${c.x}] depthRadius ${c.depthRadius} bias ${c.bias} alpha ${c.alpha} beta ${c.beta}`, () => {
      pendingWithout(tf.LRN);
      const x = randn(c.x);
      checkJvp(a => tf.localResponseNormalization(a as tf.Tensor4D, c.depthRadius, c.bias, c.alpha, c.beta),
               [x], {skipAdjoint: !hasKernel(tf.LRNGrad)});
      tf.dispose(x);
    });
  }

  it('ResizeNearestNeighbor of a 3-D image (upsampling by 2, as tfjs-layers UpSampling2D)', () => {
    const x = randn([3, 3, 2]);
    checkJvp(a => tf.image.resizeNearestNeighbor(a as tf.Tensor3D, [6, 6]), [x]);
    tf.dispose(x);
  });

  it('a conv block: conv2d → batchNorm → relu → maxPool → avgPool', () => {
    const x = randn([2, 6, 6, 2]), w = randn([3, 3, 2, 3], 0.5);
    const m = randn([3]), v = randu([3], 0.5, 2), o = randn([3]), s = randn([3]);
    const opts: CheckJvpOptions = {wrt: [0, 1], skipAdjoint: wasm};
    checkJvp((a, f, mm, vv, oo, ss) => {
      const y = tf.relu(tf.batchNorm(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), mm, vv, oo, ss));
      return tf.avgPool(tf.maxPool(y as tf.Tensor4D, 2, 2, 'valid'), 2, 1, 'valid');
    }, [x, w, m, v, o, s], opts);
    tf.dispose([x, w, m, v, o, s]);
  });
});
