// Browser suite: the jasmine specs of test/ bundled by esbuild, in headless Chromium (Debian's
// /usr/bin/chromium unless CHROME_BIN says otherwise), on the webgl and cpu backends.
// A small reporter writes the counts, in all and per backend, to build/test-results/browser.json for
// .ci/run, and fails the run when a backend ran no spec.
const fs = require('fs');
const path = require('path');
const os = require('os');

/**
 * The backends every describeBackends suite runs on in the browser. A constant of this config, handed
 * to the page as `client.fgTestBackends` (karma writes it into `__karma__.config` before any script):
 * the specs get it whatever order the bundle evaluates the modules in.
 */
const BROWSER_BACKENDS = ['webgl', 'cpu'];

process.env.CHROME_BIN = process.env.CHROME_BIN || '/usr/bin/chromium';
// karma-esbuild writes its bundle to os.tmpdir(); keep it outside the project tree.
if (!process.env.TMPDIR) {
  process.env.TMPDIR = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-karma-'));
}

/** The backend of a spec: the `[backend]` tag describeBackends puts in its suite's name. */
function backendOf(result) {
  const names = result.suite.join(' ');
  const tags = BROWSER_BACKENDS.filter(b => names.includes(`[${b}]`));
  return tags.length === 1 ? tags[0] : tags.length === 0 ? 'none' : tags.join('+');
}

function CountsReporter(baseReporterDecorator) {
  baseReporterDecorator(this);
  let passed = 0, failed = 0, skipped = 0;
  let perBackend = {};
  let specTimes = [];  // [ms, full name]: the slowest are written out, to keep the suite's time in view
  let suiteSeconds = {};  // top-level suite -> seconds
  const baseOnRunStart = this.onRunStart;
  this.onRunStart = browsers => {
    baseOnRunStart.call(this, browsers);
    passed = failed = skipped = 0;
    perBackend = {};
    specTimes = [];
    suiteSeconds = {};
    for (const b of BROWSER_BACKENDS) perBackend[b] = {passed: 0, failed: 0, skipped: 0, seconds: 0};
  };
  this.onSpecComplete = (browser, result) => {
    const status = result.skipped || result.pending ? 'skipped' : result.success ? 'passed' : 'failed';
    if (status === 'passed') passed++;
    else if (status === 'failed') failed++;
    else skipped++;
    const b = backendOf(result);
    const counts = perBackend[b] = perBackend[b] || {passed: 0, failed: 0, skipped: 0, seconds: 0};
    counts[status]++;
    counts.seconds += (result.time || 0) / 1000;
    specTimes.push([result.time || 0, `${result.suite.join(' ')} ${result.description}`]);
    suiteSeconds[result.suite[0]] = (suiteSeconds[result.suite[0]] || 0) + (result.time || 0) / 1000;
  };
  this.onRunComplete = (browsers, results) => {
    if (results.error || results.disconnected) failed++;  // a load error, or a browser lost mid-run
    // Every backend must have run specs; with a grep filter an empty backend can be intended.
    const missing = process.env.FG_KARMA_GREP ? [] :
        BROWSER_BACKENDS.filter(b => perBackend[b].passed + perBackend[b].failed === 0);
    if (missing.length > 0) {
      failed++;
      results.exitCode = 1;
      this.write(`browser: no spec ran on ${missing.join(', ')} (expected every suite on ${BROWSER_BACKENDS.join(', ')})\n`);
    }
    const dir = path.join(__dirname, 'build', 'test-results');
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(path.join(dir, 'browser.json'), JSON.stringify(
        {passed, failed, skipped, backends: BROWSER_BACKENDS, perBackend, filter: process.env.FG_KARMA_GREP || null,
         slowestSuites: Object.entries(suiteSeconds).sort((a, b) => b[1] - a[1]).slice(0, 30)
             .map(([name, s]) => `${s.toFixed(1)} s  ${name}`),
         slowest: specTimes.sort((a, b) => b[0] - a[0]).slice(0, 30).map(([ms, name]) => `${(ms / 1000).toFixed(1)} s  ${name}`)}, null, 1));
    const per = Object.entries(perBackend).filter(([b, c]) => b !== 'none' || c.passed + c.failed > 0)
        .map(([b, c]) => `${b} ${c.passed + c.failed}`).join(', ');
    this.write(`browser (${BROWSER_BACKENDS.join(', ')}): ${passed} passed, ${failed} failed, ${skipped} skipped` +
               ` [specs run per backend: ${per}]\n`);
  };
}
CountsReporter.$inject = ['baseReporterDecorator'];

module.exports = function(config) {
  config.set({
    frameworks: ['jasmine'],
    plugins: ['karma-jasmine', 'karma-chrome-launcher', 'karma-esbuild', {'reporter:counts': ['type', CountsReporter]}],
    // karma-esbuild bundles these into one entry point, importing them in the order in which karma's
    // concurrent preprocessing finishes (file reads race): the order of the modules is not fixed.
    // test/setup_browser.ts is therefore not one of them but injected by esbuild, which evaluates it
    // before every module of the bundle.
    files: [
      {pattern: 'test/**/*_test.ts', watched: false},
    ],
    exclude: ['test/**/node/**'],
    preprocessors: {'test/**/*.ts': ['esbuild']},
    esbuild: {
      target: 'es2019',
      sourcemap: 'inline',
      define: {'process.env.NODE_ENV': '"test"'},
      inject: [path.join(__dirname, 'test', 'setup_browser.ts')],
      // package.json `sideEffects` describes the shipped dist/ files to users' bundlers; this bundle
      // is made from src/ and test/, whose imports all run for their effects (specs, JVP rules).
      ignoreAnnotations: true,
    },
    browsers: ['ChromeHeadlessCI'],
    customLaunchers: {
      ChromeHeadlessCI: {
        base: 'ChromeHeadless',
        flags: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      },
    },
    client: {
      fgTestBackends: BROWSER_BACKENDS,
      // test/util.ts coveringSubset: webgl runs a covering subset of the product suites unless
      // FG_FULL_GPU=1 asks for all of them.
      fgFullGpu: process.env.FG_FULL_GPU === '1',
      jasmine: {random: false, timeoutInterval: 120000},
      captureConsole: !!process.env.FG_KARMA_GREP,
      args: process.env.FG_KARMA_GREP ? ['--grep', process.env.FG_KARMA_GREP] : [],
    },
    browserNoActivityTimeout: 600000,
    // A long synchronous spec (cpu backend, statistical tests) on a busy machine keeps the page from
    // answering socket.io's pings; with the default 5 s the browser is dropped mid-run.
    pingTimeout: 300000,
    browserDisconnectTimeout: 60000,
    captureTimeout: 120000,
    singleRun: true,
    reporters: ['dots', 'counts'],
  });
};
