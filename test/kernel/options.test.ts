// Socket options: the bind options that set routing marks, device binding,
// TTL and TOS, free and transparent binding, and the escape hatch for any
// other, read back from the kernel.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { BatchSocket, type BatchSocketOptions } from '../../src/index';
import { abi } from '../../src/wire/abi';
import { bindClosedAfter, collect, index } from '../helpers';

const linux = process.platform === 'linux';
const root = process.getuid?.() === 0;
const bind = bindClosedAfter();

// Receives `count` datagrams on loopback and prints each one's TOS byte (IPv4) or traffic class (IPv6).
const TOS_RECEIVER = `
import json, socket, sys
v6 = sys.argv[1] == '6'
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('::1' if v6 else '127.0.0.1', 0))
if v6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
else: s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
print(json.dumps({'port': s.getsockname()[1]}), flush=True)
s.settimeout(10)
got = []
for _ in range(int(sys.argv[2])):
    _, ancillary, _, _ = s.recvmsg(2048, 64)
    got += [int.from_bytes(data[:4] if v6 else data[:1], 'little') for (_, _, data) in ancillary]
print(json.dumps(got), flush=True)
`;
const text = (b: Uint8Array) => Buffer.from(b).toString().replace(/\0.*$/s, '');

describe('socket options', { skip: !linux }, () => {
  it('sets mark, device, TTL and TOS at bind, as the kernel reads them back, IPv4 and dual-stack', async () => {
    const s = await bind({ address: '127.0.0.1', mark: 42, bindToDevice: 'lo', ttl: 7, tos: 0x20 });
    assert.equal(s.getSocketOption(abi.SOL_SOCKET, abi.SO_MARK), 42);
    assert.equal(text(s.getSocketOption(abi.SOL_SOCKET, abi.SO_BINDTODEVICE, 16)), 'lo');
    assert.equal(s.getSocketOption(abi.IPPROTO_IP, abi.IP_TTL), 7);
    assert.equal(s.getSocketOption(abi.IPPROTO_IP, abi.IP_TOS), 0x20);
    const s6 = await bind({ type: 'udp6', address: '::', ttl: 9, tos: 0x48, mark: 2 ** 32 - 1 });
    assert.equal(s6.getSocketOption(abi.IPPROTO_IPV6, abi.IPV6_UNICAST_HOPS), 9);
    assert.equal(s6.getSocketOption(abi.IPPROTO_IP, abi.IP_TTL), 9, 'and for its IPv4 peers');
    assert.equal(s6.getSocketOption(abi.IPPROTO_IPV6, abi.IPV6_TCLASS), 0x48);
    assert.equal(s6.getSocketOption(abi.SOL_SOCKET, abi.SO_MARK) >>> 0, 2 ** 32 - 1);
  });

  it('sends with the socket\'s TOS, whose ECN bits the receiver sees, through the bound device', async () => {
    const rx = await bind({ address: '127.0.0.1', receiveEcn: true });
    const tx = await bind({ address: '127.0.0.1', tos: 0x22, bindToDevice: 'lo' }); // DSCP 8, ECT(0)
    const arriving = collect(rx, 3);
    await tx.writeBatchTo([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], '127.0.0.1', rx.address().port);
    assert.deepEqual((await arriving).map((d) => d.ecn), [2, 2, 2]);
  });

  it('keeps the socket\'s DSCP under a write\'s ECN: only the two ECN bits change, as the receiver reads the whole byte', async () => {
    for (const family of [4, 6] as const) {
      // python3 reads each datagram's whole TOS byte / traffic class (a Datagram carries its ECN bits only).
      const rx = spawn('python3', ['-c', TOS_RECEIVER, String(family), '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = createInterface({ input: rx.stdout! })[Symbol.asyncIterator]();
      const { port } = JSON.parse((await lines.next()).value);
      const to = family === 4 ? '127.0.0.1' : '::1';
      const tx = await bind({ type: family === 4 ? 'udp4' : 'udp6', address: to, tos: 0xb8 }); // DSCP 46 (EF)
      await tx.writeBatchTo([Buffer.from('a')], to, port, { ecn: 1 });
      await tx.writeBatchTo([Buffer.from('b')], to, port);
      await tx.writeMessages([{ data: Buffer.from('c'), address: to, port, ecn: 3 }]);
      // A TOS set behind the bind option is the one kept.
      if (family === 4) tx.setSocketOption(abi.IPPROTO_IP, abi.IP_TOS, 0x28);
      else tx.setSocketOption(abi.IPPROTO_IPV6, abi.IPV6_TCLASS, 0x28);
      await tx.writeBatchTo([Buffer.from('d')], to, port, { ecn: 2 });
      await tx.writePackedTo(Buffer.from('e'), [1], to, port, { ecn: 0 });
      assert.deepEqual(JSON.parse((await lines.next()).value), [0xb9, 0xb8, 0xbb, 0x2a, 0x28], `IPv${family}`);
    }
  });

  it('sets and reads any option through the escape hatch, ints and bytes', async () => {
    const s = await bind({ address: '127.0.0.1' });
    s.setSocketOption(abi.IPPROTO_IP, abi.IP_TTL, 33);
    assert.equal(s.getSocketOption(abi.IPPROTO_IP, abi.IP_TTL), 33);
    s.setSocketOption(abi.SOL_SOCKET, abi.SO_BINDTODEVICE, Buffer.from('lo\0'));
    assert.equal(text(s.getSocketOption(abi.SOL_SOCKET, abi.SO_BINDTODEVICE, 16)), 'lo');
  });

  it('rejects bad values clearly; a refused option is a system error; the socket stays usable', async () => {
    const s = await bind({ address: '127.0.0.1' });
    const cases: Array<[() => unknown, string, ErrorConstructor]> = [
      [() => s.setSocketOption('1' as never, 2, 3), 'ERR_INVALID_ARG_TYPE', TypeError],
      [() => s.setSocketOption(-1, 2, 3), 'ERR_OUT_OF_RANGE', RangeError],
      [() => s.setSocketOption(0, 2, 1.5), 'ERR_OUT_OF_RANGE', RangeError],
      [() => s.setSocketOption(0, 2, 'x' as never), 'ERR_INVALID_ARG_TYPE', TypeError],
      [() => s.setSocketOption(0, 2, new Uint8Array(1025)), 'ERR_OUT_OF_RANGE', RangeError],
      [() => s.getSocketOption(0, 2, 0), 'ERR_OUT_OF_RANGE', RangeError],
      [() => s.getSocketOption(0, 2, '4' as never), 'ERR_INVALID_ARG_TYPE', TypeError],
      [() => s.setSocketOption(abi.SOL_SOCKET, 9999, 1), 'ENOPROTOOPT', Error],
      [() => s.getSocketOption(abi.SOL_SOCKET, 9999), 'ENOPROTOOPT', Error],
    ];
    for (const [call, code, cls] of cases) assert.throws(call, (e: Error & { code?: string }) => e instanceof cls && e.code === code, code);
    const binds: Array<[object, string]> = [
      [{ mark: -1 }, 'ERR_OUT_OF_RANGE'], [{ mark: 2 ** 32 }, 'ERR_OUT_OF_RANGE'], [{ ttl: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ ttl: 256 }, 'ERR_OUT_OF_RANGE'], [{ tos: 256 }, 'ERR_OUT_OF_RANGE'], [{ bindToDevice: '' }, 'ERR_INVALID_ARG_VALUE'],
      [{ bindToDevice: 'x'.repeat(16) }, 'ERR_INVALID_ARG_VALUE'], [{ bindToDevice: 3 }, 'ERR_INVALID_ARG_TYPE'],
      [{ bindToDevice: 'nosuchdev0' }, 'ENODEV'], [{ freebind: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ transparent: 'yes' }, 'ERR_INVALID_ARG_TYPE'], [{ receiveOriginalDestination: null }, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [options, code] of binds) await assert.rejects(BatchSocket.bind({ address: '127.0.0.1', ...options }), { code }, JSON.stringify(options));
    s.setSocketOption(abi.IPPROTO_IP, abi.IP_TTL, 5);
    assert.equal(s.getSocketOption(abi.IPPROTO_IP, abi.IP_TTL), 5, 'still usable');
  });

  it('refuses the options batchgram manages, naming what to use instead, and reads a value once', async () => {
    const s = await bind({ address: '127.0.0.1', gso: false, gro: false });
    const managed: Array<[number, number, RegExp]> = [
      [abi.SOL_UDP, abi.UDP_SEGMENT, /UDP_SEGMENT.*'gso'/], [abi.SOL_UDP, abi.UDP_GRO, /UDP_GRO.*'gro'/],
      [abi.IPPROTO_IP, abi.IP_RECVERR, /'receiveErrors'/], [abi.IPPROTO_IPV6, abi.IPV6_RECVERR, /'receiveErrors'/],
      [abi.SOL_SOCKET, abi.SO_SELECT_ERR_QUEUE, /'receiveErrors'/],
      [abi.IPPROTO_IP, abi.IP_RECVTOS, /'receiveEcn'/], [abi.IPPROTO_IPV6, abi.IPV6_RECVTCLASS, /'receiveEcn'/],
      [abi.IPPROTO_IP, abi.IP_PKTINFO, /'receiveLocalAddress'/], [abi.IPPROTO_IPV6, abi.IPV6_RECVPKTINFO, /'receiveLocalAddress'/],
      [abi.SOL_SOCKET, abi.SO_TIMESTAMPNS, /'receiveTimestamps'/], [abi.SOL_SOCKET, abi.SO_RXQ_OVFL, /'rxqOverflowMetric'/],
      [abi.IPPROTO_IP, abi.IP_RECVORIGDSTADDR, /'receiveOriginalDestination'/],
      [abi.IPPROTO_IPV6, abi.IPV6_RECVORIGDSTADDR, /'receiveOriginalDestination'/],
      [abi.IPPROTO_IP, abi.IP_MTU_DISCOVER, /'dontFragment'/], [abi.IPPROTO_IPV6, abi.IPV6_MTU_DISCOVER, /'dontFragment'/],
      [abi.IPPROTO_IPV6, abi.IPV6_DONTFRAG, /'dontFragment'/], [abi.SOL_SOCKET, abi.SO_TXTIME, /'pacing'/],
    ];
    for (const [level, name, advice] of managed) {
      for (const value of [1, new Uint8Array(4)]) {
        assert.throws(() => s.setSocketOption(level, name, value), (e: Error & { code?: string }) =>
          e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && advice.test(e.message), `${level}/${name}`);
      }
    }
    // Nothing changed in the kernel: 8 datagrams of 100 bytes arrive as 8, one of 1000 leaves as one.
    assert.equal(s.getSocketOption(abi.SOL_UDP, abi.UDP_GRO), 0);
    assert.equal(s.getSocketOption(abi.SOL_UDP, abi.UDP_SEGMENT), 0);
    const tx = await bind({ address: '127.0.0.1', gso: false });
    const arriving = collect(s, 9);
    await tx.writeBatchTo([...Array.from({ length: 8 }, () => Buffer.alloc(100)), Buffer.alloc(1000)], '127.0.0.1', s.address().port);
    assert.deepEqual((await arriving).map((d) => d.data.length), [100, 100, 100, 100, 100, 100, 100, 100, 1000]);
    // A Proxy of a Uint8Array is not one: a clear error, not V8's.
    assert.throws(() => s.setSocketOption(abi.SOL_SOCKET, abi.SO_BINDTODEVICE, new Proxy(Buffer.from('lo\0'), {})),
      { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('the portable path refuses them instead of leaving them unset', async () => {
    const s = await bind({ address: '127.0.0.1', batching: false });
    assert.throws(() => s.setSocketOption(abi.IPPROTO_IP, abi.IP_TTL, 3), { code: 'ERR_BATCHGRAM_UNSUPPORTED' });
    for (const option of ['ttl', 'freebind', 'transparent'] as const) {
      await assert.rejects(BatchSocket.bind({ address: '127.0.0.1', batching: false, [option]: option === 'ttl' ? 3 : true }),
        { code: 'ERR_BATCHGRAM_UNSUPPORTED' }, option);
    }
  });
});

describe('binding an address the host does not have', { skip: !linux }, () => {
  // Where the administrator lets every socket do it, binding one proves nothing about the options.
  const anyAddress = linux && ['ipv4', 'ipv6'].some((f) => readFileSync(`/proc/sys/net/${f}/ip_nonlocal_bind`, 'utf8').trim() !== '0');
  const skip = anyAddress ? 'net.ipv4/ipv6.ip_nonlocal_bind lets every socket here bind any address' : false;

  // TEST-NET-1 and the IPv6 documentation prefix, which no host has.
  const cases: Array<[string, BatchSocketOptions, string]> = [
    ['udp4', { address: '192.0.2.1' }, 'EADDRNOTAVAIL'],
    ['udp4', { address: '192.0.2.1', freebind: true }, 'bound'],
    ['udp6', { type: 'udp6', address: '2001:db8::1' }, 'EADDRNOTAVAIL'],
    ['udp6', { type: 'udp6', address: '2001:db8::1', freebind: true }, 'bound'],
    ['udp6 IPv6-only', { type: 'udp6', address: '2001:db8::1', ipv6Only: true, freebind: true }, 'bound'],
    ['dual-stack', { type: 'udp6', address: '::ffff:192.0.2.1' }, 'EADDRNOTAVAIL'],
    ['dual-stack', { type: 'udp6', address: '::ffff:192.0.2.1', freebind: true }, 'bound'],
  ];
  if (root) {
    cases.push(
      ['udp4', { address: '192.0.2.1', transparent: true }, 'bound'],
      ['udp6', { type: 'udp6', address: '2001:db8::1', transparent: true }, 'bound'],
      ['dual-stack', { type: 'udp6', address: '::ffff:192.0.2.1', transparent: true }, 'bound'],
    );
  }
  it('freebind (and transparent, as root) bind it; without them it is EADDRNOTAVAIL', { skip }, async () => {
    for (const [what, options, want] of cases) {
      const got = await BatchSocket.bind(options).then(async (s) => {
        assert.equal(s.address().address, options.address, what);
        await s.close();
        return 'bound';
      }, (e: Error & { code?: string; syscall?: string }) => `${e.code}${e.syscall === 'bind' ? '' : ` in ${e.syscall}`}`);
      assert.equal(got, want, `${what} ${JSON.stringify(options)}`);
    }
  });

  it('sets the option of the socket\'s family, as the kernel reads it back', { skip: !root && 'transparent needs CAP_NET_ADMIN: run as root' }, async () => {
    const read = async (options: BatchSocketOptions, level: number, name: number) => {
      const s = await BatchSocket.bind({ address: options.type === 'udp6' ? '::' : '0.0.0.0', ...options });
      try {
        return s.getSocketOption(level, name);
      } finally {
        await s.close();
      }
    };
    const { IPPROTO_IP: IP, IPPROTO_IPV6: IP6 } = abi;
    const cases: Array<[BatchSocketOptions, number, number, number]> = [
      [{}, IP, abi.IP_FREEBIND, 0], [{}, IP, abi.IP_TRANSPARENT, 0],
      [{ freebind: true }, IP, abi.IP_FREEBIND, 1], [{ transparent: true }, IP, abi.IP_TRANSPARENT, 1],
      [{ type: 'udp6', freebind: true }, IP6, abi.IPV6_FREEBIND, 1], [{ type: 'udp6', transparent: true }, IP6, abi.IPV6_TRANSPARENT, 1],
      [{ type: 'udp6', ipv6Only: true, transparent: true }, IP6, abi.IPV6_TRANSPARENT, 1],
    ];
    for (const [options, level, name, want] of cases) assert.equal(await read(options, level, name), want, `${JSON.stringify(options)} ${level}/${name}`);
  });

  it('transparent without CAP_NET_ADMIN fails bind with EPERM, naming the option', { skip: !root && 'needs root to run a process without it' }, () => {
    // nobody, in a process of its own: this one keeps its capabilities.
    const script = `const { BatchSocket } = require(${JSON.stringify(index)});
      const shape = (e) => [e.code, e.errno, e.syscall, e.constructor.name].join(' ');
      (async () => {
        const out = [];
        for (const type of ['udp4', 'udp6']) out.push(await BatchSocket.bind({ type, transparent: true }).then(() => 'bound', shape));
        out.push(await BatchSocket.bind({ type: 'udp6', ipv6Only: true, transparent: true }).then(() => 'bound', shape));
        const s = await BatchSocket.bind({ address: '127.0.0.1', freebind: true });
        out.push(s.getSocketOption(0, ${abi.IP_FREEBIND}));
        await s.close();
        console.log(JSON.stringify(out));
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [
      'EPERM -1 setsockopt IP_TRANSPARENT Error', 'EPERM -1 setsockopt IP_TRANSPARENT Error', 'EPERM -1 setsockopt IPV6_TRANSPARENT Error',
      1, // freebind needs no privilege
    ]);
  });
});
