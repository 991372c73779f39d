/**
 * Detects two copies of TensorFlow.js in one program: e.g. a project on `@tensorflow/tfjs@4.19`
 * gets a nested tfjs-core / tfjs-layers inside this package from npm (the peer range is not met),
 * and `model.fit` then fails with an obscure TypeError, because models, tensors and callbacks of one
 * copy are not those of the other. Checked once when the package is imported; a problem is printed
 * as one warning that names both versions and the command that fixes it.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The peer range this package is tested with (package.json `peerDependencies`). */
export const SUPPORTED_TFJS = '>=4.20.0 <5';

/** What `tfjsCopies` observed. */
export interface TfjsCopiesFacts {
  /** This package's tfjs-core and tfjs-layers versions. */
  ours: {core: string, layers: string};
  /** Whether the global tfjs engine was created by another copy of tfjs-core than this package's. */
  foreignEngine: boolean;
  /** The project's tfjs-core / tfjs-layers versions (node: resolved from the working folder), if known. */
  project: {core: string|null, layers: string|null};
}

/** The versions the project at `process.cwd()` resolves (node only; nulls elsewhere). */
function projectVersions(): {core: string|null, layers: string|null} {
  const proc = (globalThis as unknown as {process?: {cwd?: () => string, getBuiltinModule?: (id: string) => unknown}}).process;
  const mod = proc?.getBuiltinModule?.('module') as {createRequire?: (from: string) => (id: string) => unknown}|undefined;
  if (mod?.createRequire == null || proc?.cwd == null) {
    return {core: null, layers: null};
  }
  const req = mod.createRequire(`${proc.cwd()}/`);
  const version = (name: string) => {
    try {
      return (req(`${name}/package.json`) as {version?: string}).version ?? null;
    } catch {
      return null;
    }
  };
  return {core: version('@tensorflow/tfjs-core'), layers: version('@tensorflow/tfjs-layers')};
}

/** The facts of this program. */
export function observeTfjsCopies(): TfjsCopiesFacts {
  return {
    ours: {core: tf.version_core, layers: tfl.version_layers},
    // The engine is a global shared by every tfjs-core copy; it is made by the first one loaded.
    foreignEngine: !(tf.engine().ENV instanceof tf.Environment),
    project: projectVersions(),
  };
}

/**
 * The message for two copies of tfjs, or null when there is one: the engine was made by another
 * tfjs-core, or the project's tfjs-core / tfjs-layers versions differ from this package's.
 */
export function tfjsCopiesProblem(facts: TfjsCopiesFacts = observeTfjsCopies()): string|null {
  const {ours, project} = facts;
  const differs = (project.core != null && project.core !== ours.core) ||
      (project.layers != null && project.layers !== ours.layers);
  if (!facts.foreignEngine && !differs) {
    return null;
  }
  const theirs = project.core != null ?
      `your project has @tensorflow/tfjs-core ${project.core}${project.layers != null ? ` and @tensorflow/tfjs-layers ${project.layers}` : ''}` :
      'another copy of @tensorflow/tfjs-core was loaded first';
  const target = project.core ?? ours.core;
  return `tfjs-forward-gradient: two copies of TensorFlow.js are loaded: this package uses @tensorflow/tfjs-core ` +
      `${ours.core} and @tensorflow/tfjs-layers ${ours.layers}, ${theirs}. Models, tensors and callbacks of one ` +
      `copy do not work with the other (model.fit fails). Use one version, within ${SUPPORTED_TFJS}: e.g. ` +
      `\`npm install @tensorflow/tfjs@${inRange(target) ? target : ours.core}\` (or @tensorflow/tfjs-core and ` +
      `@tensorflow/tfjs-layers at one version), then \`npm ls @tensorflow/tfjs-core\` should list one.`;
}

/** Whether a version is in `SUPPORTED_TFJS`. */
function inRange(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major === 4 && minor >= 20;
}

let checked = false;

/** Prints `tfjsCopiesProblem()` once as a warning (called when the package is imported). */
export function warnOnTfjsCopies(): void {
  if (checked) {
    return;
  }
  checked = true;
  const problem = tfjsCopiesProblem();
  if (problem != null) {
    console.warn(problem);
  }
}
