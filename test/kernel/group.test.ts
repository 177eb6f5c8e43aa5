// bindGroup: worker threads, one socket each in one SO_REUSEPORT group. Each
// case runs in a child process, whose descriptors are counted before the
// group and after it closed. The workers run an echo module: each datagram
// goes back to its sender prefixed with the caller's workerData tag and the
// worker's threadId.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { index, node } from '../helpers';

const linux = process.platform === 'linux';
const dir = mkdtempSync(join(tmpdir(), 'batchgram-group-'));
const echo = join(dir, 'echo.js');
writeFileSync(echo, `
  const { groupSocket } = require(${JSON.stringify(index)});
  const { threadId, workerData } = require('node:worker_threads');
  groupSocket().then((s) => s.on('batch', (b) => {
    for (const d of b) s.writeBatchTo([Buffer.concat([Buffer.from([workerData.tag, threadId]), d.data])], d.address, d.port);
  }));
`);
const throwing = join(dir, 'throws.js');
writeFileSync(throwing, "throw new Error('the module failed');");
// The first worker to run it throws on the turn after it started, while the group starts the next worker.
const throwsSoon = join(dir, 'throws-soon.js');
writeFileSync(throwsSoon, `
  const fs = require('node:fs');
  let first = true;
  try { fs.closeSync(fs.openSync(${JSON.stringify(join(dir, 'first'))}, 'wx')); } catch { first = false; }
  if (first) setImmediate(() => { throw new Error('late'); });
`);
// Throws on its first datagram, after it started.
const throwsLater = join(dir, 'throws-later.js');
writeFileSync(throwsLater, `
  const { groupSocket } = require(${JSON.stringify(index)});
  groupSocket().then((s) => s.on('batch', () => { throw new Error('a handler failed'); }));
`);

/** Runs `body` in a child with the group module and helpers; returns what it printed last, parsed. */
function inChild(body: string): Record<string, unknown> {
  const r = node(`
    const fs = require('node:fs');
    const { bindGroup, BatchSocket } = require(${JSON.stringify(index)});
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const shape = (e) => e.code + ' ' + e.constructor.name;
    const out = {};
    // Clients, each its own flow: every datagram's echo is [tag, worker, ...the datagram].
    const clients = async (n, port, payloads) => {
      const echoes = [];
      const socks = [];
      for (let i = 0; i < n; i++) {
        const c = await BatchSocket.bind({ address: '127.0.0.1' });
        socks.push(c);
        c.on('batch', (b) => { for (const d of b) echoes.push({ client: i, tag: d.data[0], worker: d.data[1], body: d.data.subarray(2) }); });
      }
      for (let i = 0; i < n; i++) await socks[i].writeBatchTo(payloads(i), '127.0.0.1', port);
      return { echoes, socks };
    };
    const settle = (ms) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      // What a process keeps once it has had a socket (the addon's own UDP_GRO holder) and a worker
      // (Node opens /dev/null once, with its stdio piped) is not the group's.
      await (await BatchSocket.bind({ address: '127.0.0.1' })).close();
      await new Promise((r) => new (require('node:worker_threads').Worker)('0', { eval: true }).on('exit', r));
      const before = fds();
      const links = () => fs.readdirSync('/proc/self/fd').map((f) => { try { return fs.readlinkSync('/proc/self/fd/' + f); } catch { return '?'; } });
      const beforeLinks = links();
      ${body}
      await settle(20);
      out.fdsBack = fds() === before;
      if (!out.fdsBack) out.fdsLeft = links().filter((l) => !beforeLinks.includes(l));
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });
  `, 60_000);
  assert.equal(r.status, 0, r.out);
  return JSON.parse(r.out.trim().split('\n').pop()!);
}

describe('bindGroup', { skip: !linux }, () => {
  it("'flow': every datagram of 8 flows answered exactly once, byte-exact, each flow by one worker", () => {
    const out = inChild(`
      const g = await bindGroup({ module: ${JSON.stringify(echo)}, workers: 2, address: '127.0.0.1', workerData: { tag: 7 } });
      out.size = g.size;
      const payload = (i, k) => Buffer.from('flow ' + i + ' datagram ' + k);
      const { echoes, socks } = await clients(8, g.address().port, (i) => Array.from({ length: 50 }, (_, k) => payload(i, k)));
      for (let t = 0; t < 1000 && echoes.length < 400; t++) await settle(10);
      await settle(50);
      out.echoes = echoes.length;
      out.tags = [...new Set(echoes.map((e) => e.tag))];
      const seen = new Set(echoes.map((e) => e.body.toString()));
      out.exactlyOnce = seen.size === 400 && [...Array(8).keys()].every((i) => [...Array(50).keys()].every((k) => seen.has(payload(i, k).toString())));
      out.workersPerFlow = [...Array(8).keys()].map((i) => new Set(echoes.filter((e) => e.client === i).map((e) => e.worker)).size);
      const { total, workers } = await g.stats();
      out.totalIn = total.datagramsIn;
      out.perWorker = workers.map((w) => w.datagramsIn).reduce((a, b) => a + b, 0);
      for (const s of socks) await s.close();
      await g.close();
    `);
    assert.deepEqual(out, {
      size: 2, echoes: 400, tags: [7], exactlyOnce: true, workersPerFlow: [1, 1, 1, 1, 1, 1, 1, 1],
      totalIn: 400, perWorker: 400, fdsBack: true,
    });
  });

  it('payload steering: one connection ID from 16 source ports reaches one worker; other IDs reach both', () => {
    const out = inChild(`
      const g = await bindGroup({ module: ${JSON.stringify(echo)}, workers: 2, address: '127.0.0.1', workerData: { tag: 1 },
        steering: { offset: 0, length: 8 } });
      const id = Buffer.from('conn-id!');
      const same = await clients(16, g.address().port, (i) => [Buffer.concat([id, Buffer.from([i])])]);
      const spread = await clients(16, g.address().port, (i) => [Buffer.from('other-' + String(i).padStart(2, '0') + 'x')]);
      for (let t = 0; t < 1000 && same.echoes.length + spread.echoes.length < 32; t++) await settle(10);
      out.sameWorkers = new Set(same.echoes.map((e) => e.worker)).size;
      out.spreadWorkers = new Set(spread.echoes.map((e) => e.worker)).size;
      for (const s of [...same.socks, ...spread.socks]) await s.close();
      await g.close();
    `);
    assert.deepEqual(out, { sameWorkers: 1, spreadWorkers: 2, fdsBack: true });
  });

  it('a worker terminated mid-traffic: workerExit, the other answers on, everything closed after', () => {
    const out = inChild(`
      const g = await bindGroup({ module: ${JSON.stringify(echo)}, workers: 2, address: '127.0.0.1', workerData: { tag: 2 } });
      const exits = [];
      g.on('workerExit', (i, code) => exits.push([i, code]));
      const port = g.address().port;
      const flows = await clients(8, port, (i) => [Buffer.from('before ' + i)]);
      // Traffic on every flow while the worker goes: what its socket still held is lost with it, nothing else.
      let sending = true;
      const during = (async () => {
        for (let k = 0; sending; k++) {
          await Promise.all(flows.socks.map((s, i) => s.writeBatchTo([Buffer.from('during ' + i + ' ' + k)], '127.0.0.1', port)));
          await settle(1);
        }
      })();
      await settle(30);
      await g.workers[1].terminate();
      await settle(50);
      sending = false;
      await during;
      out.exits = exits;
      out.size = g.size;
      const after = await clients(8, port, (i) => Array.from({ length: 10 }, (_, k) => Buffer.from('after ' + i + ' ' + k)));
      for (let t = 0; t < 1000 && after.echoes.length < 80; t++) await settle(10);
      out.answeredAfter = after.echoes.length;
      out.workersAfter = [...new Set(after.echoes.map((e) => e.worker))].map((id) => id === g.workers[0].threadId ? 'the first' : id);
      for (const s of [...flows.socks, ...after.socks]) await s.close();
      await g.close();
      out.allExited = await Promise.all(g.workers.map((w) => w.threadId)).then((ids) => ids.every((id) => id === -1));
    `);
    assert.deepEqual(out, { exits: [[1, 1]], size: 1, answeredAfter: 80, workersAfter: ['the first'], allExited: true, fdsBack: true });
  });

  it('bad input: a rejected promise with a Node-style error, no worker left, no descriptor', () => {
    const out = inChild(`
      const fails = (o) => bindGroup(o).then(() => 'started', shape);
      const m = ${JSON.stringify(echo)};
      out.zero = await fails({ module: m, workers: 0 });
      out.fraction = await fails({ module: m, workers: 1.5 });
      out.text = await fails({ module: m, workers: '2' });
      out.missing = await fails({ module: ${JSON.stringify(join(dir, 'missing.js'))}, workers: 1 });
      out.noModule = await fails({ workers: 1 });
      out.reusePort = await fails({ module: m, workers: 1, reusePort: false });
      out.steeringPast64k = await fails({ module: m, workers: 2, steering: { offset: 65000, length: 600 } });
      out.throwsAtStart = await bindGroup({ module: ${JSON.stringify(throwing)}, workers: 2, address: '127.0.0.1' })
        .then(() => 'started', (e) => e.message);
      out.badAddress = await fails({ module: m, workers: 2, address: '10.0.0.300' });
      // A failure inside a worker keeps its Node-style fields across the thread.
      const taken = await BatchSocket.bind({ address: '127.0.0.1' });
      out.portTaken = await bindGroup({ module: m, workers: 2, address: '127.0.0.1', port: taken.address().port })
        .then(() => 'started', (e) => [e.code, e.syscall, e.port === taken.address().port, e instanceof Error]);
      await taken.close();
      out.outsideGroup = await require(${JSON.stringify(index)}).groupSocket().then(() => 'a socket', shape);
      // An exception in a worker after it started: 'workerExit' with it, this thread unharmed.
      const g = await bindGroup({ module: ${JSON.stringify(throwsLater)}, workers: 1, address: '127.0.0.1' });
      const exited = new Promise((r) => g.on('workerExit', (i, code, err) => r([i, code, err.message])));
      const c = await BatchSocket.bind({ address: '127.0.0.1' });
      await c.writeBatchTo([Buffer.from('x')], '127.0.0.1', g.address().port);
      out.workerExit = await exited;
      out.size = g.size;
      await c.close();
      await g.close();
      // A worker that dies while the group is still starting: the group rejects with its exception, this thread unharmed.
      out.diesWhileStarting = await bindGroup({ module: ${JSON.stringify(throwsSoon)}, workers: 2, address: '127.0.0.1' })
        .then(() => 'started', (e) => e.message);
    `);
    assert.deepEqual(out, {
      zero: 'ERR_OUT_OF_RANGE RangeError', fraction: 'ERR_OUT_OF_RANGE RangeError', text: 'ERR_INVALID_ARG_TYPE TypeError',
      missing: 'ERR_INVALID_ARG_VALUE TypeError', noModule: 'ERR_INVALID_ARG_TYPE TypeError',
      reusePort: 'ERR_INVALID_ARG_VALUE TypeError', steeringPast64k: 'ERR_OUT_OF_RANGE RangeError',
      throwsAtStart: 'the module failed', badAddress: 'ERR_INVALID_IP_ADDRESS TypeError',
      portTaken: ['EADDRINUSE', 'bind', true, true], outsideGroup: 'ERR_BATCHGRAM_NOT_IN_GROUP BatchgramError', workerExit: [0, 1, 'a handler failed'], size: 0,
      diesWhileStarting: 'late', fdsBack: true,
    });
  });
});
