// diagnostics_channel: a subscriber sees each channel, with the socket and
// its local address; nothing is built for channels nobody watches.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { BatchSocket } from '../../src/index';
import { binding, type NativeBinding } from '../../src/kernel/native';
import { bindWith } from '../../src/socket/batch-socket';
import { collect, payload, until } from '../helpers';

const { EIO, EAGAIN } = constants.errno;
const linux = process.platform === 'linux' && binding !== null;

/** Records what `name` publishes while `run` runs. */
async function watch(name: string, run: () => Promise<void>): Promise<Array<Record<string, unknown>>> {
  const seen: Array<Record<string, unknown>> = [];
  const listener = (m: unknown) => seen.push(m as Record<string, unknown>);
  subscribe(name, listener);
  try {
    await run();
  } finally {
    unsubscribe(name, listener);
  }
  return seen;
}

describe('diagnostics channels', { skip: !linux }, () => {
  it('batchgram:socket:open and batchgram:socket:close name the socket and its address', async () => {
    let s: BatchSocket | undefined;
    const opened = await watch('batchgram:socket:open', async () => { s = await BatchSocket.bind({ address: '127.0.0.1' }); });
    const port = s!.address().port;
    const closed = await watch('batchgram:socket:close', () => s!.close());
    assert.deepEqual(opened, [{ socket: s, address: `127.0.0.1:${port}` }]);
    assert.deepEqual(closed, [{ socket: s, address: `127.0.0.1:${port}` }]);
  });

  it('batchgram:gso-disabled when the kernel refuses GSO with EIO (fault injected)', async () => {
    const real = binding as NativeBinding;
    const eio: NativeBinding = { ...real, sendmmsg: (s, ring, buffers, first, count) => (count > 1 || first > 0 ? real.sendmmsg(s, ring, buffers, first, count) : -EIO) };
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await bindWith({ address: '127.0.0.1' }, eio);
    const arriving = collect(rx, 10);
    const seen = await watch('batchgram:gso-disabled', () =>
      tx.writeBatchTo(Array.from({ length: 10 }, (_, i) => payload(i, 500)), '127.0.0.1', rx.address().port).catch(() => {}));
    assert.equal((await arriving).length, 10);
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0].socket, seen[0].address, (seen[0].cause as NodeJS.ErrnoException).code], [tx, `127.0.0.1:${tx.address().port}`, 'EIO']);
    await Promise.all([rx.close(), tx.close()]);
  });

  it('batchgram:queue-full when a write would pass sendQueueLimit', async () => {
    const real = binding as NativeBinding;
    const full: NativeBinding = { ...real, sendmmsg: () => -EAGAIN };
    const tx = await bindWith({ address: '127.0.0.1', sendQueueLimit: 3 }, full);
    const first = tx.writeBatchTo([payload(0, 10), payload(1, 10)], '127.0.0.1', 9);
    const seen = await watch('batchgram:queue-full', () => tx.writeBatchTo([payload(2, 10), payload(3, 10)], '127.0.0.1', 9).catch(() => {}));
    assert.deepEqual(seen, [{ socket: tx, address: `127.0.0.1:${tx.address().port}`, limit: 3, queued: 2 }]);
    await tx.close();
    await first.catch(() => {});
  });

  it('batchgram:drops when the kernel\'s drop counter rises', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', offload: false, recvBufferSize: 4096, rxqOverflowMetric: 'test_diagnostics' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', offload: false });
    for (let i = 0; i < 4; i++) await tx.writeBatchTo(Array.from({ length: 64 }, (_, j) => payload(i * 64 + j, 1000)), '127.0.0.1', rx.address().port);
    const seen = await watch('batchgram:drops', async () => {
      rx.on('batch', () => {});
      await new Promise((r) => setTimeout(r, 50));
      await tx.writeBatchTo([payload(999, 10)], '127.0.0.1', rx.address().port); // brings the count (see README)
      await until(() => rx.stats().rxqOverflows > 0, 5000, 'the drop count');
    });
    assert.ok(seen.length >= 1);
    assert.equal(seen[0].socket, rx);
    assert.equal(seen[0].address, `127.0.0.1:${rx.address().port}`);
    assert.equal(seen.reduce((n, m) => n + (m.dropped as number), 0), rx.stats().rxqOverflows);
    await Promise.all([rx.close(), tx.close()]);
  });
});
