/**
 * Data sets for the paper's experiments, browser-safe parts: IDX (MNIST, Fashion-MNIST) and CIFAR-10
 * binary parsers, per-data-set normalisation, seeded batching and BYOL-style augmentation. Loading
 * from disk is node-only and lives in `./files` (`loadDataset`), which this index does not export.
 */
export * from './augment';
export * from './batches';
export * from './cifar10';
export * from './color';
export * from './idx';
export * from './normalize';
export {Seed} from './random';
export * from './split';
