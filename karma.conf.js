// Browser suite: the jasmine specs of test/ bundled by esbuild, in headless Chromium (Debian's
// /usr/bin/chromium unless CHROME_BIN says otherwise), on the webgl and cpu backends.
// A small reporter writes the counts to build/test-results/browser.json for .ci/run.
const fs = require('fs');
const path = require('path');
const os = require('os');

process.env.CHROME_BIN = process.env.CHROME_BIN || '/usr/bin/chromium';
// karma-esbuild writes its bundle to os.tmpdir(); keep it outside the project tree.
if (!process.env.TMPDIR) {
  process.env.TMPDIR = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-karma-'));
}

function CountsReporter(baseReporterDecorator) {
  baseReporterDecorator(this);
  let passed = 0, failed = 0, skipped = 0;
  this.onSpecComplete = (browser, result) => {
    if (result.skipped || result.pending) skipped++;
    else if (result.success) passed++;
    else failed++;
  };
  this.onRunComplete = (browsers, results) => {
    if (results.error) failed++;
    const dir = path.join(__dirname, 'build', 'test-results');
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(path.join(dir, 'browser.json'), JSON.stringify({passed, failed, skipped}));
    this.write(`browser (webgl, cpu): ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  };
}
CountsReporter.$inject = ['baseReporterDecorator'];

module.exports = function(config) {
  config.set({
    frameworks: ['jasmine'],
    plugins: ['karma-jasmine', 'karma-chrome-launcher', 'karma-esbuild', {'reporter:counts': ['type', CountsReporter]}],
    files: [
      {pattern: 'test/setup_browser.ts', watched: false},
      {pattern: 'test/**/*_test.ts', watched: false},
    ],
    exclude: ['test/**/node/**'],
    preprocessors: {'test/**/*.ts': ['esbuild']},
    esbuild: {target: 'es2019', sourcemap: 'inline', define: {'process.env.NODE_ENV': '"test"'}},
    browsers: ['ChromeHeadlessCI'],
    customLaunchers: {
      ChromeHeadlessCI: {
        base: 'ChromeHeadless',
        flags: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      },
    },
    client: {
      jasmine: {random: false, timeoutInterval: 120000},
      captureConsole: !!process.env.FG_KARMA_GREP,
      args: process.env.FG_KARMA_GREP ? ['--grep', process.env.FG_KARMA_GREP] : [],
    },
    browserNoActivityTimeout: 600000,
    browserDisconnectTimeout: 60000,
    captureTimeout: 120000,
    singleRun: true,
    reporters: ['dots', 'counts'],
  });
};
