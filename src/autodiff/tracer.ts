/**
 * The tangent tracer: with `tracer_tape.ts`, the only code that touches tfjs engine internals.
 *
 * While a trace is active it wraps two engine methods:
 * - `runKernelFunc` (every registered kernel and every customGrad op passes through it): after a
 *   kernel runs, if an input carries a tangent, the kernel's JVP rule computes the outputs' tangents;
 *   a customGrad op either gets the JVP of its custom gradient (user ops, by default) or runs its
 *   forward inline so that its inner kernels are traced (tfjs's own ops; see `CustomGradMode`);
 * - `disposeTensor`: a tangent dies with its primal;
 * and restores them when the trace ends, in `finally`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NamedAttrMap, NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

import {TracingError, UnsupportedKernelError} from '../errors';
import {fallbackJvpRule, jvpRuleFromVjp, NamedCotangentMap} from './fallback';
import {FUSED_ACTIVATION_KERNELS, getJvpRule, JvpContext, JvpRule, KernelObserver, NamedTangentMap, Tangent} from './registry';

interface KernelInvocation {
  kernelName?: string;
  inputs: NamedTensorMap;
  attrs?: NamedAttrMap;
  /** customGrad ops only: runs the user's `f`, which hands tensors for the backward pass to `save`. */
  forwardFunc?: (backend: unknown, save: (tensors: Tensor[]) => void) => Tensor | Tensor[];
  /** customGrad ops only: the user's `gradFunc`; valid once `forwardFunc` has run. */
  backwardsFunc?: (dy: Tensor, saved: Tensor[]) => NamedCotangentMap;
}

/**
 * How forward mode differentiates a `tf.customGrad` op:
 * - `'vjp'` (the default): by its custom gradient. The tangent is the JVP consistent with the custom
 *   VJP (its transpose), so forward mode agrees with `tf.grad`: a straight-through estimator passes
 *   the tangent through, a gradient-reversal op flips it. The op is opaque: the kernels inside it
 *   are neither traced nor shown to a kernel observer.
 * - `'forward'`: by its forward function (the true derivative), tracing the kernels inside it;
 *   the custom gradient is ignored.
 * tfjs's own customGrad ops (`EXACT_CUSTOM_GRAD_SCOPES`) and those made by `exactCustomGrad` are
 * traced inline in both modes.
 */
export type CustomGradMode = 'vjp'|'forward';

/**
 * Engine scopes of tfjs 4.x ops implemented with `customGrad` whose custom gradient *is* the true
 * gradient (it exists for numerical stability, or because the fused kernels have no registered
 * gradient): `op()` runs each in a scope named `<op>__op`, active when its customGrad op is
 * dispatched. Tracing them inline gives the same tangent as their VJP, much more cheaply (one
 * kernel rule instead of a taped VJP and a backward pass per direction), and lets a kernel observer
 * see the fused kernels' pre-activations (activity perturbation). A user's customGrad op runs in
 * the user's own scope, never in one of these (unless the user names an op scope like a tfjs op).
 * The names survive minification (they are object keys). A tfjs op missing here would still get a
 * correct tangent (from its exact custom gradient), only more slowly and opaque to observers.
 */
export const EXACT_CUSTOM_GRAD_SCOPES: ReadonlySet<string> = new Set([
  'fusedMatMul__op', 'fusedConv2d__op', 'fusedDepthwiseConv2d__op',  // tf.fused.*
  'softmaxCrossEntropy__op', 'logSoftmax__op', 'logSigmoid__op',
]);

/** Op scopes declared exact by `exactCustomGrad` (this package's own closed-form gradients). */
const declaredExactScopes = new Set<string>();

/** Declares the customGrad ops run in op scope `scope` exact: traced inline (see `exactCustomGrad`). */
export function declareExactCustomGradScope(scope: string): void {
  declaredExactScopes.add(scope);
}

function isExactCustomGradScope(scope: string): boolean {
  return EXACT_CUSTOM_GRAD_SCOPES.has(scope) || declaredExactScopes.has(scope);
}

/** The engine members the tracer uses (some are private in tfjs's typings). */
interface EngineInternals {
  runKernelFunc(params: KernelInvocation): Tensor|Tensor[];
  /** tfjs saves a tensor for a backward pass as `keep(clone(t))` (nothing else calls it). */
  clone(t: Tensor): Tensor;
  disposeTensor(t: Tensor): void;
  isTapeOn(): boolean;
  addTapeNode(
      kernelName: string, inputs: NamedTensorMap, outputs: Tensor[],
      gradientsFunc: KernelInvocation['backwardsFunc'], saved: Tensor[], attrs: NamedAttrMap): void;
  tidy<T extends tf.TensorContainer>(fn: () => T): T;
  backend: unknown;
  state: {
    kernelDepth: number;
    gradientDepth: number;
    activeTape: unknown[]|null;
    activeScope: {name: string}|null;
  };
}

/** State of the one active trace. */
export class Trace implements JvpContext {
  readonly tangents = new Map<number, Tensor>();
  /** Sees every traced kernel; may perturb its pre-activation (activity perturbation). */
  observer: KernelObserver|null = null;
  /** Rules are running: their own kernels are not traced. */
  inRule = false;
  /** Depth of `untraced()` sections (stopGradient and similar opaque ops). */
  suspended = 0;
  constructor(readonly batchShape: readonly number[], readonly customGrad: CustomGradMode = 'vjp') {}

  /** Registers `t` as the tangent of `x` (owned by the trace from now on). */
  setTangent(x: Tensor, t: Tensor): void {
    const old = this.tangents.get(x.id);
    if (old != null && old !== t) {
      old.dispose();
    }
    tf.keep(t);
    this.tangents.set(x.id, t);
  }

  getTangent(x: Tensor): Tangent {
    return this.tangents.get(x.id) ?? null;
  }

  disposeAll(): void {
    for (const t of this.tangents.values()) {
      t.dispose();
    }
    this.tangents.clear();
  }
}

let active: Trace|null = null;

/** The active trace, or null when no forward-mode computation is running. */
export function activeTrace(): Trace|null {
  return active;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/**
 * Runs `fn` with forward-mode tracing on; `observer`, if given, sees every traced kernel (it owns
 * nothing it returns: the tracer disposes the perturbation after use); `customGrad` says how
 * customGrad ops are differentiated (see `CustomGradMode`). Tracing cannot be nested. The engine
 * is restored and every tangent still alive is disposed when `fn` returns or throws.
 */
export function runTraced<T>(
    batchShape: readonly number[], fn: (trace: Trace) => T, observer: KernelObserver|null = null,
    customGrad: CustomGradMode = 'vjp'): T {
  if (active != null) {
    throw new TracingError(
        'Forward-mode tracing is already active: jvp / withTangents cannot be nested.');
  }
  const e = engine();
  const origRunKernelFunc = e.runKernelFunc;
  const origDisposeTensor = e.disposeTensor;
  const trace = new Trace([...batchShape], customGrad);
  trace.observer = observer;
  active = trace;
  e.runKernelFunc = function(this: EngineInternals, params: KernelInvocation) {
    return tracedRunKernelFunc(this, origRunKernelFunc, trace, params);
  };
  e.disposeTensor = function(this: EngineInternals, t: Tensor) {
    origDisposeTensor.call(this, t);
    // Variable.assign() passes through disposeTensor and keeps its id: keep a variable's tangent.
    if (!(t instanceof tf.Variable)) {
      const tangent = trace.tangents.get(t.id);
      if (tangent != null) {
        trace.tangents.delete(t.id);
        origDisposeTensor.call(this, tangent);
      }
    }
  };
  try {
    const result = fn(trace);
    if (result != null && typeof (result as unknown as Promise<unknown>).then === 'function') {
      throw new TracingError(
          'The function traced in forward mode returned a Promise: it must be synchronous ' +
          '(like the function passed to tf.tidy).');
    }
    return result;
  } finally {
    e.runKernelFunc = origRunKernelFunc;
    e.disposeTensor = origDisposeTensor;
    active = null;
    trace.disposeAll();
  }
}

/**
 * Runs `fn` with the engine's gradient tape (if one is recording) paused: tangent computations are
 * not recorded, so a backward pass over the same forward pass (exact gradients of some layers)
 * neither keeps their tensors alive nor differentiates through them. A `tf.grad` inside `fn` gets
 * its own tape.
 */
export function withTapePaused<T>(fn: () => T): T {
  const state = engine().state;
  const depth = state.gradientDepth;
  if (depth === 0) {
    return fn();
  }
  const tape = state.activeTape;
  state.gradientDepth = 0;
  try {
    return fn();
  } finally {
    state.gradientDepth = depth;
    state.activeTape = tape;
  }
}

/**
 * Runs `fn`, which runs a backward pass inside the active trace whose own derivatives nobody reads
 * (the exact gradients of some layers, taken on the traced forward pass), so that the copies tfjs
 * saves for it get no tangents: without this, every saved activation keeps a tangent as large as
 * itself alive until the backward pass. Do not use it where the backward pass is differentiated in
 * forward mode (forward-over-reverse): its tangents would miss the saved tensors' part.
 */
export function savingWithoutTangents<T>(fn: () => T): T {
  const e = engine();
  if (active == null || Object.prototype.hasOwnProperty.call(e, 'clone')) {
    return fn();  // no trace, or already inside one of these
  }
  const clone = e.clone;
  e.clone = function(this: EngineInternals, t: Tensor) {
    return untraced(() => clone.call(this, t));
  };
  try {
    return fn();
  } finally {
    delete (e as unknown as {clone?: unknown}).clone;  // back to the prototype's
  }
}

/** Runs `fn` with the active trace (if any) suspended: nothing computed in it gets a tangent. */
export function untraced<T>(fn: () => T): T {
  const trace = active;
  if (trace == null) {
    return fn();
  }
  trace.suspended++;
  try {
    return withTapePaused(fn);
  } finally {
    trace.suspended--;
  }
}

function tracedRunKernelFunc(
    e: EngineInternals, orig: EngineInternals['runKernelFunc'], trace: Trace,
    params: KernelInvocation): Tensor|Tensor[] {
  if (trace.inRule || trace.suspended > 0) {
    return orig.call(e, params);
  }
  if (params.kernelName == null) {
    const scope = e.state.activeScope?.name ?? '';
    if (trace.customGrad === 'vjp' && !isExactCustomGradScope(scope) &&
        params.forwardFunc != null && params.backwardsFunc != null) {
      return runCustomGradByVjp(e, trace, params, scope);
    }
    // Traced inline. With no tape recording, the op's gradFunc is never used: run its forward here
    // so that the kernels inside it are traced (and the engine's IS_TEST leak check does not see
    // tangents allocated inside it).
    if (e.isTapeOn() || params.forwardFunc == null) {
      return orig.call(e, params);
    }
    const forward = params.forwardFunc;
    return e.tidy(() => forward(e.backend, () => {}));
  }
  const out = orig.call(e, params);
  propagate(e, trace, params.kernelName, params.inputs, params.attrs ?? {}, out);
  return out;
}

/**
 * Runs a customGrad op as one opaque op whose derivative is its custom gradient: its forward runs
 * untraced (as the engine runs it: kernels inside are not taped, a recording tape gets one node
 * with the custom gradient), then the output's tangent is the JVP derived from the custom VJP
 * (`jvpRuleFromVjp`, the transpose trick), computed from the tensors the forward saved.
 */
function runCustomGradByVjp(
    e: EngineInternals, trace: Trace, params: KernelInvocation, scope: string): Tensor {
  const {inputs} = params;
  const forward = params.forwardFunc!, backwards = params.backwardsFunc!;
  const tangents: NamedTangentMap = {};
  let anyTangent = false;
  for (const name in inputs) {
    const t = trace.getTangent(inputs[name]);
    tangents[name] = t;
    anyTangent = anyTangent || t != null;
  }
  const tapeOn = e.isTapeOn();
  let saved: Tensor[] = [];
  const save = (tensors: Tensor[]) => {
    if (tapeOn || anyTangent) {
      tf.dispose(saved);  // only the last call counts, as in the engine
      saved = tensors.map(t => tf.keep(t.clone()));
    }
  };
  let out: Tensor;
  trace.suspended++;
  e.state.kernelDepth++;
  try {
    out = e.tidy(() => forward(e.backend, save)) as Tensor;
  } catch (err) {
    tf.dispose(saved);
    throw err;
  } finally {
    e.state.kernelDepth--;
    trace.suspended--;
  }
  if (tapeOn) {
    e.addTapeNode(scope, inputs, [out], backwards, saved, {});  // the tape owns `saved` now
  }
  try {
    if (anyTangent && isFloat(out)) {
      const rule = jvpRuleFromVjp(dy => backwards(dy, saved));
      let result: Tangent[];
      try {
        result = runRule(trace, rule, inputs, tangents, {}, [out], trace);
      } catch (err) {
        const wrapped = new Error(
            `The JVP of a customGrad op${scope ? ` (in scope '${scope}')` : ''}, derived from its ` +
            `gradFunc, failed: ${(err as Error).message} (Pass {customGrad: 'forward'} to jvp / ` +
            `withTangents to differentiate its forward function instead.)`);
        (wrapped as Error & {cause?: unknown}).cause = err;
        throw wrapped;
      }
      storeTangents(trace, inputs, [out], result);
    }
  } finally {
    if (!tapeOn) {
      tf.dispose(saved);
    }
  }
  return out;
}

function propagate(
    e: EngineInternals, trace: Trace, kernelName: string, inputs: NamedTensorMap,
    attrs: NamedAttrMap, out: Tensor|Tensor[]): void {
  const tangents: NamedTangentMap = {};
  let anyTangent = false;
  for (const name in inputs) {
    const x = inputs[name];
    const t = x == null ? null : trace.getTangent(x);
    tangents[name] = t;
    anyTangent = anyTangent || t != null;
  }
  const outputs = Array.isArray(out) ? out : [out];
  let perturbation: Tensor|null = null;
  if (trace.observer != null && outputs.some(isFloat)) {
    trace.inRule = true;  // what the observer computes is not traced
    try {
      perturbation = withTapePaused(() => trace.observer!({kernelName, inputs, attrs, outputs}, trace));
    } finally {
      trace.inRule = false;
    }
  }
  if ((!anyTangent && perturbation == null) || !outputs.some(isFloat)) {
    return;  // nothing to propagate; integer and boolean outputs have no tangent
  }
  const scope = e.state.activeScope?.name ?? '';
  try {
    let result: Tangent[];
    const rule = (): JvpRule => getJvpRule(kernelName) ?? fallbackJvpRule(kernelName, scope);
    if (perturbation == null || FUSED_ACTIVATION_KERNELS.has(kernelName)) {
      // Fused kernels add the perturbation to their pre-activation themselves.
      const ctx: JvpContext = {batchShape: trace.batchShape, preActivationTangent: perturbation};
      result = runRule(trace, rule(), inputs, tangents, attrs, outputs, ctx);
    } else {
      // The output is the pre-activation: the perturbation adds to its tangent.
      result = anyTangent ? runRule(trace, rule(), inputs, tangents, attrs, outputs, trace) :
                            outputs.map(() => null);
      const first = result[0];
      result[0] = withTapePaused(() => first == null ? perturbation!.clone() : tf.tidy(() => tf.add(first, perturbation!)));
      first?.dispose();
    }
    storeTangents(trace, inputs, outputs, result);
  } catch (err) {
    if (err instanceof UnsupportedKernelError || err instanceof TracingError) {
      throw err;
    }
    const wrapped = new Error(
        `JVP rule of kernel '${kernelName}'${scope ? ` (in scope '${scope}')` : ''} failed: ` +
        `${(err as Error).message}`);
    (wrapped as Error & {cause?: unknown}).cause = err;
    throw wrapped;
  } finally {
    perturbation?.dispose();
  }
}

/** Runs a JVP rule untraced and untaped: one fresh tangent per output. */
function runRule(
    trace: Trace, rule: JvpRule, inputs: NamedTensorMap, tangents: NamedTangentMap,
    attrs: NamedAttrMap, outputs: Tensor[], ctx: JvpContext): Tangent[] {
  const inputTangents = new Set(Object.values(tangents).filter((t): t is Tensor => t != null));
  if (ctx.preActivationTangent != null) {
    inputTangents.add(ctx.preActivationTangent);
  }
  trace.inRule = true;
  try {
    return withTapePaused(() => tf.tidy(((): Tangent[] => {
      const r = rule(inputs, tangents, attrs, outputs, ctx);
      const list = Array.isArray(r) ? r : [r];
      if (list.length !== outputs.length) {
        throw new Error(`the rule returned ${list.length} tangents for ${outputs.length} outputs.`);
      }
      // Tangents never alias: a rule that passes an input's tangent through gets a copy.
      return list.map(t => t != null && inputTangents.has(t) ? t.clone() : t);
    }) as unknown as () => tf.TensorContainer) as unknown as Tangent[]);
  } finally {
    trace.inRule = false;
  }
}

/** Checks the rule's tangents and hands them to the trace (it owns them from now on). */
function storeTangents(
    trace: Trace, inputs: NamedTensorMap, outputs: Tensor[], result: Tangent[]): void {
  const inputSet = new Set<Tensor|null>(Object.values(inputs));
  let error: Error|null = null;
  outputs.forEach((y, i) => {
    const t = result[i];
    if (t == null) {
      return;
    }
    const expected = [...trace.batchShape, ...y.shape];
    if (error != null || !isFloat(y) || inputSet.has(y)) {
      t.dispose();  // no tangent for integer outputs; an output that is an input keeps its own
    } else if (!tf.util.arraysEqual(t.shape, expected)) {
      t.dispose();
      error = new Error(
          `the rule returned a tangent of shape [${t.shape}] for output ${i} of shape ` +
          `[${y.shape}]; expected [${expected}].`);
    } else {
      trace.setTangent(y, t.dtype === 'float32' ? t : untraced(() => castAndDispose(t)));
    }
  });
  if (error != null) {
    throw error;
  }
}

function castAndDispose(t: Tensor): Tensor {
  const c = tf.cast(t, 'float32');
  t.dispose();
  return c;
}

function isFloat(t: Tensor): boolean {
  return t.dtype === 'float32';
}
