/**
 * LocalMixerBlock against the paper's code: block outputs equal an independent plain-tf
 * re-implementation of the code's `block0` / `mlp_block` (all LN flags on: begin_ln, middle_ln,
 * post_linear_ln), the token FC is fed LN_D(x)ᵀ (one LN, over the channels), and every activity
 * site's local pull-back is the exact gradient of ⟨gz, z⟩ through the same formulation.
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import * as fg from '../../src';
import {withTangents} from '../../src/autodiff';
import {annotationOf, LocalStepListener, runLocalStep, SiteDeclaration} from '../../src/step/local_step';
import {describeBackends, expectClose, randn, tolScale} from '../util';

const EPS = 1e-5;

/** The code's LN: no gain or bias, var = E[x²] − E[x]², over `axis`. */
function codeLn(x: Tensor, axis: number): Tensor {
  const mean = tf.mean(x, axis, true);
  const variance = tf.sub(tf.mean(tf.mul(x, x), axis, true), tf.mul(mean, mean));
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPS)));
}

/** x [..., in] · w [in, out] + b. */
function fc(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const lead = x.shape.slice(0, -1);
  return tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, w.shape[0]]), w), b), [...lead, w.shape[1] as number]);
}

/** The code's grouped FC on x [N, P, G, in/G] with w [G, in/G, out/G], b [G, out/G], group by group. */
function groupFc(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const g = w.shape[0];
  const outs = [];
  for (let i = 0; i < g; i++) {
    const xi = tf.squeeze(tf.slice(x, [0, 0, i, 0], [-1, -1, 1, -1]), [2]);
    outs.push(fc(xi, tf.squeeze(tf.slice(w, [i, 0, 0], [1, -1, -1]), [0]), tf.squeeze(tf.slice(b, [i, 0], [1, -1]), [0])));
  }
  return tf.stack(outs, 2);
}

/** The grouped tail of both blocks: reshape [N,P,G,H/G], LN per group, group FC, LN per group. */
function groupTail(x: Tensor, w: Tensor, b: Tensor, groups: number): Tensor {
  const [n, p, h] = x.shape;
  const y = codeLn(groupFc(codeLn(tf.reshape(x, [n, p, groups, h / groups]), -1), w, b), -1);
  return tf.reshape(y, [n, p, -1]);
}

/** The code's block0: LN, FC, LN, ReLU, grouped tail, ReLU. */
function codeBlock0(x: Tensor, ws: Tensor[], groups: number): Tensor {
  const [wc, bc, wg, bg] = ws;
  const y = tf.relu(codeLn(fc(codeLn(x, -1), wc, bc), -1));
  return tf.relu(groupTail(y, wg, bg, groups));
}

/** The code's token-mixing pre-activation: LN_D, swap to [N, D, P], token FC, LN over D (axis 1). */
function codeTokenZ(x: Tensor, wt: Tensor, bt: Tensor): Tensor {
  return codeLn(fc(tf.transpose(codeLn(x, -1), [0, 2, 1]), wt, bt), 1);
}

/** The code's mlp_block: token mixing, channel FC, grouped tail, + input, ReLU. */
function codeMlpBlock(x: Tensor, ws: Tensor[], groups: number): Tensor {
  const [wt, bt, wc, bc, wg, bg] = ws;
  const t = tf.transpose(tf.relu(codeTokenZ(x, wt, bt)), [0, 2, 1]);
  const c = tf.relu(codeLn(fc(codeLn(t, -1), wc, bc), -1));
  return tf.relu(tf.add(groupTail(c, wg, bg, groups), x));
}

/**
 * Runs the block in a local step (`traced`: inside a forward-mode trace, as the optimizer does) and
 * returns its output and copies of its site declarations.
 */
function withSites(block: fg.layers.LocalMixerBlock, x: Tensor, traced = false): {out: Tensor, sites: SiteDeclaration[]} {
  const sites: SiteDeclaration[] = [];
  const listener: LocalStepListener = {
    declareSite(site: SiteDeclaration) {
      sites.push({...site, z: tf.keep(site.z.clone()), saved: site.saved.map(t => tf.keep(t.clone()))});
      return {setActive: () => {}};
    },
  };
  const step = () => runLocalStep(listener, () => block.apply(x) as Tensor);
  const out = traced ? withTangents(step) : step();
  return {out, sites};
}

/** Random weights (non-zero biases) for a built block, in its weight order. */
function randomWeights(block: fg.layers.LocalMixerBlock): Tensor[] {
  return block.getWeights().map((w, i) => randn(w.shape, i % 2 === 0 ? 0.5 : 0.3));
}

describeBackends('layers: LocalMixerBlock against the code\'s block0 / mlp_block', () => {
  const n = 3, p = 4, d = 8, groups = 2;

  it('block ≥ 1: the output equals mlp_block; the token FC is fed LN_D(x)ᵀ, normalized once', () => {
    const block = fg.layers.localMixerBlock({index: 1, channels: d, hidden: d, groups, seed: 1});
    const x = randn([n, p, d]);
    block.apply(x);  // builds
    const ws = randomWeights(block);
    block.setWeights(ws);
    const {out, sites} = withSites(block, x);
    tf.tidy(() => {
      expectClose(out, codeMlpBlock(x, ws, groups), 1e-4 * tolScale(), 1e-4 * tolScale(), 'block output');
      expect(sites.map(s => s.layout)).toEqual(['tokens', 'channels', 'channels']);
      // The token site keeps the block's input itself (its pull-back recomputes the FC's input LN_D(x)ᵀ
      // from it, as the weight-gradient spec below checks), and each later site the previous site's z.
      expectClose(sites[0].saved[0], x, 0, 0, 'token site keeps the block input');
      expect(sites[1].saved[0].dataId).withContext('site 1 keeps site 0\'s z').toBe(sites[0].z.dataId);
      expect(sites[2].saved[0].dataId).withContext('site 2 keeps site 1\'s z').toBe(sites[1].z.dataId);
      expectClose(sites[0].z, codeTokenZ(x, ws[0], ws[1]), 1e-4 * tolScale(), 1e-4 * tolScale(), 'token activity');
    });
    tf.dispose([x, out, ...ws, ...sites.flatMap(s => [s.z, ...s.saved])]);
    block.dispose();
  });

  it('DFA (block ≥ 1): the token FC\'s tap is its output [N, D, P] (averaged over the channels by the loss) with a P → classes projection, as the code\'s loss_dfa', () => {
    const block = fg.layers.localMixerBlock({index: 1, channels: d, hidden: d, groups, classes: 5, seed: 4});
    const x = randn([n, p, d]);
    block.apply(x);  // builds
    const ws = randomWeights(block);
    block.setWeights(ws);
    block.dfa = true;
    runLocalStep(null, () => tf.tidy(() => {
      const out = block.apply(x) as Tensor;
      const taps = annotationOf(out)?.dfaTaps as Array<{x: Tensor, projection: Tensor}>;
      expect(taps.map(t => t.x.shape)).toEqual([[n, d, p], [n, p, d], [n, p, d]]);
      expect(taps.map(t => t.projection.shape)).toEqual([[p, 5], [d, 5], [d, 5]]);
      expectClose(taps[0].x, tf.relu(codeTokenZ(x, ws[0], ws[1])), 1e-4 * tolScale(), 1e-4 * tolScale(), 'token tap');
    }));
    tf.dispose([x, ...ws]);
    block.dispose();
  });

  it('block 0: the output equals block0', () => {
    const block = fg.layers.localMixerBlock({index: 0, channels: d, hidden: 12, groups, seed: 2});
    const x = randn([n, p, 6]);
    block.apply(x);
    const ws = randomWeights(block);
    block.setWeights(ws);
    const {out, sites} = withSites(block, x);
    tf.tidy(() => {
      expectClose(out, codeBlock0(x, ws, groups), 1e-4 * tolScale(), 1e-4 * tolScale(), 'block output');
      expect(sites.map(s => s.z.shape)).toEqual([[n, p, 12], [n, p, d]]);
    });
    tf.dispose([x, out, ...ws, ...sites.flatMap(s => [s.z, ...s.saved])]);
    block.dispose();
  });

  for (const traced of [false, true]) {
  it(`every site's local pull-back is the exact weight gradient of ⟨gz, z⟩ (z as the code computes it)${traced ? ', in a forward-mode step' : ''}`, () => {
    const block = fg.layers.localMixerBlock({index: 1, channels: d, hidden: d, groups, seed: 3});
    const x = randn([n, p, d]);
    block.apply(x);
    const ws = randomWeights(block);
    block.setWeights(ws);
    const {out, sites} = withSites(block, x, traced);
    expect(sites.map(s => s.saved.length)).toEqual(new Array(3).fill(traced ? 3 : 2));
    tf.tidy(() => {
      const [wt, bt, wc, bc, wg, bg] = ws;
      // The sites' activities as functions of their own weights, the inputs held fixed (a local VJP).
      const t = tf.transpose(tf.relu(codeTokenZ(x, wt, bt)), [0, 2, 1]);
      const c = tf.relu(codeLn(fc(codeLn(t, -1), wc, bc), -1));
      const zOf: Array<(w: Tensor, b: Tensor) => Tensor> = [
        (w, b) => codeTokenZ(x, w, b),
        (w, b) => codeLn(fc(codeLn(t, -1), w, b), -1),
        (w, b) => groupTail(c, w, b, groups),
      ];
      sites.forEach((site, i) => {
        const gz = randn(site.z.shape);
        const got = site.gradients(gz, site.saved);
        const want = tf.grads((w: Tensor, b: Tensor) => tf.sum(tf.mul(zOf[i](w, b), gz)))([ws[2 * i], ws[2 * i + 1]]);
        expectClose(got[0], want[0], 1e-3 * tolScale(), 1e-4 * tolScale(), `site ${i} kernel`);
        expectClose(got[1], want[1], 1e-3 * tolScale(), 1e-4 * tolScale(), `site ${i} bias`);
      });
    });
    tf.dispose([x, out, ...ws, ...sites.flatMap(s => [s.z, ...s.saved])]);
    block.dispose();
  });
  }
});
