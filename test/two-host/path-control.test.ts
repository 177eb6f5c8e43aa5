// Path control against a hostile host and network, in namespaces of its own:
// a firewall rule that refuses one destination (a lost datagram, not a failed
// write), and a host with two links to its peer (an answer leaves through the
// interface its request came in on, not the one the route prefers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodeProgram, netnsUnavailable, nftUnavailable, TwoHosts } from '../netns';
import { spawn } from 'node:child_process';


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

/**
 * Hosts a and b joined by two veth links: link 1 (a1 10.<n>.1.1 – b1 .2) and
 * link 2 (a2 10.<n>.2.1 – b2 .2). Host a's client address, on its loopback,
 * is reached from b through link 2 by preference (metric 10) and through
 * link 1 otherwise (metric 20): an answer that leaves b by its route takes
 * link 2, whichever link its request came in on.
 */
class TwoLinks {
  readonly a: string;
  readonly b: string;
  readonly client: string;
  readonly server: string;
  constructor(n: number) {
    const tag = `${process.pid % 10000}-${n}`;
    [this.a, this.b] = [`bg-la-${tag}`, `bg-lb-${tag}`];
    this.client = `10.${n}.9.1`;
    this.server = `10.${n}.1.2`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.destroy();
    try {
      for (const ns of [this.a, this.b]) {
        ip('netns', 'add', ns);
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        // A reply that comes back over the other link must not be dropped as spoofed.
        for (const conf of ['all', 'default']) this.exec(ns, 'sysctl', '-qw', `net.ipv4.conf.${conf}.rp_filter=0`);
      }
      for (const link of [1, 2]) {
        ip('link', 'add', `bgl${n}a${link}`, 'netns', this.a, 'type', 'veth', 'peer', 'name', `bgl${n}b${link}`, 'netns', this.b);
        for (const [ns, side, host] of [[this.a, 'a', 1], [this.b, 'b', 2]] as const) {
          ip('-n', ns, 'addr', 'add', `10.${n}.${link}.${host}/24`, 'dev', `bgl${n}${side}${link}`);
          ip('-n', ns, 'link', 'set', `bgl${n}${side}${link}`, 'up');
        }
      }
      ip('-n', this.a, 'addr', 'add', `${this.client}/32`, 'dev', 'lo');
      ip('-n', this.b, 'route', 'add', this.client, 'via', `10.${n}.2.1`, 'dev', `bgl${n}b2`, 'metric', '10');
      ip('-n', this.b, 'route', 'add', this.client, 'via', `10.${n}.1.1`, 'dev', `bgl${n}b1`, 'metric', '20');
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  exec(ns: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  }

  /** The index of an interface inside a namespace. */
  index(ns: string, dev: string): number {
    return JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' }))[0].ifindex;
  }

  node(ns: string, script: string): NodeProgram {
    return new NodeProgram(spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  destroy(): void {
    for (const ns of [this.a, this.b]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not there
      }
    }
  }
}

// A wildcard server that answers each request from the address it came to:
// on the interface it came in on ('same'), by its route ('route'), or
// through an interface that does not exist ('bad', whose error it reports).
const answering = `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const s = await BatchSocket.bind({ address: '0.0.0.0', port: 7000, receiveLocalAddress: true });
    s.on('batch', async (batch) => {
      for (const d of batch) {
        const how = d.data.toString();
        const interfaceIndex = how === 'same' ? d.interfaceIndex : how === 'bad' ? 999999 : undefined;
        const err = await s.writeBatchTo([d.data], d.address, d.port, { sourceAddress: d.localAddress, interfaceIndex })
          .then(() => null, (e) => ({ code: e.code, syscall: e.syscall }));
        if (err) console.log(JSON.stringify({ err, came: d.interfaceIndex }));
        else console.log(JSON.stringify({ answered: how, came: d.interfaceIndex }));
      }
    });
    console.log(JSON.stringify({ ready: true }));
  })();
`;

// Sends each request in turn and reports the interface its answer came in on.
const asking = (links: TwoLinks) => `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const c = await BatchSocket.bind({ address: '${links.client}', receiveLocalAddress: true });
    const answers = [];
    for (const how of ['same', 'route', 'bad', 'same']) {
      const got = new Promise((resolve) => {
        const t = setTimeout(() => resolve(null), how === 'bad' ? 500 : 5000);
        c.once('batch', (b) => { clearTimeout(t); resolve(b[0]); });
      });
      await c.writeBatchTo([Buffer.from(how)], '${links.server}', 7000);
      const d = await got;
      answers.push(d && { how: d.data.toString(), from: d.address, arrived: d.interfaceIndex });
    }
    console.log(JSON.stringify(answers));
    process.exit(0);
  })();
`;

describe('an answer on the interface its request came in on (interfaceIndex)', { skip: netnsUnavailable() ?? false }, () => {
  let links: TwoLinks;
  before(() => { links = new TwoLinks(62); });
  after(() => links?.destroy());

  it('leaves through the request\'s interface, not the preferred route\'s; a bad index is a system error', async () => {
    const server = links.node(links.b, answering);
    try {
      assert.deepEqual(await server.next(), { ready: true });
      const client = links.node(links.a, asking(links));
      const answers = await client.next<unknown[]>();
      const [a1, a2, b1] = [links.index(links.a, 'bgl62a1'), links.index(links.a, 'bgl62a2'), links.index(links.b, 'bgl62b1')];
      assert.deepEqual(answers, [
        { how: 'same', from: links.server, arrived: a1 },
        { how: 'route', from: links.server, arrived: a2 },
        null,
        { how: 'same', from: links.server, arrived: a1 },
      ]);
      assert.deepEqual([await server.next(), await server.next(), await server.next(), await server.next()], [
        { answered: 'same', came: b1 },
        { answered: 'route', came: b1 },
        { err: { code: 'ENODEV', syscall: 'sendmmsg' }, came: b1 },
        { answered: 'same', came: b1 },
      ]);
    } finally {
      server.kill();
    }
  });
});

/** Datagrams per round of the pacing test, and the gap asked between them. */
const PACED = 10, GAP_NS = 20_000_000n;

// Reports the spread of each round's arrival times (the kernel's receive timestamps).
const timing = (address: string) => `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const s = await BatchSocket.bind({ address: '${address}', port: 7100, receiveTimestamps: true });
    let times = [];
    s.on('batch', (b) => {
      for (const d of b) times.push(d.timestamp);
      while (times.length >= ${PACED}) {
        const round = times.splice(0, ${PACED});
        console.log(JSON.stringify({ spread: String(round[${PACED} - 1] - round[0]) }));
      }
    });
    console.log(JSON.stringify({ ready: true }));
  })();
`;

// Sends a round with a txTime GAP_NS apart per message, then one without.
const pacing = (to: string) => `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const s = await BatchSocket.bind({ pacing: true });
    const round = (paced) => {
      const start = process.hrtime.bigint() + 10_000_000n;
      return s.writeMessages(Array.from({ length: ${PACED} }, (_, i) => ({
        data: Buffer.from([i]), address: '${to}', port: 7100, txTime: paced ? start + BigInt(i) * ${GAP_NS}n : undefined,
      })));
    };
    await round(true);
    await new Promise((r) => setTimeout(r, ${PACED} * ${Number(GAP_NS / 1_000_000n)} + 500));
    await round(false);
    console.log(JSON.stringify({ pacing: s.capabilities.pacing }));
  })();
`;

describe('pacing through the fq qdisc on a link', { skip: netnsUnavailable() ?? false }, () => {
  let hosts: TwoHosts;
  before(() => { hosts = new TwoHosts(6); });
  after(() => hosts?.destroy());

  it('spreads a paced round\'s arrivals as asked, against a round sent without txTime', async (t) => {
    try {
      execFileSync('ip', ['netns', 'exec', hosts.a.ns, 'tc', 'qdisc', 'replace', 'dev', hosts.a.dev, 'root', 'fq'], { stdio: 'ignore' });
    } catch {
      t.skip("this kernel has no fq qdisc (sch_fq): the pacing itself cannot be seen; the kernel tests check what reaches it");
      return;
    }
    const receiver = hosts.node(hosts.b, timing(hosts.b.v4));
    try {
      assert.deepEqual(await receiver.next(), { ready: true });
      const sender = hosts.node(hosts.a, pacing(hosts.b.v4));
      const paced = BigInt((await receiver.next<{ spread: string }>()).spread);
      const plain = BigInt((await receiver.next<{ spread: string }>()).spread);
      assert.deepEqual(await sender.next(), { pacing: true });
      // Compared with what was asked, not with a clock: the paced round spans most of its gaps, the other hardly any.
      const asked = BigInt(PACED - 1) * GAP_NS;
      assert.ok(paced >= asked / 2n, `paced spread ${paced} ns of ${asked} asked`);
      assert.ok(plain < asked / 4n, `unpaced spread ${plain} ns`);
    } finally {
      receiver.kill();
    }
  });
});
