// writeMessages: messages to many destinations in one sendmmsg, each with
// its own segment size, ECN and source address, on real loopback sockets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Datagram } from '../../src/index';
import { bindClosedAfter, collect, payload } from '../helpers';

const linux = process.platform === 'linux';
const bind = bindClosedAfter();

/** `n` datagrams of `size` bytes numbered from `seq`, back to back in one buffer. */
function train(seq: number, n: number, size: number, last = size): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => payload(seq + i, i === n - 1 ? last : size)));
}

const numbers = (ds: Datagram[]) => ds.map((d) => d.data.readUInt32BE(0));

describe('writeMessages', { skip: !linux }, () => {
  for (const offload of [true, false]) {
    it(`sends to several destinations in one sendmmsg, byte-exact (offload ${offload ? 'on' : 'off'})`, async () => {
      const [a, b, c] = [await bind({ address: '127.0.0.1' }), await bind({ address: '127.0.0.1' }), await bind({ address: '127.0.0.1' })];
      const tx = await bind({ address: '127.0.0.1', offload });
      const arriving = [collect(a, 7), collect(b, 1), collect(c, 3)];
      await tx.writeMessages([
        { data: train(0, 6, 1200, 100), address: '127.0.0.1', port: a.address().port, segmentSize: 1200 },
        { data: payload(100, 33), address: '127.0.0.1', port: b.address().port },
        { data: train(200, 3, 300), address: '127.0.0.1', port: c.address().port, segmentSize: 300 },
        { data: payload(6, 1200), address: '127.0.0.1', port: a.address().port },
      ]);
      const [ga, gb, gc] = await Promise.all(arriving);
      assert.deepEqual(numbers(ga), [0, 1, 2, 3, 4, 5, 6]);
      for (const d of ga) assert.ok(d.data.equals(payload(d.data.readUInt32BE(0), d.data.length)));
      assert.deepEqual(ga.map((d) => d.data.length), [1200, 1200, 1200, 1200, 1200, 100, 1200]);
      assert.ok(gb[0].data.equals(payload(100, 33)));
      assert.deepEqual(numbers(gc), [200, 201, 202]);
      assert.equal(tx.stats().sendCalls, 1, 'one sendmmsg');
      // With offload each message is one GSO message; without, every datagram is its own.
      assert.equal(tx.stats().messagesOut, offload ? 4 : 11);
      assert.equal(tx.stats().datagramsOut, 11);
    });
  }

  it('splits a message past the kernel\'s segment limit, and spreads messages past the batch size over calls', async () => {
    const rx = await bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const tx = await bind({ address: '127.0.0.1', batchSize: 16 });
    const n = tx.capabilities.maxGsoSegments + 36; // past the kernel's limit: two GSO messages
    const arriving = collect(rx, n + 40);
    await tx.writeMessages([
      { data: train(0, n, 100), address: '127.0.0.1', port: rx.address().port, segmentSize: 100 },
      ...Array.from({ length: 40 }, (_, i) => ({ data: payload(1000 + i, 50), address: '127.0.0.1', port: rx.address().port })),
    ]);
    const got = await arriving;
    assert.deepEqual(numbers(got).slice(0, n), Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(numbers(got).slice(n), Array.from({ length: 40 }, (_, i) => 1000 + i));
    assert.equal(tx.stats().messagesOut, 2 + 40, `${n} segments: two GSO messages`);
    assert.equal(tx.stats().sendCalls, Math.ceil(42 / 16));
  });

  it('gives each message its own ECN and source address', async () => {
    const rx = await bind({ address: '127.0.0.1', receiveEcn: true });
    const tx = await bind({ address: '0.0.0.0' });
    const arriving = collect(rx, 3 + 1 + 2);
    const port = rx.address().port;
    await tx.writeMessages([
      { data: train(0, 3, 500), address: '127.0.0.1', port, segmentSize: 500, ecn: 1, sourceAddress: '127.0.0.5' },
      { data: payload(3, 500), address: '127.0.0.1', port, ecn: 3, sourceAddress: '127.0.0.6' },
      { data: train(4, 2, 500), address: '127.0.0.1', port, segmentSize: 500 },
    ]);
    const got = (await arriving).map((d) => `${d.data.readUInt32BE(0)} ${d.ecn} ${d.address}`);
    assert.deepEqual(got, ['0 1 127.0.0.5', '1 1 127.0.0.5', '2 1 127.0.0.5', '3 3 127.0.0.6', '4 0 127.0.0.1', '5 0 127.0.0.1']);
  });

  it('works over node:dgram on the portable path, to several destinations', async () => {
    const [a, b] = [await bind({ address: '127.0.0.1' }), await bind({ address: '127.0.0.1' })];
    const tx = await bind({ address: '127.0.0.1', batching: false });
    const arriving = [collect(a, 2), collect(b, 1)];
    await tx.writeMessages([
      { data: train(0, 2, 40), address: '127.0.0.1', port: a.address().port, segmentSize: 40 },
      { data: payload(9, 10), address: '127.0.0.1', port: b.address().port },
    ]);
    const [ga, gb] = await Promise.all(arriving);
    assert.deepEqual([numbers(ga), numbers(gb)], [[0, 1], [9]]);
  });

  it('rejects bad messages with Node-style errors and stays usable', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1' });
    const port = rx.address().port;
    const ok = { data: Buffer.from('x'), address: '127.0.0.1', port };
    const cases: Array<[string, unknown, string]> = [
      ['not an array', ok, 'ERR_INVALID_ARG_TYPE'],
      ['no messages', [], 'ERR_OUT_OF_RANGE'],
      ['a null message', [null], 'ERR_INVALID_ARG_TYPE'],
      ['data a string', [{ ...ok, data: 'x' }], 'ERR_INVALID_ARG_TYPE'],
      ['segmentSize 0', [{ ...ok, segmentSize: 0 }], 'ERR_OUT_OF_RANGE'],
      ['segmentSize past the payload limit', [{ ...ok, segmentSize: 65508 }], 'ERR_OUT_OF_RANGE'],
      ['segmentSize a string', [{ ...ok, segmentSize: '100' }], 'ERR_INVALID_ARG_TYPE'],
      ['empty data with a segmentSize', [{ ...ok, data: Buffer.alloc(0), segmentSize: 10 }], 'ERR_OUT_OF_RANGE'],
      ['one datagram past the payload limit', [{ ...ok, data: Buffer.alloc(65508) }], 'ERR_OUT_OF_RANGE'],
      ['a host name', [{ ...ok, address: 'localhost' }], 'ERR_INVALID_IP_ADDRESS'],
      ['port 0', [ok, { ...ok, port: 0 }], 'ERR_SOCKET_BAD_PORT'],
      ['ecn 4', [{ ...ok, ecn: 4 }], 'ERR_OUT_OF_RANGE'],
      ['an IPv6 source on udp4', [{ ...ok, sourceAddress: '::1' }], 'ERR_INVALID_IP_ADDRESS'],
      ['more datagrams than sendQueueLimit', [{ ...ok, data: Buffer.alloc(9000), segmentSize: 1 }], 'ERR_OUT_OF_RANGE'],
    ];
    for (const [name, messages, code] of cases) {
      await assert.rejects(tx.writeMessages(messages as never), (e: Error & { code?: string }) => {
        assert.equal(e.code, code, name);
        assert.ok(e instanceof TypeError || e instanceof RangeError, name);
        return true;
      });
    }
    assert.equal(tx.stats().sendCalls, 0, 'nothing was sent for a rejected call');
    const arriving = collect(rx, 1);
    await tx.writeMessages([ok]);
    assert.equal((await arriving)[0].data.toString(), 'x');
  });
});
