// A transparent proxy between two hosts: host a sends to addresses no host
// has (TEST-NET-1, the IPv6 documentation prefix), routed through host b,
// where an nftables TPROXY rule diverts port 5000 to a transparent socket on
// port 6000. That socket learns where each datagram was going, and answers
// from there through a socket bound to the foreign address, so the client
// hears back from the address it wrote to.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { netnsUnavailable, nftUnavailable, TwoHosts } from '../netns';

const skip = netnsUnavailable() ?? nftUnavailable();
if (skip) console.log(`# transparent proxy tests skipped: ${skip}`);

const INDEX = JSON.stringify(join(__dirname, '..', '..', 'src', 'index.js'));
const DIVERTED = 5000, PROXY = 6000;

/**
 * The proxy in host b: takes `count` datagrams on PROXY, answers each from
 * its original destination, then reports what it saw.
 */
const proxy = (type: 'udp4' | 'udp6', count: number) => `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const s = await BatchSocket.bind({ type: '${type}', port: ${PROXY}, transparent: true, receiveOriginalDestination: true });
    const got = [];
    s.on('batch', async (batch) => {
      got.push(...batch);
      if (got.length < ${count}) return;
      for (const d of got) {
        const { address, port } = d.originalDestination;
        const reply = await BatchSocket.bind({ type: '${type}', address, port, transparent: true });
        await reply.writeBatchTo([Buffer.from('re ' + d.data)], d.address, d.port);
        await reply.close();
      }
      const seen = got.map((d) => ({ data: String(d.data), to: d.originalDestination }));
      console.log(JSON.stringify({ capability: s.capabilities.originalDestination, seen }));
      await s.close();
    });
    console.log(JSON.stringify({ ready: true }));
  })();
`;

/** A client in host a: writes each [text, address] to port DIVERTED, then reports the answers, or what came in 5 s. */
const client = (type: 'udp4' | 'udp6', sends: Array<[string, string]>) => `
  const { BatchSocket } = require(${INDEX});
  (async () => {
    const s = await BatchSocket.bind({ type: '${type}' });
    const replies = [];
    const report = () => { console.log(JSON.stringify(replies)); process.exit(0); };
    s.on('batch', (batch) => {
      for (const d of batch) replies.push(String(d.data) + ' from ' + d.address + ' ' + d.port);
      if (replies.length === ${sends.length}) report();
    });
    setTimeout(report, 5000);
    for (const [text, to] of ${JSON.stringify(sends)}) await s.writeBatchTo([Buffer.from(text)], to, ${DIVERTED});
  })();
`;

describe('a transparent proxy (TPROXY) between two hosts', { skip: skip ?? false }, () => {
  let hosts: TwoHosts;

  before(() => {
    hosts = new TwoHosts(7);
    const { a, b } = hosts;
    hosts.exec(a, 'ip', 'route', 'add', '192.0.2.0/24', 'via', b.v4);
    hosts.exec(a, 'ip', '-6', 'route', 'add', '2001:db8::/32', 'via', b.v6);
    // Marked datagrams are delivered locally, whatever their destination, as TPROXY needs.
    for (const [family, any] of [['-4', '0.0.0.0/0'], ['-6', '::/0']]) {
      hosts.exec(b, 'ip', family, 'rule', 'add', 'fwmark', '1', 'lookup', '100');
      hosts.exec(b, 'ip', family, 'route', 'add', 'local', any, 'dev', 'lo', 'table', '100');
    }
    hosts.exec(b, 'nft', 'add table inet bg; add chain inet bg pre { type filter hook prerouting priority mangle; }; ' +
      `add rule inet bg pre meta l4proto udp th dport ${DIVERTED} tproxy to :${PROXY} meta mark set 1 accept`);
  });
  after(() => hosts?.destroy());

  const cases: Array<[string, 'udp4' | 'udp6', Array<['udp4' | 'udp6', Array<[string, string]>]>, Record<string, string>]> = [
    ['IPv4', 'udp4', [['udp4', [['one', '192.0.2.1'], ['two', '192.0.2.77']]]], { one: '192.0.2.1', two: '192.0.2.77' }],
    // A dual-stack proxy reports an IPv4 destination IPv4-mapped, and answers from it.
    ['IPv6 and IPv4 to a dual-stack proxy', 'udp6', [['udp6', [['six', '2001:db8::7']]], ['udp4', [['four', '192.0.2.9']]]],
      { six: '2001:db8::7', four: '::ffff:192.0.2.9' }],
  ];
  for (const [what, type, clients, destinations] of cases) {
    it(`${what}: each diverted datagram reports where it was going, and the answer comes from there`, async () => {
      const count = Object.keys(destinations).length;
      const p = hosts.node(hosts.b, proxy(type, count));
      assert.deepEqual(await p.next(), { ready: true });
      const answers = await Promise.all(clients.map(([clientType, sends]) => hosts.node(hosts.a, client(clientType, sends)).next<string[]>()));
      const report = await p.next<{ capability: boolean; seen: Array<{ data: string; to: unknown }> }>();
      assert.equal(report.capability, true);
      assert.deepEqual(Object.fromEntries(report.seen.map((s) => [s.data, s.to])), Object.fromEntries(Object.entries(destinations).map(
        ([data, address]) => [data, { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: DIVERTED }])));
      // Each client hears back from the address and port it wrote to, as its own family reports them.
      assert.deepEqual(answers.flat().sort(), clients.flatMap(([, sends]) => sends.map(([text, to]) => `re ${text} from ${to} ${DIVERTED}`)).sort());
    });
  }
});
