// Resources come back: descriptors and memory stay flat over many sockets,
// worker threads can use sockets and end cleanly, and an idle process exits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchSocket } from '../../src/index';
import { collect, index, node } from '../helpers';

const linux = process.platform === 'linux';

describe('lifecycle', { skip: !linux }, () => {
  // Under AddressSanitizer (npm run test:asan) resident memory is mostly the
  // sanitizer's own: shadow memory, redzones, calloc writing every page, and
  // the shadow of every mapping, each at a new address while the finalizers
  // that unmap the last ones wait for the event loop.
  const sanitized = process.env.BATCHGRAM_ADDON ? 'resident memory measures the sanitizer under test:asan' : false;

  it('leaves descriptors and memory flat over 10 000 bind/close cycles that never wait for a timer', () => {
    // Each cycle reads (the receive arena and its ring) and writes (the send
    // ring). The loop only awaits promises, so the event loop never reaches
    // the phase where Node runs addon finalizers: close() itself must give
    // the native memory back, not the garbage collector.
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      const { readdirSync } = require('node:fs');
      const cycle = async (n) => {
        for (let i = 0; i < n; i++) {
          const s = await BatchSocket.bind({ address: '127.0.0.1' });
          s.on('batch', () => {});
          await Promise.resolve(); // reading starts in a microtask
          await s.writeBatchTo([Buffer.alloc(100)], '127.0.0.1', s.address().port);
          await s.close();
        }
      };
      // Resident memory outside V8's heap, whose size is V8's choice (from
      // Node 22 on it keeps objects waiting for addon finalizers, which run
      // on a later turn, and grew by 49 MiB over 5 000 cycles here).
      const outside = () => { gc(); const m = process.memoryUsage(); return m.rss - m.heapTotal; };
      (async () => {
        await cycle(500); // warm up allocators and JIT
        const fds = readdirSync('/proc/self/fd').length, before = outside();
        await cycle(10000);
        console.log(JSON.stringify({ fds: readdirSync('/proc/self/fd').length - fds, grown: outside() - before }));
      })();
    `, 120_000, ['--expose-gc']);
    assert.equal(r.status, 0, r.out);
    const { fds, grown } = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(fds, 0, 'descriptors');
    // What this guards against is native memory close() leaves behind: a
    // receive arena per socket (megabytes at these options) would be gigabytes.
    // From Node 22 on the figure also holds the closed sockets' JavaScript
    // buffers that wait for finalizers, which this loop never lets run: on
    // Node 24 here 45-54 MiB before issue 24's options and 55-81 after (Node
    // 20: 33 either way), and no more after 20 000 cycles than after 10 000.
    const limit = Number(process.versions.node.split('.')[0]) >= 22 ? 96 : 64;
    if (!sanitized) assert.ok(grown < limit << 20, `resident memory outside V8's heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    console.log(`resident memory outside V8's heap after 10 000 cycles: ${grown >= 0 ? '+' : ''}${(grown / 2 ** 20).toFixed(1)} MiB`);
  });

  it('costs each socket no more than its receive arena and 1 MiB', { skip: sanitized }, async () => {
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    const reading = async (n: number): Promise<BatchSocket[]> => {
      const socks: BatchSocket[] = [];
      for (let i = 0; i < n; i++) {
        const s = await BatchSocket.bind({ address: '127.0.0.1' });
        const arrived = collect(s, 128);
        await tx.writeBatchTo(Array.from({ length: 128 }, () => Buffer.alloc(1200)), '127.0.0.1', s.address().port);
        await arrived; // the arena is allocated and the kernel has written into it
        socks.push(s);
      }
      return socks;
    };
    // Warm up the JIT and V8's heap first: the first sockets of a process
    // pay for them (this test may be the first of its process to read).
    await Promise.all((await reading(10)).map((s) => s.close()));
    const before = process.memoryUsage().rss;
    const socks = await reading(50);
    const perSocket = (process.memoryUsage().rss - before) / socks.length;
    await Promise.all([...socks, tx].map((s) => s.close()));
    // What the kernel wrote is at most one GRO message per slot in use.
    const written = 128 * 1200;
    assert.ok(perSocket < written + (1 << 20), `${(perSocket / 2 ** 10).toFixed(0)} KiB per socket`);
    console.log(`${(perSocket / 2 ** 10).toFixed(0)} KiB resident per reading socket`);
  });

  it('gives the memory of closed sockets back to the system over 3 000 cycles of varied options', { skip: sanitized }, () => {
    // The 10 000-cycle test binds with one set of options, so malloc hands
    // every socket the blocks the last one freed. Options vary here (batch
    // size, GRO and with it the slot size, the receive buffer), and so do the
    // sizes of the receive arena and the rings: freed into malloc's heap, they
    // fragmented it, and the pages the kernel had written stayed resident
    // (26 to 44 MiB more after these cycles; 12 to 16 since they are mapped)
    // while the heap in use stayed flat. V8's own heap is left out of the
    // count: its size is V8's choice (21 or 37 MiB at the end of identical runs).
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      const batchSizes = [8, 32, 64, 128];
      const payload = Buffer.alloc(1000);
      const cycle = async (from, n) => {
        for (let i = from; i < from + n; i++) {
          const gro = (i >> 2) % 2 === 0;
          const s = await BatchSocket.bind({ address: '127.0.0.1', batchSize: batchSizes[i % 4], gro,
            recvSlotSize: 4096 * (1 + i % 16), recvBufferSize: (1 + i % 7) << 18 });
          // A datagram per slot, unless GRO coalesces them: the kernel writes across the arena.
          const want = Math.min(s.batchSize, 64);
          const arrived = new Promise((resolve) => {
            let got = 0;
            s.on('view', (v) => { if ((got += v.count) === want) resolve(); });
          });
          await s.writeBatchTo(new Array(want).fill(payload), '127.0.0.1', s.address().port);
          await arrived;
          await s.close();
        }
      };
      // Resident memory outside V8's heap, once garbage is collected and the finalizers that unmap have run.
      const outside = async () => {
        for (let k = 0; k < 3; k++) { gc(); await new Promise((r) => setImmediate(r)); }
        const m = process.memoryUsage();
        return m.rss - m.heapTotal;
      };
      (async () => {
        await cycle(0, 50); // warm up the JIT
        const before = await outside();
        await cycle(50, 3000);
        console.log(JSON.stringify({ grown: await outside() - before }));
      })();
    `, 120_000, ['--expose-gc']);
    assert.equal(r.status, 0, r.out);
    const { grown } = JSON.parse(r.out.trim().split('\n').pop()!);
    // Fragmentation grew it by 26 to 44 MiB; the mapped blocks leave 13-16 on Node 20, where the limit guards
    // against its return. Newer lines spread wider from run to run (Node 22: 14-28, before issue 24's options
    // as after; Node 24: 5-8 before, 11-21 after), so their limit leaves room for that.
    const limit = Number(process.versions.node.split('.')[0]) >= 22 ? 32 : 24;
    assert.ok(grown < limit << 20, `resident memory outside V8's heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    console.log(`resident memory outside V8's heap after 3 000 varied cycles: ${grown >= 0 ? '+' : ''}${(grown / 2 ** 20).toFixed(1)} MiB`);
  });

  it('works in a worker thread, and the process exits when the worker is terminated with a socket open', () => {
    const r = node(`
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const { BatchSocket } = require(${JSON.stringify(index)});
        const { parentPort } = require('node:worker_threads');
        (async () => {
          const s = await BatchSocket.bind({ address: '127.0.0.1' });
          s.on('batch', (b) => parentPort.postMessage(b.map((d) => d.data.toString()).join(',')));
          await s.writeBatchTo([Buffer.from('a'), Buffer.from('b')], '127.0.0.1', s.address().port);
        })();
      \`, { eval: true });
      w.on('message', (m) => { console.log('worker got ' + m); w.terminate(); });
    `);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /worker got a,b/);
  });

  it('a worker whose drop-in listener throws ends with the error, with datagrams still waiting to be handed out', () => {
    // The worker stops on the uncaught exception; the addon's calls for the
    // datagrams after it then fail without running any JavaScript, and must
    // not go on forever.
    const r = node(`
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`
        const { createSocket } = require(${JSON.stringify(index)});
        const s = createSocket('udp4');
        s.on('message', () => { throw new Error('listener threw'); });
        s.bind(0, '127.0.0.1', () => {
          for (let i = 0; i < 3; i++) s.send('x', s.address().port, '127.0.0.1');
        });
      \`, { eval: true });
      w.on('error', (e) => console.log('worker error: ' + e.message));
      w.on('exit', (code) => console.log('worker exit ' + code));
    `, 10_000);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /worker error: listener threw\nworker exit 1/);
  });

  it('lets the process exit once every socket is closed, or unref()ed, or neither reads nor writes', () => {
    // With receiveErrors the socket always polls for queued errors, which alone must not hold the process.
    for (const options of ["{ address: '127.0.0.1' }", "{ address: '127.0.0.1', receiveErrors: true }"]) {
      for (const end of ['await s.close();', 's.unref();', "s.off('batch', read);"]) {
        const r = node(`
          const { BatchSocket } = require(${JSON.stringify(index)});
          (async () => {
            const s = await BatchSocket.bind(${options});
            const read = () => {};
            s.on('batch', read);
            s.on('icmpError', () => {});
            ${end}
          })();
        `, 10_000);
        assert.equal(r.status, 0, `${options} ${end}: ${r.out}`);
        assert.ok(r.ms < 5_000, `${options} ${end}: exited after ${r.ms} ms`);
      }
    }
  });

  it('hands an exception thrown by a listener to uncaughtException, and keeps reading', () => {
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      let caught = 0, batches = 0;
      process.on('uncaughtException', (e) => { caught++; console.log('caught ' + e.message); });
      (async () => {
        const s = await BatchSocket.bind({ address: '127.0.0.1' });
        s.on('batch', () => { if (++batches === 1) throw new Error('boom'); console.log('second batch'); s.close(); });
        await s.writeBatchTo([Buffer.from('a')], '127.0.0.1', s.address().port);
        setTimeout(() => s.writeBatchTo([Buffer.from('b')], '127.0.0.1', s.address().port), 50);
      })();
    `);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /caught boom\nsecond batch/);
  });

  it('keeps the process alive while a socket reads', () => {
    const r = node(`
      const { BatchSocket } = require(${JSON.stringify(index)});
      (async () => {
        const s = await BatchSocket.bind({ address: '127.0.0.1' });
        s.on('batch', () => {});
      })();
    `, 1_500);
    assert.equal(r.signal, 'SIGTERM', 'still running when the timeout killed it');
  });

  it('ends a waiting iterator when the socket closes during the read', async () => {
    const s = await BatchSocket.bind({ address: '127.0.0.1' });
    const it = s[Symbol.asyncIterator]();
    const pending = it.next();
    await s.close();
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.deepEqual(await it.next(), { value: undefined, done: true });
  });

  it('hands out what an iterator holds before it ends', async () => {
    const rx = await BatchSocket.bind({ address: '127.0.0.1' });
    const tx = await BatchSocket.bind({ address: '127.0.0.1' });
    const it = rx[Symbol.asyncIterator]();
    const arrived = collect(rx, 2);
    await tx.writeBatchTo([Buffer.from('x')], '127.0.0.1', rx.address().port);
    await tx.writeBatchTo([Buffer.from('y')], '127.0.0.1', rx.address().port);
    await arrived;
    await rx.close();
    await tx.close();
    const seen: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) seen.push(...r.value.map((d) => d.data.toString()));
    assert.deepEqual(seen, ['x', 'y']);
  });
});
