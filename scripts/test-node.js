#!/usr/bin/env node
// Runs the jasmine specs (compiled to build/ by `tsc -p tsconfig.test.json`) in node, once per
// backend in FG_TEST_BACKENDS (default: cpu,wasm), and writes the counts, in all and per backend,
// to build/test-results/node.json (.ci/run checks that every backend ran its specs).
// FG_TEST_RANDOM=<seed> runs the specs in jasmine's random order with that seed (specs must not
// depend on their order; `FG_TEST_RANDOM=1 FG_TEST_BACKENDS=cpu node scripts/test-node.js` checks it).
const fs = require('fs');
const path = require('path');
const Jasmine = require('jasmine');

const backends = (process.env.FG_TEST_BACKENDS || 'cpu,wasm').split(',').filter(Boolean);
// Read by test/util.ts testBackends() when a spec file declares its suites; set before any loads.
globalThis.__FG_TEST_BACKENDS = backends;
require('@tensorflow/tfjs-backend-cpu');
if (backends.includes('wasm')) require('@tensorflow/tfjs-backend-wasm');
require('@tensorflow/tfjs-layers');  // registers tfjs's gradients (reverse-mode oracle) in node
if (backends.includes('wasm')) {
  // The package's wasm kernels (src/backends/wasm), installed up front: the optimizer installs them
  // on its first wasm step anyway, and specs must not see different kernels depending on order.
  require(path.resolve(__dirname, '..', process.env.FG_BUILD_DIR || 'build', 'src/backends')).installWasmKernels();
}

process.on('unhandledRejection', e => { throw e; });

/** A spec's top-level suite: its full name up to and including the `[backend]` tag, if any. */
function topSuite(fullName) {
  const m = /^(.*?\[[a-z]+\])/.exec(fullName);
  return m ? m[1] : fullName.split(' ').slice(0, 3).join(' ');
}

/** The backend a spec ran on: the `[backend]` tag describeBackends puts in its suite's name. */
function backendOf(fullName) {
  const tags = backends.filter(b => fullName.includes(`[${b}]`));
  return tags.length === 1 ? tags[0] : tags.length === 0 ? 'none' : tags.join('+');
}

(async () => {
  if (backends.includes('webgpu')) {
    console.log('webgpu adapter:', await require('./node-webgpu').setupNodeWebGPU());
  }
  const jasmine = new Jasmine({projectBaseDir: path.resolve(__dirname, '..')});
  const filter = process.argv[2];
  const randomSeed = process.env.FG_TEST_RANDOM;
  jasmine.loadConfig({
    spec_dir: path.join(process.env.FG_BUILD_DIR || 'build', 'test'),
    spec_files: ['**/*_test.js'],
    env: {random: !!randomSeed, stopSpecOnExpectationFailure: false, ...(randomSeed ? {seed: randomSeed} : {})},
  });
  jasmine.exitOnCompletion = false;
  let passed = 0, failed = 0, skipped = 0;
  const perBackend = {};
  for (const b of backends) perBackend[b] = {passed: 0, failed: 0, skipped: 0, seconds: 0};
  const specTimes = [];  // [ms, full name]: the slowest are written out, to keep the suite's time in view
  const suiteSeconds = {};  // top-level suite -> seconds
  jasmine.env.addReporter({
    specDone(r) {
      const status = r.status === 'passed' ? 'passed' : r.status === 'failed' ? 'failed' : 'skipped';
      if (r.status !== 'excluded') {  // excluded: filtered out by the command line's spec filter
        const b = backendOf(r.fullName);
        const counts = perBackend[b] = perBackend[b] || {passed: 0, failed: 0, skipped: 0, seconds: 0};
        counts[status]++;
        const ms = r.duration || 0;
        counts.seconds += ms / 1000;
        specTimes.push([ms, r.fullName]);
        const top = topSuite(r.fullName);
        suiteSeconds[top] = (suiteSeconds[top] || 0) + ms / 1000;
      }
      if (status === 'passed') passed++;
      else if (status === 'failed') failed++;
      else skipped++;
    },
    suiteDone(r) {
      if (r.status === 'failed') failed++;  // afterAll errors
    },
  });
  const result = await jasmine.execute(undefined, filter);
  if (result.overallStatus !== 'passed' && failed === 0) failed++;  // e.g. a spec file that failed to load
  const out = path.resolve(__dirname, '../build/test-results');
  fs.mkdirSync(out, {recursive: true});
  fs.writeFileSync(path.join(out, 'node.json'), JSON.stringify(
      {passed, failed, skipped, backends, perBackend, filter: filter || null, random: randomSeed || null,
       slowestSuites: Object.entries(suiteSeconds).sort((a, b) => b[1] - a[1]).slice(0, 30)
           .map(([name, sec]) => `${sec.toFixed(1)} s  ${name}`),
       slowest: specTimes.sort((a, b) => b[0] - a[0]).slice(0, 30)
           .map(([ms, name]) => `${(ms / 1000).toFixed(1)} s  ${name}`)}, null, 1));
  const per = Object.entries(perBackend).map(([b, c]) => `${b} ${c.passed + c.failed}`).join(', ');
  console.log(`node (${backends.join(', ')}): ${passed} passed, ${failed} failed, ${skipped} skipped` +
              ` [specs run per backend: ${per}]${randomSeed ? ` (random order, seed ${randomSeed})` : ''}`);
  process.exit(result.overallStatus === 'passed' ? 0 : 1);
})();
