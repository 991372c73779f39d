/**
 * Test helpers for steps on non-finite data: where a NaN or an infinity is put (an input, a label, a
 * sample weight) and bit-exact comparisons of weights and optimizer state.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The float32 bits of every value (so that NaN, −0 and +0 are told apart). */
export function bits(values: number[][]): number[][] {
  return values.map(v => Array.from(new Uint32Array(Float32Array.from(v).buffer)));
}

/** Where a non-finite value is put: an input, a label, a sample weight (classWeight). */
export type BadPlace = 'input'|'label'|'sampleWeight';
/** The places and values every non-finite data spec runs through. */
export const BAD_DATA: Array<[BadPlace, number]> = (['input', 'label', 'sampleWeight'] as BadPlace[])
    .flatMap(place => [NaN, Infinity, -Infinity].map((v): [BadPlace, number] => [place, v]));

/**
 * `x` and `y` with `value` at the first element of the input or of the labels, or fit args whose
 * class weights give the examples of the first example's class the sample weight `value` (on each
 * of the model's `outputs`).
 */
export function badData(x: tf.Tensor, y: tf.Tensor, place: BadPlace, value: number, outputs = 1):
    {x: tf.Tensor, y: tf.Tensor, args: tfl.ModelFitArgs} {
  const poke = (t: tf.Tensor) => tf.tidy(() => {
    const flat = Array.from(t.dataSync());
    flat[0] = value;
    return tf.tensor(flat, t.shape, 'float32');  // (one-hot labels may be int32: NaN would become 0)
  });
  if (place === 'sampleWeight') {
    const firstClass = tf.tidy(() => tf.argMax(tf.slice(y, [0, 0], [1, -1]), -1).dataSync()[0]);
    const classes = y.shape[y.rank - 1];
    const classWeight: {[c: number]: number} = {};
    for (let c = 0; c < classes; c++) {
      classWeight[c] = c === firstClass ? value : 1;
    }
    return {x: x.clone(), y: y.clone(), args: {classWeight: outputs === 1 ? classWeight : new Array(outputs).fill(classWeight)}};
  }
  return place === 'input' ? {x: poke(x), y: y.clone(), args: {}} : {x: x.clone(), y: poke(y), args: {}};
}


/** The state of an optimizer (a ForwardGradientOptimizer's inner one), read back: every weight it
 *  saves after the iteration count, and its scalar variables (Adam's β powers). */
export async function optimizerState(o: tf.Optimizer): Promise<number[][]> {
  const slots = (await o.getWeights()).slice(1).map(w => Array.from(w.tensor.dataSync()));
  const direct = Object.values(o as unknown as {[k: string]: unknown})
      .filter((v): v is tf.Variable => v instanceof tf.Variable).map(v => Array.from(v.dataSync()));
  return [...slots, ...direct];
}
