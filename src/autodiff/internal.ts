/**
 * The tracer internals that other parts of the package need, in one entry (the rest of the
 * package imports nothing else from `tracer.ts` or `tracer_tape.ts`; users import `autodiff/index`):
 * - `untraced`: computes a value that must carry no tangent (copies kept for a later VJP);
 * - `withTapePaused`: runs a layer that needs no backward pass without recording on the tape;
 * - `clearingTapeOnThrow`: a backward pass whose forward pass throws leaves no traced state behind;
 * - `recordingOnlyFrom`: a backward pass restricted to some variables records only their paths.
 */
export {savingWithoutTangents, untraced, withTapePaused} from './tracer';
export {clearingTapeOnThrow} from './tracer_tape';
export {recordingOnlyFrom} from './tape_filter';
