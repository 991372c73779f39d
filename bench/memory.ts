/**
 * Peak memory of a step as a backend holds it (no node-only imports: the specs use it in browsers
 * too).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Peak bytes of the data buffers alive while `fn` runs, above those alive before it. A buffer is
 * counted once, however many tensors share it: `tf.profile`'s peakBytes counts a clone or a reshape
 * again (tfjs's backward pass saves its tensors as clones), which is not memory a backend holds.
 */
export async function peakBufferBytes(fn: () => Promise<unknown>|unknown): Promise<number> {
  const e = tf.engine() as unknown as {
    trackTensor(t: tf.Tensor, backend: unknown): void;
    disposeTensor(t: tf.Tensor): void;
    state: {tensorInfo: {has(dataId: object): boolean}};
  };
  const live = new Map<object, number>();
  let bytes = 0, peak = 0;
  const track = e.trackTensor, dispose = e.disposeTensor;
  const own = (k: string) => Object.prototype.hasOwnProperty.call(e, k);
  const [ownTrack, ownDispose] = [own('trackTensor'), own('disposeTensor')];
  e.trackTensor = function(this: typeof e, t: tf.Tensor, backend: unknown) {
    const isNew = !this.state.tensorInfo.has(t.dataId);
    track.call(this, t, backend);
    if (isNew && t.dtype !== 'string' && t.dtype !== 'complex64') {
      const b = t.size * (t.dtype === 'bool' ? 1 : 4);
      live.set(t.dataId, b);
      bytes += b;
      peak = Math.max(peak, bytes);
    }
  };
  e.disposeTensor = function(this: typeof e, t: tf.Tensor) {
    dispose.call(this, t);
    const b = live.get(t.dataId);
    if (b != null && !this.state.tensorInfo.has(t.dataId)) {
      live.delete(t.dataId);
      bytes -= b;
    }
  };
  try {
    await fn();
  } finally {
    if (ownTrack) {
      e.trackTensor = track;
    } else {
      delete (e as {trackTensor?: unknown}).trackTensor;
    }
    if (ownDispose) {
      e.disposeTensor = dispose;
    } else {
      delete (e as {disposeTensor?: unknown}).disposeTensor;
    }
  }
  return peak;
}
