// What the demo's scripts share (test/demo/demo_test.mjs, scripts/bench-demo.mjs,
// scripts/screenshot-demo.mjs, scripts/build-demo.mjs, scripts/serve-demo.mjs): reading a
// `--name value` option, and starting Debian's chromium headless with WebGL 2 on SwiftShader.
/** A reader of `--name value` options of `args`: option(name, fallback) is the value or fallback. */
export function optionsOf(args) {
  return (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
}

/** Headless chromium (CHROME_BIN, default Debian's) with WebGL 2 on SwiftShader; `extra`: more launch options. */
export async function launchChromium(extra = {}) {
  // Loaded here, not at the top: building and serving the demo do not need puppeteer-core.
  const {default: puppeteer} = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: process.env.CHROME_BIN ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-swiftshader', '--disable-background-networking', '--no-first-run'],
    ...extra,
  });
}
