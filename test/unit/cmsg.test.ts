// Control-message parsing, with the reference's cases: the wanted message
// first, last, absent, and a malformed header.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cmsgLen, cmsgSpace, findControlData, MIN_CONTROL_MESSAGE_SIZE, NATIVE_LAYOUT,
  readGroSegmentSize, readRxqOverflows, writeControl, writeUdpSegment,
} from '../../src/wire/cmsg';
import { ControlMessageError } from '../../src/errors';
import { abi } from '../../src/kernel/native';

const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, le);
  return b;
}

function control(level: number, type: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(cmsgSpace(data.length));
  writeControl(new DataView(b.buffer), 0, level, type, data);
  return b;
}

const gro = (size: number) => control(abi.SOL_UDP, abi.UDP_GRO, int32(size));
const rxq = (count: number) => control(abi.SOL_SOCKET, abi.SO_RXQ_OVFL, int32(count));
const cat = (...parts: Uint8Array[]) => Buffer.concat(parts);
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function malformed(): Uint8Array {
  const b = gro(1);
  new DataView(b.buffer).setUint32(le || NATIVE_LAYOUT.headerSize !== 16 ? 0 : 4, 1, le); // cmsg_len = 1
  return b;
}

describe('readGroSegmentSize', () => {
  const cases: Array<[string, () => Uint8Array, number | 'error']> = [
    ['malformed', malformed, 'error'],
    ['GRO only', () => gro(1), 1],
    ['drop counter only', () => rxq(1), 0],
    ['GRO after the drop counter', () => cat(rxq(1), gro(1200)), 1200],
    ['GRO before the drop counter', () => cat(gro(1200), rxq(1)), 1200],
    ['no control data', () => new Uint8Array(0), 0],
    ['shorter than a header', () => new Uint8Array(NATIVE_LAYOUT.headerSize), 0],
  ];
  for (const [name, make, want] of cases) {
    it(name, () => {
      const b = make();
      if (want === 'error') assert.throws(() => readGroSegmentSize(view(b), 0, b.length), ControlMessageError);
      else assert.equal(readGroSegmentSize(view(b), 0, b.length), want);
    });
  }
});

describe('readRxqOverflows', () => {
  const cases: Array<[string, () => Uint8Array, number | 'error']> = [
    ['malformed', malformed, 'error'],
    ['GRO only', () => gro(1), -1],
    ['drop counter only', () => rxq(1), 1],
    ['drop counter first', () => cat(rxq(7), gro(1)), 7],
    ['drop counter last', () => cat(gro(1), rxq(0xffffffff)), 0xffffffff],
  ];
  for (const [name, make, want] of cases) {
    it(name, () => {
      const b = make();
      if (want === 'error') assert.throws(() => readRxqOverflows(view(b), 0, b.length), ControlMessageError);
      else assert.equal(readRxqOverflows(view(b), 0, b.length), want);
    });
  }
});

describe('control messages', () => {
  it('reads inside a window of a larger buffer only', () => {
    const b = cat(gro(100), rxq(5), gro(200));
    const second = cmsgSpace(4);
    assert.equal(readGroSegmentSize(view(b), second, b.length), 200);
    assert.equal(readRxqOverflows(view(b), 0, second), -1);
  });

  it('rejects a length that runs past the buffer', () => {
    const b = gro(1);
    assert.throws(() => findControlData(view(b), 0, cmsgLen(4) - 1, abi.SOL_UDP, abi.UDP_GRO, 4), { code: 'ERR_BATCHGRAM_BAD_CONTROL_MESSAGE' });
  });

  it('writes UDP_SEGMENT as cmsg(3) lays it out', () => {
    const b = new Uint8Array(64).fill(0xff);
    const len = writeUdpSegment(view(b), 8, 1200);
    assert.equal(len, cmsgSpace(2));
    const at = findControlData(view(b), 8, 8 + len, abi.SOL_UDP, abi.UDP_SEGMENT, 2);
    assert.equal(new DataView(b.buffer).getUint16(at, le), 1200);
    assert.equal(b[7], 0xff, 'nothing written before the message');
    assert.ok(b.subarray(at + 2, 8 + len).every((x) => x === 0), 'padding is zero');
    assert.equal(new DataView(b.buffer).getUint32(8 + (le ? 0 : 4), le), cmsgLen(2));
  });

  it('sizes the receive control buffer for GRO and the drop counter', () => {
    assert.equal(MIN_CONTROL_MESSAGE_SIZE, cmsgSpace(4) * 2);
  });
});
