// What a write takes, on every path: up to sendQueueLimit datagrams, cut into
// calls of the batch size, in order; and every caller value read once, so
// what is sent is what was checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BatchSocket, type BatchSocketOptions, type OutgoingMessage } from '../../src/index';
import { bindClosedAfter, collect, payload } from '../helpers';

const linux = process.platform === 'linux';
const bind = bindClosedAfter();

/** The paths a program may run on: the batch path (where there is one) and the portable one. */
const paths: Array<[string, BatchSocketOptions]> = [
  ...(linux ? [['batch path', {}] as [string, BatchSocketOptions]] : []),
  ['portable path', { batching: false }],
];

/** Reads until `n` datagrams came, returning their first 4 bytes (the sequence number written by payload()). */
async function sequence(rx: BatchSocket, n: number): Promise<number[]> {
  return (await collect(rx, n)).map((d) => Buffer.from(d.data).readUInt32BE(0));
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('writes larger than the batch size', () => {
  for (const [path, options] of paths) {
    it(`${path}: writeBatchTo, writePackedTo and writeMessages take 300 datagrams, in order`, async () => {
      const rx = await bind({ ...options, address: '127.0.0.1', recvBufferSize: 4 << 20 });
      const tx = await bind({ ...options, address: '127.0.0.1' });
      const port = rx.address().port;
      const n = 300;
      assert.ok(tx.batchSize < n);

      let arriving = sequence(rx, n);
      await tx.writeBatchTo(range(n).map((i) => payload(i, 40 + (i % 3))), '127.0.0.1', port);
      assert.deepEqual(await arriving, range(n));

      arriving = sequence(rx, n);
      const lengths = range(n).map((i) => (i % 50 === 49 ? 30 : 64));
      const packed = Buffer.concat(range(n).map((i) => payload(i, lengths[i])));
      await tx.writePackedTo(packed, lengths, '127.0.0.1', port);
      assert.deepEqual(await arriving, range(n));

      arriving = sequence(rx, n);
      await tx.writeMessages(range(n).map((i) => ({ data: payload(i, 50), address: '127.0.0.1', port })));
      assert.deepEqual(await arriving, range(n));
    });

    it(`${path}: a write past sendQueueLimit is ERR_OUT_OF_RANGE, and the socket stays usable`, async () => {
      const rx = await bind({ ...options, address: '127.0.0.1' });
      const tx = await bind({ ...options, address: '127.0.0.1', sendQueueLimit: 10 });
      const port = rx.address().port;
      const eleven = range(11).map((i) => payload(i, 8));
      await assert.rejects(tx.writeBatchTo(eleven, '127.0.0.1', port), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(tx.writePackedTo(Buffer.alloc(88), range(11).map(() => 8), '127.0.0.1', port), { code: 'ERR_OUT_OF_RANGE' });
      const arriving = sequence(rx, 10);
      await tx.writeBatchTo(eleven.slice(0, 10), '127.0.0.1', port);
      assert.deepEqual(await arriving, range(10));
    });
  }
});

describe('caller values are read once', { skip: !linux }, () => {
  it('writeMessages: a data getter that grows the array during the call sends exactly the messages checked', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1' });
    const port = rx.address().port;
    const messages: OutgoingMessage[] = [];
    let reads = 0;
    messages.push({
      get data() {
        reads++;
        messages.push({ data: Buffer.from('late'), address: '127.0.0.1', port });
        return Buffer.from('first');
      },
      address: '127.0.0.1', port,
    });
    const arriving = collect(rx, 1);
    await tx.writeMessages(messages);
    assert.deepEqual((await arriving).map((d) => Buffer.from(d.data).toString()), ['first']);
    assert.equal(reads, 1);
    assert.equal(tx.stats().datagramsOut, 1);
  });

  it('writePackedTo: lengths that change after the check are sent as checked', async () => {
    const rx = await bind({ address: '127.0.0.1' });
    const tx = await bind({ address: '127.0.0.1' });
    const values = [[3, 0], [4, NaN], [5, 1.5]];
    let reads = 0;
    // Each length answers its checked value the first time, something else after.
    const lengths = new Proxy([3, 4, 5], {
      get(target, key) {
        const i = Number(key);
        if (Number.isInteger(i) && i < values.length) return values[i][reads++ < values.length ? 0 : 1];
        return Reflect.get(target, key);
      },
    });
    const arriving = collect(rx, 3);
    await tx.writePackedTo(Buffer.from('abcdefghijkl'), lengths, '127.0.0.1', rx.address().port);
    assert.deepEqual((await arriving).map((d) => Buffer.from(d.data).toString()), ['abc', 'defg', 'hijkl']);
    assert.equal(reads, 3);
  });
});
