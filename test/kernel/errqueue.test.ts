// ICMP errors on unconnected sockets (receiveErrors): a closed port's "port
// unreachable" arrives as an 'icmpError' event naming the destination, for
// IPv4, IPv6 and IPv4-mapped peers; never as an 'error'; the writes after it
// are not failed by the kernel's copy of the same error; and a socket that
// did not ask hears nothing, as before. What the kernel could not queue is
// counted where a trace of it is left, checked against the kernel's own count
// of the ICMP errors in a namespace of the test's own.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BatchSocket, type IcmpError } from '../../src/index';
import { ICMP_ERRNOS } from '../../src/engine/linux/errqueue';
import { binding, type NativeBinding } from '../../src/kernel/native';
import { abi } from '../../src/wire/abi';
import { bindWith } from '../../src/socket/batch-socket';
import { bindClosedAfter, index, node, until } from '../helpers';
import { netnsUnavailable, TwoHosts } from '../netns';

const linux = process.platform === 'linux' && binding !== null;
const bind = bindClosedAfter();

/** A port nobody listens on: bound, read, closed. */
async function closedPort(type: 'udp4' | 'udp6', address: string): Promise<number> {
  const s = await BatchSocket.bind({ type, address });
  const port = s.address().port;
  await s.close();
  return port;
}

describe('receiveErrors', { skip: !linux }, () => {
  const cases: Array<[string, 'udp4' | 'udp6', string, string, 'icmp' | 'icmp6']> = [
    ['IPv4', 'udp4', '127.0.0.1', '127.0.0.1', 'icmp'],
    ['IPv6', 'udp6', '::1', '::1', 'icmp6'],
    ['IPv4-mapped on a dual-stack socket', 'udp6', '::', '::ffff:127.0.0.1', 'icmp'],
  ];
  for (const [name, type, local, peer, origin] of cases) {
    it(`${name}: a closed port's ICMP error is an 'icmpError' naming the destination`, async () => {
      const port = await closedPort(type, local);
      const s = await bind({ type, receiveErrors: true });
      assert.equal(s.capabilities.icmpErrors, true);
      const got: IcmpError[] = [];
      s.on('icmpError', (e) => got.push(e));
      await s.writeBatchTo([Buffer.from('hello')], peer, port);
      await until(() => got.length > 0, 5000, "an 'icmpError'");
      assert.deepEqual(got[0], { code: 'ECONNREFUSED', errno: -111, address: peer, port, origin, from: peer, mtu: undefined, txTime: undefined });
      assert.equal(s.stats().icmpErrors, got.length);
    });
  }

  it('a write right after a refused one is not failed by the kernel copy of its error', async () => {
    const port = await closedPort('udp4', '127.0.0.1');
    const rx = await bind({ address: '127.0.0.1' });
    const s = await bind({ receiveErrors: true });
    const got: IcmpError[] = [];
    s.on('icmpError', (e) => got.push(e));
    let n = 0;
    rx.on('batch', (b) => { n += b.length; });
    // On loopback the ICMP error is queued during the first call: the kernel
    // also fails the socket's next call with it, before any poll could read it.
    await s.writeBatchTo([Buffer.from('refused')], '127.0.0.1', port);
    await s.writeBatchTo([Buffer.from('one'), Buffer.from('two')], '127.0.0.1', rx.address().port);
    await until(() => n === 2 && got.length === 1, 5000, 'both datagrams and the error');
    assert.equal(got[0].port, port);
    assert.equal(s.stats().datagramsOut, 3);
  });

  it('an ICMP error the kernel had no room to queue neither spins the loop nor fails the next write', async () => {
    // Counts the error-queue reads: a wake-up that cannot clear the socket's
    // pending error comes back at once, as often as the loop turns.
    const real = binding as NativeBinding;
    let reads = 0;
    const counting: NativeBinding = { ...real, recvErrors: (h, ring, n) => (reads++, real.recvErrors(h, ring, n)) };
    const s = await bindWith({ address: '127.0.0.1', receiveErrors: true, recvBufferSize: 4096 }, counting);
    const rx = await bind({ address: '127.0.0.1' });
    const filler = await bind({ address: '127.0.0.1' });
    const port = await closedPort('udp4', '127.0.0.1');
    try {
      // Nobody reads s: its receive buffer fills, and the error queue shares it.
      for (let i = 0; i < 4; i++) await filler.writeBatchTo(Array.from({ length: 100 }, () => Buffer.alloc(100)), '127.0.0.1', s.address().port);
      await s.writeBatchTo([Buffer.from('refused')], '127.0.0.1', port);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(reads < 10, `${reads} error-queue reads in 300 ms`);
      assert.equal(s.stats().icmpErrorsDropped, 1, 'the error the kernel kept only as pending is counted');
      let n = 0;
      rx.on('batch', (b) => { n += b.length; });
      await s.writeBatchTo([Buffer.from('live')], '127.0.0.1', rx.address().port);
      await until(() => n === 1, 5000, 'the datagram to the live port');
    } finally {
      await s.close();
    }
  });

  it('a listener that throws costs the others nothing, and there is no error event', async () => {
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      let seen = 0, uncaught = 0;
      process.on('uncaughtException', () => { uncaught++; });
      (async () => {
        const c = await BatchSocket.bind({ address: '127.0.0.1' });
        const port = c.address().port;
        await c.close();
        const s = await BatchSocket.bind({ receiveErrors: true });
        s.on('icmpError', () => { throw new Error('listener'); });
        s.on('icmpError', () => { seen++; });
        for (let i = 0; i < 3; i++) {
          await s.writeBatchTo([Buffer.from('x')], '127.0.0.1', port);
          await new Promise((r) => setTimeout(r, 20));
        }
        const quiet = await BatchSocket.bind({ receiveErrors: true }); // nobody listens: counted, nothing thrown
        await quiet.writeBatchTo([Buffer.from('x')], '127.0.0.1', port);
        await new Promise((r) => setTimeout(r, 50));
        console.log(JSON.stringify({ seen, uncaught, counted: s.stats().icmpErrors, quiet: quiet.stats().icmpErrors }));
        await s.close();
        await quiet.close();
      })();
    `);
    assert.equal(r.status, 0, r.out);
    assert.deepEqual(JSON.parse(r.out.trim().split('\n').pop()!), { seen: 3, uncaught: 3, counted: 3, quiet: 1 });
  });

  it('batchgram:icmp-error carries the socket, its address and the error', async () => {
    const port = await closedPort('udp4', '127.0.0.1');
    const s = await bind({ address: '127.0.0.1', receiveErrors: true });
    const seen: Array<Record<string, unknown>> = [];
    const listener = (m: unknown) => seen.push(m as Record<string, unknown>);
    subscribe('batchgram:icmp-error', listener);
    try {
      await s.writeBatchTo([Buffer.from('x')], '127.0.0.1', port);
      await until(() => seen.length > 0, 5000, 'a message');
    } finally {
      unsubscribe('batchgram:icmp-error', listener);
    }
    assert.equal(seen[0].socket, s);
    assert.equal(seen[0].address, `127.0.0.1:${s.address().port}`);
    assert.equal((seen[0].error as IcmpError).port, port);
  });

  it('without it an unconnected socket hears nothing, as before', async () => {
    const port = await closedPort('udp4', '127.0.0.1');
    const s = await bind({});
    assert.equal(s.capabilities.icmpErrors, false);
    const events: unknown[] = [];
    s.on('icmpError', (e) => events.push(e));
    s.on('error', (e) => events.push(e));
    s.on('batch', () => {});
    for (let i = 0; i < 3; i++) await s.writeBatchTo([Buffer.from('x')], '127.0.0.1', port);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(events, []);
    assert.equal(s.stats().icmpErrors, 0);
    assert.equal(s.stats().datagramsOut, 3);
  });

  it('the portable path says it has no error queue', async () => {
    const s = await bind({ batching: false, receiveErrors: true });
    assert.equal(s.capabilities.icmpErrors, false);
  });
});

/**
 * A program run alone in a namespace, where Icmp InDestUnreachs counts the
 * ICMP errors that reached its socket and nothing else: on loopback the
 * kernel neither rate-limits them (icmp_send exempts a packet that came in on
 * loopback) nor loses one before the socket. `steps` sends `refused`
 * datagrams to a closed port; the program reports once a read of the error
 * queue came up short after the kernel had counted them all.
 */
function counted(options: string, refused: number, steps: string): string {
  const src = join(index, '..');
  return `
    const { readFileSync } = require('node:fs');
    const { BatchSocket } = require(${JSON.stringify(index)});
    const { bindWith } = require(${JSON.stringify(join(src, 'socket', 'batch-socket.js'))});
    const { binding } = require(${JSON.stringify(join(src, 'kernel', 'native.js'))});
    const unreachables = () => {
      const [names, values] = readFileSync('/proc/net/snmp', 'utf8').split('\\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(' '));
      return Number(values[names.indexOf('InDestUnreachs')]);
    };
    const start = unreachables();
    let settled = false;
    const watching = { ...binding, recvErrors: (h, ring, n) => {
      const r = binding.recvErrors(h, ring, n);
      if (r < n && unreachables() - start >= ${refused}) settled = true;
      return r;
    } };
    (async () => {
      const closed = await BatchSocket.bind({ address: '127.0.0.1' });
      const port = closed.address().port;
      await closed.close();
      const s = await bindWith({ address: '127.0.0.1', receiveErrors: true, ${options} }, watching);
      const filler = await BatchSocket.bind({ address: '127.0.0.1' });
      const rx = await BatchSocket.bind({ address: '127.0.0.1' });
      let events = 0, delivered = 0, writeError;
      s.on('icmpError', () => { events++; });
      rx.on('batch', (b) => { delivered += b.length; });
      ${steps}
      while (!settled) await new Promise((r) => setTimeout(r, 5));
      const { icmpErrors, icmpErrorsDropped } = s.stats();
      console.log(JSON.stringify({ kernel: unreachables() - start, events, icmpErrors, icmpErrorsDropped, delivered, writeError }));
      process.exit(0);
    })();
  `;
}

/** Fills s's receive buffer (nobody reads s): the error queue is charged to the same buffer. */
const fill = `for (let i = 0; i < 4; i++) await filler.writeBatchTo(Array.from({ length: 100 }, () => Buffer.alloc(100)), '127.0.0.1', s.address().port);`;

describe('receiveErrors: counted against the kernel', { skip: netnsUnavailable() ?? !linux }, () => {
  let hosts: TwoHosts;
  before(() => { hosts = new TwoHosts(4); });
  after(() => hosts.destroy());

  const exact: Array<[string, string, number, string, Record<string, unknown>]> = [
    ['with room for every entry, each is an event', '', 20,
      `await s.writeMessages(Array.from({ length: 20 }, () => ({ data: Buffer.from('x'), address: '127.0.0.1', port })));`,
      { kernel: 20, events: 20, icmpErrors: 20, icmpErrorsDropped: 0 }],
    ['an error the kernel kept only as pending, found by the poll, is counted dropped', 'recvBufferSize: 4096', 1,
      `${fill} await s.writeBatchTo([Buffer.from('refused')], '127.0.0.1', port);`,
      { kernel: 1, events: 0, icmpErrors: 0, icmpErrorsDropped: 1 }],
    ['an error the kernel kept only as pending, taken by the next write, is counted dropped', 'recvBufferSize: 4096', 1,
      `${fill} await s.writeBatchTo([Buffer.from('refused')], '127.0.0.1', port);
      await s.writeBatchTo([Buffer.from('live')], '127.0.0.1', rx.address().port);
      while (delivered < 1) await new Promise((r) => setTimeout(r, 5));`,
      { kernel: 1, events: 0, icmpErrors: 0, icmpErrorsDropped: 1, delivered: 1 }],
    // On loopback each datagram's error comes back inside the sendmmsg that
    // sent it and stops the call at the next message; the queue is read
    // after each such call, so it never fills, even with the smallest buffer.
    ['a write refused datagram by datagram keeps every entry, even in the smallest receive buffer', 'recvBufferSize: 1', 500,
      `await s.writeMessages(Array.from({ length: 500 }, () => ({ data: Buffer.from('x'), address: '127.0.0.1', port })));`,
      { kernel: 500, events: 500, icmpErrors: 500, icmpErrorsDropped: 0 }],
    // The namespace has no route there: the send's own ENETUNREACH, which an
    // ICMP error could also have given, is no proof that one was lost.
    ["a send's own refusal is not counted", '', 0,
      `await s.writeBatchTo([Buffer.from('x')], '10.99.0.1', 9).catch((e) => { writeError = e.code; });`,
      { kernel: 0, events: 0, icmpErrors: 0, icmpErrorsDropped: 0, writeError: 'ENETUNREACH' }],
  ];
  for (const [name, options, refused, steps, expected] of exact) {
    it(name, async () => {
      const p = hosts.node(hosts.a, counted(options, refused, steps));
      const got = await p.next();
      assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, got[k]])), expected);
    });
  }

});

describe('ICMP_ERRNOS', () => {
  it('holds the ten errnos the kernel converts ICMP errors to, EHOSTDOWN and ENONET (which Node does not name) among them', () => {
    assert.equal(ICMP_ERRNOS.size, 10);
    for (const e of ICMP_ERRNOS) assert.ok(Number.isInteger(e) && e < 0, String(e));
    assert.ok(ICMP_ERRNOS.has(-abi.EHOSTDOWN) && ICMP_ERRNOS.has(-abi.ENONET));
  });
});
