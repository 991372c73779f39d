#!/usr/bin/env node
// Runs the jasmine specs (compiled to build/ by `tsc -p tsconfig.test.json`) in node, once per
// backend in FG_TEST_BACKENDS (default: cpu,wasm), and writes the counts to build/test-results/node.json.
const fs = require('fs');
const path = require('path');
const Jasmine = require('jasmine');

const backends = (process.env.FG_TEST_BACKENDS || 'cpu,wasm').split(',').filter(Boolean);
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

(async () => {
  if (backends.includes('webgpu')) {
    console.log('webgpu adapter:', await require('./node-webgpu').setupNodeWebGPU());
  }
  const jasmine = new Jasmine({projectBaseDir: path.resolve(__dirname, '..')});
  const filter = process.argv[2];
  jasmine.loadConfig({
    spec_dir: path.join(process.env.FG_BUILD_DIR || 'build', 'test'),
    spec_files: ['**/*_test.js'],
    env: {random: false, stopSpecOnExpectationFailure: false},
  });
  jasmine.exitOnCompletion = false;
  let passed = 0, failed = 0, skipped = 0;
  jasmine.env.addReporter({
    specDone(r) {
      if (r.status === 'passed') passed++;
      else if (r.status === 'failed') failed++;
      else skipped++;
    },
    suiteDone(r) {
      if (r.status === 'failed') failed++;  // afterAll errors
    },
  });
  const result = await jasmine.execute(undefined, filter);
  const out = path.resolve(__dirname, '../build/test-results');
  fs.mkdirSync(out, {recursive: true});
  fs.writeFileSync(path.join(out, 'node.json'), JSON.stringify({passed, failed, skipped, backends}));
  console.log(`node (${backends.join(', ')}): ${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(result.overallStatus === 'passed' ? 0 : 1);
})();
