/// <reference types="node" />
/**
 * TensorBoard event files from `tfjs-fg train --tensorboard DIR` (node): scalars only, so runs can
 * be compared in TensorBoard next to `log.jsonl`. No maintained npm TensorBoard writer exists, so
 * the two pieces are built here on maintained packages: the `Event` / `Summary` messages of
 * TensorFlow's event.proto and summary.proto (the scalar fields only, same field numbers) as a
 * protobufjs reflection definition, and TFRecord framing (record = uint64 length, masked CRC-32C of
 * the length, data, masked CRC-32C of the data; little endian) with @aws-crypto/crc32c.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as protobuf from 'protobufjs/light';

/**
 * The subset of tensorflow/core/util/event.proto and framework/summary.proto that scalars use:
 * Event {wall_time = 1, step = 2, oneof what {file_version = 3, summary = 5}},
 * Summary {repeated Value value = 1}, Value {tag = 1, simple_value = 2}.
 */
const SCHEMA = {
  nested: {
    tensorboard: {
      nested: {
        Event: {
          oneofs: {what: {oneof: ['fileVersion', 'summary']}},
          fields: {
            wallTime: {type: 'double', id: 1},
            step: {type: 'int64', id: 2},
            fileVersion: {type: 'string', id: 3},
            summary: {type: 'Summary', id: 5},
          },
        },
        Summary: {
          fields: {value: {rule: 'repeated', type: 'Value', id: 1}},
          nested: {
            Value: {
              fields: {
                tag: {type: 'string', id: 1},
                simpleValue: {type: 'float', id: 2},
              },
            },
          },
        },
      },
    },
  },
};

// protobufjs and @aws-crypto/crc32c are optional dependencies (only --tensorboard needs them):
// required on first use, so the CLI runs without them otherwise.
let eventType: protobuf.Type|null = null;
let crc32c: ((data: Uint8Array) => number)|null = null;

/** The `Event` message type (also the tests' decoder). */
export function eventMessageType(): protobuf.Type {
  if (eventType == null) {
    // tslint:disable-next-line:no-require-imports
    const pb = require('protobufjs/light') as typeof protobuf;
    eventType = pb.Root.fromJSON(SCHEMA).lookupType('tensorboard.Event');
  }
  return eventType;
}

/** TFRecord's CRC mask: rotate right by 15 bits and add a constant (mod 2^32). */
export function maskedCrc32c(data: Uint8Array): number {
  // tslint:disable-next-line:no-require-imports
  crc32c ??= (require('@aws-crypto/crc32c') as {crc32c: (data: Uint8Array) => number}).crc32c;
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length >>> 0, true);  // uint64 little endian: low word, then high word
  view.setUint32(4, Math.floor(data.length / 2 ** 32), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** Writes scalar summaries to a new TensorBoard event file in a folder. */
export class EventFileWriter {
  /** The event file (`events.out.tfevents.<seconds>.<host>`). */
  readonly file: string;

  /** Creates `dir` if needed and a new event file in it, starting with the file-version event. */
  constructor(dir: string) {
    fs.mkdirSync(dir, {recursive: true});
    const seconds = Math.floor(Date.now() / 1000);
    this.file = path.join(dir, `events.out.tfevents.${seconds}.${os.hostname()}.${process.pid}`);
    fs.writeFileSync(this.file, this.record({wallTime: Date.now() / 1000, step: 0, fileVersion: 'brain.Event:2'}));
  }

  private record(event: {[key: string]: unknown}): Uint8Array {
    const type = eventMessageType();
    return tfRecord(type.encode(type.fromObject(event)).finish());
  }

  /** Appends one event at `step` holding a scalar per entry of `scalars` (tag → value; NaN kept). */
  scalars(step: number, scalars: {[tag: string]: number}): void {
    const value = Object.entries(scalars).map(([tag, simpleValue]) => ({tag, simpleValue}));
    fs.appendFileSync(this.file, this.record({wallTime: Date.now() / 1000, step, summary: {value}}));
  }
}

/** The scalars of one epoch of `log.jsonl` (an `EpochRecord`), by TensorBoard tag. */
export function epochScalars(r: {loss: number, totalLoss: number, runningTrainAccuracy: number, trainError: number,
                                 trainLoss: number, testError: number, testLoss: number, lr: number,
                                 skippedSteps: number, seconds: number}): {[tag: string]: number} {
  return {
    'train/loss': r.loss, 'train/total_loss': r.totalLoss, 'train/running_accuracy': r.runningTrainAccuracy,
    'train/error': r.trainError, 'train/eval_loss': r.trainLoss, 'test/error': r.testError, 'test/loss': r.testLoss,
    'optimizer/lr': r.lr, 'optimizer/skipped_steps': r.skippedSteps, 'time/epoch_seconds': r.seconds,
  };
}
