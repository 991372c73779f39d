/**
 * TensorBoard event files (`tfjs-fg train --tensorboard`): read back with a decoder written here from
 * the formats' definitions, independent of the writer's packages: TFRecord framing (little-endian
 * uint64 length, masked CRC-32C of it, data, masked CRC-32C of the data) checked with a table CRC-32C
 * (Castagnoli), and the Event / Summary protobuf wire format decoded field by field (event.proto:
 * wall_time = 1 double, step = 2 int64, file_version = 3 string, summary = 5; summary.proto:
 * value = 1, Value.tag = 1 string, Value.simple_value = 2 float).
 */
/// <reference types="node" />
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {EventFileWriter, maskedCrc32c} from '../../../src/cli/tensorboard';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32cRef(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function maskRef(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** The records of a TFRecord file, after checking both CRCs of each. */
function readRecords(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < bytes.length) {
    const len = view.getUint32(o, true) + view.getUint32(o + 4, true) * 2 ** 32;
    expect(view.getUint32(o + 8, true)).withContext(`length CRC at ${o}`).toBe(maskRef(crc32cRef(bytes.subarray(o, o + 8))));
    const data = bytes.subarray(o + 12, o + 12 + len);
    expect(view.getUint32(o + 12 + len, true)).withContext(`data CRC at ${o}`).toBe(maskRef(crc32cRef(data)));
    out.push(data);
    o += 16 + len;
  }
  expect(o).toBe(bytes.length);
  return out;
}

type Field = {num: number, wire: number, value: Uint8Array|number};

function fields(buf: Uint8Array): Field[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Field[] = [];
  let o = 0;
  const varint = () => {
    let v = 0, scale = 1;  // (the values here stay far below 2^53)
    for (;;) {
      const b = buf[o++];
      v += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (o < buf.length) {
    const key = Number(varint());
    const num = key >> 3, wire = key & 7;
    if (wire === 0) {
      out.push({num, wire, value: varint()});
    } else if (wire === 1) {
      out.push({num, wire, value: view.getFloat64(o, true)});
      o += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      out.push({num, wire, value: buf.subarray(o, o + len)});
      o += len;
    } else if (wire === 5) {
      out.push({num, wire, value: view.getFloat32(o, true)});
      o += 4;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return out;
}

interface DecodedEvent {wallTime?: number; step?: number; fileVersion?: string; scalars: {[tag: string]: number}}

function decodeEvent(buf: Uint8Array): DecodedEvent {
  const e: DecodedEvent = {scalars: {}};
  const text = (b: unknown) => new TextDecoder().decode(b as Uint8Array);
  for (const f of fields(buf)) {
    if (f.num === 1 && f.wire === 1) e.wallTime = f.value as number;
    else if (f.num === 2 && f.wire === 0) e.step = f.value as number;
    else if (f.num === 3 && f.wire === 2) e.fileVersion = text(f.value);
    else if (f.num === 5 && f.wire === 2) {
      for (const v of fields(f.value as Uint8Array).filter(g => g.num === 1 && g.wire === 2)) {
        const vf = fields(v.value as Uint8Array);
        const tag = text(vf.find(g => g.num === 1 && g.wire === 2)!.value);
        e.scalars[tag] = vf.find(g => g.num === 2 && g.wire === 5)!.value as number;
      }
    } else {
      throw new Error(`unexpected field ${f.num} (wire ${f.wire}) in Event`);
    }
  }
  return e;
}

describe('cli (node): TensorBoard event files', () => {
  let dir: string;
  beforeEach(() => dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-tb-')));
  afterEach(() => fs.rmSync(dir, {recursive: true, force: true}));

  it('the reference CRC-32C has the standard check value; the writer\'s masked CRC equals it', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32cRef(check)).toBe(0xe3069283);
    for (const data of [check, new Uint8Array(0), new Uint8Array(1000).map((_, i) => (i * 31) & 0xff)]) {
      expect(maskedCrc32c(data)).toBe(maskRef(crc32cRef(data)));
    }
  });

  it('writes the file-version event, then one event per call with every scalar, framed and encoded as TensorBoard reads them', () => {
    const before = Date.now() / 1000;
    const w = new EventFileWriter(path.join(dir, 'tb'));
    w.scalars(100, {'train/loss': 0.5, 'test/error': 12.25});
    w.scalars(200, {'train/loss': 0.25, 'nan': NaN});
    expect(path.basename(w.file)).toMatch(/^events\.out\.tfevents\.\d+\./);
    const events = readRecords(new Uint8Array(fs.readFileSync(w.file))).map(decodeEvent);
    expect(events.length).toBe(3);
    expect(events[0].fileVersion).toBe('brain.Event:2');
    expect(events[1].step).toBe(100);
    expect(events[1].scalars).toEqual({'train/loss': 0.5, 'test/error': 12.25});
    expect(events[2].step).toBe(200);
    expect(events[2].scalars['train/loss']).toBe(0.25);
    expect(Number.isNaN(events[2].scalars['nan'])).toBe(true);
    for (const e of events) {
      expect(e.wallTime!).toBeGreaterThanOrEqual(before - 1);
      expect(e.wallTime!).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    }
  });
});
