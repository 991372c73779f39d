#!/usr/bin/env node
// Reads build/test-results/{node,browser,demo,pack,tfjs-versions}.json (written by scripts/test-node.js,
// karma.conf.js's counts reporter, test/demo/demo_test.mjs and .ci/run), prints the specs run per backend, and ends with the CI's one
// `N passed, N failed, N skipped` line. Exits 1 when a suite failed or did not report, or when a
// backend ran too few specs, which is how a silently missing backend shows (a bundle that declared
// the browser's suites on cpu only ran half the suite and reported success):
//  - every backend of test/spec-floors.json must have run (passed + failed) at least its floor there.
//    The floors sit about 20 % under the counts when they were set (29 Nov 2026: node cpu and wasm
//    1007, browser webgl 673 (a covering subset), cpu 968), so new specs need no update;
//    raise them now and then, lower them only when specs are deliberately removed;
//  - and, for the backends that run the full suite, at least 80 % of the specs run by the suite's
//    busiest backend (the backends run the same spec files; the few restricted to some backends stay
//    well within 20 %). The GPU backends run a covering subset of the product suites
//    (test/util.ts coveringSubset), listed under "coveringSubset" in the floors file: for them only
//    their floor counts.
// A filtered run (a spec filter or FG_KARMA_GREP) does not count as a CI run.
// Usage: node scripts/check-test-results.js [results dir, default build/test-results]
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const floors = JSON.parse(fs.readFileSync(path.join(root, 'test', 'spec-floors.json'), 'utf8'));
const MIN_FRACTION_OF_BUSIEST = 0.8;
const resultsDir = process.argv[2] ? path.resolve(process.argv[2]) : path.join(root, 'build', 'test-results');

let passed = 0, failed = 0, skipped = 0;
// demo: test/demo/demo_test.mjs, one count per check of the page; pack and tfjs-versions: .ci/run's
// package checks (scripts/test-pack.sh, scripts/test-tfjs-versions.sh). No backends to count there.
for (const suite of ['node', 'browser', 'demo', 'pack', 'tfjs-versions']) {
  const f = path.join(resultsDir, `${suite}.json`);
  if (!fs.existsSync(f)) {
    console.log(`${suite} suite did not report (it did not run or crashed)`);
    failed++;
    continue;
  }
  const r = JSON.parse(fs.readFileSync(f, 'utf8'));
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  if (r.filter != null) {
    console.log(`${suite} suite: results of a filtered run (${JSON.stringify(r.filter)}), not of the whole suite`);
    failed++;
  }
  const per = r.perBackend || {};
  const ran = b => per[b] ? per[b].passed + per[b].failed : 0;
  if (floors[suite] == null) {
    console.log(`${suite}: ${r.passed} passed, ${r.failed} failed`);
    continue;
  }
  const subsets = floors.coveringSubset || [];
  const full = Object.keys(floors[suite]).filter(b => !subsets.includes(b));
  const busiest = Math.max(0, ...full.map(ran));
  for (const [backend, floor] of Object.entries(floors[suite])) {
    const n = ran(backend);
    const subset = subsets.includes(backend);
    const min = Math.max(1, floor, subset ? 0 : Math.ceil(MIN_FRACTION_OF_BUSIEST * busiest));
    const ok = n >= min;
    console.log(`${suite} [${backend}]: ${n} specs run` + (per[backend] ? `, ${per[backend].failed} failed` : '') +
                ` (at least ${min}: floor ${floor}` +
                (subset ? ', a covering subset)' : `, ${MIN_FRACTION_OF_BUSIEST * 100} % of ${busiest})`) +
                (ok ? '' : '  <-- too few: a backend did not run its specs'));
    if (!ok) failed++;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
