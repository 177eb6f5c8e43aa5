// Path control against a hostile host and network, in namespaces of its own:
// a firewall rule that refuses one destination (a lost datagram, not a failed
// write).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netnsUnavailable, TwoHosts } from '../netns';

/** Why nftables rules cannot be set here, or null when they can. */
function nftUnavailable(): string | null {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return "needs nftables' nft command (.ci/run installs it)";
  }
}

const INDEX = JSON.stringify(join(__dirname, '..', '..', 'src', 'index.js'));

/** The port the firewall refuses, and one it lets through; the namespace is the test's own. */
const REFUSED = 40001, OPEN = 40002;

// Sends to both ports on each path (the batch path, the portable one) and
// through node:dgram, and reports what each saw.
const refusedScript = `
  const dgram = require('node:dgram');
  const dc = require('node:diagnostics_channel');
  const { BatchSocket, createSocket } = require(${INDEX});
  const published = [];
  dc.subscribe('batchgram:send-refused', (m) => published.push({ to: m.to, port: m.port, datagrams: m.datagrams, code: m.cause.code }));
  const sendVia = (make) => new Promise((resolve) => {
    const s = make('udp4');
    s.send(Buffer.from('x'), ${REFUSED}, '127.0.0.1', (err) => { s.close(); resolve(err ? err.code : null); });
  });
  (async () => {
    const dgramCode = await sendVia(dgram.createSocket);
    const dropInCode = await sendVia(createSocket);
    const rx = await BatchSocket.bind({ address: '127.0.0.1', port: ${OPEN} });
    const seen = [];
    rx.on('batch', (b) => { for (const d of b) seen.push(d.data.readUInt8(0)); });
    const result = { dgramCode, dropInCode };
    for (const batching of [true, false]) {
      const tx = await BatchSocket.bind({ address: '127.0.0.1', batching });
      const messages = [];
      for (let i = 0; i < 8; i++) {
        messages.push({ data: Buffer.from([i]), address: '127.0.0.1', port: i % 2 ? ${OPEN} : ${REFUSED} });
      }
      // A whole GSO message to the refused port, then one to the open port.
      messages.push({ data: Buffer.alloc(400, 0xee), address: '127.0.0.1', port: ${REFUSED}, segmentSize: 100 });
      messages.push({ data: Buffer.from([8, 9]), address: '127.0.0.1', port: ${OPEN}, segmentSize: 1 });
      const written = await tx.writeMessages(messages).then(() => 'resolved', (e) => e.code);
      const batch = await tx.writeBatchTo([Buffer.from([10]), Buffer.from([11])], '127.0.0.1', ${REFUSED}).then(() => 'resolved', (e) => e.code);
      await tx.writeBatchTo([Buffer.from([12])], '127.0.0.1', ${OPEN});
      await new Promise((r) => setTimeout(r, 200));
      result[batching ? 'batch' : 'portable'] = { written, batch, seen: seen.splice(0), stats: tx.stats(), published: published.splice(0) };
      await tx.close();
    }
    await rx.close();
    console.log(JSON.stringify(result));
  })().catch((e) => { console.error(e); process.exit(1); });
`;

const skip = netnsUnavailable() ?? nftUnavailable();
if (skip) console.log(`# path control tests skipped: ${skip}`);

describe('a destination a local firewall rule refuses', { skip: skip ?? false }, () => {
  let hosts: TwoHosts;
  before(() => {
    hosts = new TwoHosts(5);
    hosts.exec(hosts.a, 'nft', 'add table inet bg; add chain inet bg out { type filter hook output priority 0; }; ' +
      `add rule inet bg out udp dport ${REFUSED} drop`);
  });
  after(() => hosts?.destroy());

  it('loses those datagrams, counts them in sendRefused, and sends the rest of the write', async () => {
    const program = hosts.node(hosts.a, refusedScript);
    const r = await program.next<Record<string, any>>();
    // The premise: the kernel answers a send the rule drops with EPERM, and the drop-in reports it as node:dgram does.
    assert.equal(r.dgramCode, 'EPERM');
    assert.equal(r.dropInCode, 'EPERM');
    for (const path of ['batch', 'portable']) {
      const p = r[path];
      assert.deepEqual([p.written, p.batch], ['resolved', 'resolved'], path);
      // Every datagram to the open port came, in order, the one after the refused write too.
      assert.deepEqual(p.seen, [1, 3, 5, 7, 8, 9, 12], path);
      // 4 singles, a GSO message of 4 datagrams (one on the portable path's single sends, 4 there too), then 2.
      assert.equal(p.stats.sendRefused, 10, path);
      assert.equal(p.stats.datagramsOut, 7, path);
      assert.equal(p.published.reduce((n: number, m: { datagrams: number }) => n + m.datagrams, 0), 10, path);
      for (const m of p.published) assert.deepEqual([m.to, m.port, m.code], ['127.0.0.1', REFUSED, 'EPERM'], path);
    }
    assert.equal(await program.exited, 0);
  });
});
