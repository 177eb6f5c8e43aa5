import assert from 'node:assert/strict';
import { SocketAddress as NodeSocketAddress } from 'node:net';
import { describe, it } from 'node:test';
import {
  decodeSockaddr, encodeSockaddr, formatAddress, parseAddress, readSockaddr, sockaddrFields, toV4Mapped,
} from '../../src/wire/sockaddr';
import { abi } from '../../src/wire/abi';
import { HOST_LITTLE_ENDIAN } from '../../src/wire/byteorder';

const addresses = [
  '127.0.0.1', '0.0.0.0', '255.255.255.255', '::', '::1', '1::', 'fe80::1', '2001:db8::1', '2001:db8:0:0:1:0:0:1',
  '2001:0:0:1:0:0:0:1', '1:2:3:4:5:6:7:8', '::ffff:127.0.0.1', '::ffff:0:1.2.3.4', '::1.2.3.4', 'ffff::', '0:0:1::',
  '2001:DB8::ABCD', '::ffff:7f00:1',
];

describe('sockaddr', () => {
  for (const text of addresses) {
    it(`round-trips ${text} as Node formats it`, () => {
      const a = parseAddress(text);
      assert.ok(a);
      const b = new Uint8Array(28);
      const len = encodeSockaddr(b, 0, a, 4242);
      assert.equal(len, a.family === 4 ? 16 : 28);
      const back = decodeSockaddr(b, 0);
      // Node's own SocketAddress formats through inet_ntop, as rinfo does.
      assert.equal(back.address, new NodeSocketAddress({ address: text, family: a.family === 4 ? 'ipv4' : 'ipv6' }).address);
      assert.equal(back.port, 4242);
      assert.equal(formatAddress(a), back.address);
    });
  }

  it('reads each sockaddr in place as decodeSockaddr reads it, scope included; too short or of another family is none', () => {
    const into = sockaddrFields();
    const b = new Uint8Array(28);
    const v = new DataView(b.buffer);
    for (const text of [...addresses, 'fe80::1%3']) {
      const a = parseAddress(text)!;
      const len = encodeSockaddr(b, 0, a, 4242);
      assert.equal(readSockaddr(v, 0, len, into), true, text);
      const read = formatAddress({ family: into.family, bytes: into.address.subarray(0, into.family === 4 ? 4 : 16), scopeId: into.scopeId, v4mapped: false });
      assert.deepEqual([read, into.port], [decodeSockaddr(b, 0).address, 4242], text);
      assert.equal(readSockaddr(v, 0, len - 1, into), false, `${text} cut short`);
    }
    v.setUint16(0, abi.AF_UNIX, HOST_LITTLE_ENDIAN);
    assert.equal(readSockaddr(v, 0, 28, into), false);
    assert.equal(readSockaddr(v, 0, 1, into), false);
  });

  it('rejects what is not an IP literal', () => {
    for (const bad of ['localhost', '', '1.2.3', '256.1.1.1', ':::', '1::2::3', 'fe80::1%no-such-if0']) {
      assert.equal(parseAddress(bad), null, bad);
    }
  });

  it('keeps a numeric zone as the scope id', () => {
    const a = parseAddress('fe80::1%3');
    assert.equal(a?.scopeId, 3);
    const b = new Uint8Array(28);
    encodeSockaddr(b, 0, a!, 1);
    assert.equal(decodeSockaddr(b, 0).address, 'fe80::1%3');
  });

  it('maps IPv4 for udp6 sockets, and knows mapped addresses obey IPv4 limits', () => {
    const m = toV4Mapped(parseAddress('10.1.2.3')!);
    assert.equal(m.family, 6);
    assert.equal(m.v4mapped, true);
    assert.equal(formatAddress(m), '::ffff:10.1.2.3');
    assert.equal(parseAddress('::ffff:10.1.2.3')!.v4mapped, true);
    assert.equal(parseAddress('::10.1.2.3')!.v4mapped, false);
  });
});
