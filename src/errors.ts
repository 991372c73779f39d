/**
 * Error types of tfjs-forward-gradient. Each sets its prototype explicitly so that `instanceof` works
 * after down-levelling (the tfjs-layers convention).
 */

/** A value passed to a public function is invalid: wrong shape, dtype, range or combination. */
export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
    Object.setPrototypeOf(this, ValueError.prototype);
  }
}

/**
 * A kernel reached by a traced computation has no JVP rule and none can be derived from its gradient.
 * `kernelName` names the tfjs kernel; `scope` is the engine scope it ran in (often the op or layer).
 */
export class UnsupportedKernelError extends Error {
  constructor(readonly kernelName: string, readonly scope: string, detail: string) {
    super(
        `No JVP rule for kernel '${kernelName}'${scope ? ` (in scope '${scope}')` : ''}: ${detail} ` +
        `Register one with registerJvpRule('${kernelName}', rule), ` +
        `or run this part of the computation under stopGradient().`);
    this.name = 'UnsupportedKernelError';
    Object.setPrototypeOf(this, UnsupportedKernelError.prototype);
  }
}

/** Forward-mode tracing was used in a way it does not support (nesting, async functions, no trace). */
export class TracingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TracingError';
    Object.setPrototypeOf(this, TracingError.prototype);
  }
}
