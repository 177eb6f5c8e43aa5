// BatchSocket's multicast calls, node:dgram's names: each sets the option
// node:dgram sets, as getSocketOption reads it back; bad arguments get
// Node-style errors and leave the socket usable; and in a network namespace
// of its own (netns.ts MulticastHost) a member receives what is sent to its
// group, and no more after leaving it, only its source's datagrams in a
// source-specific group, nothing of its own host's with loopback off or
// through another link, and what crosses a wire only with a TTL above 0,
// over IPv4, IPv6 and a dual-stack socket. The
// portable path (node:dgram underneath) gives every record the batch path gives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BatchSocket } from '../../src/index';
import { abi } from '../../src/wire/abi';
import { bindClosedAfter, collect, index } from '../helpers';
import { MulticastHost, netnsUnavailable } from '../netns';

const linux = process.platform === 'linux';
const bind = bindClosedAfter();
const PATHS = [['batch path', true], ['portable path', false]] as const;

/** What a call gave: its value, or its error's code and syscall and class. */
function outcome(call: () => unknown): unknown {
  try {
    return call() ?? 'ok';
  } catch (e) {
    const err = e as Error & { code?: string; syscall?: string };
    return `${err.code}${err.syscall ? ` ${err.syscall}` : ''} ${err.constructor.name}`;
  }
}

describe('BatchSocket multicast options', { skip: !linux }, () => {
  it('sets the options node:dgram sets, as the kernel reads them back, IPv4, IPv6 and dual-stack', async () => {
    const lo = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
    const s4 = await bind({ address: '127.0.0.1' });
    const s6 = await bind({ type: 'udp6', address: '::' });
    const { IPPROTO_IP: IP, IPPROTO_IPV6: IPV6 } = abi;
    assert.deepEqual([
      s4.setMulticastTTL(9), s4.getSocketOption(IP, abi.IP_MULTICAST_TTL),
      s4.setMulticastLoopback(false), s4.getSocketOption(IP, abi.IP_MULTICAST_LOOP),
      s4.setMulticastInterface('127.0.0.1'), [...s4.getSocketOption(IP, abi.IP_MULTICAST_IF, 4)],
    ], [9, 9, false, 0, undefined, [127, 0, 0, 1]]);
    assert.deepEqual([
      s6.setMulticastTTL(0), s6.getSocketOption(IPV6, abi.IPV6_MULTICAST_HOPS),
      // As node:dgram: the IPv4 TTL of datagrams to IPv4 groups stays the kernel's (README).
      s6.getSocketOption(IP, abi.IP_MULTICAST_TTL),
      s6.setMulticastLoopback(false), s6.getSocketOption(IPV6, abi.IPV6_MULTICAST_LOOP),
      s6.setMulticastInterface('::%lo'), s6.getSocketOption(IPV6, abi.IPV6_MULTICAST_IF),
      // An IPv4 interface on a dual-stack socket, for its datagrams to IPv4 groups.
      s6.setMulticastInterface('127.0.0.1'), [...s6.getSocketOption(IP, abi.IP_MULTICAST_IF, 4)],
    ], [0, 0, 1, false, 0, undefined, lo, undefined, [127, 0, 0, 1]]);
  });

  for (const [path, batching] of PATHS) {
    it(`refuses bad arguments with Node-style errors and stays usable, the ${path}`, async () => {
      const s4 = await bind({ address: '127.0.0.1', batching });
      const s6 = await bind({ type: 'udp6', address: '::1', batching });
      const cases: Array<[string, () => unknown, string]> = [
        ['no group', () => (s4.addMembership as () => void)(), 'ERR_MISSING_ARGS TypeError'],
        ['an empty group', () => s4.addMembership(''), 'ERR_MISSING_ARGS TypeError'],
        ['a number for a group', () => s4.addMembership(5 as never), 'ERR_INVALID_ARG_TYPE TypeError'],
        ['a number for an interface', () => s4.dropMembership('239.1.2.3', 5 as never), 'ERR_INVALID_ARG_TYPE TypeError'],
        ['a group that is no address', () => s4.addMembership('foo'), 'EINVAL addMembership Error'],
        ['an interface that is no address', () => s4.addMembership('239.1.2.3', 'foo'), 'EINVAL addMembership Error'],
        ['a unicast address for a group', () => s4.addMembership('127.0.0.1'), 'EINVAL addMembership Error'],
        ['an IPv6 group on udp4', () => s4.addMembership('ff12::1'), 'ERR_INVALID_IP_ADDRESS TypeError'],
        ['an interface no link has', () => s4.addMembership('239.1.2.3', '192.0.2.1'), 'ENODEV addMembership Error'],
        ['leaving a group not joined', () => s4.dropMembership('239.9.9.9', '127.0.0.1'), 'EADDRNOTAVAIL dropMembership Error'],
        ['an IPv6 interface for an IPv4 group', () => s6.addMembership('239.1.2.3', '::%lo'), 'EINVAL addMembership Error'],
        ['a number for a source', () => s4.addSourceSpecificMembership(5 as never, '232.1.1.1'), 'ERR_INVALID_ARG_TYPE TypeError'],
        ['a number for a source group', () => s4.addSourceSpecificMembership('127.0.0.1', 6 as never),
          'ERR_INVALID_ARG_TYPE TypeError'],
        ['a source that is no address', () => s4.addSourceSpecificMembership('foo', '232.1.1.1'),
          'EINVAL addSourceSpecificMembership Error'],
        ['a source and group of two families', () => s6.addSourceSpecificMembership('::1', '232.1.1.1'),
          'EINVAL addSourceSpecificMembership Error'],
        ['an IPv6 source group on udp4', () => s4.addSourceSpecificMembership('::1', 'ff3e::1'), 'ERR_INVALID_IP_ADDRESS TypeError'],
        // The kernel's answer to a source it does not know of (ip_mc_source).
        ['leaving a source group not joined', () => s4.dropSourceSpecificMembership('127.0.0.1', '232.1.1.9', '127.0.0.1'),
          'EINVAL dropSourceSpecificMembership Error'],
        ['a number for an interface to send through', () => s4.setMulticastInterface(5 as never), 'ERR_INVALID_ARG_TYPE TypeError'],
        ['an interface to send through that is no address', () => s4.setMulticastInterface('foo'), 'EINVAL setMulticastInterface Error'],
        ['an address no link has to send through', () => s4.setMulticastInterface('192.0.2.1'),
          'EADDRNOTAVAIL setMulticastInterface Error'],
        ['an IPv6 interface to send through on udp4', () => s4.setMulticastInterface('::%lo'), 'ERR_INVALID_IP_ADDRESS TypeError'],
        ['a TTL as text', () => s4.setMulticastTTL('1' as never), 'ERR_INVALID_ARG_TYPE TypeError'],
        ['a TTL past 255', () => s6.setMulticastTTL(256), 'ERR_OUT_OF_RANGE RangeError'],
        ['a negative TTL', () => s4.setMulticastTTL(-1), 'ERR_OUT_OF_RANGE RangeError'],
        ['a fractional TTL', () => s4.setMulticastTTL(1.5), 'ERR_OUT_OF_RANGE RangeError'],
        ['a loop flag of 1', () => s6.setMulticastLoopback(1 as never), 'ERR_INVALID_ARG_TYPE TypeError'],
      ];
      const got = cases.map(([name, call]) => [name, outcome(call)]);
      assert.deepEqual(got, cases.map(([name, , want]) => [name, want]));
      assert.equal(s4.setMulticastTTL(3), 3);
      const arriving = collect(s4, 1);
      await s4.writeBatchTo([Buffer.from('still usable')], '127.0.0.1', s4.address().port);
      assert.equal((await arriving)[0].data.toString(), 'still usable');
    });

    it(`throws ERR_SOCKET_DGRAM_NOT_RUNNING for every call after close, the ${path}`, async () => {
      const s = await BatchSocket.bind({ address: '127.0.0.1', batching });
      await s.close();
      const calls = [
        () => s.addMembership('239.1.2.3'), () => s.dropMembership('239.1.2.3'),
        () => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1'), () => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1'),
        () => s.setMulticastInterface('127.0.0.1'), () => s.setMulticastLoopback(true), () => s.setMulticastTTL(1),
      ];
      assert.deepEqual(calls.map(outcome), calls.map(() => 'ERR_SOCKET_DGRAM_NOT_RUNNING Error'));
    });
  }
});

// What a member receives, as a program inside the namespace records it: each
// call's outcome, and after each send the datagrams that came since the last.
const scenario = (host: MulticastHost, type: 'udp4' | 'udp6', batching: boolean) => {
  const [a, b] = host.links;
  const v6 = type === 'udp6';
  const [source, other] = v6 ? a.v6 : a.v4;
  const f = {
    type, batching, source, other, any: v6 ? '::' : '0.0.0.0',
    group: v6 ? 'ff12::1' : '239.1.2.3', sourceGroup: v6 ? 'ff3e::1234' : '232.1.1.1',
    // A membership's and a sender's interface: its address, an IPv6 one as the zone of ::.
    here: v6 ? `::%${a.dev}` : a.v4[0], there: v6 ? `::%${b.dev}` : b.v4[0], here4: a.v4[0], there4: b.v4[0],
    wire: v6 ? `::%${host.wire.dev}` : host.wire.v4[0],
  };
  return `
    const { BatchSocket } = require(${JSON.stringify(index)});
    const f = ${JSON.stringify(f)};
    const out = [];
    const note = (label, call) => {
      try { const v = call(); out.push([label, v === undefined ? 'ok' : v]); } catch (e) { out.push([label, e.code + ' ' + e.syscall]); }
    };
    const open = (options) => BatchSocket.bind({ batching: f.batching, ...options });
    (async () => {
      const member = await open({ type: f.type, address: f.any });
      const got = [];
      member.on('batch', (batch) => { for (const d of batch) got.push(d.data.toString()); });
      const [fromSource, fromOther, sender] = await Promise.all([
        open({ type: f.type, address: f.source }), open({ type: f.type, address: f.other }), open({ type: f.type, address: f.any }),
      ]);
      // Through this host's loopback or across a veth link, a datagram is there in well under 50 ms.
      const send = async (s, text, group, port = member.address().port) => {
        await s.writeBatchTo([Buffer.from(text)], group, port);
        await new Promise((r) => setTimeout(r, 50));
      };
      const received = (label) => out.push([label, got.splice(0)]);

      note('join', () => member.addMembership(f.group, f.here));
      note('join again', () => member.addMembership(f.group, f.here));
      await send(fromSource, 'to the group', f.group);
      received('a member receives');
      note('leave', () => member.dropMembership(f.group, f.here));
      note('leave again', () => member.dropMembership(f.group, f.here));
      await send(fromSource, 'after leaving', f.group);
      received('after leaving');

      note('join for one source', () => member.addSourceSpecificMembership(f.source, f.sourceGroup, f.here));
      await send(fromSource, 'from the source', f.sourceGroup);
      await send(fromOther, 'from another source', f.sourceGroup);
      received('a source-specific member receives from its source only');
      note('leave the source', () => member.dropSourceSpecificMembership(f.source, f.sourceGroup, f.here));
      await send(fromSource, 'from the source after leaving', f.sourceGroup);
      received('after leaving the source');

      note('join for the sender', () => member.addMembership(f.group, f.here));
      note('loopback off', () => sender.setMulticastLoopback(false));
      await send(sender, 'loopback off', f.group);
      note('loopback on', () => sender.setMulticastLoopback(true));
      await send(sender, 'loopback on', f.group);
      received('own host with loopback off, then on');
      note('through the other link', () => sender.setMulticastInterface(f.there));
      await send(sender, 'through the other link', f.group);
      note("through the member's link", () => sender.setMulticastInterface(f.here));
      await send(sender, "through the member's link", f.group);
      received("own host through the other link, then the member's");
      // A member on the wire's far end, on a port of its own: each datagram to it comes once through this
      // host's loopback, and once more across the wire unless its TTL is 0. (The kernel keeps a TTL of 0 on
      // the host only where the link it leaves by has a member here, as the member above; elsewhere it sends it.)
      const far = await open({ type: f.type, address: f.any });
      far.on('batch', (batch) => { for (const d of batch) got.push(d.data.toString()); });
      note('join across the wire', () => far.addMembership(f.group, f.wire));
      note('TTL 0', () => sender.setMulticastTTL(0));
      await send(sender, 'TTL 0', f.group, far.address().port);
      note('TTL 1', () => sender.setMulticastTTL(1));
      await send(sender, 'TTL 1', f.group, far.address().port);
      received('TTL 0 keeps a datagram on this host, TTL 1 sends it across the wire too');

      if (f.type === 'udp6') {
        // A dual-stack socket and IPv4 groups: the IPv4 options, on the IPv6 socket.
        const v4 = await open({ address: f.here4 });
        const v6Only = await open({ type: 'udp6', address: '::', ipv6Only: true });
        v6Only.on('batch', (batch) => { for (const d of batch) got.push('v6Only: ' + d.data.toString()); });
        note('dual-stack: join an IPv4 group', () => member.addMembership('239.1.2.3', f.here4));
        note('ipv6Only: join an IPv4 group', () => v6Only.addMembership('239.1.2.3', f.here4));
        await send(v4, 'IPv4', '239.1.2.3');
        await send(v4, 'IPv4 to ipv6Only', '239.1.2.3', v6Only.address().port);
        received('a dual-stack member receives an IPv4 group, an ipv6Only one does not');
        note('dual-stack: loopback off', () => sender.setMulticastLoopback(false));
        await send(sender, 'IPv4 loopback off', '239.1.2.3');
        note('dual-stack: loopback on', () => sender.setMulticastLoopback(true));
        note('dual-stack: through the other IPv4 link', () => sender.setMulticastInterface(f.there4));
        await send(sender, 'IPv4 through the other link', '239.1.2.3');
        note("dual-stack: through the member's IPv4 link", () => sender.setMulticastInterface(f.here4));
        await send(sender, "IPv4 through the member's link", '239.1.2.3');
        received('a dual-stack sender to an IPv4 group obeys its loop flag and IPv4 interface');
        await Promise.all([v4.close(), v6Only.close()]);
      }
      await Promise.all([member, fromSource, fromOther, sender, far].map((s) => s.close()));
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
};

const expected = (type: 'udp4' | 'udp6') => [
  ['join', 'ok'], ['join again', 'EADDRINUSE addMembership'],
  ['a member receives', ['to the group']],
  ['leave', 'ok'], ['leave again', 'EADDRNOTAVAIL dropMembership'],
  ['after leaving', []],
  ['join for one source', 'ok'],
  ['a source-specific member receives from its source only', ['from the source']],
  ['leave the source', 'ok'],
  ['after leaving the source', []],
  ['join for the sender', 'ok'], ['loopback off', false], ['loopback on', true],
  ['own host with loopback off, then on', ['loopback on']],
  ['through the other link', 'ok'], ["through the member's link", 'ok'],
  ["own host through the other link, then the member's", ["through the member's link"]],
  ['join across the wire', 'ok'], ['TTL 0', 0], ['TTL 1', 1],
  ['TTL 0 keeps a datagram on this host, TTL 1 sends it across the wire too', ['TTL 0', 'TTL 1', 'TTL 1']],
  ...type === 'udp4' ? [] : [
    ['dual-stack: join an IPv4 group', 'ok'], ['ipv6Only: join an IPv4 group', 'ok'],
    ['a dual-stack member receives an IPv4 group, an ipv6Only one does not', ['IPv4']],
    ['dual-stack: loopback off', false], ['dual-stack: loopback on', true],
    ['dual-stack: through the other IPv4 link', 'ok'], ["dual-stack: through the member's IPv4 link", 'ok'],
    ['a dual-stack sender to an IPv4 group obeys its loop flag and IPv4 interface', ["IPv4 through the member's link"]],
  ],
];

const noNetns = linux ? netnsUnavailable() : 'Linux only';
describe('BatchSocket multicast, in a network namespace', { skip: noNetns ?? false }, () => {
  let host: MulticastHost;
  before(() => { host = new MulticastHost(); });
  after(() => host?.destroy());

  for (const type of ['udp4', 'udp6'] as const) {
    for (const [path, batching] of PATHS) {
      it(`${type}: joins, receives, leaves, one source, loopback, interface and TTL, the ${path}`, () => {
        const records = JSON.parse(host.exec(process.execPath, '-e', scenario(host, type, batching)));
        assert.deepEqual(records, expected(type));
      });
    }
  }
});
