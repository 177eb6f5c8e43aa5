// Control-message parsing, with the reference's cases: the wanted message
// first, last, absent, and a malformed header.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cmsgLen, type CmsgLayout, cmsgSpace, CONTROL_BUFFER_SIZE, findControlData, MIN_CONTROL_MESSAGE_SIZE, NATIVE_LAYOUT,
  ErrorOrigin, type PacketInfo, readExtendedError, readReceiveControl,
  receiveControlSize, receivedControl, sendControlSize, writeControl, writePacketInfo, writeTxTime,
  writeTrafficClass, writeUdpSegment,
} from '../../src/wire/cmsg';
import { ControlMessageError } from '../../src/errors';
import { icmpErrorOf } from '../../src/engine/linux/errqueue';
import { readEcn, readGroSegmentSize, readOriginalDestination, readPacketInfo, readRxqOverflows, readTimestamp } from './cmsg-fields';
import { abi } from '../../src/wire/abi';
import { HOST_LITTLE_ENDIAN as le } from '../../src/wire/byteorder';


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

describe('per-datagram metadata, in both cmsghdr layouts', () => {
  const layouts: Array<[string, CmsgLayout]> = [['64-bit', { headerSize: 16, align: 8 }], ['32-bit', { headerSize: 12, align: 4 }]];
  const bytes = (...xs: number[]) => Uint8Array.from(xs);
  const u32 = (n: number) => int32(n);
  const timespec = (sec: bigint, nsec: bigint, size: number) => {
    const b = new Uint8Array(size);
    const v = new DataView(b.buffer);
    if (size === 16) {
      v.setBigInt64(0, sec, le);
      v.setBigInt64(8, nsec, le);
    } else {
      v.setInt32(0, Number(sec), le);
      v.setInt32(4, Number(nsec), le);
    }
    return b;
  };
  const in4 = bytes(...int32(3), 0, 0, 0, 0, 127, 0, 0, 3); // ifindex, spec_dst, addr
  const in6 = bytes(...new Uint8Array(15), 1, ...int32(7)); // ::1, ifindex 7
  for (const [name, l] of layouts) {
    const msg = (level: number, type: number, data: Uint8Array) => {
      const b = new Uint8Array(cmsgSpace(data.length, l));
      writeControl(new DataView(b.buffer), 0, level, type, data, l);
      return b;
    };
    const groMsg = msg(abi.SOL_UDP, abi.UDP_GRO, u32(1200));
    it(`${name}: ECN from the IPv4 TOS byte or the IPv6 traffic class, -1 without either`, () => {
      const cases: Array<[Uint8Array, number]> = [
        [cat(groMsg, msg(abi.IPPROTO_IP, abi.IP_TOS, bytes(0xb9))), 1], // DSCP 46, ECT(1)
        [cat(msg(abi.IPPROTO_IP, abi.IP_TOS, bytes(0x03)), groMsg), 3],
        [cat(groMsg, msg(abi.IPPROTO_IPV6, abi.IPV6_TCLASS, u32(0xb8 | 2))), 2],
        [msg(abi.IPPROTO_IPV6, abi.IPV6_TCLASS, u32(0)), 0],
        [groMsg, -1],
      ];
      for (const [b, want] of cases) assert.equal(readEcn(view(b), 0, b.length, l), want);
    });
    it(`${name}: the local address and interface from IP_PKTINFO or IPV6_PKTINFO`, () => {
      const info: PacketInfo = { family: 4, address: new Uint8Array(16), interfaceIndex: 0 };
      let b = cat(groMsg, msg(abi.IPPROTO_IP, abi.IP_PKTINFO, in4));
      assert.equal(readPacketInfo(view(b), 0, b.length, info, l), true);
      assert.deepEqual([info.family, [...info.address.subarray(0, 4)], info.interfaceIndex], [4, [127, 0, 0, 3], 3]);
      b = cat(msg(abi.IPPROTO_IPV6, abi.IPV6_PKTINFO, in6), groMsg);
      assert.equal(readPacketInfo(view(b), 0, b.length, info, l), true);
      assert.deepEqual([info.family, info.address[15], info.interfaceIndex], [6, 1, 7]);
      assert.equal(readPacketInfo(view(groMsg), 0, groMsg.length, info, l), false);
    });
    for (const size of [16, 8]) {
      it(`${name}: the receive time from a ${size}-byte timespec`, () => {
        const b = cat(groMsg, msg(abi.SOL_SOCKET, abi.SCM_TIMESTAMPNS, timespec(1_800_000_000n, 123_456_789n, size)));
        assert.equal(readTimestamp(view(b), 0, b.length, l, size), 1_800_000_000_123_456_789n);
        assert.equal(readTimestamp(view(groMsg), 0, groMsg.length, l, size), -1n);
      });
    }
    it(`${name}: one walk reads every kind, whatever the order; the first of a kind counts`, () => {
      const tos = (b: number) => msg(abi.IPPROTO_IP, abi.IP_TOS, bytes(b));
      const tclass = (n: number) => msg(abi.IPPROTO_IPV6, abi.IPV6_TCLASS, u32(n));
      const ts = msg(abi.SOL_SOCKET, abi.SCM_TIMESTAMPNS, timespec(5n, 6n, abi.SIZEOF_TIMESPEC));
      const pkt4 = msg(abi.IPPROTO_IP, abi.IP_PKTINFO, in4), pkt6 = msg(abi.IPPROTO_IPV6, abi.IPV6_PKTINFO, in6);
      const rxqMsg = msg(abi.SOL_SOCKET, abi.SO_RXQ_OVFL, u32(9));
      // [case, control data, gro, rxq, ecn, packet info family (0: none), timestamp]
      const cases: Array<[string, Uint8Array, number, number, number, number, bigint]> = [
        ['nothing', new Uint8Array(0), 0, -1, -1, 0, -1n],
        ['GRO alone', groMsg, 1200, -1, -1, 0, -1n],
        ['all, GRO first', cat(groMsg, rxqMsg, tos(0x02), pkt4, ts), 1200, 9, 2, 4, 5_000_000_006n],
        ['all, GRO last', cat(ts, pkt6, tclass(3), rxqMsg, groMsg), 1200, 9, 3, 6, 5_000_000_006n],
        ['IP_TOS wins over IPV6_TCLASS in either order', cat(tclass(3), tos(0x01)), 0, -1, 1, 0, -1n],
        ['IPV6_PKTINFO wins over IP_PKTINFO in either order', cat(pkt4, pkt6), 0, -1, -1, 6, -1n],
        ['the first GRO message counts', cat(groMsg, msg(abi.SOL_UDP, abi.UDP_GRO, u32(64))), 1200, -1, -1, 0, -1n],
        ['a message too short for its kind is skipped', cat(msg(abi.SOL_UDP, abi.UDP_GRO, bytes(1, 2)), groMsg), 1200, -1, -1, 0, -1n],
      ];
      const got = receivedControl();
      for (const [what, b, gro, rxq, ecn, family, time] of cases) {
        readReceiveControl(view(b), 0, b.length, got, l);
        assert.deepEqual([got.groSegmentSize, got.rxqOverflows, got.ecn, got.hasPacketInfo ? got.packetInfo.family : 0, got.timestamp],
          [gro, rxq, ecn, family, time], what);
        if (family === 6) assert.deepEqual([got.packetInfo.address[15], got.packetInfo.interfaceIndex], [1, 7], what);
        if (family === 4) assert.deepEqual([[...got.packetInfo.address.subarray(0, 4)], got.packetInfo.interfaceIndex], [[127, 0, 0, 3], 3], what);
      }
    });
    it(`${name}: the original destination from IP_ORIGDSTADDR or IPV6_ORIGDSTADDR, each a sockaddr`, () => {
      // struct sockaddr_in / sockaddr_in6, by hand: family (host order), port (network order), address.
      const in4 = (port: number, ...address: number[]) => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setUint16(0, abi.AF_INET, le);
        new DataView(b.buffer).setUint16(2, port, false);
        b.set(address, 4);
        return b;
      };
      const in6 = (port: number, last: number, scope: number, family: number = abi.AF_INET6) => {
        const b = new Uint8Array(28);
        const v = new DataView(b.buffer);
        v.setUint16(0, family, le);
        v.setUint16(2, port, false);
        b.set([0x20, 0x01, 0x0d, 0xb8], 8);
        b[23] = last;
        v.setUint32(24, scope, le);
        return b;
      };
      const dst4 = (b: Uint8Array) => msg(abi.IPPROTO_IP, abi.IP_ORIGDSTADDR, b);
      const dst6 = (b: Uint8Array) => msg(abi.IPPROTO_IPV6, abi.IPV6_ORIGDSTADDR, b);
      const db8 = (last: number) => [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), last];
      const cases: Array<[string, Uint8Array, ReturnType<typeof readOriginalDestination>]> = [
        ['IPv4, after GRO', cat(groMsg, dst4(in4(5000, 192, 0, 2, 1))), ['IPv4', [192, 0, 2, 1], 5000, 0]],
        ['IPv6 with its scope, before GRO', cat(dst6(in6(65535, 7, 3)), groMsg), ['IPv6', db8(7), 65535, 3]],
        ['none', groMsg, null],
        ['nothing at all', new Uint8Array(0), null],
        ['a message too short for a sockaddr is skipped', cat(dst4(bytes(2, 0, 0x13, 0x88)), dst6(in6(53, 1, 0))), ['IPv6', db8(1), 53, 0]],
        ['the first counts', cat(dst4(in4(1, 10, 0, 0, 1)), dst6(in6(2, 2, 0))), ['IPv4', [10, 0, 0, 1], 1, 0]],
        ['a sockaddr of another family is none', dst6(in6(53, 1, 0, abi.AF_UNIX)), null],
      ];
      for (const [what, b, want] of cases) assert.deepEqual(readOriginalDestination(view(b), 0, b.length, l), want, what);
    });
    it(`${name}: a malformed header anywhere is a ControlMessageError, even after all that was wanted`, () => {
      const bad = msg(abi.SOL_UDP, abi.UDP_GRO, u32(1));
      new DataView(bad.buffer).setUint32(l.headerSize === 16 && !le ? 4 : 0, 1, le); // cmsg_len = 1
      for (const b of [bad, cat(groMsg, bad)]) assert.throws(() => readReceiveControl(view(b), 0, b.length, receivedControl(), l), ControlMessageError);
    });
    it(`${name}: the receive buffer holds everything a socket may ask for`, () => {
      const all = cat(groMsg, msg(abi.SOL_SOCKET, abi.SO_RXQ_OVFL, u32(1)), msg(abi.IPPROTO_IPV6, abi.IPV6_TCLASS, u32(1)),
        msg(abi.IPPROTO_IPV6, abi.IPV6_PKTINFO, in6), msg(abi.SOL_SOCKET, abi.SCM_TIMESTAMPNS, timespec(1n, 1n, abi.SIZEOF_TIMESPEC)),
        msg(abi.IPPROTO_IPV6, abi.IPV6_ORIGDSTADDR, new Uint8Array(28)));
      assert.ok(receiveControlSize({ ecn: true, localAddress: true, timestamps: true, originalDestination: true }, l) >= all.length);
      assert.equal(receiveControlSize({ ecn: false, localAddress: false, timestamps: false, originalDestination: false }, l), CONTROL_BUFFER_SIZE);
    });
  }
});

describe('header fields to send, in both cmsghdr layouts', () => {
  for (const l of [{ headerSize: 16, align: 8 }, { headerSize: 12, align: 4 }]) {
    it(`${l.headerSize}-byte header: traffic class, source address and interface round-trip, within sendControlSize`, () => {
      const b = new Uint8Array(sendControlSize(true, l) * 2).fill(0xee);
      const v = view(b);
      let len = writeUdpSegment(v, 0, 1200, l);
      len += writeTrafficClass(v, len, true, 2, l);
      len += writePacketInfo(v, len, 4, Uint8Array.of(127, 0, 0, 5), 0x01020304, l);
      assert.ok(len <= sendControlSize(false, l));
      assert.equal(readEcn(v, 0, len, l), 2);
      const at = findControlData(v, 0, len, abi.IPPROTO_IP, abi.IP_PKTINFO, 12, l);
      const ifindex = le ? [4, 3, 2, 1] : [1, 2, 3, 4];
      assert.deepEqual([...b.subarray(at, at + 12)], [...ifindex, 127, 0, 0, 5, 0, 0, 0, 0], 'ifindex, spec_dst, addr 0');
      const six = new Uint8Array(16);
      six[15] = 1;
      let n = writeTrafficClass(v, 0, false, 3, l);
      n += writePacketInfo(v, n, 6, six, 7, l);
      assert.equal(readEcn(v, 0, n, l), 3);
      const info: PacketInfo = { family: 4, address: new Uint8Array(16), interfaceIndex: -1 };
      assert.equal(readPacketInfo(v, 0, n, info, l), true);
      assert.deepEqual([info.family, info.address[15], info.interfaceIndex], [6, 1, 7]);
      const t = writeTxTime(v, 0, 0x0102030405060708n, l);
      const tAt = findControlData(v, 0, t, abi.SOL_SOCKET, abi.SCM_TXTIME, 8, l);
      assert.equal(new DataView(b.buffer).getBigUint64(tAt, le), 0x0102030405060708n);
      const most = writeUdpSegment(v, 0, 1, l) + writeTrafficClass(v, 0, false, 0, l) + writePacketInfo(v, 0, 6, six, 0, l);
      assert.ok(most <= sendControlSize(false, l) && most + t <= sendControlSize(true, l));
    });
  }
});

describe('readExtendedError', () => {
  // struct sock_extended_err, then the offender's sockaddr (AF_UNSPEC: none).
  const error = (errno: number, origin: number, type: number, code: number, info: number, offender: Uint8Array) => {
    const b = new Uint8Array(16 + offender.length);
    const v = new DataView(b.buffer);
    v.setUint32(0, errno, le);
    b.set([origin, type, code, 0], 4);
    v.setUint32(8, info, le);
    b.set(offender, 16);
    return b;
  };
  const sockaddr = (family: number, size: number, addressAt: number, address: number[]) => {
    const b = new Uint8Array(size);
    new DataView(b.buffer).setUint16(0, family, le);
    b.set(address, addressAt);
    return b;
  };
  const v4 = sockaddr(abi.AF_INET, 16, 4, [192, 0, 2, 1]);
  const v6 = sockaddr(abi.AF_INET6, 28, 8, [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7]);
  const none = sockaddr(0, 16, 4, []);

  it('reads an ICMP port unreachable from IP_RECVERR, with the reporting node', () => {
    const b = cat(rxq(3), control(abi.IPPROTO_IP, abi.IP_RECVERR, error(111, ErrorOrigin.Icmp, 3, 3, 0, v4)));
    assert.deepEqual(readExtendedError(view(b), 0, b.length),
      { errno: 111, origin: ErrorOrigin.Icmp, type: 3, code: 3, info: 0, data: 0, offender: { family: 4, bytes: new Uint8Array([192, 0, 2, 1]) } });
  });

  it('reads a paced message a qdisc dropped as late (SO_EE_ORIGIN_TXTIME), and makes it an event with its txTime', () => {
    // etf's report: ECANCELED, code SO_EE_CODE_TXTIME_MISSED (2), the txtime's low half in info and high half in data.
    const e8 = error(125, ErrorOrigin.Txtime, 0, 2, 0x9abcdef0, none);
    new DataView(e8.buffer).setUint32(12, 0x12345678, le);
    const b = control(abi.IPPROTO_IP, abi.IP_RECVERR, e8);
    const e = readExtendedError(view(b), 0, b.length)!;
    assert.deepEqual([e.errno, e.origin, e.code, e.info, e.data, e.offender], [125, ErrorOrigin.Txtime, 2, 0x9abcdef0, 0x12345678, null]);
    assert.deepEqual(icmpErrorOf(e, null), {
      code: 'ECANCELED', errno: -125, address: '', port: 0, origin: 'txtime', from: undefined, mtu: undefined, txTime: 0x123456789abcdef0n,
    });
    const icmp = icmpErrorOf({ ...e, origin: ErrorOrigin.Icmp, errno: 111 }, { address: '192.0.2.9', port: 53, family: 'IPv4' });
    assert.deepEqual([icmp?.origin, icmp?.code, icmp?.address, icmp?.port, icmp?.txTime], ['icmp', 'ECONNREFUSED', '192.0.2.9', 53, undefined]);
    assert.equal(icmpErrorOf({ ...e, origin: 4 }, null), null, 'a timestamping report is no error');
  });

  it('reads an ICMPv6 packet too big from IPV6_RECVERR, with its MTU', () => {
    const b = control(abi.IPPROTO_IPV6, abi.IPV6_RECVERR, error(90, ErrorOrigin.Icmp6, 2, 0, 1280, v6));
    const e = readExtendedError(view(b), 0, b.length)!;
    assert.deepEqual([e.errno, e.origin, e.info, e.offender?.family, e.offender?.bytes[15]], [90, ErrorOrigin.Icmp6, 1280, 6, 7]);
  });

  it('gives no offender for a local error, nor for an address the message is too short to hold', () => {
    const local = control(abi.IPPROTO_IP, abi.IP_RECVERR, error(90, ErrorOrigin.Local, 0, 0, 1500, none));
    assert.equal(readExtendedError(view(local), 0, local.length)!.offender, null);
    const cut = control(abi.IPPROTO_IPV6, abi.IPV6_RECVERR, error(113, ErrorOrigin.Icmp6, 1, 3, 0, v6.subarray(0, 16)));
    assert.equal(readExtendedError(view(cut), 0, cut.length)!.offender, null);
  });

  it('is null without an error, and throws on a malformed header', () => {
    const b = rxq(1);
    assert.equal(readExtendedError(view(b), 0, b.length), null);
    assert.throws(() => readExtendedError(view(malformed()), 0, malformed().length), ControlMessageError);
  });
});
