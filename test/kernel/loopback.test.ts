// Real sockets on loopback: what goes in comes out, complete, in order,
// byte-exact, from the right sender, with offload on and off, IPv4 and IPv6.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { BatchSocket, createSocket, GeneveHeader, GENEVE_PROTOCOL_WIREGUARD, getCounter, type BatchView, type Datagram } from '../../src/index';
import { gsoSegmentLimit } from '../../src/kernel/support';
import { collect, index, payload, until } from '../helpers';

const linux = process.platform === 'linux';
const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));

async function pair(type: 'udp4' | 'udp6', offload: boolean, extra: object = {}) {
  const address = type === 'udp4' ? '127.0.0.1' : '::1';
  const rx = await BatchSocket.bind({ type, address, offload, recvBufferSize: 16 << 20, ...extra });
  const tx = await BatchSocket.bind({ type, address, offload });
  open.push(rx, tx);
  return { rx, tx, address };
}

// Runs of equal sizes (coalesced by GSO), shorter tails, a one-byte and an
// empty datagram, and the largest datagram of each family.
function mixedSizes(max: number): number[] {
  return [1200, 1200, 1200, 1200, 700, 1200, 1200, 1, 0, 1300, 1300, 1300, 9000, 9000, 500, max, 64, 64, 64, 0, 5, 5, 0];
}

for (const type of ['udp4', 'udp6'] as const) {
  for (const offload of [true, false]) {
    describe(`${type}, offload ${offload ? 'on' : 'off'}`, { skip: !linux }, () => {
      it('delivers a mixed batch complete, in order, byte-exact, from the sender', async () => {
        const { rx, tx, address } = await pair(type, offload);
        assert.deepEqual(rx.capabilities, {
          batching: true, txOffload: offload, rxOffload: offload, rxqOverflowCounter: false, ecn: false, localAddress: false, timestamps: false, originalDestination: false, mayFragment: true, icmpErrors: false, pacing: false,
          maxGsoSegments: offload ? gsoSegmentLimit() : 1,
        });
        const sizes = mixedSizes(type === 'udp4' ? 65507 : 65527);
        const sent = sizes.map((n, i) => payload(i, n));
        const arriving = collect(rx, sent.length);
        await tx.writeBatchTo(sent, address, rx.address().port);
        const got = await arriving;
        assert.equal(got.length, sent.length);
        for (let i = 0; i < sent.length; i++) {
          assert.ok(got[i].data.equals(sent[i]), `datagram ${i} (${sizes[i]} bytes) differs`);
          assert.equal(got[i].address, address);
          assert.equal(got[i].port, tx.address().port);
          assert.equal(got[i].family, type === 'udp4' ? 'IPv4' : 'IPv6');
          assert.equal(got[i].truncated, false);
        }
        const txs = tx.stats(), rxs = rx.stats();
        assert.equal(txs.datagramsOut, sent.length);
        assert.equal(rxs.datagramsIn, sent.length);
        assert.equal(txs.bytesOut, sizes.reduce((a, b) => a + b));
        assert.equal(rxs.bytesIn, txs.bytesOut);
        if (offload) {
          assert.ok(txs.messagesOut < txs.datagramsOut, `GSO: ${txs.messagesOut} messages for ${txs.datagramsOut} datagrams`);
          assert.ok(rxs.messagesIn < rxs.datagramsIn, `GRO: ${rxs.messagesIn} messages for ${rxs.datagramsIn} datagrams`);
        } else {
          assert.equal(txs.messagesOut, txs.datagramsOut);
          assert.equal(rxs.messagesIn, rxs.datagramsIn);
        }
        assert.equal(txs.sendCalls, 1, 'one sendmmsg for the whole batch');
      });

      it('receives 10 000 datagrams without loss', async () => {
        const { rx, tx, address } = await pair(type, offload);
        const total = 10_000, batch = tx.batchSize;
        const arriving = collect(rx, total, 20_000);
        for (let seq = 0; seq < total; seq += batch) {
          const n = Math.min(batch, total - seq);
          await tx.writeBatchTo(Array.from({ length: n }, (_, i) => payload(seq + i, 1200)), address, rx.address().port);
        }
        const got = await arriving;
        assert.equal(got.length, total);
        got.forEach((d, i) => assert.equal(d.data.readUInt32BE(0), i));
      });
    });
  }
}

describe('receive offload', { skip: !linux }, () => {
  it('splits real GRO messages at their segment size, in the zero-allocation view', async () => {
    const { rx, tx, address } = await pair('udp4', true);
    const sizes = [...new Array(64).fill(1000), 300];
    const seen: Array<{ count: number; messages: number; segments: number[]; bytes: Buffer[] }> = [];
    let total = 0;
    const done = new Promise<void>((resolve) => {
      rx.on('view', (v: BatchView) => {
        const bytes: Buffer[] = [];
        for (let i = 0; i < v.count; i++) bytes.push(Buffer.from(v.datagram(i)));
        seen.push({ count: v.count, messages: v.messageCount, segments: Array.from(v.segmentSizes.subarray(0, v.messageCount)), bytes });
        total += v.count;
        if (total >= sizes.length) resolve();
      });
    });
    await tx.writeBatchTo(sizes.map((n, i) => payload(i, n)), address, rx.address().port);
    await done;
    const bytes = seen.flatMap((s) => s.bytes);
    bytes.forEach((b, i) => assert.ok(b.equals(payload(i, sizes[i])), `datagram ${i}`));
    const messages = seen.reduce((a, s) => a + s.messages, 0);
    assert.ok(messages < sizes.length, `${messages} messages for ${sizes.length} datagrams`);
    assert.ok(seen.some((s) => s.segments.includes(1000)), 'a message coalesced at 1000 bytes');
  });

  it('reports truncation instead of delivering a cut datagram as whole', async () => {
    const { rx, tx, address } = await pair('udp4', true, { recvSlotSize: 100 });
    assert.equal(rx.capabilities.rxOffload, false, 'GRO needs 64 KiB slots');
    const arriving = collect(rx, 3);
    await tx.writeBatchTo([payload(0, 100), payload(1, 150), payload(2, 10)], address, rx.address().port);
    const got = await arriving;
    assert.deepEqual(got.map((d) => [d.data.length, d.truncated]), [[100, false], [100, true], [10, false]]);
    assert.ok(got[1].data.equals(payload(1, 150).subarray(0, 100)));
    assert.equal(rx.stats().truncated, 1);
  });
});

describe('addresses', { skip: !linux }, () => {
  it('sends from udp6 to an IPv4 peer through an IPv4-mapped address', async () => {
    const rx = await BatchSocket.bind({ type: 'udp4', address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ type: 'udp6', address: '::' });
    open.push(rx, tx);
    const arriving = collect(rx, 2);
    await tx.writeBatchTo([payload(0, 100), payload(1, 100)], '127.0.0.1', rx.address().port);
    const got = await arriving;
    assert.equal(got[0].address, '127.0.0.1');
    assert.equal(got[0].port, tx.address().port);

    const back = collect(tx, 1);
    await rx.writeBatchTo([payload(2, 10)], '127.0.0.1', tx.address().port);
    assert.equal((await back)[0].address, '::ffff:127.0.0.1');
  });

  it('sends each write and each message where it says, as destinations change from write to write', async () => {
    const tx = await BatchSocket.bind({ type: 'udp6', address: '::' });
    const a = await BatchSocket.bind({ type: 'udp4', address: '127.0.0.1' });
    const b = await BatchSocket.bind({ type: 'udp4', address: '127.0.0.1' });
    const c = await BatchSocket.bind({ type: 'udp6', address: '::1' });
    open.push(tx, a, b, c);
    const peers = [['127.0.0.1', a], ['127.0.0.1', b], ['::1', c]] as const;
    // Same address and another port, another address and family, and back:
    // every write names a destination that its name slots held before, or not.
    const plan = [0, 1, 0, 2, 2, 1, 0];
    const want: number[][] = [[], [], []];
    const arriving = peers.map(([, s], p) => collect(s, plan.filter((q) => q === p).length + 2));
    let seq = 0;
    for (const p of plan) {
      want[p].push(seq);
      await tx.writeBatchTo([payload(seq++, 50)], peers[p][0], peers[p][1].address().port);
    }
    // writeMessages names a destination per message, in its own slot.
    for (const order of [[0, 1, 2], [2, 0, 1]]) {
      await tx.writeMessages(order.map((p) => {
        want[p].push(seq);
        return { data: payload(seq++, 50), address: peers[p][0], port: peers[p][1].address().port };
      }));
    }
    const got = await Promise.all(arriving);
    for (let p = 0; p < 3; p++) assert.deepEqual(got[p].map((d) => d.data.readUInt32BE(0)), want[p], `peer ${p}`);
  });
});

describe('Geneve', { skip: !linux }, () => {
  it('sends the header before the offset with a VNI, and skips those bytes without one', async () => {
    const { rx, tx, address } = await pair('udp4', true);
    const header = new GeneveHeader({ protocol: GENEVE_PROTOCOL_WIREGUARD, vni: 0x123456 });
    const room = 16;
    const bufs = [0, 1, 2].map((i) => Buffer.concat([Buffer.alloc(room, 0xaa), payload(i, 200)]));
    let arriving = collect(rx, 3);
    await tx.writeBatchTo(bufs, address, rx.address().port, { geneve: header, offset: room });
    for (const [i, d] of (await arriving).entries()) {
      assert.equal(d.data.length, 208);
      const h = GeneveHeader.decode(d.data);
      assert.deepEqual([h.vni, h.protocol, h.version], [0x123456, GENEVE_PROTOCOL_WIREGUARD, 0]);
      assert.ok(d.data.subarray(8).equals(payload(i, 200)));
    }
    arriving = collect(rx, 3);
    await tx.writeBatchTo(bufs, address, rx.address().port, { geneve: new GeneveHeader(), offset: room });
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, 200))));
  });
});

describe('neverGsoEqualTail', { skip: !linux }, () => {
  it('ends an all-equal GSO message with a one-byte sentinel datagram', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', neverGsoEqualTail: true });
    open.push(rx, tx);
    const arriving = collect(rx, 9);
    await tx.writeBatchTo(Array.from({ length: 8 }, (_, i) => payload(i, 500)), '127.0.0.1', rx.address().port);
    const got = await arriving;
    assert.deepEqual(got.map((d) => d.data.length), [500, 500, 500, 500, 500, 500, 500, 500, 1]);
    assert.equal(tx.stats().datagramsOut, 8, 'the sentinel is not one of the caller\'s datagrams');
    assert.equal(tx.stats().messagesOut, 1);
  });

  it('skips GSO for batches under eight datagrams', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', neverGsoEqualTail: true });
    open.push(rx, tx);
    const arriving = collect(rx, 7);
    await tx.writeBatchTo(Array.from({ length: 7 }, (_, i) => payload(i, 500)), '127.0.0.1', rx.address().port);
    assert.equal((await arriving).length, 7);
    assert.equal(tx.stats().messagesOut, 7);
  });

  it('turns on and off at run time (setOffload), with the caller\'s sentinel byte', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', gro: false });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const port = rx.address().port;
    const eight = () => Array.from({ length: 8 }, (_, i) => payload(i, 500));
    // Each write of 8 equal datagrams: what arrives (a sentinel as its byte), and the GSO messages it took.
    const send = async (n: number) => {
      const arriving = collect(rx, n);
      const before = tx.stats().messagesOut;
      await tx.writeBatchTo(eight(), '127.0.0.1', port);
      const got = await arriving;
      return [got.map((d) => (d.data.length === 1 ? d.data[0] : d.data.length)).join(), tx.stats().messagesOut - before];
    };
    assert.deepEqual(await send(8), ['500,500,500,500,500,500,500,500', 1]);
    tx.setOffload({ neverGsoEqualTail: true, gsoSentinel: 7 });
    assert.deepEqual(await send(9), ['500,500,500,500,500,500,500,500,7', 1]);
    tx.setOffload({ gsoSentinel: 0x2a });
    assert.deepEqual(await send(9), ['500,500,500,500,500,500,500,500,42', 1]);
    tx.setOffload({ neverGsoEqualTail: false });
    assert.deepEqual(await send(8), ['500,500,500,500,500,500,500,500', 1]);
    const bind = await BatchSocket.bind({ address: '127.0.0.1', neverGsoEqualTail: true, gsoSentinel: 255 });
    open.push(bind);
    const arriving = collect(rx, 9);
    await bind.writeBatchTo(eight(), '127.0.0.1', port);
    assert.deepEqual((await arriving)[8].data, Buffer.from([255]));
  });

  it('refuses bad values, and the socket stays usable', async () => {
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(tx);
    assert.throws(() => tx.setOffload({ neverGsoEqualTail: 'yes' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => tx.setOffload({ gsoSentinel: 256 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => tx.setOffload({ gsoSentinel: '7' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(BatchSocket.bind({ gsoSentinel: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => createSocket({ type: 'udp4', neverGsoEqualTail: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    tx.setOffload({ neverGsoEqualTail: true });
    await tx.writeBatchTo([payload(0, 10)], '127.0.0.1', tx.address().port);
  });

  it('is on for the whole process with BATCHGRAM_NEVER_GSO_EQUAL_TAIL=1, the dgram drop-in included; setOffload cannot turn it off', () => {
    const script = `
      const { BatchSocket, createSocket, compatStats } = require(${JSON.stringify(index)});
      (async () => {
        const rx = await BatchSocket.bind({ address: '127.0.0.1', gro: false });
        const port = rx.address().port;
        const sizes = [];
        rx.on('batch', (b) => { for (const d of b) sizes.push(d.data.length); });
        const s = await BatchSocket.bind({ address: '127.0.0.1' });
        s.setOffload({ neverGsoEqualTail: false }); // cannot override the operator
        await s.writeBatchTo(Array.from({ length: 8 }, () => Buffer.alloc(100)), '127.0.0.1', port);
        // The drop-in's option, for a process without the environment.
        const d = createSocket({ type: 'udp4', neverGsoEqualTail: process.argv[1] === 'option' });
        d.bind(0, '127.0.0.1', () => {
          for (let i = 0; i < 8; i++) d.send(Buffer.alloc(100), port, '127.0.0.1');
          setTimeout(() => {
            const c = compatStats(d);
            console.log(JSON.stringify({ sizes: sizes.join(), dropIn: [c.datagramsOut, c.messagesOut] }));
            s.close(); d.close(); rx.close();
          }, 100);
        });
      })();
    `;
    const run = (env: Record<string, string>, arg = '') => {
      const r = spawnSync(process.execPath, ['-e', script, arg], { encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim());
    };
    const tails = (n: number) => Array(n).fill('100,100,100,100,100,100,100,100').join();
    assert.deepEqual(run({}), { sizes: tails(2), dropIn: [8, 1] });
    assert.deepEqual(run({}, 'option'), { sizes: `${tails(1)},${tails(1)},1`, dropIn: [8, 1] });
    assert.deepEqual(run({ BATCHGRAM_NEVER_GSO_EQUAL_TAIL: '1' }), { sizes: `${tails(1)},1,${tails(1)},1`, dropIn: [8, 1] });
  });
});

describe('drop counter', { skip: !linux }, () => {
  it('adds the kernel drop count to the named counter, equal to /proc/net/udp', async () => {
    // Without offload every datagram is its own skb, and the kernel counts
    // drops per skb: with GRO one count can stand for up to 64 datagrams.
    const rx = await BatchSocket.bind({ address: '127.0.0.1', offload: false, recvBufferSize: 4096, rxqOverflowMetric: 'test_loopback_drops' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', offload: false });
    open.push(rx, tx);
    assert.equal(rx.capabilities.rxqOverflowCounter, true);
    // Nobody reads yet: the tiny queue overflows and the kernel counts drops.
    for (let i = 0; i < 8; i++) await tx.writeBatchTo(Array.from({ length: 64 }, (_, j) => payload(i * 64 + j, 1000)), '127.0.0.1', rx.address().port);
    const kernelDrops = procDrops(rx.address().port);
    assert.ok(kernelDrops > 0, 'the kernel dropped datagrams');
    let received = 0;
    rx.on('batch', (b) => { received += b.length; });
    await until(() => received === 512 - kernelDrops, 5000, 'the queued datagrams');
    // The kernel stamps each datagram with the drop count when it queues it.
    // Every datagram read so far was queued before the first drop, so the
    // counter lags /proc/net/udp by all of them until one more arrives.
    assert.equal(rx.stats().rxqOverflows, 0);
    assert.equal(getCounter('test_loopback_drops')?.value ?? 0, 0);
    await tx.writeBatchTo([payload(512, 10)], '127.0.0.1', rx.address().port);
    await until(() => received === 513 - kernelDrops, 5000, 'the last datagram');
    assert.equal(rx.stats().rxqOverflows, kernelDrops);
    assert.equal(getCounter('test_loopback_drops')?.value, kernelDrops);
  });
});

/** The drops column of /proc/net/udp for the socket bound to this local port. */
function procDrops(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hexPort}`)) return Number(f[12]);
  }
  throw new Error(`no socket on port ${port} in /proc/net/udp`);
}

describe('iteration and close', { skip: !linux }, () => {
  it('iterates batches and ends when the socket closes', async () => {
    const { rx, tx, address } = await pair('udp4', true);
    const got: number[] = [];
    const reading = (async () => {
      for await (const batch of rx) for (const d of batch) got.push(d.data.readUInt32BE(0));
    })();
    await tx.writeBatchTo([payload(0, 100), payload(1, 100), payload(2, 100)], address, rx.address().port);
    await until(() => got.length === 3, 5000, 'three datagrams');
    await rx.close();
    await reading;
    assert.deepEqual(got, [0, 1, 2]);
  });

  it('rejects writes after close, closes twice harmlessly, and emits close', async () => {
    const { tx, address } = await pair('udp4', true);
    let closed = 0;
    tx.on('close', () => closed++);
    await tx.close();
    await tx.close();
    assert.equal(closed, 1);
    await assert.rejects(tx.writeBatchTo([payload(0, 10)], address, 9), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    assert.throws(() => tx.address(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });
});

describe('portable path (batching: false)', () => {
  it('offers the same API over node:dgram with honest capabilities', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', batching: false });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', batching: false });
    open.push(rx, tx);
    assert.deepEqual(tx.capabilities, {
      batching: false, txOffload: false, rxOffload: false, rxqOverflowCounter: false, ecn: false, localAddress: false, timestamps: false, originalDestination: false, mayFragment: true, icmpErrors: false, pacing: false,
      maxGsoSegments: 1,
    });
    assert.equal(tx.batchSize, 1);
    const arriving = collect(rx, 3);
    for (let i = 0; i < 3; i++) await tx.writeBatchTo([payload(i, 300 + i)], '127.0.0.1', rx.address().port);
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, 300 + i))));
    assert.equal(got[0].port, tx.address().port);
    // Batch size 1 limits the system calls, not the write (README's first example writes two buffers).
    const two = collect(rx, 2);
    await tx.writeBatchTo([payload(0, 1), payload(1, 1)], '127.0.0.1', rx.address().port);
    assert.deepEqual((await two).map((d) => d.data[0]), [payload(0, 1)[0], payload(1, 1)[0]]);
  });
});

describe('iovecs', { skip: !linux }, () => {
  it('sends datagrams lying back to back in one buffer as one iovec per GSO message, byte-exact', async () => {
    const { binding } = await import('../../src/kernel/native.js');
    const { bindWith } = await import('../../src/socket/batch-socket.js');
    const { abi } = await import('../../src/wire/abi.js');
    const real = binding!;
    let desc: Int32Array | null = null;
    const iovecsPerMessage: number[] = [];
    const recording = {
      ...real,
      sendRing: (...a: Parameters<typeof real.sendRing>) => { desc = a[5]; return real.sendRing(...a); },
      sendmmsg: (...a: Parameters<typeof real.sendmmsg>) => {
        for (let m = a[3]; m < a[3] + a[4]; m++) iovecsPerMessage.push(desc![m * abi.SEND_MSG_FIELDS + 1]);
        return real.sendmmsg(...a);
      },
    };
    const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const tx = await bindWith({ address: '127.0.0.1' }, recording);
    open.push(rx, tx);
    // Ten 500-byte datagrams back to back in one slab, then one elsewhere,
    // then three more back to back but with a 300-byte tail.
    const slab = Buffer.alloc(10 * 500 + 2 * 500 + 300);
    const sizes = [...new Array(10).fill(500), 500, 500, 500, 300];
    const bufs: Buffer[] = [];
    for (let i = 0, at = 0; i < 10; i++, at += 500) bufs.push(slab.subarray(at, at + 500));
    bufs.push(Buffer.alloc(500));
    for (let i = 11, at = 5000; i < 14; at += sizes[i], i++) bufs.push(slab.subarray(at, at + sizes[i]));
    bufs.forEach((b, i) => payload(i, b.length).copy(b));
    const arriving = collect(rx, bufs.length);
    await tx.writeBatchTo(bufs, '127.0.0.1', rx.address().port);
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, sizes[i])), `datagram ${i}`));
    assert.deepEqual(iovecsPerMessage, [3], 'one GSO message: the slab run, the lone buffer, the second run');
  });

  it('does not merge Uint8Arrays whose offsets line up in different ArrayBuffers', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    // Each starts where the one before it ends, as offsets go: the second in
    // another ArrayBuffer than the first, the third in the second's (a run),
    // the fourth in the first's again.
    const [a, b] = [new ArrayBuffer(2000), new ArrayBuffer(2000)];
    const bufs = [Buffer.from(a, 0, 500), Buffer.from(b, 500, 500), Buffer.from(b, 1000, 500), Buffer.from(a, 1500, 500)];
    bufs.forEach((x, i) => payload(i, 500).copy(x));
    const arriving = collect(rx, bufs.length);
    await tx.writeBatchTo(bufs, '127.0.0.1', rx.address().port);
    const got = await arriving;
    got.forEach((d, i) => assert.ok(d.data.equals(payload(i, 500)), `datagram ${i}`));
  });
});

describe('writePackedTo', { skip: !linux }, () => {
  it('sends datagrams packed back to back in one buffer, byte-exact, as few GSO messages', async () => {
    const { rx, tx, address } = await pair('udp4', true);
    const lengths = [...new Array(50).fill(700), 300, 0, ...new Array(20).fill(1200), 1];
    const packed = Buffer.concat(lengths.map((n, i) => payload(i, n)));
    const arriving = collect(rx, lengths.length);
    await tx.writePackedTo(Buffer.concat([packed, Buffer.alloc(9)]), lengths, address, rx.address().port);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, lengths[i])), `datagram ${i}`));
    assert.equal(tx.stats().datagramsOut, lengths.length);
    assert.ok(tx.stats().messagesOut <= 5, `${tx.stats().messagesOut} messages`);
  });

  it('rejects lengths that do not fit', async () => {
    const { tx, address } = await pair('udp4', true);
    const cases: Array<[Uint8Array, ArrayLike<number>, string]> = [
      [Buffer.alloc(10), [6, 5], 'ERR_OUT_OF_RANGE'],
      [Buffer.alloc(10), [1.5], 'ERR_OUT_OF_RANGE'],
      [Buffer.alloc(10), [-1], 'ERR_OUT_OF_RANGE'],
      [Buffer.alloc(70000), [65508], 'ERR_OUT_OF_RANGE'],
      [Buffer.alloc(10), [], 'ERR_OUT_OF_RANGE'],
      [Buffer.alloc(10), 5 as unknown as number[], 'ERR_INVALID_ARG_TYPE'],
      ['text' as unknown as Uint8Array, [1], 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [packed, lengths, code] of cases) {
      await assert.rejects(tx.writePackedTo(packed, lengths, address, 9), { code }, JSON.stringify(lengths));
    }
    assert.equal(tx.stats().datagramsOut, 0);
  });
});

describe('demand', { skip: !linux }, () => {
  it('stops reading when the last listener goes: a later listener gets the rest', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', offload: false, batchSize: 16, recvBufferSize: 1 << 20 });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    for (let i = 0; i < 10; i++) await tx.writeBatchTo(Array.from({ length: 16 }, (_, j) => payload(i * 16 + j, 10)), '127.0.0.1', rx.address().port);
    // One read's batch (its size is the socket's: its slots grow as reads fill them).
    const [first] = (await once(rx, 'batch')) as [Datagram[]];
    first.forEach((d, i) => assert.equal(d.data.readUInt32BE(0), i));
    const rest = await collect(rx, 160 - first.length);
    rest.forEach((d, i) => assert.equal(d.data.readUInt32BE(0), first.length + i));
  });

  it('reads into 4 slots at first, doubling them with each read that fills them, up to the batch size', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', offload: false, batchSize: 64, recvBufferSize: 1 << 20 });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    for (let i = 0; i < 4; i++) await tx.writeBatchTo(Array.from({ length: 50 }, (_, j) => payload(i * 50 + j, 10)), '127.0.0.1', rx.address().port);
    const sizes: number[] = [];
    rx.on('view', (v) => { sizes.push(v.count); });
    await until(() => sizes.reduce((a, b) => a + b, 0) === 200);
    assert.deepEqual(sizes, [4, 8, 16, 32, 64, 64, 12]);
  });

  it('sends runs of datagrams over a SharedArrayBuffer one iovec each', async () => {
    const { rx, tx, address } = await pair('udp4', true);
    const sab = new SharedArrayBuffer(300);
    const bufs = [0, 1, 2].map((i) => new Uint8Array(sab, i * 100, 100));
    bufs.forEach((b, i) => b.set(payload(i, 100)));
    const arriving = collect(rx, 3);
    await tx.writeBatchTo(bufs, address, rx.address().port);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, 100))));
  });
});

describe('offload switches', { skip: !linux }, () => {
  it('turns GSO or GRO off alone by option; data flows either way', async () => {
    for (const [gso, gro] of [[false, true], [true, false]]) {
      const rx = await BatchSocket.bind({ address: '127.0.0.1', gro });
      const tx = await BatchSocket.bind({ address: '127.0.0.1', gso });
      open.push(rx, tx);
      assert.deepEqual([tx.capabilities.txOffload, rx.capabilities.rxOffload, tx.capabilities.maxGsoSegments], [gso, gro, gso ? gsoSegmentLimit() : 1]);
      const arriving = collect(rx, 20);
      await tx.writeBatchTo(Array.from({ length: 20 }, (_, i) => payload(i, 500)), '127.0.0.1', rx.address().port);
      assert.equal((await arriving).length, 20);
      // Without GSO every datagram is its own message; with it, one GSO message that GRO hands over whole or not at all.
      assert.equal(tx.stats().messagesOut, gso ? 1 : 20, `gso ${gso}`);
      assert.equal(rx.stats().messagesIn, gso && gro ? 1 : 20, `gro ${gro}`);
    }
  });

  it('lets an operator turn either off for the whole process, the dgram drop-in included', () => {
    const script = `
      const { BatchSocket, createSocket, compatStats } = require(${JSON.stringify(index)});
      (async () => {
        const s = await BatchSocket.bind({ address: '127.0.0.1', offload: true });
        s.setOffload({ gso: true, gro: true }); // cannot override the operator
        const d = createSocket('udp4');
        d.bind(0, '127.0.0.1', () => {
          for (let i = 0; i < 16; i++) d.send(Buffer.alloc(100), d.address().port, '127.0.0.1');
          setTimeout(() => {
            const c = s.capabilities;
            console.log(JSON.stringify({ tx: c.txOffload, rx: c.rxOffload, dropInGso: compatStats(d).messagesOut < compatStats(d).datagramsOut }));
            s.close(); d.close();
          }, 50);
        });
      })();
    `;
    const run = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim());
    };
    assert.deepEqual(run({}), { tx: true, rx: true, dropInGso: true });
    assert.deepEqual(run({ BATCHGRAM_DISABLE_GSO: '1' }), { tx: false, rx: true, dropInGso: false });
    assert.deepEqual(run({ BATCHGRAM_DISABLE_GRO: '1' }), { tx: true, rx: false, dropInGso: true });
  });

  it('turns GSO on, off and on again at run time; capabilities and stats agree', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1', gso: false });
    open.push(rx, tx);
    const to = ['127.0.0.1', rx.address().port] as const;
    const caps = () => [tx.capabilities.txOffload, tx.capabilities.maxGsoSegments, tx.stats().gsoDisabled];
    const arriving = collect(rx, 128 + 10 + 10);
    let seq = 0;
    const write = async (n: number) => {
      const before = tx.stats().messagesOut;
      await tx.writeBatchTo(Array.from({ length: n }, () => payload(seq++, 20)), ...to);
      return tx.stats().messagesOut - before;
    };
    assert.deepEqual(caps(), [false, 1, false]);
    tx.setOffload({ gso: true });
    assert.deepEqual(caps(), [true, gsoSegmentLimit(), false]);
    // The socket opened without GSO, so its send memory grows to the kernel's segment limit.
    assert.equal(await write(128), 128 / gsoSegmentLimit());
    tx.setOffload({ gso: false });
    assert.deepEqual(caps(), [false, 1, false], 'turned off by the caller: not gsoDisabled');
    assert.equal(await write(10), 10);
    tx.setOffload({ gso: true });
    assert.equal(await write(10), 1);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(i, 20)), `datagram ${i}`));
  });

  it('turns GRO off at run time without handing over what the kernel already coalesced as one datagram', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const to = ['127.0.0.1', rx.address().port] as const;
    const burst = (from: number) => tx.writeBatchTo(Array.from({ length: 10 }, (_, i) => payload(from + i, 100)), ...to);
    // Nobody reads yet: the kernel queues two GSO messages coalesced, one
    // before the switch and one after it (GRO waits for the queue to empty).
    await burst(0);
    rx.setOffload({ gro: false });
    assert.equal(rx.capabilities.rxOffload, false, 'at once');
    await burst(10);
    const first = await collect(rx, 20);
    first.forEach((d, i) => assert.ok(d.data.equals(payload(i, 100)), `datagram ${i}: ${d.data.length} bytes`));
    assert.equal(rx.stats().messagesIn, 2, 'the queued messages were split by their segment size');
    // The queue emptied, so GRO is off in the kernel too: each datagram is its own message.
    const second = collect(rx, 10);
    await burst(20);
    (await second).forEach((d, i) => assert.ok(d.data.equals(payload(20 + i, 100))));
    assert.equal(rx.stats().messagesIn, 2 + 10);
  });

  it('turns GRO on at run time, growing receive slots too small for a GRO message', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', gro: false, recvSlotSize: 2048 });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const to = ['127.0.0.1', rx.address().port] as const;
    const before = collect(rx, 1);
    await tx.writeBatchTo([payload(0, 1000)], ...to);
    await before; // the receive memory exists, laid out for 2048-byte slots
    rx.setOffload({ gro: true });
    assert.equal(rx.capabilities.rxOffload, true);
    const arriving = collect(rx, 20);
    await tx.writeBatchTo(Array.from({ length: 20 }, (_, i) => payload(1 + i, 1000)), ...to);
    (await arriving).forEach((d, i) => assert.ok(d.data.equals(payload(1 + i, 1000)) && !d.truncated, `datagram ${i}`));
    assert.equal(rx.stats().messagesIn, 1 + 1, 'one GRO message of 20 000 bytes, whole');
  });

  it('checks its arguments; the portable path stays without offload', async () => {
    const s = await BatchSocket.bind({ address: '127.0.0.1' });
    const p = await BatchSocket.bind({ address: '127.0.0.1', batching: false });
    open.push(p);
    for (const bad of [null, 1, { gso: 'yes' }, { gro: 1 }]) {
      assert.throws(() => s.setOffload(bad as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
    p.setOffload({ gso: true, gro: true });
    assert.deepEqual([p.capabilities.txOffload, p.capabilities.rxOffload], [false, false]);
    await s.close();
    assert.throws(() => s.setOffload({ gso: false }), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  });
});

describe('GSO segment limit', { skip: !linux }, () => {
  it('plans up to the segments this kernel takes: 128 small datagrams in one GSO message where it takes 128', async (t) => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 4 << 20 });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    open.push(rx, tx);
    const limit = tx.capabilities.maxGsoSegments;
    assert.ok(limit === 64 || limit === 128, `limit ${limit}`);
    if (limit !== 128) t.diagnostic('this kernel takes 64 segments per GSO send');
    const arriving = collect(rx, 128);
    await tx.writeBatchTo(Array.from({ length: 128 }, (_, i) => payload(i, 16)), '127.0.0.1', rx.address().port);
    assert.deepEqual((await arriving).map((d) => d.data.readUInt32BE(0)), Array.from({ length: 128 }, (_, i) => i));
    assert.equal(tx.stats().messagesOut, 128 / limit);
    assert.equal(tx.stats().sendCalls, 1, 'no refused GSO message on the way');
  });
});
