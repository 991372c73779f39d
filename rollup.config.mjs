// Bundles: CJS for node (main), ESM (module), UMD and minified UMD (unpkg / jsdelivr), each with
// the entry `autodiff` (package.json `exports`: `tfjs-forward-gradient/autodiff`) in CJS and ESM.
// tfjs packages stay external everywhere; in UMD they are the global `tf` and this package is
// the global `tfjsForwardGradient`.
import typescript from '@rollup/plugin-typescript';
import terser from '@rollup/plugin-terser';
import commonjs from '@rollup/plugin-commonjs';
import {nodeResolve} from '@rollup/plugin-node-resolve';

const external = id => id.startsWith('@tensorflow/');
const globals = {'@tensorflow/tfjs-core': 'tf', '@tensorflow/tfjs-layers': 'tf'};
const ts = (declarations = false) => typescript({
  tsconfig: './tsconfig.json',
  declaration: declarations,
  declarationDir: declarations ? 'dist/types' : undefined,
  sourceMap: true,
});
const name = 'tfjsForwardGradient';

// The root and the `tfjs-forward-gradient/autodiff` subpath share their code (chunks/): one copy of
// the JVP rule registry and tracer whichever entry a program imports, and an autodiff-only import
// pulls in neither tfjs-layers nor the rest of the package.
const input = {'tfjs-forward-gradient': 'src/index.ts', 'autodiff': 'src/autodiff/index.ts'};

export default [
  {
    input, external: id => external(id) || id === 'seedrandom', plugins: [ts(true)],
    output: {dir: 'dist', format: 'es', sourcemap: true, entryFileNames: '[name].esm.js',
             chunkFileNames: 'chunks/[name]-[hash].esm.js'},
  },
  {
    // node: dependencies (seedrandom) are required at run time
    input, external: id => external(id) || id === 'seedrandom', plugins: [ts()],
    output: {dir: 'dist', format: 'cjs', sourcemap: true, exports: 'named', entryFileNames: '[name].node.js',
             chunkFileNames: 'chunks/[name]-[hash].node.js'},
  },
  {
    // browsers: dependencies other than tfjs are bundled
    input: 'src/index.ts', external, plugins: [nodeResolve({browser: true}), commonjs(), ts()],
    output: [
      {file: 'dist/tfjs-forward-gradient.js', format: 'umd', name, globals, sourcemap: true, exports: 'named'},
      {file: 'dist/tfjs-forward-gradient.min.js', format: 'umd', name, globals, sourcemap: true, exports: 'named',
       plugins: [terser()]},
    ],
  },
  // The `tfjs-fg` command line (node only, CommonJS): bin/tfjs-fg.js requires dist/cli.js. The
  // library code it uses is bundled in; tfjs, its npm dependencies and node's modules stay external.
  {
    input: 'src/cli/main.ts',
    external: id => external(id) ||
        ['commander', 'cli-progress', 'seedrandom', 'webgpu', 'protobufjs/light', '@aws-crypto/crc32c'].includes(id) ||
        /^(node:|(fs|path|zlib|os|module|events|util)$)/.test(id),
    plugins: [ts()],
    output: {file: 'dist/cli.js', format: 'cjs', sourcemap: true, exports: 'named'},
  },
];
