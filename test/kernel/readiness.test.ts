// The addon's readiness thread (native/src/poll.c), which Bun and Deno use,
// run here under Node.js so that every suite run, the sanitizer's included,
// checks it: the real binding with pollStart asked for the thread instead of
// uv_poll. test/runtimes.test.ts runs it in those runtimes themselves.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { constants } from 'node:os';
import { after, describe, it } from 'node:test';
import type { BatchSocket } from '../../src/index';
import { binding, type NativeBinding, type SocketHandle } from '../../src/kernel/native';
import { bindWith } from '../../src/socket/batch-socket';
import { abi } from '../../src/wire/abi';
import { encodeSockaddr, parseAddress } from '../../src/wire/sockaddr';
import { node, payload, until } from '../helpers';

const { EAGAIN, EBADF } = constants.errno;

/** The real binding with readiness from the addon's thread; `sendFault` may fail chosen sendmmsg calls. */
function threaded(sendFault: (call: number) => number | undefined = () => undefined): NativeBinding {
  const real = binding as NativeBinding;
  let calls = 0;
  return {
    ...real,
    pollStart: (s, cb) => real.pollStart(s, cb, false),
    sendmmsg: (s, ring, buffers, first, count) => sendFault(calls++) ?? real.sendmmsg(s, ring, buffers, first, count),
  };
}

const open: BatchSocket[] = [];
after(() => Promise.all(open.map((s) => s.close())));
async function bind(b: NativeBinding): Promise<BatchSocket> {
  const s = await bindWith({ address: '127.0.0.1', recvBufferSize: 4 << 20 }, b);
  open.push(s);
  return s;
}

describe('readiness from the addon\'s thread', { skip: binding === null }, () => {
  it('reports each read as it comes, and writability while writes wait (EAGAIN)', async () => {
    const rx = await bind(threaded());
    // The first sendmmsg fails as a full send buffer does: the write waits for the thread's writable report.
    const tx = await bind(threaded((call) => (call === 0 ? -EAGAIN : undefined)));
    // One listener throughout, so that the events asked for never change: each round is a report of its own,
    // which comes only if the thread was armed again after the one before.
    const got: Buffer[] = [];
    rx.on('batch', (batch) => { for (const d of batch) got.push(Buffer.from(d.data)); });
    const sent: Buffer[] = [];
    for (let round = 0; round < 4; round++) {
      const batch = Array.from({ length: 40 }, (_, i) => payload(round * 40 + i, round % 2 === 0 ? 1000 : 100 + i));
      sent.push(...batch);
      await tx.writeBatchTo(batch, '127.0.0.1', rx.address().port);
      await until(() => got.length >= sent.length, 5000, `round ${round}: ${got.length} of ${sent.length} datagrams`);
    }
    assert.deepEqual(got, sent);
    assert.ok(rx.stats().recvCalls < sent.length, `${rx.stats().recvCalls} reads for ${sent.length} datagrams`);
  });

  it('hands out datagrams one thread-safe call each, the promise jobs of each before the next', async () => {
    const b = binding as NativeBinding;
    const s = b.socket(4) as SocketHandle;
    const name = new Uint8Array(abi.SOCKADDR_SLOT);
    assert.equal(b.bind(s, name, encodeSockaddr(name, 0, parseAddress('127.0.0.1')!, 0)), 0);
    assert.ok(b.getsockname(s, name) > 0);
    const port = (name[2] << 8) | name[3];
    assert.throws(() => b.pollStart(s, () => 0, undefined as unknown as boolean), TypeError);
    const seen: string[] = [];
    let left = 3;
    const done = new Promise<void>((resolve) => {
      assert.equal(b.pollStart(s, (status, events) => {
        if (status !== abi.POLL_HAND_OUT) {
          seen.push(`ready ${status} ${events}`);
          b.pollUpdate(s, 0); // the datagram stays unread: no report after these
          return left;
        }
        const n = left--;
        seen.push(`hand out ${n}`);
        void Promise.resolve().then(() => {
          seen.push(`job ${n}`);
          if (n === 1) resolve();
        });
        return left;
      }, false), 0);
    });
    assert.equal(b.pollRef(s, true), 0);
    assert.equal(b.pollUpdate(s, 1), 0);
    const sender = dgram.createSocket('udp4');
    sender.send('x', port, '127.0.0.1');
    await done;
    sender.close();
    assert.deepEqual(seen, ['ready 0 1', 'hand out 3', 'job 3', 'hand out 2', 'job 2', 'hand out 1', 'job 1']);
    assert.equal(b.close(s), 0);
    assert.equal(b.pollUpdate(s, 1), -EBADF);
    assert.equal(b.pollRef(s, false), -EBADF);
  });

  it('lets the process end: sockets unref\'d, closed with reads pending, dropped, or in a terminated worker', () => {
    const script = (worker: boolean) => `
      const { binding } = require(${JSON.stringify(require.resolve('../../src/kernel/native'))});
      const { bindWith } = require(${JSON.stringify(require.resolve('../../src/socket/batch-socket'))});
      const b = { ...binding, pollStart: (s, cb) => binding.pollStart(s, cb, false) };
      const opts = { address: '127.0.0.1' };
      (async () => {
        const unrefd = await bindWith(opts, b);
        unrefd.on('batch', () => {});
        unrefd.unref();
        const pending = await bindWith(opts, b);
        const reading = (async () => { for await (const x of pending) void x; })();
        await new Promise((r) => setTimeout(r, 20));
        await pending.close();
        await reading;
        // A socket nobody closes: its finalizer stops the thread.
        const s = binding.socket(4);
        binding.pollStart(s, () => 0, false);
        binding.pollUpdate(s, 1);
        binding.pollRef(s, false);
        ${worker ? `require('node:worker_threads').parentPort.postMessage('reading');` : `
        globalThis.gc();
        const { Worker } = require('node:worker_threads');
        const w = new Worker(${JSON.stringify('WORKER')}, { eval: true });
        await new Promise((r) => w.once('message', r));
        await w.terminate();
        console.log('ended');`}
      })();`;
    const r = node(script(false).replace(JSON.stringify('WORKER'), JSON.stringify(script(true))), 20_000, ['--expose-gc']);
    assert.equal(r.signal, null, r.out);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^ended$/m);
  });
});
