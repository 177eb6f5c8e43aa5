import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GeneveHeader, GENEVE_FIXED_HEADER_LENGTH, GENEVE_PROTOCOL_DISCO, GENEVE_PROTOCOL_WIREGUARD,
} from '../../src/wire/geneve';
import { GeneveError } from '../../src/errors';

describe('GeneveHeader', () => {
  it('encodes the RFC 8926 fixed header bit for bit', () => {
    const b = new Uint8Array(GENEVE_FIXED_HEADER_LENGTH);
    new GeneveHeader({ version: 2, control: true, protocol: GENEVE_PROTOCOL_WIREGUARD, vni: 0xabcdef }).encode(b);
    assert.deepEqual([...b], [0x80, 0x80, 0x7a, 0x12, 0xab, 0xcd, 0xef, 0x00]);
  });

  it('round-trips through decode', () => {
    for (const init of [
      { version: 0, control: false, protocol: GENEVE_PROTOCOL_DISCO, vni: 0 },
      { version: 3, control: true, protocol: 0xffff, vni: 0xffffff },
      { version: 1, control: false, protocol: 0x6558, vni: 42 },
    ]) {
      const b = new Uint8Array(12);
      new GeneveHeader(init).encode(b, 4);
      const h = GeneveHeader.decode(b, 4);
      assert.deepEqual({ version: h.version, control: h.control, protocol: h.protocol, vni: h.vni }, init);
      assert.equal(h.optionsLength, 0);
    }
  });

  it('has distinct errors', () => {
    const h = new GeneveHeader({ vni: 1 });
    assert.throws(() => h.encode(new Uint8Array(7)), (e: unknown) => e instanceof GeneveError && e.code === 'ERR_GENEVE_SHORT_BUFFER');
    assert.throws(() => h.encode(new Uint8Array(8), 1), { code: 'ERR_GENEVE_SHORT_BUFFER' });
    assert.throws(() => GeneveHeader.decode(new Uint8Array(7)), { code: 'ERR_GENEVE_SHORT_BUFFER' });
    assert.throws(() => new GeneveHeader().encode(new Uint8Array(8)), { code: 'ERR_GENEVE_VNI_UNSET' });
    assert.throws(() => new GeneveHeader({ version: 4, vni: 1 }).encode(new Uint8Array(8)), { code: 'ERR_GENEVE_BAD_VERSION' });
    assert.throws(() => new GeneveHeader({ vni: 1 << 24 }), RangeError);
    assert.throws(() => new GeneveHeader({ protocol: 0x10000 }), RangeError);
  });

  // Each case is tried on decode and on encode; an encode that throws leaves the buffer as it was.
  const badArguments: [string, unknown, unknown, string, ErrorConstructor][] = [
    ['offset NaN', new Uint8Array(16), NaN, 'ERR_OUT_OF_RANGE', RangeError],
    ['offset 1.5', new Uint8Array(16), 1.5, 'ERR_OUT_OF_RANGE', RangeError],
    ['offset -1', new Uint8Array(16), -1, 'ERR_OUT_OF_RANGE', RangeError],
    ['offset Infinity', new Uint8Array(16), Infinity, 'ERR_OUT_OF_RANGE', RangeError],
    ['offset a string', new Uint8Array(16), '2', 'ERR_INVALID_ARG_TYPE', TypeError],
    ['offset null', new Uint8Array(16), null, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['offset a bigint', new Uint8Array(16), 2n, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['offset a Number object', new Uint8Array(16), new Number(2), 'ERR_INVALID_ARG_TYPE', TypeError],
    ['buffer an array', [0, 0, 0, 0, 0, 0, 0, 0], 0, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['buffer an ArrayBuffer', new ArrayBuffer(8), 0, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['buffer a DataView', new DataView(new ArrayBuffer(8)), 0, 'ERR_INVALID_ARG_TYPE', TypeError],
    ['buffer undefined', undefined, 0, 'ERR_INVALID_ARG_TYPE', TypeError],
  ];
  for (const [name, buffer, offset, code, type] of badArguments) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(() => GeneveHeader.decode(buffer as Uint8Array, offset as number), (e: unknown) => e instanceof type && (e as { code?: unknown }).code === code);
      const before = buffer instanceof Uint8Array ? [...buffer] : undefined;
      assert.throws(() => new GeneveHeader({ vni: 1 }).encode(buffer as Uint8Array, offset as number), (e: unknown) => e instanceof type && (e as { code?: unknown }).code === code);
      if (before) assert.deepEqual([...(buffer as Uint8Array)], before);
    });
  }

  it('accepts -0 as offset 0', () => {
    const b = new Uint8Array(8);
    new GeneveHeader({ vni: 5 }).encode(b, -0);
    assert.equal(GeneveHeader.decode(b, -0).vni, 5);
  });

  // Byte 0's low six bits count the options in 4-byte words; they follow the fixed header.
  const optionsCases: [string, number, number, number, number | 'ERR_GENEVE_SHORT_BUFFER'][] = [
    // name, buffer length, offset, option words, options length or the error
    ['no options in 8 bytes', 8, 0, 0, 0],
    ['252 bytes of options claimed by 8 bytes', 8, 0, 63, 'ERR_GENEVE_SHORT_BUFFER'],
    ['4 bytes of options claimed by 11 bytes', 11, 0, 1, 'ERR_GENEVE_SHORT_BUFFER'],
    ['4 bytes of options in 12 bytes', 12, 0, 1, 4],
    ['8 bytes of options in 16 bytes', 16, 0, 2, 8],
    ['8 bytes of options claimed by 16 bytes at offset 4', 16, 4, 2, 'ERR_GENEVE_SHORT_BUFFER'],
    ['4 bytes of options in 16 bytes at offset 4', 16, 4, 1, 4],
    ['252 bytes of options in 260 bytes', 260, 0, 63, 252],
  ];
  for (const [name, length, offset, words, expected] of optionsCases) {
    it(`decodes ${name}: ${expected}`, () => {
      const b = new Uint8Array(length);
      b[offset] = words;
      if (typeof expected === 'number') assert.equal(GeneveHeader.decode(b, offset).optionsLength, expected);
      else assert.throws(() => GeneveHeader.decode(b, offset), (e: unknown) => e instanceof GeneveError && e.code === expected);
    });
  }

  it('knows whether its VNI is set', () => {
    assert.equal(new GeneveHeader().vniIsSet, false);
    assert.equal(new GeneveHeader({ vni: 0 }).vniIsSet, true);
  });
});
