// Forwarding received views as they are: the relay path keeps GRO messages
// whole and the receive memory uncopied, and stays correct when the kernel
// makes it wait.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { after, describe, it } from 'node:test';
import { BatchSocket, type BatchView } from '../../src/index';
import { binding, type NativeBinding } from '../../src/kernel/native';
import { bindWith } from '../../src/socket/batch-socket';
import { collect, payload } from '../helpers';

const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));

/** sender → relay → receiver on loopback; the relay forwards every view. */
async function pipeline(relayBinding: NativeBinding = binding!, onView = () => {}) {
  const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 32 << 20 });
  const relay = await bindWith({ address: '127.0.0.1', recvBufferSize: 32 << 20 }, relayBinding);
  const tx = await BatchSocket.bind({ address: '127.0.0.1' });
  open.push(rx, relay, tx);
  const errors: unknown[] = [];
  relay.on('view', (v: BatchView) => {
    onView();
    relay.forwardTo(v, '127.0.0.1', rx.address().port).catch((e: unknown) => errors.push(e));
  });
  return { rx, relay, tx, errors, to: relay.address().port };
}

describe('forwardTo', { skip: binding === null }, () => {
  it('relays GSO/GRO traffic byte-exact and in order, keeping messages whole', async () => {
    const { rx, relay, tx, errors, to } = await pipeline();
    const sizes: number[] = [];
    for (let b = 0; b < 20; b++) sizes.push(...new Array(100).fill(1000), 1 + b, ...new Array(27).fill(1200));
    const arriving = collect(rx, sizes.length, 20_000);
    for (let seq = 0; seq < sizes.length; seq += 128) {
      const n = Math.min(128, sizes.length - seq);
      await tx.writeBatchTo(Array.from({ length: n }, (_, i) => payload(seq + i, sizes[seq + i])), '127.0.0.1', to);
    }
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, sizes[i])), `datagram ${i}`));
    assert.deepEqual(errors, []);
    const s = relay.stats();
    assert.equal(s.datagramsOut, sizes.length);
    assert.ok(s.messagesOut < s.datagramsOut / 10, `${s.messagesOut} messages for ${s.datagramsOut} datagrams`);
  });

  it('cuts the received messages into datagrams where they cannot leave whole (GSO off), still byte-exact', async () => {
    const { rx, relay, tx, errors, to } = await pipeline();
    relay.setOffload({ gso: false });
    const arriving = collect(rx, 300);
    for (let k = 0; k < 3; k++) await tx.writeBatchTo(Array.from({ length: 100 }, (_, i) => payload(k * 100 + i, 700)), '127.0.0.1', to);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, 700)), `datagram ${i}`));
    assert.deepEqual(errors, []);
    const s = relay.stats();
    assert.ok(s.messagesIn < s.datagramsIn, 'the relay received GRO messages');
    assert.deepEqual([s.datagramsOut, s.messagesOut], [300, 300], 'and sent each datagram alone');
  });

  it('plans reads of single datagrams (no GRO) anew, so that runs of one size leave together', async () => {
    const { rx, relay, tx, errors, to } = await pipeline();
    relay.setOffload({ gro: false });
    const arriving = collect(rx, 640);
    for (let k = 0; k < 5; k++) await tx.writeBatchTo(Array.from({ length: 128 }, (_, i) => payload(k * 128 + i, 1000)), '127.0.0.1', to);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, 1000)), `datagram ${i}`));
    assert.deepEqual(errors, []);
    const s = relay.stats();
    assert.equal(s.messagesIn, s.datagramsIn, 'no GRO at the relay');
    assert.ok(s.messagesOut < s.datagramsOut / 10, `${s.messagesOut} messages for ${s.datagramsOut} datagrams`);
  });

  it('copies what the kernel could not take before the next read reuses the memory', async () => {
    const real = binding!;
    // The kernel refuses the relay's sends until it has read twice.
    let views = 0, refusals = 0;
    const busy: NativeBinding = {
      ...real,
      sendmmsg: (...a) => (views < 2 ? (refusals++, -constants.errno.EAGAIN) : real.sendmmsg(...a)),
    };
    const { rx, tx, errors, to } = await pipeline(busy, () => views++);
    const arriving = collect(rx, 200);
    // Two reads at the relay: the second lands in the same receive memory
    // while the first still waits to be sent.
    await tx.writeBatchTo(Array.from({ length: 100 }, (_, i) => payload(i, 800)), '127.0.0.1', to);
    await new Promise((r) => setTimeout(r, 20));
    await tx.writeBatchTo(Array.from({ length: 100 }, (_, i) => payload(100 + i, 800)), '127.0.0.1', to);
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, 800)), `datagram ${i}`));
    assert.deepEqual(errors, []);
    assert.ok(refusals > 0, 'the relay met EAGAIN');
  });

  it('refuses a view outside its listener', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const kept = new Promise<BatchView>((resolve) => rx.once('view', resolve));
    await tx.writeBatchTo([payload(0, 10)], '127.0.0.1', rx.address().port);
    const view = await kept;
    await assert.rejects(rx.forwardTo(view, '127.0.0.1', tx.address().port), { code: 'ERR_BATCHGRAM_VIEW_EXPIRED' });
    await assert.rejects(rx.forwardTo({} as BatchView, '127.0.0.1', 1), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
