// Per-datagram metadata on real loopback sockets: ECN bits, the local address
// and interface, the kernel's receive time, the original destination, and the
// ECN and source address a write sends with. One ECN sender is python3, which sets IP_TOS /
// IPV6_TCLASS and UDP_SEGMENT socket-wide, independent of batchgram's own
// per-message control data.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Datagram } from '../../src/index';
import { bindClosedAfter, collect } from '../helpers';

const linux = process.platform === 'linux';
const bind = bindClosedAfter();

/**
 * Sends, from one python3 socket per traffic class, `singles` plain datagrams
 * and one GSO message of `segments` datagrams of 200 bytes; byte 0 of each
 * datagram is the ECN it was sent with, byte 1 its number.
 */
function sendMarked(to: string, port: number, classes: number[], singles: number, segments: number): number {
  const script = `
import socket, sys
to, port, singles, segments = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
v6 = ':' in to
for tc in map(int, sys.argv[5:]):
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    if v6:
        s.setsockopt(socket.IPPROTO_IPV6, 67, tc)  # IPV6_TCLASS
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tc)
    for i in range(singles):
        s.sendto(bytes([tc & 3, i]) + bytes(198), (to, port))
    s.setsockopt(17, 103, 200)  # SOL_UDP, UDP_SEGMENT: the kernel cuts this send into 200-byte datagrams
    s.sendto(b''.join(bytes([tc & 3, 100 + i]) + bytes(198) for i in range(segments)), (to, port))
    s.close()
`;
  const r = spawnSync('python3', ['-c', script, to, String(port), String(singles), String(segments), ...classes.map(String)],
    { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return classes.length * (singles + segments);
}

const loIndex = () => Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));

describe('per-datagram metadata', { skip: !linux }, () => {
  // A dual-stack socket reads an IPv4 datagram's TOS too (IP_RECVTOS beside IPV6_RECVTCLASS).
  for (const [type, loopback, bound] of [['udp4', '127.0.0.1', '127.0.0.1'], ['udp6', '::1', '::1'], ['udp6', '127.0.0.1', '::']] as const) {
    for (const offload of [true, false]) {
      it(`${type} bound to ${bound}, offload ${offload ? 'on' : 'off'}: each ECN codepoint sent to ${loopback} arrives with its datagrams`, async () => {
        const rx = await bind({ type, address: bound, receiveEcn: true, offload, recvBufferSize: 1 << 20 });
        assert.equal(rx.capabilities.ecn, true);
        // The four codepoints, and one beside a DSCP (EF with ECT(1)).
        const classes = [0, 1, 2, 3, 0xb8 | 1];
        const arriving = collect(rx, 5 * (2 + 8));
        const sent = sendMarked(loopback, rx.address().port, classes, 2, 8);
        const got = await arriving;
        assert.equal(got.length, sent);
        for (const d of got) assert.equal(d.ecn, d.data[0], `datagram ${d.data[1]}`);
        assert.deepEqual([...new Set(got.map((d) => d.ecn))].sort(), [0, 1, 2, 3]);
        // With GRO the kernel hands each GSO send over whole: one message, one ECN for all its datagrams.
        if (offload) assert.ok(rx.stats().messagesIn < rx.stats().datagramsIn, 'GRO coalesced');
      });
    }
  }

  it('reads 0 for unmarked datagrams, and reports nothing that was not asked for', async () => {
    const marked = await bind({
      address: '127.0.0.1', receiveEcn: true, receiveLocalAddress: true, receiveTimestamps: true, receiveOriginalDestination: true,
    });
    const plain = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1' });
    const { ecn, localAddress, timestamps, originalDestination } = plain.capabilities;
    assert.deepEqual([ecn, localAddress, timestamps, originalDestination], [false, false, false, false]);
    const views: unknown[][] = [];
    plain.on('view', (v) => {
      for (let i = 0; i < v.count; i++) views.push([v.ecn(i), v.localAddress(i), v.interfaceIndex(i), v.timestamp(i), v.originalDestination(i)]);
    });
    const [a, b] = [collect(marked, 3), collect(plain, 3)];
    for (const s of [marked, plain]) await tx.writeBatchTo([Buffer.from('x'), Buffer.from('y'), Buffer.from('z')], '127.0.0.1', s.address().port);
    assert.deepEqual((await a).map((d) => d.ecn), [0, 0, 0]);
    for (const d of await b) {
      assert.deepEqual([d.ecn, d.localAddress, d.interfaceIndex, d.timestamp, d.originalDestination], new Array(5).fill(undefined));
    }
    assert.deepEqual(views, new Array(3).fill(new Array(5).fill(undefined)));
  });

  it('tells a wildcard socket the local address and interface each datagram arrived on', async () => {
    const rx = await bind({ address: '0.0.0.0', receiveLocalAddress: true });
    const rx6 = await bind({ type: 'udp6', address: '::', receiveLocalAddress: true });
    const tx = await bind({ address: '127.0.0.1' });
    const tx6 = await bind({ type: 'udp6', address: '::1' });
    assert.equal(rx.capabilities.localAddress, true);
    const seen = (ds: Datagram[]) => ds.map((d) => `${d.data} ${d.localAddress} ${d.interfaceIndex}`);
    let arriving = collect(rx, 2);
    await tx.writeBatchTo([Buffer.from('one')], '127.0.0.1', rx.address().port);
    await tx.writeBatchTo([Buffer.from('three')], '127.0.0.3', rx.address().port);
    assert.deepEqual(seen(await arriving), [`one 127.0.0.1 ${loIndex()}`, `three 127.0.0.3 ${loIndex()}`]);
    // A dual-stack socket reports an IPv4 datagram's address IPv4-mapped, as it reports the sender.
    arriving = collect(rx6, 2);
    await tx6.writeBatchTo([Buffer.from('six')], '::1', rx6.address().port);
    await tx.writeBatchTo([Buffer.from('four')], '127.0.0.1', rx6.address().port);
    const got = await arriving;
    assert.deepEqual(seen(got), [`six ::1 ${loIndex()}`, `four ::ffff:127.0.0.1 ${loIndex()}`]);
    assert.equal(got[1].address, '::ffff:127.0.0.1');
  });

  // [socket, bound to, sent to, reported]: a dual-stack socket reports an IPv4 destination IPv4-mapped, as its senders.
  const destinations = [
    ['udp4', '0.0.0.0', '127.0.0.3', '127.0.0.3'], ['udp6', '::', '::1', '::1'], ['udp6', '::', '127.0.0.2', '::ffff:127.0.0.2'],
    ['udp6 IPv6-only', '::', '::1', '::1'],
  ] as const;
  for (const [type, bound, to, reported] of destinations) {
    for (const offload of [true, false]) {
      it(`${type} bound to ${bound}, offload ${offload ? 'on' : 'off'}: each datagram sent to ${to} knows where it was going`, async () => {
        const rx = await bind({
          type: type === 'udp4' ? 'udp4' : 'udp6', address: bound, ipv6Only: type === 'udp6 IPv6-only', receiveOriginalDestination: true, offload,
        });
        const tx = await bind({ type: to.includes(':') ? 'udp6' : 'udp4', offload });
        assert.equal(rx.capabilities.originalDestination, true);
        const port = rx.address().port;
        const seen: unknown[] = [];
        rx.on('view', (v) => { for (let i = 0; i < v.count; i++) seen.push(v.originalDestination(i)); });
        // Ten equal datagrams (one GSO message, one GRO message with offload) and a shorter one.
        const arriving = collect(rx, 11);
        await tx.writeBatchTo([...Array.from({ length: 10 }, () => Buffer.alloc(300)), Buffer.alloc(7)], to, port);
        const got = await arriving;
        const want = { address: reported, family: reported.includes(':') ? 'IPv6' : 'IPv4', port };
        for (const d of got) assert.deepEqual(d.originalDestination, want);
        assert.deepEqual(seen, got.map((d) => d.originalDestination));
        assert.ok(Object.isFrozen(got[0].originalDestination), 'shared, so frozen');
        if (offload) assert.ok(rx.stats().messagesIn < rx.stats().datagramsIn, 'GRO coalesced');
      });
    }
  }

  it('reuses the last original destination only while it repeats', async () => {
    const rx = await bind({ address: '0.0.0.0', receiveOriginalDestination: true, offload: false });
    const tx = await bind({ address: '127.0.0.1' });
    const order = ['127.0.0.1', '127.0.0.1', '127.0.0.3', '127.0.0.1', '127.0.0.4', '127.0.0.4'];
    const arriving = collect(rx, order.length);
    for (const [i, to] of order.entries()) await tx.writeBatchTo([Buffer.from([i])], to, rx.address().port);
    const got = (await arriving).sort((a, b) => a.data[0] - b.data[0]);
    assert.deepEqual(got.map((d) => d.originalDestination!.address), order);
    assert.equal(got[0].originalDestination, got[1].originalDestination, 'one object while it repeats');
  });

  it('the portable path reports no original destination, and says so', async () => {
    const rx = await bind({ address: '127.0.0.1', batching: false, receiveOriginalDestination: true });
    const tx = await bind({ address: '127.0.0.1' });
    assert.equal(rx.capabilities.originalDestination, false);
    const arriving = collect(rx, 1);
    await tx.writeBatchTo([Buffer.from('x')], '127.0.0.1', rx.address().port);
    assert.equal((await arriving)[0].originalDestination, undefined);
  });

  it('stamps each datagram with the kernel\'s receive time: near the wall clock, never going back', async () => {
    const rx = await bind({ address: '127.0.0.1', receiveTimestamps: true, offload: false });
    const tx = await bind({ address: '127.0.0.1' });
    assert.equal(rx.capabilities.timestamps, true);
    const stamps: bigint[] = [];
    rx.on('view', (v) => { for (let i = 0; i < v.count; i++) stamps.push(v.timestamp(i)!); });
    const arriving = collect(rx, 20);
    for (let i = 0; i < 5; i++) {
      await tx.writeBatchTo([Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d')], '127.0.0.1', rx.address().port);
      await new Promise((r) => setTimeout(r, 5));
    }
    const got = await arriving;
    const now = BigInt(Date.now()) * 1_000_000n;
    for (const d of got) assert.ok(d.timestamp! > now - 1_000_000_000n && d.timestamp! <= now, `${d.timestamp} vs ${now}`);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] >= stamps[i - 1], `stamp ${i} went back`);
    assert.deepEqual(got.map((d) => d.timestamp), stamps);
  });
});

describe('sending with ECN and from a chosen address', { skip: !linux }, () => {
  for (const [type, loopback] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
    for (const offload of [true, false]) {
      it(`${type}, offload ${offload ? 'on' : 'off'}: each write's ECN reaches every one of its datagrams`, async () => {
        const rx = await bind({ type, address: loopback, receiveEcn: true, offload });
        const tx = await bind({ type, address: loopback, offload });
        const arriving = collect(rx, 4 * 11);
        for (const ecn of [0, 1, 2, 3]) {
          // Ten equal datagrams (one GSO message with offload) and a shorter one.
          const batch = [...Array.from({ length: 10 }, () => Buffer.alloc(300, ecn)), Buffer.alloc(7, ecn)];
          await tx.writeBatchTo(batch, loopback, rx.address().port, { ecn });
        }
        const got = await arriving;
        for (const d of got) assert.equal(d.ecn, d.data[0]);
        if (offload) assert.ok(tx.stats().messagesOut < tx.stats().datagramsOut, 'GSO');
      });
    }
  }

  it('a wildcard socket sends from the address it is told, IPv4, IPv6 and dual-stack', async () => {
    const rx = await bind({ address: '127.0.0.1', receiveEcn: true });
    const rx6 = await bind({ type: 'udp6', address: '::1' });
    const tx = await bind({ address: '0.0.0.0' });
    const tx6 = await bind({ type: 'udp6', address: '::' });
    let arriving = collect(rx, 3);
    await tx.writeBatchTo([Buffer.from('a')], '127.0.0.1', rx.address().port, { sourceAddress: '127.0.0.5' });
    await tx.writePackedTo(Buffer.from('bc'), [1, 1], '127.0.0.1', rx.address().port, { sourceAddress: '127.0.0.6', ecn: 1 });
    assert.deepEqual((await arriving).map((d) => `${d.data} ${d.address}`), ['a 127.0.0.5', 'b 127.0.0.6', 'c 127.0.0.6']);
    arriving = collect(rx, 1);
    await tx6.writeBatchTo([Buffer.from('mapped')], '127.0.0.1', rx.address().port, { sourceAddress: '127.0.0.7', ecn: 2 });
    // To an IPv4-mapped destination the ECN travels as IP_TOS; the kernel would ignore IPV6_TCLASS there.
    assert.deepEqual((await arriving).map((d) => `${d.data} ${d.address} ${d.ecn}`), ['mapped 127.0.0.7 2']);
    const arriving6 = collect(rx6, 1);
    await tx6.writeBatchTo([Buffer.from('six')], '::1', rx6.address().port, { sourceAddress: '::1' });
    assert.deepEqual((await arriving6).map((d) => `${d.data} ${d.address}`), ['six ::1']);
  });

  it('rejects bad values with Node-style errors and stays usable; the portable path refuses them', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1' });
    const port = rx.address().port;
    const one = [Buffer.from('x')];
    const cases: Array<[unknown, string, ErrorConstructor]> = [
      [{ ecn: 4 }, 'ERR_OUT_OF_RANGE', RangeError], [{ ecn: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ ecn: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError], [{ ecn: '1' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ sourceAddress: 'localhost' }, 'ERR_INVALID_IP_ADDRESS', TypeError], [{ sourceAddress: '::1' }, 'ERR_INVALID_IP_ADDRESS', TypeError],
      [{ sourceAddress: 7 }, 'ERR_INVALID_ARG_TYPE', TypeError], [null, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ interfaceIndex: '1' }, 'ERR_INVALID_ARG_TYPE', TypeError], [{ interfaceIndex: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ interfaceIndex: 2 ** 31 }, 'ERR_OUT_OF_RANGE', RangeError], [{ interfaceIndex: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError],
    ];
    for (const [options, code, cls] of cases) {
      await assert.rejects(tx.writeBatchTo(one, '127.0.0.1', port, options as never), (e: Error & { code?: string }) =>
        e instanceof cls && e.code === code, JSON.stringify(options));
      await assert.rejects(tx.writePackedTo(Buffer.from('x'), [1], '127.0.0.1', port, options as never), { code }, JSON.stringify(options));
    }
    const tx6 = await bind({ type: 'udp6', address: '::' });
    await assert.rejects(tx6.writeBatchTo(one, '::1', port, { sourceAddress: '127.0.0.1' }), { code: 'ERR_INVALID_IP_ADDRESS' },
      'an IPv4 source for an IPv6 destination');
    const arriving = collect(rx, 1);
    await tx.writeBatchTo(one, '127.0.0.1', port, { ecn: 3 });
    assert.equal((await arriving).length, 1, 'still usable');
    const portable = await bind({ address: '127.0.0.1', batching: false });
    await assert.rejects(portable.writeBatchTo(one, '127.0.0.1', port, { ecn: 1 }), { code: 'ERR_BATCHGRAM_UNSUPPORTED' });
    await assert.rejects(portable.writeBatchTo(one, '127.0.0.1', port, { sourceAddress: '127.0.0.1' }), { code: 'ERR_BATCHGRAM_UNSUPPORTED' });
    await assert.rejects(portable.writeBatchTo(one, '127.0.0.1', port, { interfaceIndex: 1 }), { code: 'ERR_BATCHGRAM_UNSUPPORTED' });
  });

  it('sends through the interface it is told, alone or with a source address, IPv4, IPv6 and dual-stack', async () => {
    // Loopback is the one interface here (the two-host tests choose between two links); the kernel refuses any other.
    const lo = 1;
    const rx = await bind({ address: '127.0.0.1', receiveLocalAddress: true });
    const rx6 = await bind({ type: 'udp6', address: '::1', receiveLocalAddress: true });
    const tx = await bind({ address: '0.0.0.0' });
    const tx6 = await bind({ type: 'udp6', address: '::' });
    const arriving = collect(rx, 4);
    await tx.writeBatchTo([Buffer.from('a')], '127.0.0.1', rx.address().port, { interfaceIndex: lo });
    await tx.writeMessages([{ data: Buffer.from('b'), address: '127.0.0.1', port: rx.address().port, interfaceIndex: lo, sourceAddress: '127.0.0.5' }]);
    await tx6.writeBatchTo([Buffer.from('c')], '127.0.0.1', rx.address().port, { interfaceIndex: lo });
    await tx6.writePackedTo(Buffer.from('d'), [1], '127.0.0.1', rx.address().port, { interfaceIndex: lo, sourceAddress: '127.0.0.6' });
    assert.deepEqual((await arriving).map((d) => `${d.data} ${d.address} ${d.interfaceIndex}`),
      ['a 127.0.0.1 1', 'b 127.0.0.5 1', 'c 127.0.0.1 1', 'd 127.0.0.6 1']);
    const arriving6 = collect(rx6, 1);
    await tx6.writeBatchTo([Buffer.from('six')], '::1', rx6.address().port, { interfaceIndex: lo });
    assert.deepEqual((await arriving6).map((d) => `${d.data} ${d.interfaceIndex}`), ['six 1']);
    // An index no interface has: the kernel's ENODEV, and the socket stays usable.
    for (const [s, to] of [[tx, '127.0.0.1'], [tx6, '::1'], [tx6, '127.0.0.1']] as const) {
      await assert.rejects(s.writeBatchTo([Buffer.from('x')], to, 9, { interfaceIndex: 999999 }), { code: 'ENODEV', syscall: 'sendmmsg' }, to);
    }
    const again = collect(rx, 1);
    await tx6.writeBatchTo([Buffer.from('e')], '127.0.0.1', rx.address().port);
    assert.equal((await again).length, 1);
  });
});
