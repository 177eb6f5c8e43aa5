// The everyday paths under load: a for-await loop runs while datagrams keep
// coming, not after the flood, and a loop that awaits each write lets the
// event loop run timers, reads and other sockets. Counted, never timed.
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { createSocket, type BatchSocket } from '../../src/index';
import { WRITE_BUDGET } from '../../src/engine/budget';
import { bindClosedAfter } from '../helpers';

const linux = process.platform === 'linux';
const bind = bindClosedAfter();

/** Writes most loops below may make before they stop: far more than a budget, so a loop that never yields shows. */
const LOOP_BOUND = 50 * WRITE_BUDGET;

/**
 * Runs `write` in a loop until a callback of the event loop set before it
 * (`schedule`: a timer, an immediate) runs, or LOOP_BOUND writes; returns
 * the writes made.
 */
async function writesUntil(schedule: (f: () => void) => unknown, write: () => Promise<unknown>): Promise<{ writes: number; fired: boolean }> {
  let fired = false;
  schedule(() => { fired = true; });
  let writes = 0;
  while (!fired && writes < LOOP_BOUND) {
    await write();
    writes++;
  }
  return { writes, fired };
}

/** A sender and a receiver that keeps up with it. */
async function pair(): Promise<{ rx: BatchSocket; tx: BatchSocket }> {
  const rx = await bind({ address: '127.0.0.1', recvBufferSize: 4 << 20 });
  rx.on('view', () => {});
  return { rx, tx: await bind({ address: '127.0.0.1' }) };
}

describe('fairness', { skip: !linux }, () => {
  it('for await runs once per read while a flood is queued, not after the wake-up read it all', async () => {
    const s = await bind({ address: '127.0.0.1', batchSize: 4, gro: false, recvBufferSize: 1 << 20 });
    const tx = await bind({ address: '127.0.0.1' });
    const total = 256;
    for (let i = 0; i < total; i += 64) {
      await tx.writeBatchTo(Array.from({ length: 64 }, () => Buffer.alloc(32)), '127.0.0.1', s.address().port);
    }
    // Each batch is one full read of 4. What the socket read before the
    // loop body ran is the lag: reads piled up ahead of the loop.
    const lags: number[] = [];
    let batches = 0, datagrams = 0;
    for await (const b of s) {
      batches++;
      datagrams += b.length;
      lags.push(s.stats().recvCalls - batches);
      if (datagrams === total) break;
    }
    assert.equal(batches, total / 4);
    assert.deepEqual(lags.filter((l) => l > 0), [], 'reads made before the loop saw the one before');
  });

  const writers: Array<[string, (tx: BatchSocket, port: number) => () => Promise<void>]> = [
    ['writeBatchTo', (tx, port) => () => tx.writeBatchTo([Buffer.alloc(64), Buffer.alloc(64)], '127.0.0.1', port)],
    ['writeMessages', (tx, port) => () => tx.writeMessages([{ data: Buffer.alloc(64), address: '127.0.0.1', port }])],
    ['writePackedTo', (tx, port) => () => tx.writePackedTo(Buffer.alloc(128), [64, 64], '127.0.0.1', port)],
  ];
  for (const [api, make] of writers) {
    it(`a loop awaiting ${api} lets the event loop turn within a budget of writes`, async () => {
      const { rx, tx } = await pair();
      const write = make(tx, rx.address().port);
      const timer = await writesUntil((f) => setTimeout(f, 1), write);
      assert.ok(timer.fired, `the timer never fired in ${timer.writes} writes`);
      // The event loop's next turn comes within one budget of writes: the
      // write past the budget settles after it (and is counted once it has).
      const turn = await writesUntil(setImmediate, write);
      assert.ok(turn.fired && turn.writes <= WRITE_BUDGET + 1, `${turn.writes} writes before the next turn`);
    });
  }

  it('a loop awaiting the drop-in\'s send lets a timer fire', async () => {
    const { rx } = await pair();
    const s = createSocket('udp4');
    const send = promisify(s.send.bind(s)) as (msg: Buffer, port: number, address: string) => Promise<number>;
    try {
      const { writes, fired } = await writesUntil((f) => setTimeout(f, 1), () => send(Buffer.alloc(64), rx.address().port, '127.0.0.1'));
      assert.ok(fired, `the timer never fired in ${writes} sends`);
    } finally {
      s.close();
    }
  });

  it('close() resolves after the results of the writes before it, those waiting for the next turn included', async () => {
    const { rx, tx } = await pair();
    const order: string[] = [];
    const writes = Array.from({ length: 2 * WRITE_BUDGET }, (_, i) =>
      tx.writeBatchTo([Buffer.alloc(16)], '127.0.0.1', rx.address().port).then(() => order.push(`write ${i}`)));
    await tx.close().then(() => order.push('closed'));
    await Promise.all(writes);
    assert.equal(order.indexOf('closed'), 2 * WRITE_BUDGET);
  });

  it('results keep the order of their writes across the budget', async () => {
    const { rx, tx } = await pair();
    const order: number[] = [];
    const writes = Array.from({ length: 3 * WRITE_BUDGET }, (_, i) =>
      tx.writeBatchTo([Buffer.alloc(16)], '127.0.0.1', rx.address().port).then(() => order.push(i)));
    await Promise.all(writes);
    assert.deepEqual(order, Array.from({ length: 3 * WRITE_BUDGET }, (_, i) => i));
  });
});
