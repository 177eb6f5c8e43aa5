// Two hosts joined by a real link (network namespaces and veth): batches with
// GSO on the sender and GRO on the receiver arrive byte-exact over IPv4 and
// IPv6, a rate-limited link pushes back without losing what was accepted,
// an ICMP port-unreachable surfaces as ECONNREFUSED, and on a link with a
// small MTU don't-fragment refuses and a path's GSO refusal is remembered.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netnsUnavailable, TwoHosts, type Host } from '../netns';

const skip = netnsUnavailable();
if (skip) console.log(`# two-host tests skipped: ${skip}`);

const INDEX = JSON.stringify(join(__dirname, '..', '..', 'src', 'index.js'));
const HELPERS = JSON.stringify(join(__dirname, '..', 'helpers.js'));

// Receives until `sizes.length` datagrams came or 10 s passed; reports which
// differ from what the sender made.
const receiver = (type: string, address: string, sizes: number[]) => `
  const { BatchSocket } = require(${INDEX});
  const { payload } = require(${HELPERS});
  const sizes = ${JSON.stringify(sizes)};
  (async () => {
    const s = await BatchSocket.bind({ type: '${type}', address: '${address}', recvBufferSize: 64 << 20 });
    const got = [];
    const finish = () => {
      const bad = got.filter((d, i) => !d.data.equals(payload(i, sizes[i]))).length;
      console.log(JSON.stringify({ count: got.length, bad, stats: s.stats(), capabilities: s.capabilities }));
      process.exit(0);
    };
    // Done when all came, or 1 s after the last one once something came.
    let idle = setTimeout(finish, 10000);
    s.on('batch', (b) => {
      got.push(...b);
      if (got.length >= sizes.length) finish();
      clearTimeout(idle);
      idle = setTimeout(finish, 1000);
    });
    console.log(JSON.stringify({ port: s.address().port }));
  })();
`;

// Sends the sizes in batches of the socket's batch size, `window` writes in flight.
const sender = (type: string, to: string, port: number, sizes: number[], window = 1, extra = '') => `
  const { BatchSocket } = require(${INDEX});
  const { payload } = require(${HELPERS});
  const sizes = ${JSON.stringify(sizes)};
  (async () => {
    const s = await BatchSocket.bind({ type: '${type}' ${extra} });
    const inflight = new Set();
    let accepted = 0, rejected = 0, errors = [];
    for (let seq = 0; seq < sizes.length; seq += s.batchSize) {
      const n = Math.min(s.batchSize, sizes.length - seq);
      const p = s.writeBatchTo(Array.from({ length: n }, (_, i) => payload(seq + i, sizes[seq + i])), '${to}', ${port})
        .then(() => { accepted += n; }, (e) => { rejected += n; errors.push(e.code); })
        .finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= ${window}) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    console.log(JSON.stringify({ accepted, rejected, errors: [...new Set(errors)], stats: s.stats(), capabilities: s.capabilities }));
    await s.close();
  })();
`;

type Result = { count: number; bad: number; stats: Record<string, number>; capabilities: Record<string, boolean> };
type Sent = { accepted: number; rejected: number; errors: string[]; stats: Record<string, number>; capabilities: Record<string, boolean> };

describe('two hosts over veth', { skip: skip ?? false }, () => {
  let hosts: TwoHosts;
  before(() => { hosts = new TwoHosts(1); });
  after(() => hosts?.destroy());

  async function transfer(family: 'v4' | 'v6', sizes: number[], window = 1, extra = '') {
    const type = family === 'v4' ? 'udp4' : 'udp6';
    const to: Host = hosts.b;
    const rx = hosts.node(to, receiver(type, to[family], sizes));
    const { port } = await rx.next<{ port: number }>();
    const tx = hosts.node(hosts.a, sender(type, to[family], port, sizes, window, extra));
    const sent = await tx.next<Sent>(60_000);
    const got = await rx.next<Result>(30_000);
    return { sent, got };
  }

  for (const family of ['v4', 'v6'] as const) {
    const mtuPayload = family === 'v4' ? 1500 - 20 - 8 : 1500 - 40 - 8;
    const max = family === 'v4' ? 65507 : 65527;
    it(`IPv${family[1]}: GSO to GRO, MTU-sized and maximum-sized datagrams arrive byte-exact`, async () => {
      const sizes = [
        ...new Array(200).fill(mtuPayload), 700, // full-MTU runs coalesce
        ...new Array(100).fill(1200), 1, 0,
        ...new Array(4).fill(9000), // segments above the MTU: refused with GSO, sent fragmented
        max, max, 64,
      ];
      const { sent, got } = await transfer(family, sizes);
      assert.deepEqual([sent.accepted, sent.rejected], [sizes.length, 0], JSON.stringify(sent.errors));
      assert.equal(sent.capabilities.txOffload, true);
      assert.equal(got.count, sizes.length, 'every datagram arrived');
      assert.equal(got.bad, 0, 'byte-exact');
      assert.ok(sent.stats.messagesOut < sent.stats.datagramsOut, 'the sender coalesced');
      assert.ok(got.stats.messagesIn < got.stats.datagramsIn, 'the receiver got GRO messages');
    });
  }

  it('pushes back on a rate-limited link: every write settles, nothing accepted is lost', async () => {
    hosts.exec(hosts.a, 'tc', 'qdisc', 'add', 'dev', hosts.a.dev, 'root', 'tbf', 'rate', '50mbit', 'burst', '64kbit', 'latency', '2s');
    try {
      const sizes = new Array(6000).fill(1000); // ~1 s at 50 Mbit/s
      const tight = ', sendBufferSize: 4096, sendQueueLimit: 2048';
      // A sender that awaits its writes: the socket waits for writability, all arrive.
      const paced = await transfer('v4', sizes, 4, tight);
      assert.deepEqual([paced.sent.accepted, paced.sent.rejected], [sizes.length, 0]);
      assert.ok(paced.sent.stats.sendCalls > paced.sent.stats.messagesOut, 'some sendmmsg calls met a full buffer (EAGAIN)');
      assert.equal(paced.got.count, sizes.length);
      // A sender that does not: past the queue limit, writes are refused with a clear error.
      const { sent, got } = await transfer('v4', sizes, 40, tight);
      assert.equal(sent.accepted + sent.rejected, sizes.length, 'every write settled');
      assert.ok(sent.rejected > 0, 'the queue limit was reached');
      assert.deepEqual(sent.errors, ['ERR_BATCHGRAM_QUEUE_FULL']);
      assert.equal(sent.stats.datagramsOut, sent.accepted, 'what was accepted went to the kernel');
      assert.equal(sent.stats.sendQueue, 0);
      assert.equal(got.count, sent.accepted, 'received all that was accepted');
    } finally {
      hosts.exec(hosts.a, 'tc', 'qdisc', 'del', 'dev', hosts.a.dev, 'root');
    }
  });

  for (const family of ['v4', 'v6'] as const) {
    it(`IPv${family[1]}: ECN and a chosen source address cross the link, GSO to GRO, and the receiver sees its local address`, async () => {
      const type = family === 'v4' ? 'udp4' : 'udp6';
      // A second address on host a for the sender to answer from.
      const extra = family === 'v4' ? hosts.a.v4.replace(/\.1$/, '.3') : hosts.a.v6.replace(/::1$/, '::3');
      if (family === 'v4') hosts.exec(hosts.a, 'ip', 'addr', 'add', `${extra}/24`, 'dev', hosts.a.dev);
      else hosts.exec(hosts.a, 'ip', '-6', 'addr', 'add', `${extra}/64`, 'dev', hosts.a.dev, 'nodad');
      const rx = hosts.node(hosts.b, `
        const { BatchSocket } = require(${INDEX});
        (async () => {
          const s = await BatchSocket.bind({ type: '${type}', receiveEcn: true, receiveLocalAddress: true });
          const got = [];
          const finish = () => { console.log(JSON.stringify({ got, stats: s.stats() })); process.exit(0); };
          const idle = setTimeout(finish, 10000);
          s.on('batch', (b) => {
            for (const d of b) got.push([d.data.length, d.ecn, d.address, d.localAddress]);
            if (got.length >= 15) { clearTimeout(idle); finish(); }
          });
          console.log(JSON.stringify({ port: s.address().port }));
        })();
      `);
      const { port } = await rx.next<{ port: number }>();
      const tx = hosts.node(hosts.a, `
        const { BatchSocket } = require(${INDEX});
        (async () => {
          const s = await BatchSocket.bind({ type: '${type}' });
          await s.writeMessages([1, 2, 3].map((ecn) =>
            ({ data: Buffer.alloc(5000), segmentSize: 1000, ecn, sourceAddress: '${extra}', address: '${hosts.b[family]}', port: ${port} })));
          console.log(JSON.stringify(s.stats()));
          await s.close();
        })();
      `);
      const sent = await tx.next<Record<string, number>>();
      const { got, stats } = await rx.next<{ got: Array<[number, number, string, string]>; stats: Record<string, number> }>();
      assert.equal(sent.messagesOut, 3, 'three GSO messages');
      assert.deepEqual(got, [1, 2, 3].flatMap((ecn) => new Array(5).fill([1000, ecn, extra, hosts.b[family]])));
      assert.ok(stats.messagesIn < stats.datagramsIn, 'GRO on the receiver');
    });
  }

  for (const family of ['v4', 'v6'] as const) {
    it(`IPv${family[1]}: on a 1280-byte link, dontFragment refuses what is too big with EMSGSIZE; without it, it is fragmented`, async () => {
      const type = family === 'v4' ? 'udp4' : 'udp6';
      for (const h of [hosts.a, hosts.b]) hosts.exec(h, 'ip', 'link', 'set', 'dev', h.dev, 'mtu', '1280');
      try {
        const rx = hosts.node(hosts.b, receiver(type, hosts.b[family], new Array(31).fill(1000)));
        const { port } = await rx.next<{ port: number }>();
        const tx = hosts.node(hosts.a, `
          const { BatchSocket } = require(${INDEX});
          const { payload } = require(${HELPERS});
          (async () => {
            const df = await BatchSocket.bind({ type: '${type}', dontFragment: true, receiveErrors: true });
            const local = [];
            df.on('icmpError', (e) => local.push([e.origin, e.code, e.mtu]));
            const plain = await BatchSocket.bind({ type: '${type}' });
            const outcome = (p) => p.then(() => 'sent', (e) => e.code + ' after ' + e.datagramsSent);
            const to = ['${hosts.b[family]}', ${port}];
            const r = {
              mayFragment: [df.capabilities.mayFragment, plain.capabilities.mayFragment],
              small: await outcome(df.writeBatchTo(Array.from({ length: 10 }, (_, i) => payload(i, 1000)), ...to)),
              single: await outcome(df.writeBatchTo([payload(99, 1400)], ...to)),
              gso: await outcome(df.writeBatchTo([payload(98, 1000), ...Array.from({ length: 10 }, () => payload(97, 1400))], ...to)),
              fragmented: await outcome(plain.writeBatchTo(Array.from({ length: 10 }, (_, i) => payload(11 + i, 1400)), ...to)),
              // Whole messages: the first leaves as one GSO message, the second is refused whole, then datagram by datagram.
              messages: await outcome(df.writeMessages([
                { data: Buffer.concat(Array.from({ length: 10 }, (_, i) => payload(21 + i, 1000))), segmentSize: 1000, address: to[0], port: to[1] },
                { data: Buffer.alloc(10 * 1400), segmentSize: 1400, address: to[0], port: to[1] },
              ])),
            };
            await new Promise((resolve) => setTimeout(resolve, 100));
            // Each refusal also queues a local error that names the route's MTU.
            r.local = local.length > 0 && local.every(([origin, code, mtu]) => origin === 'local' && code === 'EMSGSIZE' && mtu === 1280);
            console.log(JSON.stringify(r));
            await df.close();
            await plain.close();
          })();
        `);
        const r = await tx.next<Record<string, unknown>>();
        assert.deepEqual(r, {
          mayFragment: [false, true], small: 'sent', single: 'EMSGSIZE after 0', gso: 'EMSGSIZE after 1', fragmented: 'sent',
          messages: 'EMSGSIZE after 10', local: true,
        });
        const got = await rx.next<Result>();
        assert.equal(got.count, 10 + 1 + 10 + 10, 'the ten small ones, the one before the refused run, the ten of the plain socket, the first message');
      } finally {
        for (const h of [hosts.a, hosts.b]) hosts.exec(h, 'ip', 'link', 'set', 'dev', h.dev, 'mtu', '1500');
      }
    });
  }

  for (const family of ['v4', 'v6'] as const) {
    it(`IPv${family[1]}: on a 1280-byte link, a path that refuses GSO costs one failing call per destination address`, async () => {
      const type = family === 'v4' ? 'udp4' : 'udp6';
      for (const h of [hosts.a, hosts.b]) hosts.exec(h, 'ip', 'link', 'set', 'dev', h.dev, 'mtu', '1280');
      const trace = join(mkdtempSync(join(tmpdir(), 'batchgram-')), 'strace');
      try {
        const rx = hosts.node(hosts.b, receiver(type, hosts.b[family], new Array(160).fill(1400)));
        const { port } = await rx.next<{ port: number }>();
        // Five writes of 32 datagrams of 1400 bytes to the receiver, then five
        // to a port nobody listens on: another port of the same address, whose path it is.
        const tx = hosts.node(hosts.a, `
          const { BatchSocket } = require(${INDEX});
          const { payload } = require(${HELPERS});
          (async () => {
            const s = await BatchSocket.bind({ type: '${type}', sendBufferSize: 8 << 20 });
            for (const to of [${port}, ${port === 65535 ? 1 : port + 1}]) {
              for (let w = 0; w < 5; w++) await s.writeBatchTo(Array.from({ length: 32 }, (_, i) => payload(w * 32 + i, 1400)), '${hosts.b[family]}', to);
            }
            // Whole messages (writeMessages) on a fresh socket: refused once, then remembered.
            const m = await BatchSocket.bind({ type: '${type}', sendBufferSize: 8 << 20 });
            for (let w = 0; w < 3; w++) {
              await m.writeMessages([{ data: Buffer.alloc(32 * 1400), segmentSize: 1400, address: '${hosts.b[family]}', port: ${port === 65535 ? 1 : port + 1} }]);
            }
            console.log(JSON.stringify({ ...s.stats(), messages: m.stats() }));
            await s.close();
            await m.close();
          })();
        `, ['strace', '-f', '-qq', '-Z', '-e', 'trace=sendmmsg', '-o', trace]);
        const stats = await tx.next<Record<string, number> & { messages: Record<string, number> }>();
        await tx.exited;
        const failed = readFileSync(trace, 'utf8').split('\n').filter((l) => /sendmmsg\(.*= -1 E/.test(l));
        assert.equal(failed.length, 2, `one refused GSO call per socket for the address, whatever the port:\n${failed.join('\n')}`);
        assert.ok(failed.every((l) => /EINVAL|EMSGSIZE/.test(l)), failed.join('\n'));
        // The refused call and the first write's 32 singles, then one call per write.
        assert.deepEqual([stats.sendCalls, stats.messagesOut, stats.datagramsOut], [11, 320, 320]);
        assert.deepEqual([stats.messages.sendCalls, stats.messages.datagramsOut], [1 + 3, 96], 'whole messages: the refused one, then a call per write');
        const got = await rx.next<Result>();
        assert.deepEqual([got.count, got.bad], [160, 0], 'the oversize datagrams arrive, fragmented');
      } finally {
        for (const h of [hosts.a, hosts.b]) hosts.exec(h, 'ip', 'link', 'set', 'dev', h.dev, 'mtu', '1500');
        rmSync(dirname(trace), { recursive: true, force: true });
      }
    });
  }

  it("through a router with no route onward, the router's ICMP error reaches an unconnected socket (IPv4, IPv6)", async () => {
    // Host b forwards, but knows no route to the documentation prefixes that a routes through it.
    // Its ICMP rate limits are off: the tests before spent them on their closed ports.
    hosts.exec(hosts.b, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1',
      'net.ipv4.icmp_ratemask=0', 'net.ipv6.icmp.ratelimit=0');
    hosts.exec(hosts.a, 'ip', 'route', 'add', '198.51.100.0/24', 'via', hosts.b.v4);
    hosts.exec(hosts.a, 'ip', '-6', 'route', 'add', '2001:db8:ff::/64', 'via', hosts.b.v6);
    const tx = hosts.node(hosts.a, `
      const { BatchSocket } = require(${INDEX});
      (async () => {
        const first = [];
        for (const [type, to] of [['udp4', '198.51.100.7'], ['udp6', '2001:db8:ff::7']]) {
          const s = await BatchSocket.bind({ type, receiveErrors: true });
          const got = [];
          s.on('icmpError', (e) => got.push(e));
          // Sent again until answered, should an answer be lost.
          for (let t = 0; got.length === 0 && t < 50; t++) {
            await s.writeBatchTo([Buffer.from('x')], to, 4789);
            await new Promise((r) => setTimeout(r, 100));
          }
          first.push(got[0]);
          await s.close();
        }
        console.log(JSON.stringify(first));
      })();
    `);
    assert.deepEqual(await tx.next(), [
      { code: 'ENETUNREACH', errno: -101, address: '198.51.100.7', port: 4789, origin: 'icmp', from: hosts.b.v4 },
      { code: 'ENETUNREACH', errno: -101, address: '2001:db8:ff::7', port: 4789, origin: 'icmp6', from: hosts.b.v6 },
    ]);
  });

  it('surfaces an ICMP port-unreachable as ECONNREFUSED on a connected socket, which keeps working', async () => {
    const rx = hosts.node(hosts.b, receiver('udp4', hosts.b.v4, [10]));
    const { port } = await rx.next<{ port: number }>();
    const tx = hosts.node(hosts.a, `
      const { BatchSocket } = require(${INDEX});
      const { payload } = require(${HELPERS});
      (async () => {
        const s = await BatchSocket.bind({});
        await s.connect('${hosts.b.v4}', ${port + 1 === 65536 ? 1 : port + 1}); // nobody there
        const error = new Promise((resolve) => s.once('error', resolve));
        s.on('batch', () => {});
        await s.writeBatch([payload(0, 10)]);
        const err = await error;
        await s.connect('${hosts.b.v4}', ${port});
        await s.writeBatch([payload(0, 10)]);
        console.log(JSON.stringify({ code: err.code, syscall: err.syscall }));
        await s.close();
      })();
    `);
    assert.deepEqual(await tx.next(), { code: 'ECONNREFUSED', syscall: 'recvmmsg' });
    const got = await rx.next<Result>();
    assert.deepEqual([got.count, got.bad], [1, 0]);
  });
});
