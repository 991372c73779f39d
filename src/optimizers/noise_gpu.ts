/**
 * Perturbation noise generated on the GPU under the webgpu and webgl (WebGL 2) backends. tfjs's
 * random ops draw their numbers in JavaScript and upload them; for forward gradients (a noise value
 * per weight, or per unit and example, every step) that dominates a GPU step. Here a counter-based
 * generator runs in one shader: entry i is a function of (seed, i) only (PCG hash; Box–Muller for
 * gaussians), so it is reproducible, needs no state, and gives the same stream on both backends (up
 * to the float rounding of log / cos / sqrt on each GPU).
 * The backend packages are not imported: the program is handed to the active backend
 * (`runWebGPUProgram`, `compileAndRun`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {Tensor} from '@tensorflow/tfjs-core';

import {NoiseKind} from './noise';

/** The part of tfjs-backend-webgpu's backend this file uses. */
interface WebGPUBackendLike {
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], outputDtype: tf.DataType,
                   programUniform?: Array<{type: string, data: number[]}>): tf.TensorInfo;
}

/** The part of tfjs-backend-webgl's backend this file uses. */
interface WebGLBackendLike {
  compileAndRun(program: object, inputs: tf.TensorInfo[], outputDtype?: tf.DataType,
                customUniformValues?: number[][]): tf.TensorInfo;
}

const WORKGROUP = 64;
const MAX_WORKGROUPS_PER_DIM = 65535;

/** The GLSL (WebGL 2) program body: `setOutput(noise(seed, i))` for output i. */
function glslCode(kind: NoiseKind): string {
  const value = kind === 'gaussian' ?
      `float u1 = (float(a >> 8u) + 0.5) / 16777216.0;
       float u2 = float(b >> 8u) / 16777216.0;
       float value = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);` :
      `float value = (a & 1u) == 1u ? 1.0 : -1.0;`;
  return `
    uint fgPcg(uint v) {
      uint state = v * 747796405u + 2891336453u;
      uint word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
      return (word >> 22u) ^ word;
    }
    void main() {
      uint key = fgPcg(uint(seed));
      uint i = uint(getOutputCoords());
      uint a = fgPcg(key ^ fgPcg(2u * i));
      uint b = fgPcg(key ^ fgPcg(2u * i + 1u));
      ${value}
      setOutput(value);
    }`;
}

/** The WGSL body: `setOutputAtIndex(i, noise(seed, i))`. */
function wgslCode(kind: NoiseKind): string {
  const value = kind === 'gaussian' ?
      `let u1 = (f32(a >> 8u) + 0.5) / 16777216.0;
       let u2 = f32(b >> 8u) / 16777216.0;
       let value = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);` :
      `let value = select(-1.0, 1.0, (a & 1u) == 1u);`;
  return `
    fn fgPcg(v : u32) -> u32 {
      let state = v * 747796405u + 2891336453u;
      let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
      return (word >> 22u) ^ word;
    }
    fn main(index : i32) {
      if (index < uniforms.size) {
        let key = fgPcg(bitcast<u32>(uniforms.seed));
        let i = u32(index);
        let a = fgPcg(key ^ fgPcg(2u * i));
        let b = fgPcg(key ^ fgPcg(2u * i + 1u));
        ${value}
        setOutputAtIndex(index, value);
      }
    }`;
}

/** True when the active backend can run the GPU noise kernel. */
export function gpuNoiseAvailable(): boolean {
  const name = tf.getBackend();
  if (name === 'webgpu') {
    return typeof (tf.backend() as unknown as Partial<WebGPUBackendLike>).runWebGPUProgram === 'function';
  }
  if (name === 'webgl') {
    // Unsigned integers in shaders need WebGL 2.
    return tf.env().getNumber('WEBGL_VERSION') === 2 &&
        typeof (tf.backend() as unknown as Partial<WebGLBackendLike>).compileAndRun === 'function';
  }
  return false;
}

/**
 * i.i.d. noise of `shape` (gaussian N(0, 1) or rademacher ±1) drawn on the GPU from a 32-bit seed
 * (the same stream under webgpu and webgl, up to float rounding).
 * Call only when `gpuNoiseAvailable()`.
 */
export function gpuNoise(shape: number[], kind: NoiseKind, seed: number): Tensor {
  const size = tf.util.sizeFromShape(shape);
  if (tf.getBackend() === 'webgl') {
    // One flat output (getOutputCoords() is then the index), reshaped to `shape`.
    const program = {
      variableNames: [] as string[],
      outputShape: [size],
      customUniforms: [{name: 'seed', type: 'int'}],
      userCode: glslCode(kind),
    };
    const backend = tf.backend() as unknown as WebGLBackendLike;
    const info = backend.compileAndRun(program, [], 'float32', [[seed | 0]]);
    return tf.tidy(() => tf.reshape(tf.engine().makeTensorFromTensorInfo(info), shape));
  }
  const groups = Math.max(1, Math.ceil(size / WORKGROUP));
  const dispatch = groups <= MAX_WORKGROUPS_PER_DIM ? [groups, 1, 1] :
      [MAX_WORKGROUPS_PER_DIM, Math.ceil(groups / MAX_WORKGROUPS_PER_DIM), 1];
  const program = {
    variableNames: [] as string[],
    outputShape: shape,
    shaderKey: `fgNoise_${kind}`,
    dispatchLayout: {x: shape.map((_, i) => i)},
    dispatch,
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    uniforms: 'seed : i32,',
    getUserCode: () => wgslCode(kind),
  };
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  // The seed's 32 bits as an int32 uniform (the shader reinterprets them as u32).
  const info = backend.runWebGPUProgram(program, [], 'float32', [{type: 'int32', data: [seed | 0]}]);
  return tf.engine().makeTensorFromTensorInfo(info);
}
