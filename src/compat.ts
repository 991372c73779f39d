/**
 * Detects two copies of TensorFlow.js in one program: e.g. a project on `@tensorflow/tfjs@4.19`
 * gets a second tfjs-core / tfjs-layers from npm for this package (the peer range is not met), and
 * `model.fit` then fails with an obscure TypeError, because models, tensors and callbacks of one
 * copy are not those of the other. Checked when the package is imported and when an optimizer is
 * created; a problem is printed once, as a warning that names the versions and the fixing command.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The peer range this package is tested with (package.json `peerDependencies`). */
export const SUPPORTED_TFJS = '>=4.20.0 <5';

/** A copy of a tfjs package loaded in this program. */
export interface LoadedCopy {
  name: '@tensorflow/tfjs-core'|'@tensorflow/tfjs-layers';
  version: string;
  /** Its folder (node), or null. */
  dir: string|null;
}

/** What `tfjsCopiesProblem` looks at. */
export interface TfjsCopiesFacts {
  /** This package's tfjs-core and tfjs-layers versions. */
  ours: {core: string, layers: string};
  /** Whether the global tfjs engine was created by another copy of tfjs-core than this package's. */
  foreignEngine: boolean;
  /** The copies of tfjs-core and tfjs-layers loaded so far (node: from the module cache; else none). */
  loaded: LoadedCopy[];
}

type NodeProcess = {getBuiltinModule?: (id: string) => unknown};

/** The tfjs-core / tfjs-layers copies node has loaded (CommonJS module cache), with their versions. */
function loadedCopies(): LoadedCopy[] {
  const proc = (globalThis as unknown as {process?: NodeProcess}).process;
  const mod = proc?.getBuiltinModule?.('module') as {_cache?: {[file: string]: unknown}}|undefined;
  const fs = proc?.getBuiltinModule?.('fs') as {readFileSync(f: string, enc: string): string}|undefined;
  if (mod?._cache == null || fs == null) {
    return [];
  }
  const dirs = new Map<string, LoadedCopy['name']>();
  for (const file of Object.keys(mod._cache)) {
    const m = /^(.*[\\/]node_modules[\\/]@tensorflow[\\/](tfjs-core|tfjs-layers))[\\/]/.exec(file);
    if (m != null) {
      dirs.set(m[1], `@tensorflow/${m[2]}` as LoadedCopy['name']);
    }
  }
  const copies: LoadedCopy[] = [];
  dirs.forEach((name, dir) => {
    try {
      const version = (JSON.parse(fs.readFileSync(`${dir}/package.json`, 'utf8')) as {version?: string}).version;
      if (version != null) {
        copies.push({name, version, dir});
      }
    } catch {
      // not a package folder after all
    }
  });
  return copies;
}

/** The facts of this program now. */
export function observeTfjsCopies(): TfjsCopiesFacts {
  return {
    ours: {core: tf.version_core, layers: tfl.version_layers},
    // The engine is a global shared by every tfjs-core copy; it is made by the first one loaded.
    foreignEngine: !(tf.engine().ENV instanceof tf.Environment),
    loaded: loadedCopies(),
  };
}

/**
 * The message for two copies of tfjs, or null when there is one: the engine was made by another
 * tfjs-core than this package's, or node has loaded two copies of tfjs-core or of tfjs-layers.
 */
export function tfjsCopiesProblem(facts: TfjsCopiesFacts = observeTfjsCopies()): string|null {
  const {ours} = facts;
  const copiesOf = (name: LoadedCopy['name']) => facts.loaded.filter(c => c.name === name);
  const twice = copiesOf('@tensorflow/tfjs-core').length > 1 || copiesOf('@tensorflow/tfjs-layers').length > 1;
  if (!facts.foreignEngine && !twice) {
    return null;
  }
  const describe = (c: LoadedCopy) => `${c.name} ${c.version}${c.dir != null ? ` (${c.dir})` : ''}`;
  const loaded = facts.loaded.length > 0 ? `loaded: ${facts.loaded.map(describe).join(', ')}` :
                                           'another copy of @tensorflow/tfjs-core was loaded first';
  const others = facts.loaded.map(c => c.version).filter(v => v !== ours.core && inRange(v));
  const target = others.length > 0 ? others.sort()[others.length - 1] : ours.core;
  return `tfjs-forward-gradient: two copies of TensorFlow.js are loaded (this package uses @tensorflow/tfjs-core ` +
      `${ours.core} and @tensorflow/tfjs-layers ${ours.layers}; ${loaded}). Models, tensors and callbacks of ` +
      `one copy do not work with the other (model.fit fails). Use one version, within ${SUPPORTED_TFJS}: e.g. ` +
      `\`npm install @tensorflow/tfjs@${target}\` (or @tensorflow/tfjs-core and @tensorflow/tfjs-layers at one ` +
      `version); then \`npm ls @tensorflow/tfjs-core\` lists one.`;
}

/** Whether a version is in `SUPPORTED_TFJS`. */
function inRange(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major === 4 && minor >= 20;
}

let warned = false;

/**
 * Prints `tfjsCopiesProblem()` as a warning, once: called when the package is imported and when a
 * forward-gradient optimizer is created (a copy loaded after this package shows by then).
 */
export function warnOnTfjsCopies(): void {
  if (warned) {
    return;
  }
  const problem = tfjsCopiesProblem();
  if (problem != null) {
    warned = true;
    console.warn(problem);
  }
}
