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

  it('reports the options length of a received header', () => {
    const b = new Uint8Array(8);
    b[0] = 0x02; // two 4-byte words of options
    assert.equal(GeneveHeader.decode(b).optionsLength, 8);
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

  it('knows whether its VNI is set', () => {
    assert.equal(new GeneveHeader().vniIsSet, false);
    assert.equal(new GeneveHeader({ vni: 0 }).vniIsSet, true);
  });
});
