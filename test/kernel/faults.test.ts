// Kernel faults injected through the native-layer interface: the real addon
// wrapped so that chosen sendmmsg calls fail as a kernel would make them.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { constants } from 'node:os';
import { after, describe, it } from 'node:test';
import { BatchSocket, GeneveHeader, GSODisabledError } from '../../src/index';
import { binding, type NativeBinding, type SocketHandle } from '../../src/kernel/native';
import { abi } from '../../src/wire/abi';
import { findControlData } from '../../src/wire/cmsg';
import { bindWith } from '../../src/socket/batch-socket';
import { collect, payload } from '../helpers';

const { EIO, EAGAIN, EINVAL, EACCES, EPERM } = constants.errno;
const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));

interface Call { messages: number; segmented: number; result: number }

/**
 * The real binding, except that `inject(call, usesGso)` may return a -errno
 * for a sendmmsg call instead of making it. Records every call.
 */
function faulty(inject: (call: number, usesGso: boolean) => number | undefined) {
  const real = binding as NativeBinding;
  const calls: Call[] = [];
  let desc: Int32Array | null = null;
  const b: NativeBinding = {
    ...real,
    sendRing(maxMessages, maxIovecs, names, controls, controlSize, messages, iovecs) {
      desc = messages;
      return real.sendRing(maxMessages, maxIovecs, names, controls, controlSize, messages, iovecs);
    },
    sendmmsg(s, ring, buffers, first, count) {
      let segmented = 0;
      for (let m = first; m < first + count; m++) if (desc![m * abi.SEND_MSG_FIELDS + 4] > 0) segmented++;
      const fault = inject(calls.length, segmented > 0);
      const result = fault ?? real.sendmmsg(s, ring, buffers, first, count);
      calls.push({ messages: count, segmented, result });
      return result;
    },
  };
  return { b, calls };
}

async function setup(inject: (call: number, usesGso: boolean) => number | undefined) {
  const { b, calls } = faulty(inject);
  const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
  const tx = await bindWith({ address: '127.0.0.1' }, b);
  open.push(rx, tx);
  return { rx, tx, calls, port: rx.address().port };
}

const batch = (n: number, size = 1000, from = 0) => Array.from({ length: n }, (_, i) => payload(from + i, size));

describe('GSO fallback', { skip: binding === null }, () => {
  it('turns GSO off after EIO, retries once without it, and still delivers', async () => {
    const { rx, tx, calls, port } = await setup((_call, usesGso) => (usesGso ? -EIO : undefined));
    assert.equal(tx.capabilities.txOffload, true);
    const arriving = collect(rx, 10);
    const err = await tx.writeBatchTo(batch(10), '127.0.0.1', port).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof GSODisabledError, `got ${String(err)}`);
    assert.equal(err.code, 'ERR_BATCHGRAM_GSO_DISABLED');
    assert.equal(err.cause, null, 'the retry succeeded');
    assert.equal(err.localAddress, `127.0.0.1:${tx.address().port}`);
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, 1000)), `datagram ${i}`));
    assert.deepEqual(calls.map((c) => [c.messages, c.segmented, c.result]), [[1, 1, -EIO], [10, 0, 10]]);
    assert.equal(tx.stats().gsoDisabled, true);
    assert.equal(tx.capabilities.txOffload, false);

    // Later writes skip GSO from the start.
    const more = collect(rx, 10);
    await tx.writeBatchTo(batch(10, 1000, 10), '127.0.0.1', port);
    assert.equal((await more).length, 10);
    assert.deepEqual(calls.slice(2).map((c) => c.segmented), [0]);
  });

  it('writeMessages: after EIO the caller\'s GSO messages go as plain datagrams, each to its destination', async () => {
    const { rx, tx, calls, port } = await setup((_call, usesGso) => (usesGso ? -EIO : undefined));
    const other = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(other);
    const arriving = [collect(rx, 8), collect(other, 3)];
    const err = await tx.writeMessages([
      { data: Buffer.concat(batch(8, 500)), address: '127.0.0.1', port, segmentSize: 500 },
      { data: Buffer.concat(batch(3, 200, 100)), address: '127.0.0.1', port: other.address().port, segmentSize: 200 },
    ]).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof GSODisabledError && err.cause === null, `got ${String(err)}`);
    const [a, b] = await Promise.all(arriving);
    assert.deepEqual(a.map((d) => d.data.readUInt32BE(0)), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(b.map((d) => d.data.readUInt32BE(0)), [100, 101, 102]);
    assert.deepEqual(calls.map((c) => [c.messages, c.segmented, c.result]), [[2, 2, -EIO], [11, 0, 11]]);
  });

  it('delivers a long stream complete and in order when GSO sends fail with EIO', async () => {
    const { rx, tx, calls, port } = await setup((_call, usesGso) => (usesGso ? -EIO : undefined));
    const batches = 100, per = 64;
    const arriving = collect(rx, batches * per, 20_000);
    let disabled = 0;
    for (let k = 0; k < batches; k++) {
      await tx.writeBatchTo(batch(per, 1000, k * per), '127.0.0.1', port).catch((e: unknown) => {
        assert.ok(e instanceof GSODisabledError && e.cause === null);
        disabled++;
      });
    }
    const got = await arriving;
    got.forEach((d, i) => assert.equal(d.data.readUInt32BE(0), i));
    assert.equal(disabled, 1, 'GSO turned off once');
    assert.equal(calls.filter((c) => c.result === -EIO).length, 1);
    assert.equal(tx.stats().datagramsOut, batches * per);
  });

  it('carries the retry\'s error as the cause when the retry fails too', async () => {
    const { tx, calls, port } = await setup((call) => (call === 0 ? -EIO : -EACCES));
    const err = await tx.writeBatchTo(batch(4), '127.0.0.1', port).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof GSODisabledError);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'EACCES');
    assert.equal((err.cause as NodeJS.ErrnoException).syscall, 'sendmmsg');
    assert.equal(calls.length, 2);
  });

  it('sends the very same Geneve bytes on the retry', async () => {
    const { rx, tx, port } = await setup((_call, usesGso) => (usesGso ? -EIO : undefined));
    const arriving = collect(rx, 3);
    const bufs = batch(3, 100).map((p) => Buffer.concat([Buffer.alloc(8), p]));
    await assert.rejects(tx.writeBatchTo(bufs, '127.0.0.1', port, { geneve: new GeneveHeader({ vni: 7 }), offset: 8 }), GSODisabledError);
    for (const [i, d] of (await arriving).entries()) {
      assert.equal(GeneveHeader.decode(d.data).vni, 7);
      assert.ok(d.data.subarray(8).equals(payload(i, 100)));
    }
  });

  it('sends a message the kernel refuses to segment (EINVAL) as single datagrams, keeping GSO', async () => {
    const { rx, tx, calls, port } = await setup((call, usesGso) => (call === 0 && usesGso ? -EINVAL : undefined));
    const arriving = collect(rx, 5);
    await tx.writeBatchTo(batch(5), '127.0.0.1', port);
    assert.equal((await arriving).length, 5);
    assert.deepEqual(calls.map((c) => [c.messages, c.segmented]), [[1, 1], [5, 0]]);
    assert.equal(tx.capabilities.txOffload, true);
  });
});

describe('socket options', { skip: binding === null }, () => {
  it('never leaves a socket-wide UDP_SEGMENT behind: the segment size travels per message', async () => {
    const real = binding as NativeBinding;
    const handles: SocketHandle[] = [];
    const watching: NativeBinding = {
      ...real,
      socket: (family) => {
        const s = real.socket(family);
        if (typeof s !== 'number') handles.push(s);
        return s;
      },
    };
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await bindWith({ address: '127.0.0.1' }, watching);
    open.push(rx, tx);
    const arriving = collect(rx, 20);
    await tx.writeBatchTo(batch(20, 500), '127.0.0.1', rx.address().port);
    await arriving;
    assert.ok(tx.stats().messagesOut < 20, 'GSO was used');
    const out = new Int32Array(1);
    assert.equal(real.getsockopt(handles[0], abi.SOL_UDP, abi.UDP_SEGMENT, out), 0);
    assert.equal(out[0], 0, 'UDP_SEGMENT on the socket');
  });
});

describe('send path', { skip: binding === null }, () => {
  it('keeps sending from where a partial sendmmsg stopped', async () => {
    // The kernel takes one message per call.
    const { b, calls } = faulty(() => undefined);
    const oneAtATime: NativeBinding = { ...b, sendmmsg: (s, r, bufs, first) => b.sendmmsg(s, r, bufs, first, 1) };
    const rx = await BatchSocket.bind({ address: '127.0.0.1', offload: false });
    const tx = await bindWith({ address: '127.0.0.1', offload: false }, oneAtATime);
    open.push(rx, tx);
    const arriving = collect(rx, 6);
    await tx.writeBatchTo(batch(6, 50), '127.0.0.1', rx.address().port);
    (await arriving).forEach((d, i) => assert.equal(d.data.readUInt32BE(0), i));
    assert.equal(calls.length, 6);
    assert.equal(tx.stats().sendCalls, 6);
  });

  it('waits for writability on EAGAIN instead of dropping', async () => {
    const { rx, tx, calls, port } = await setup((call) => (call < 2 ? -EAGAIN : undefined));
    const arriving = collect(rx, 8);
    const pending = tx.writeBatchTo(batch(8), '127.0.0.1', port);
    assert.equal(tx.stats().sendQueue, 8, 'accepted and waiting');
    await pending;
    assert.equal((await arriving).length, 8);
    assert.deepEqual(calls.slice(0, 2).map((c) => c.result), [-EAGAIN, -EAGAIN]);
    assert.equal(tx.stats().sendQueue, 0);
  });

  it('keeps writes in order behind a waiting one, and rejects them all on close', async () => {
    const { tx, port } = await setup(() => -EAGAIN);
    const a = tx.writeBatchTo(batch(2), '127.0.0.1', port);
    const b2 = tx.writeBatchTo(batch(2), '127.0.0.1', port);
    assert.equal(tx.stats().sendQueue, 4);
    await tx.close();
    await assert.rejects(a, { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    await assert.rejects(b2, { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });

  it('fails a write whose buffer was detached while it waited, and keeps the queue moving', async () => {
    let refusals = 1;
    const { rx, tx, port } = await setup(() => (refusals-- > 0 ? -EAGAIN : undefined));
    const doomed = Buffer.from(new ArrayBuffer(100));
    const first = tx.writeBatchTo([doomed], '127.0.0.1', port);
    const second = tx.writeBatchTo([payload(1, 10)], '127.0.0.1', port);
    structuredClone(doomed.buffer, { transfer: [doomed.buffer] });
    const arriving = collect(rx, 1);
    await assert.rejects(first, RangeError);
    await second;
    assert.equal((await arriving)[0].data.readUInt32BE(0), 1);
    assert.equal(tx.stats().sendQueue, 0);
  });

  it('rejects past the send queue limit with a clear error', async () => {
    const { b } = faulty(() => -EAGAIN);
    const tx = await bindWith({ address: '127.0.0.1', sendQueueLimit: 3 }, b);
    open.push(tx);
    const first = tx.writeBatchTo(batch(3), '127.0.0.1', 9);
    await assert.rejects(tx.writeBatchTo(batch(1), '127.0.0.1', 9), { code: 'ERR_BATCHGRAM_QUEUE_FULL' });
    await tx.close();
    await assert.rejects(first, { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });

  it('a read the addon refuses for another reason than detached memory stops reading, once, without spinning', async () => {
    let calls = 0;
    const b: NativeBinding = { ...(binding as NativeBinding), recvmmsg: () => { calls++; throw new RangeError('registered memory is smaller than the ring'); } };
    const rx = await bindWith({ address: '127.0.0.1' }, b);
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const errors: string[] = [];
    rx.on('error', (e) => errors.push(e.message));
    rx.on('batch', () => {});
    await tx.writeBatchTo(batch(1), '127.0.0.1', rx.address().port);
    await new Promise((r) => setTimeout(r, 100)); // a busy loop would call thousands of times meanwhile
    assert.deepEqual(errors, ['registered memory is smaller than the ring']);
    assert.equal(calls, 1);
  });

  it('counts the messages whose control data the kernel cut (MSG_CTRUNC), and still delivers them', async () => {
    const real = binding as NativeBinding;
    let meta: Int32Array | null = null;
    const b: NativeBinding = {
      ...real,
      recvRing(arena, slots, slotSize, names, controls, controlSize, m) {
        meta = m;
        return real.recvRing(arena, slots, slotSize, names, controls, controlSize, m);
      },
      recvmmsg(s, ring, count) {
        const n = real.recvmmsg(s, ring, count);
        for (let i = 0; i < n; i++) meta![i * abi.RECV_META_FIELDS + 1] |= abi.MSG_CTRUNC; // RecvMeta.Flags
        return n;
      },
    };
    const rx = await bindWith({ address: '127.0.0.1' }, b);
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const got = collect(rx, 2);
    await tx.writeBatchTo(batch(2), '127.0.0.1', rx.address().port);
    assert.equal((await got).length, 2);
    assert.ok(rx.stats().controlTruncated >= 1 && rx.stats().controlTruncated <= 2, JSON.stringify(rx.stats()));
  });

  it('reports a system error Node-style', async () => {
    const { tx, port } = await setup(() => -EACCES);
    await assert.rejects(tx.writeBatchTo(batch(1), '127.0.0.1', port),
      { code: 'EACCES', errno: -EACCES, syscall: 'sendmmsg', address: '127.0.0.1', port });
  });
});

describe('ECN the kernel refuses', { skip: binding === null }, () => {
  /** The real binding, except that a sendmmsg call with an IP_TOS control message fails with `errno`. */
  function refusingTos(errno: number) {
    const real = binding as NativeBinding;
    let controls: Uint8Array = new Uint8Array(0), size = 0, desc: Int32Array = new Int32Array(0);
    const refused = { calls: 0 };
    const b: NativeBinding = {
      ...real,
      sendRing(maxMessages, maxIovecs, names, ctrls, controlSize, messages, iovecs) {
        [controls, size, desc] = [ctrls, controlSize, messages];
        return real.sendRing(maxMessages, maxIovecs, names, ctrls, controlSize, messages, iovecs);
      },
      sendmmsg(s, ring, buffers, first, count) {
        const v = new DataView(controls.buffer, controls.byteOffset, controls.byteLength);
        for (let m = first; m < first + count; m++) {
          const len = desc[m * abi.SEND_MSG_FIELDS + 4];
          if (len > 0 && findControlData(v, m * size, m * size + len, abi.IPPROTO_IP, abi.IP_TOS, 1) >= 0) {
            refused.calls++;
            return -errno;
          }
        }
        return real.sendmmsg(s, ring, buffers, first, count);
      },
    };
    return { b, refused };
  }

  for (const [name, errno] of [['EINVAL', EINVAL], ['EIO', EIO]] as const) {
    it(`sends without it from the first ${name}, and says so in capabilities.ecn and on batchgram:ecn-disabled`, async () => {
      const { b, refused } = refusingTos(errno);
      const rx = await BatchSocket.bind({ address: '127.0.0.1', receiveEcn: true });
      const tx = await bindWith({ address: '127.0.0.1', receiveEcn: true, gso: false }, b);
      open.push(rx, tx);
      const events: Array<{ code: string }> = [];
      const listener = (m: unknown) => events.push((m as { cause: { code: string } }).cause);
      diagnostics.subscribe('batchgram:ecn-disabled', listener);
      try {
        assert.equal(tx.capabilities.ecn, true);
        const port = rx.address().port;
        const arriving = collect(rx, 6);
        await tx.writeBatchTo(batch(3, 100), '127.0.0.1', port, { ecn: 2 });
        await tx.writeMessages([{ data: payload(3, 100), address: '127.0.0.1', port, ecn: 1 }]);
        await tx.writeBatchTo(batch(2, 100, 4), '127.0.0.1', port, { ecn: 3 });
        const got = await arriving;
        assert.deepEqual(got.map((d) => [d.data.readUInt32BE(0), d.ecn]), [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]);
        assert.equal(refused.calls, 1, 'refused once, remembered');
        assert.equal(tx.capabilities.ecn, false);
        assert.deepEqual(events.map((e) => e.code), [name]);
      } finally {
        diagnostics.unsubscribe('batchgram:ecn-disabled', listener);
      }
    });
  }
  it('keeps ECN when the message is refused without it too (the cause was another)', async () => {
    const { b, calls } = faulty((call) => (call < 2 ? -EINVAL : undefined));
    const rx = await BatchSocket.bind({ address: '127.0.0.1', receiveEcn: true });
    const tx = await bindWith({ address: '127.0.0.1', receiveEcn: true, gso: false }, b);
    open.push(rx, tx);
    const port = rx.address().port;
    await assert.rejects(tx.writeBatchTo(batch(1, 100), '127.0.0.1', port, { ecn: 2 }), { code: 'EINVAL', syscall: 'sendmmsg' });
    assert.equal(calls.length, 2, 'tried once without ECN');
    assert.equal(tx.capabilities.ecn, true);
    const arriving = collect(rx, 1);
    await tx.writeBatchTo(batch(1, 100, 1), '127.0.0.1', port, { ecn: 2 });
    assert.deepEqual((await arriving).map((d) => d.ecn), [2], 'later writes carry it');
  });
});

describe('whole messages (writeMessages with segmentSize)', { skip: binding === null }, () => {
  /** The real binding, except that each sendmmsg call takes the next step: accept at most `limit` messages, or fail. */
  function scripted(steps: Array<{ limit: number } | { err: number }>) {
    const real = binding as NativeBinding;
    const b: NativeBinding = {
      ...real,
      sendmmsg(s, ring, buffers, first, count) {
        const step = steps.shift();
        if (step === undefined) return real.sendmmsg(s, ring, buffers, first, count);
        return 'err' in step ? step.err : real.sendmmsg(s, ring, buffers, first, Math.min(count, step.limit));
      },
    };
    return b;
  }
  const train = (first: number, n: number, size: number) => Buffer.concat(batch(n, size, first));

  it('counts datagrams through a partial send, a refused whole message cut into datagrams, and a failure', async () => {
    // One whole message taken, the next refused whole (EINVAL: cut, then singly), two singles taken, then EACCES.
    const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const tx = await bindWith({ address: '127.0.0.1' }, scripted([{ limit: 1 }, { err: -EINVAL }, { limit: 2 }, { err: -EACCES }]));
    open.push(rx, tx);
    const port = rx.address().port;
    const arriving = collect(rx, 12);
    const err = await tx.writeMessages([
      { data: train(0, 10, 500), address: '127.0.0.1', port, segmentSize: 500 },
      { data: train(10, 10, 600), address: '127.0.0.1', port, segmentSize: 600 },
      { data: train(20, 5, 700), address: '127.0.0.1', port, segmentSize: 700 },
    ]).then(() => null, (e: { code: string; datagramsSent: number }) => e);
    assert.deepEqual([err?.code, err?.datagramsSent], ['EACCES', 12]);
    assert.deepEqual((await arriving).map((d) => d.data.readUInt32BE(0)), Array.from({ length: 12 }, (_, i) => i));
    const s = tx.stats();
    assert.deepEqual([s.datagramsOut, s.messagesOut, s.bytesOut, s.sendQueue], [12, 3, 10 * 500 + 2 * 600, 0]);
  });

  it('loses a whole message a local rule refuses (EPERM), counts its datagrams and sends the rest', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const tx = await bindWith({ address: '127.0.0.1' }, scripted([{ limit: 1 }, { err: -EPERM }]));
    open.push(rx, tx);
    const port = rx.address().port;
    const arriving = collect(rx, 15);
    await tx.writeMessages([
      { data: train(0, 10, 500), address: '127.0.0.1', port, segmentSize: 500 },
      { data: train(10, 10, 600), address: '127.0.0.1', port, segmentSize: 600 },
      { data: train(20, 5, 700), address: '127.0.0.1', port, segmentSize: 700 },
    ]);
    const ids = [...Array(10).keys(), 20, 21, 22, 23, 24];
    assert.deepEqual((await arriving).map((d) => d.data.readUInt32BE(0)), ids);
    const s = tx.stats();
    assert.deepEqual([s.sendRefused, s.datagramsOut, s.messagesOut, s.sendQueue], [10, 15, 2, 0]);
  });

  it('close() with a whole-message write sent part way counts the datagrams that left', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await bindWith({ address: '127.0.0.1' }, scripted([{ limit: 1 }, { err: -EAGAIN }, { err: -EAGAIN }]));
    open.push(rx);
    const port = rx.address().port;
    const pending = tx.writeMessages([
      { data: train(0, 10, 100), address: '127.0.0.1', port, segmentSize: 100 },
      { data: train(10, 6, 100), address: '127.0.0.1', port, segmentSize: 100 },
    ]).then(() => null, (e: { code: string; datagramsSent: number }) => e);
    assert.equal(tx.stats().sendQueue, 6, 'the second message waits');
    await tx.close();
    const err = await pending;
    assert.deepEqual([err?.code, err?.datagramsSent], ['ERR_SOCKET_DGRAM_NOT_RUNNING', 10]);
  });
});

describe('receive memory refused', { skip: process.platform !== 'linux' || binding === null }, () => {
  it('a re-layout the kernel cannot map stops reading with one error, instead of waking the loop for ever', async () => {
    const real = binding as NativeBinding;
    let maps = 0, reads = 0;
    // The first arena maps; the larger one a full read asks for is refused.
    const b: NativeBinding = {
      ...real,
      mapPages: (n) => (++maps > 1 ? -constants.errno.ENOMEM : real.mapPages(n)),
      recvmmsg: (s, ring, n) => { reads++; return real.recvmmsg(s, ring, n); },
    };
    const rx = await bindWith({ address: '127.0.0.1', offload: false, recvBufferSize: 1 << 20 }, b);
    open.push(rx);
    const errors: Array<Error & { code?: string }> = [];
    rx.on('error', (e) => errors.push(e));
    rx.on('view', () => {});
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(tx);
    await tx.writeBatchTo(Array.from({ length: 40 }, (_, i) => payload(i, 10)), '127.0.0.1', rx.address().port);
    await new Promise((r) => setTimeout(r, 100));
    const after = reads;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(errors.map((e) => e.code), ['ENOMEM']);
    assert.equal(reads, after, 'no read while the memory is refused');
  });
});

describe('probes', { skip: process.platform !== 'linux' || binding === null }, () => {
  const { ENOPROTOOPT, EOPNOTSUPP, ENOMEM } = constants.errno;
  // The real binding, but setsockopt(level, name) fails with `errno`; counts the sockets closed.
  function refusing(level: number, name: number, errno: number) {
    const real = binding as NativeBinding;
    const closed = { count: 0 };
    const b: NativeBinding = {
      ...real,
      setsockopt: (s, l, n, v) => (l === level && n === name ? -errno : real.setsockopt(s, l, n, v)),
      close: (s) => { closed.count++; return real.close(s); },
    };
    return { b, closed };
  }

  it('an option the kernel does not know (ENOPROTOOPT, EOPNOTSUPP) is a capability the socket lacks', async () => {
    for (const errno of [ENOPROTOOPT, EOPNOTSUPP]) {
      const { b } = refusing(abi.SOL_UDP, abi.UDP_GRO, errno);
      const s = await bindWith({ address: '127.0.0.1' }, b);
      open.push(s);
      assert.equal(s.capabilities.rxOffload, false);
      const { b: b2 } = refusing(abi.IPPROTO_IP, abi.IP_RECVTOS, errno);
      const s2 = await bindWith({ address: '127.0.0.1', receiveEcn: true }, b2);
      open.push(s2);
      assert.equal(s2.capabilities.ecn, false);
    }
  });

  it('any other failure of a probe is a system error, and the socket is closed', async () => {
    const cases: Array<[number, number, object, string]> = [
      [abi.SOL_UDP, abi.UDP_GRO, {}, 'setsockopt UDP_GRO'],
      [abi.SOL_SOCKET, abi.SO_RXQ_OVFL, { rxqOverflowMetric: 'probe.test' }, 'setsockopt SO_RXQ_OVFL'],
      [abi.IPPROTO_IP, abi.IP_RECVTOS, { receiveEcn: true }, 'setsockopt IP_RECVTOS'],
      [abi.IPPROTO_IP, abi.IP_RECVERR, { receiveErrors: true }, 'setsockopt IP_RECVERR'],
    ];
    for (const [level, name, options, syscall] of cases) {
      const { b, closed } = refusing(level, name, ENOMEM);
      const err = await bindWith({ address: '127.0.0.1', ...options }, b).then(() => null, (e: unknown) => e as Error & { code?: string; syscall?: string });
      assert.deepEqual([err?.code, err?.syscall], ['ENOMEM', syscall]);
      assert.equal(closed.count, 1, `${syscall}: the socket is closed`);
    }
  });
});
