/**
 * Data sets for the paper's experiments, browser-safe parts: IDX (MNIST, Fashion-MNIST) and CIFAR-10
 * binary parsers, per-data-set normalisation, seeded batching and BYOL-style augmentation. Loading
 * from disk is node-only and lives in `./files` (`loadDataset`), which this index does not export.
 */
export {byolViews, ByolViewsOptions, colorJitter, ColorJitterOptions, gaussianBlur, GaussianBlurOptions, randomFlip, RandomFlipOptions, randomGrayscale, RandomGrayscaleOptions, randomResizedCrop, RandomResizedCropOptions, solarize, SolarizeOptions} from './augment';
export {batchCount, batchesOf, BatchOptions, FitDataset, fitDatasetOf, FitDatasetOptions, shuffledIndices} from './batches';
export {CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, parseCifar10Batch} from './cifar10';
export {adjustBrightness, adjustContrast, adjustHue, adjustSaturation, hsvToRgb, rgbToHsv, toGrayscale} from './color';
export {parseIdx, parseMnist} from './idx';
export {DATASET_NORMALIZATION, Normalization, normalizationOf, normalizeImages, toTensors, ToTensorsOptions, XsYs} from './normalize';
export {Seed} from './random';
export {concatSplits, DatasetName, gatherSplit, ImageSplit, sliceSplit} from './split';
