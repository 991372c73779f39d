/**
 * The paper's variance analysis (Table 1, Propositions 3–4, Appendix 10 / Fig. 8) reproduced
 * numerically: measured element-wise average variance of the gradient estimators of a 4-4-1 tanh
 * MLP's first-layer weights vs Table 1's prediction, sweeping the batch size N (p = q = 4) and then
 * the fan-in p (N = 4, q = 4). Prints Markdown tables (docs/variance.md holds its output).
 *
 *   npx tsc -p tsconfig.test.json && node build/bench/variance.js [--draws 5000] [--seed 7]
 *
 * The simulation is test/optimizers/variance_sim.ts (also used by test/optimizers/variance_test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import {Estimator, ESTIMATOR_NAMES, ESTIMATORS, makeProblem, predictedVariance, Problem, simulate} from '../test/optimizers/variance_sim';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toPrecision(3) : v.toPrecision(2);
}

/** One table: a row per (setting, estimator), measured ± standard error vs predicted. */
function printSweep(
    title: string, settings: Array<{label: string, prob: Problem, N: number}>, draws: number,
    seed: number): void {
  console.log(`\n### ${title}\n`);
  console.log('| setting | estimator | measured ± s.e. | predicted (Table 1) | measured / predicted | ' +
              'measured · N / (V + S) | ‖mean − ∇‖ / rms (≈1 if unbiased) |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const {label, prob, N} of settings) {
    const pred = predictedVariance(prob, N);
    const stats = simulate(prob, {N, draws, seed});
    ESTIMATORS.forEach((e: Estimator) => {
      const s = stats[e];
      console.log(`| ${label} | ${ESTIMATOR_NAMES[e]} | ${fmt(s.variance)} ± ${fmt(s.stdErr)} | ` +
                  `${fmt(pred[e])} | ${(s.variance / pred[e]).toFixed(3)} | ` +
                  `${fmt(s.variance * N / (prob.V + prob.S))} | ` +
                  `${(s.meanError / s.meanErrorScale).toFixed(2)} |`);
    });
  }
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const draws = Number(flag('draws', '5000'));
  const seed = Number(flag('seed', '7'));
  const t0 = Date.now();

  const base = makeProblem({p: 4, q: 4});
  console.log(`Draws per estimate: ${draws} (data batch and noise resampled each draw), seed ${seed}, ` +
              `backend ${tf.getBackend()}.`);
  console.log(`p = q = 4: V = ${fmt(base.V)}, S = ${fmt(base.S)} (exact over the ${base.poolSize}-example ` +
              `data distribution).`);
  printSweep('Batch size N (p = q = 4)',
             [1, 4, 16, 64, 256].map(N => ({label: `N = ${N}`, prob: base, N})), draws, seed);

  const fanIn = [1, 4, 16, 64].map(p => p === 4 ? base : makeProblem({p, q: 4}));
  console.log('\nFan-in sweep moments: ' +
              fanIn.map(pr => `p = ${pr.p}: V = ${fmt(pr.V)}, S = ${fmt(pr.S)}`).join('; ') + '.');
  printSweep('Fan-in p (N = 4, q = 4)', fanIn.map(prob => ({label: `p = ${prob.p}`, prob, N: 4})),
             draws, seed);
  fanIn.forEach(pr => pr.dispose());
  console.log(`\n(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
