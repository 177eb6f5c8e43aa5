// The multicast membership structs, byte for byte: addresses in network
// order, interface indexes and the sockaddr family in host order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abi } from '../../src/wire/abi';
import { HOST_LITTLE_ENDIAN as le } from '../../src/wire/byteorder';
import { groupSourceReq, ipMreq, ipMreqSource, ipv6Mreq } from '../../src/wire/membership';
import { parseAddress } from '../../src/wire/sockaddr';

const ip = (text: string) => parseAddress(text)!;

function u16(n: number): number[] {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, le);
  return [...b];
}

function u32(n: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, le);
  return [...b];
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

const FF3E_1 = [0xff, 0x3e, ...zeros(13), 1];
const DB8_7 = [0x20, 0x01, 0x0d, 0xb8, ...zeros(11), 7];

/** A sockaddr_in6 with port 0 and no flow label, filling a 128-byte sockaddr_storage. */
const storage6 = (address: number[], scopeId: number) =>
  [...u16(abi.AF_INET6), 0, 0, ...zeros(4), ...address, ...u32(scopeId), ...zeros(128 - 28)];

describe('multicast membership structs', () => {
  const cases: Array<[string, () => Uint8Array, number[]]> = [
    ['ip_mreq, any interface', () => ipMreq(ip('239.1.2.3'), null), [239, 1, 2, 3, 0, 0, 0, 0]],
    ['ip_mreq, an interface', () => ipMreq(ip('239.1.2.3'), ip('127.0.0.1')), [239, 1, 2, 3, 127, 0, 0, 1]],
    ['ip_mreq_source, any interface', () => ipMreqSource(ip('232.1.1.1'), null, ip('192.0.2.7')),
      [232, 1, 1, 1, 0, 0, 0, 0, 192, 0, 2, 7]],
    ['ip_mreq_source, an interface', () => ipMreqSource(ip('232.1.1.1'), ip('10.0.0.2'), ip('192.0.2.7')),
      [232, 1, 1, 1, 10, 0, 0, 2, 192, 0, 2, 7]],
    ['ipv6_mreq, any interface', () => ipv6Mreq(ip('ff3e::1'), 0), [...FF3E_1, 0, 0, 0, 0]],
    ['ipv6_mreq, interface 3', () => ipv6Mreq(ip('ff3e::1'), 3), [...FF3E_1, ...u32(3)]],
    ['ipv6_mreq, an index past 16 bits', () => ipv6Mreq(ip('ff3e::1'), 0x10203), [...FF3E_1, ...u32(0x10203)]],
    // The 64-bit layout (x64, arm64): the sockaddr_storage fields are 8-byte aligned, after 4 bytes of padding.
    ['group_source_req, any interface', () => groupSourceReq(0, ip('ff3e::1'), ip('2001:db8::7')),
      [...u32(0), ...zeros(4), ...storage6(FF3E_1, 0), ...storage6(DB8_7, 0)]],
    ['group_source_req, interface 2 and a zoned group', () => groupSourceReq(2, ip('ff3e::1%5'), ip('2001:db8::7')),
      [...u32(2), ...zeros(4), ...storage6(FF3E_1, 5), ...storage6(DB8_7, 0)]],
  ];
  for (const [name, make, want] of cases) it(name, () => assert.deepEqual([...make()], want));
});
