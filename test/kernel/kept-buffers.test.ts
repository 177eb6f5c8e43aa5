// The safe paths' promise: a datagram's `data` from a Batch (a 'batch'
// listener or a for-await loop) is the user's, and no later read changes
// it, while the memory of the Batches nobody keeps is reused and given back.
// Small datagrams are copied into the addon's pooled blocks, larger ones
// into the allocator's memory (POOLED_DATAGRAM_MAX): both are run. Each case
// runs in a child with --expose-gc, so that collections between the rounds
// send the blocks of dropped Batches back to the pool for the next reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { index, node } from '../helpers';

const linux = process.platform === 'linux';

/**
 * Round r sends DATAGRAMS datagrams of `size` bytes, every byte r + 1, and
 * the consumer keeps round KEEP's, whose copies go into blocks the earlier
 * rounds gave back. Prints how many kept Buffers changed by the end, and the
 * pool's counts while they were kept and after.
 */
function rounds(size: number, consumer: 'batch' | 'for-await') {
  const r = node(`
    const { BatchSocket } = require(${JSON.stringify(index)});
    const DATAGRAMS = 2048, ROUNDS = 24, KEEP = 12;
    const turn = () => new Promise((r) => setImmediate(r));
    (async () => {
      const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
      const tx = await BatchSocket.bind({ address: '127.0.0.1' });
      let kept = [], got = 0;
      const take = (batch) => {
        for (const d of batch) {
          if (d.data[0] === KEEP + 1) kept.push(d.data);
          got++;
        }
      };
      ${consumer === 'batch'
    ? "rx.on('batch', take);"
    : 'void (async () => { for await (const b of rx) take(b); })();'}
      await turn();
      let heldWhileKept = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const bufs = Array.from({ length: DATAGRAMS }, () => Buffer.alloc(${size}, round + 1));
        await tx.writeBatchTo(bufs, '127.0.0.1', rx.address().port);
        while (got < (round + 1) * DATAGRAMS) await new Promise((r) => setTimeout(r, 2));
        heldWhileKept = Math.max(heldWhileKept, rx.stats().copyBlocksHeld);
        gc();
        await turn();
        await turn();
      }
      const wrong = kept.filter((b) => b.length !== ${size} || b.some((x) => x !== KEEP + 1)).length;
      const keptCount = kept.length;
      kept = null;
      await rx.close(); // a for-await loop ends, and lets its last batch go
      let held = -1;
      for (let i = 0; i < 100 && held !== 0; i++) {
        gc();
        await turn();
        held = tx.stats().copyBlocksHeld; // process-wide
      }
      const { copyBlocksFree } = tx.stats();
      await tx.close();
      console.log(JSON.stringify({ keptCount, wrong, heldWhileKept, held, free: copyBlocksFree }));
    })();
  `, 60_000, ['--expose-gc']);
  assert.equal(r.status, 0, r.out);
  return JSON.parse(r.out.trim().split('\n').pop()!) as
    { keptCount: number; wrong: number; heldWhileKept: number; held: number; free: number };
}

describe('kept Buffers', { skip: !linux }, () => {
  for (const consumer of ['batch', 'for-await'] as const) {
    it(`small datagrams through ${consumer}: pooled blocks, kept bytes unchanged by later rounds, blocks back after`, () => {
      const r = rounds(64, consumer);
      assert.equal(r.keptCount, 2048);
      assert.equal(r.wrong, 0, 'kept Buffers whose bytes changed');
      assert.ok(r.heldWhileKept > 0, 'the copies were made into pooled blocks');
      assert.equal(r.held, 0, 'every block back once no Buffer holds it');
      assert.ok(r.free > 0 && r.free <= 512, `blocks kept for reuse: ${r.free}`);
    });
  }

  it('large datagrams (the allocator\'s memory): kept bytes unchanged, no pooled block used', () => {
    const r = rounds(1200, 'batch');
    assert.equal(r.keptCount, 2048);
    assert.equal(r.wrong, 0, 'kept Buffers whose bytes changed');
    assert.equal(r.heldWhileKept, 0);
  });
});
