/**
 * Model builders: the paper's LocalMixer with its presets, and its eleven training modes.
 */
export {LOCAL_MIXER_PRESETS, localMixer, LocalMixerArgs, LocalMixerPreset} from './local_mixer';
export {compileLocalMixer, CompileLocalMixerArgs, GlobalObjective, localMixerTargets, modeSpec, pairViews, ModeSpec, setTrainingMode, TRAINING_MODES, TrainingMode, trainingModeOf} from './training_modes';
export {evaluate, EvaluateArgs, EvaluateResult} from './evaluate';
export {LocalMixerModel} from './local_mixer_model';
export {trainReadout, TrainReadoutArgs} from './readout';
