// Every consumer of a read gets it, whatever the others do: a listener that
// throws, an iterator that returns, a close() inside a listener, receive
// memory a listener made unusable. Scripts that must see uncaughtException
// run in a child process, where the test runner's own handler is absent.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { BatchSocket, type BatchView } from '../../src/index';
import { binding } from '../../src/kernel/native';
import { collect, index, node, until } from '../helpers';

const linux = process.platform === 'linux';

// The receive memory is the addon's own mapping (mapPages), which
// structuredClone copies rather than transfers; ArrayBuffer.prototype.transfer
// (Node 21 on) detaches it, as the addon's releasePages does on every Node.
const detach = (v: BatchView) => void binding!.releasePages(v.data.buffer as ArrayBuffer);
const nativeModule = join(dirname(index), 'kernel', 'native');

/**
 * A child script: `setup` registers consumers on socket `s`, then each of
 * `sends` datagrams goes in its own write and read; the script prints the
 * counts in `seen` and the uncaught exceptions once the reads are over.
 */
function consumers(setup: string, sends = 4): { status: number | null; out: string } {
  return node(`
    const { BatchSocket } = require(${JSON.stringify(index)});
    const seen = { view: 0, batch: 0, iterator: 0, throws: 0 }, uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    (async () => {
      const s = await BatchSocket.bind({ address: '127.0.0.1' });
      ${setup}
      await new Promise((r) => setImmediate(r)); // reading starts
      for (let i = 0; i < ${sends}; i++) {
        await s.writeBatchTo([Buffer.from([i])], '127.0.0.1', s.address().port);
        await new Promise((r) => setTimeout(r, 20)); // one read each
      }
      await s.close();
      console.log(JSON.stringify({ seen, uncaught }));
    })();
  `);
}

function result(r: { status: number | null; out: string }): { seen: Record<string, number>; uncaught: string[] } {
  assert.equal(r.status, 0, r.out);
  return JSON.parse(r.out.trim().split('\n').pop()!);
}

const iterate = `(async () => { for await (const b of s) seen.iterator += b.length; })();`;

describe('consumers', { skip: !linux }, () => {
  it('a throwing view listener costs the batch listener and the iterator nothing', () => {
    const { seen, uncaught } = result(consumers(`
      s.on('view', (v) => { seen.view += v.count; if (seen.throws++ === 0) throw new Error('view boom'); });
      s.on('batch', (b) => { seen.batch += b.length; });
      ${iterate}
    `));
    assert.deepEqual({ ...seen, throws: 0 }, { view: 4, batch: 4, iterator: 4, throws: 0 });
    assert.deepEqual(uncaught, ['view boom']);
  });

  it('a throwing batch listener costs a waiting iterator and the other listeners nothing', () => {
    const { seen, uncaught } = result(consumers(`
      s.on('batch', () => { seen.throws++; throw new Error('batch boom'); });
      s.on('batch', (b) => { seen.batch += b.length; });
      ${iterate}
    `));
    // One exception per read, however the kernel grouped the datagrams into reads.
    assert.deepEqual({ ...seen, throws: 0 }, { view: 0, batch: 4, iterator: 4, throws: 0 });
    assert.deepEqual(uncaught, new Array(seen.throws).fill('batch boom'));
  });

  it('every exception of one read reaches uncaughtException, the first at once', () => {
    const { seen, uncaught } = result(consumers(`
      s.on('view', () => { seen.view++; throw new Error('one'); });
      s.on('view', () => { seen.view++; throw new Error('two'); });
      s.on('batch', (b) => { seen.batch += b.length; throw new Error('three'); });
    `, 1));
    assert.deepEqual(seen, { view: 2, batch: 1, iterator: 0, throws: 0 });
    assert.deepEqual(uncaught, ['one', 'two', 'three']);
  });

  it('settles a pending next() when its iterator returns', async () => {
    const s = await BatchSocket.bind({ address: '127.0.0.1' });
    const it = s[Symbol.asyncIterator]();
    const pending = it.next();
    assert.deepEqual(await it.return!(), { value: undefined, done: true });
    assert.deepEqual(await pending, { value: undefined, done: true });
    await s.close();
  });

  it('hands a waiting iterator the batch whose listener closed the socket, then ends it', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    const it = rx[Symbol.asyncIterator]();
    const first = it.next();
    rx.on('batch', () => void rx.close());
    await tx.writeBatchTo([Buffer.from('last')], '127.0.0.1', rx.address().port);
    const r = await first;
    assert.equal(r.done, false);
    assert.equal(r.value![0].data.toString(), 'last');
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    await tx.close();
  });

  it('hands a waiting iterator the batch whose view listener closed the socket', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    const it = rx[Symbol.asyncIterator]();
    const first = it.next();
    rx.on('view', () => void rx.close());
    await tx.writeBatchTo([Buffer.from('last')], '127.0.0.1', rx.address().port);
    assert.equal((await first).value![0].data.toString(), 'last');
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    await tx.close();
  });

  it('leaves the view whole for the view listeners after one that closed the socket, then empties it', async () => {
    // close() gives the receive memory back, but not while a read is being
    // handed out: a later listener may still read the view, or forward it.
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    let seen: BatchView | null = null;
    const read = new Promise<string>((resolve) => {
      rx.on('view', () => void rx.close());
      rx.on('view', (v) => {
        seen = v;
        resolve(v.datagram(0).toString());
      });
    });
    await tx.writeBatchTo([Buffer.from('last')], '127.0.0.1', rx.address().port);
    assert.equal(await read, 'last');
    // Once handed out, the memory went back: the view holds nothing.
    assert.equal(seen!.data.byteLength, 0);
    await tx.close();
  });

  it('detached receive memory: one error for that read, fresh memory, and reading goes on', () => {
    // A listener that detaches the receive arena used to make every later
    // read throw out of the poll callback: a busy loop of exceptions.
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      const { binding } = require(${JSON.stringify(nativeModule)});
      const uncaught = [], errors = [], got = [];
      process.on('uncaughtException', (e) => uncaught.push(e.message));
      (async () => {
        const s = await BatchSocket.bind({ address: '127.0.0.1' });
        let detached = false;
        s.on('error', (e) => errors.push(e.code));
        s.on('view', (v) => {
          for (let i = 0; i < v.count; i++) got.push(v.datagram(i).toString());
          if (!detached) { detached = true; binding.releasePages(v.data.buffer); }
        });
        for (const m of ['a', 'b', 'c']) {
          await s.writeBatchTo([Buffer.from(m)], '127.0.0.1', s.address().port);
          await new Promise((r) => setTimeout(r, 50));
        }
        const calls = s.stats().recvCalls;
        await s.close();
        console.log(JSON.stringify({ got, errors, uncaught: uncaught.length, calls }));
      })();
    `);
    assert.equal(r.status, 0, r.out);
    const { got, errors, uncaught, calls } = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.deepEqual(errors, ['ERR_BATCHGRAM_RECEIVE_MEMORY']);
    assert.equal(uncaught, 0);
    // The unusable memory is found before the kernel is asked: 'b' waited
    // in the socket's queue and arrived in the fresh memory.
    assert.deepEqual(got, ['a', 'b', 'c']);
    assert.ok(calls < 10, `${calls} recvmmsg calls`);
  });

  it('an iterator ended by an error holds no reading back: the other consumers get the rest', async () => {
    // A for-await loop that meets an error ends without calling return():
    // the socket must forget that iterator, or its unread queue would stop
    // reading for everyone once it held 64 batches.
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    let got = 0;
    rx.on('error', () => {});
    rx.on('batch', (b) => { got += b.length; });
    rx.once('view', detach);
    const ended = (async () => {
      try {
        for await (const b of rx) void b;
        return 'done';
      } catch (err) {
        return (err as NodeJS.ErrnoException).code;
      }
    })();
    for (let i = 0; i < 150; i++) {
      await tx.writeBatchTo([Buffer.from([i])], '127.0.0.1', rx.address().port);
      await new Promise((r) => setTimeout(r, 1)); // a read each, mostly
    }
    await until(() => got === 150, 5000, `all 150 datagrams (${got})`);
    assert.equal(await ended, 'ERR_BATCHGRAM_RECEIVE_MEMORY');
    assert.ok(rx.stats().recvCalls > 64, `${rx.stats().recvCalls} reads: more than the abandoned iterator could hold`);
    await rx.close();
    await tx.close();
  });

  it('a view listener that detaches the memory costs the batch consumers nothing', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    const errors: string[] = [];
    rx.on('error', (e) => errors.push((e as NodeJS.ErrnoException).code!));
    rx.once('view', detach);
    const arrived = collect(rx, 3);
    await tx.writeBatchTo([Buffer.from('x')], '127.0.0.1', rx.address().port);
    await new Promise((r) => setTimeout(r, 30));
    await tx.writeBatchTo([Buffer.from('y')], '127.0.0.1', rx.address().port);
    await new Promise((r) => setTimeout(r, 30));
    await tx.writeBatchTo([Buffer.from('z')], '127.0.0.1', rx.address().port);
    assert.deepEqual((await arrived).map((d) => d.data.toString()), ['x', 'y', 'z']);
    assert.deepEqual(errors, ['ERR_BATCHGRAM_RECEIVE_MEMORY']);
    await rx.close();
    await tx.close();
  });
});
