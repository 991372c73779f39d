// Bundles: CJS for node (main), ESM (module), UMD and minified UMD (unpkg / jsdelivr).
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

export default [
  {
    input: 'src/index.ts', external: id => external(id) || id === 'seedrandom', plugins: [ts(true)],
    output: {file: 'dist/tfjs-forward-gradient.esm.js', format: 'es', sourcemap: true},
  },
  {
    // node: dependencies (seedrandom) are required at run time
    input: 'src/index.ts', external: id => external(id) || id === 'seedrandom', plugins: [ts()],
    output: {file: 'dist/tfjs-forward-gradient.node.js', format: 'cjs', sourcemap: true, exports: 'named'},
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
    external: id => external(id) || ['commander', 'cli-progress', 'seedrandom', 'webgpu'].includes(id) ||
        /^(node:|(fs|path|zlib|os|module|events|util)$)/.test(id),
    plugins: [ts()],
    output: {file: 'dist/cli.js', format: 'cjs', sourcemap: true, exports: 'named'},
  },
];
