// The batchgram command line, run as a user runs it: each test spawns
// dist/src/cli/main.js and reads what it prints.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { legend, noisy, svgChart } from '../../src/cli/bench/report';
import type { BenchRow } from '../../src/cli/bench/report';
import { NODE_IMPLS, type ChildCounts, type Impl } from '../../src/cli/bench/protocol';
import { BatchSocket } from '../../src/index';
import { SequenceTracker } from '../../src/cli/sendrecv';
import { netnsUnavailable, NodeProgram, TwoHosts } from '../netns';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const BENCH_CHILD = join(__dirname, '..', '..', 'src', 'cli', 'bench', 'child.js');

interface Result { status: number | null; stdout: string; stderr: string }

/**
 * Runs a command to completion (`prefix` runs it inside something, e.g. ip
 * netns exec); `onStderr` sees stderr as it grows, with the child.
 */
function run(args: string[], prefix: string[] = [], onStderr?: (text: string, child: ChildProcess) => void): Promise<Result> {
  const [file, ...rest] = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(file, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    onStderr?.(stderr, child);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const jsonLines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('probe', () => {
  test('--json parses and reports what a fresh socket reports', async () => {
    const r = await run(['probe', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const sock = await BatchSocket.bind({ address: '127.0.0.1', rxqOverflowMetric: 'test.probe' });
    const own = sock.capabilities;
    await sock.close();
    assert.deepEqual(report.socket, own);
    assert.equal(typeof report.kernel, 'string');
    assert.equal(report.runtime, `Node.js ${process.versions.node}`);
    assert.equal(report.readiness, 'uv_poll');
    assert.equal(typeof report.ipv6, 'boolean');
    assert.ok(report.gso128Segments === null || typeof report.gso128Segments === 'boolean');
    for (const v of Object.values(report.buffers)) assert.ok(v === null || (typeof v === 'number' && v > 0));
  });
});

describe('bench', () => {
  test('--duration 1 --impl dgram,dgram-compat,mmsg,gso --json gives sane figures for each', async () => {
    const r = await run(['bench', '--duration', '1', '--impl', 'dgram,dgram-compat,mmsg,gso', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { machine, rows } = JSON.parse(r.stdout);
    assert.equal(machine.node, process.version);
    assert.deepEqual(rows.map((x: { impl: string }) => x.impl), ['dgram', 'dgram-compat', 'mmsg', 'gso']);
    for (const row of rows) {
      const what = `${row.impl}: ${JSON.stringify(row)}`;
      assert.equal(row.error, null, what);
      assert.equal(row.size, 1200, what);
      // Some datagrams arrive, and never more than were sent. How many is a speed, which a loaded machine
      // (the sanitizer run beside other work) can cut to 6 500 a second for node:dgram: no floor here.
      assert.ok(row.rx.datagrams > 0 && row.rx.datagrams <= row.tx.datagrams, what);
      assert.equal(row.rx.bytes, row.rx.datagrams * 1200, what);
      assert.ok(row.tx.seconds >= 1 && row.tx.seconds < 3, what);
      for (const k of ['rxDatagramsPerSecond', 'offeredDatagramsPerSecond', 'cpuRxPerMillion', 'cpuTxPerMillion']) {
        assert.ok(Number.isFinite(row[k]) && row[k] > 0, `${k} of ${what}`);
      }
      assert.ok(row.loss >= 0 && row.loss < 1, what);
      assert.ok(row.rx.rssMax > 0, what);
      assert.ok(Math.abs(row.rxGbitPerSecond - (row.rxDatagramsPerSecond * 1200 * 8) / 1e9) < 1e-9, what);
      assert.equal(row.vsC, null, 'no C baseline was run');
    }
    const [dgram, compat, mmsg, gso] = rows;
    assert.equal(dgram.vsDgram, 1);
    assert.equal(dgram.rx.calls, dgram.rx.datagrams, 'node:dgram reads one datagram per call');
    assert.ok(compat.rx.calls < compat.rx.datagrams && compat.tx.calls < compat.tx.datagrams, 'the same dgram code, batched');
    assert.ok(mmsg.rx.calls < mmsg.rx.datagrams && mmsg.tx.calls < mmsg.tx.datagrams, 'mmsg batches its calls');
    assert.equal(mmsg.tx.messages, mmsg.tx.datagrams, 'mmsg sends without GSO');
    assert.ok(gso.tx.messages < gso.tx.datagrams, 'gso coalesces sends');
    assert.ok(gso.rx.messages < gso.rx.datagrams, 'gso receives coalesced messages');
    assert.ok(Math.abs(gso.vsDgram - gso.rxDatagramsPerSecond / dgram.rxDatagramsPerSecond) < 1e-9);
  });

  test('--json: each row says how noisy it was; other work (a CPU hog) shows, and the run\'s length', async () => {
    const ARGS = ['bench', '--duration', '3', '--impl', 'dgram', '--json'];
    const quiet = await run(ARGS);
    assert.equal(quiet.status, 0, quiet.stderr);
    const hog = spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' });
    let busy: Result;
    try {
      busy = await run(ARGS);
    } finally {
      hog.kill();
    }
    assert.equal(busy.status, 0, busy.stderr);
    const [a, b] = [quiet, busy].map((r) => JSON.parse(r.stdout) as { seconds: number; rows: BenchRow[] });
    const [q, h] = [a.rows[0], b.rows[0]];
    assert.ok(a.seconds >= 3 && Number.isInteger(a.seconds), `${a.seconds}`);
    // Rounds of 500 ms over the 2.5 s after the warm-up, less the last: a spread, whatever it is (on a loaded
    // machine a 2 s run once gave fewer than two rounds).
    assert.ok(q.spread !== null && q.spread >= 0, `${q.spread}`);
    // On an idle machine the hog shares two cores with the run's two processes: 0.5-0.7 of one. On a machine
    // already busy it takes a share from the others, less but still seen. The run's own processes and this one
    // never count: were they, both figures would be near the cores there are.
    assert.ok(q.otherCores !== null && h.otherCores !== null && h.otherCores >= 0.3 && h.otherCores >= q.otherCores + 0.15,
      `without the hog ${q.otherCores}, with it ${h.otherCores}`);
  });

  test('--workers 2 --json: socket groups of 1 and 2 workers, each handling what the paced C sender offers', async () => {
    const r = await run(['bench', '--workers', '2', '--work-us', '20', '--size', '64', '--duration', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { options, rows } = JSON.parse(r.stdout);
    assert.equal(options.rate, Math.ceil(1.5 * 2 * 1e6 / 20));
    assert.deepEqual(rows.map((x: { workers: number }) => x.workers), [1, 2]);
    for (const row of rows) {
      const what = JSON.stringify(row);
      // The sender is paced: it offers about the rate asked (not a timed bound: a loaded machine only sends less).
      assert.ok(row.offered > 0 && row.offered <= options.rate * 1.1, what);
      assert.ok(row.handled > 0 && row.handled <= row.offered * 1.1, what);
      assert.ok(row.senderCores > 0 && row.groupCores > 0, what);
    }
    assert.equal(rows[0].vsOne, 1);
    assert.ok(Math.abs(rows[1].vsOne - rows[1].handled / rows[0].handled) < 1e-9);
  });

  test('--peer c measures a Node receiver fed by C and a Node sender into C', async () => {
    const r = await run(['bench', '--duration', '1', '--impl', 'gso-zero,c-gso', '--peer', 'c', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { options, rows } = JSON.parse(r.stdout);
    assert.equal(options.peer, 'c');
    const [zero, c] = rows;
    assert.equal(zero.error, null, JSON.stringify(zero));
    // Two runs: the Node receiver counted what the C sender fed it; the Node sender's own figures are separate.
    assert.notEqual(zero.rx.messages, zero.tx.messages);
    assert.ok(zero.rx.datagrams > 10_000 && zero.tx.datagrams > 10_000);
    assert.ok(zero.loss >= 0 && zero.loss < 1);
    assert.ok(Math.abs(zero.vsC - zero.rxDatagramsPerSecond / c.rxDatagramsPerSecond) < 1e-9);
    assert.ok(Math.abs(zero.vsCOffered - zero.offeredDatagramsPerSecond / c.offeredDatagramsPerSecond) < 1e-9);
  });

  test('--duration 1 --impl gso-msgs,rr-*,dns-* --json: writeMessages sends, request/response is answered', async () => {
    const impls = ['gso-msgs', 'rr-dgram', 'rr-compat', 'dns-dgram', 'dns-compat'];
    const r = await run(['bench', '--duration', '1', '--size', '64', '--impl', impls.join(','), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { rows } = JSON.parse(r.stdout);
    assert.deepEqual(rows.map((x: { impl: string }) => x.impl), impls);
    for (const row of rows) assert.equal(row.error, null, `${row.impl}: ${JSON.stringify(row)}`);
    const [msgs, dgram, compat, dnsDgram, dnsCompat] = rows;
    assert.ok(msgs.rx.datagrams > 10_000 && msgs.rx.datagrams <= msgs.tx.datagrams, JSON.stringify(msgs));
    assert.ok(msgs.tx.messages < msgs.tx.datagrams, 'a segmented message leaves as GSO messages');
    for (const rr of [dgram, compat, dnsDgram, dnsCompat]) {
      const what = `${rr.impl}: ${JSON.stringify(rr)}`;
      // Every request answered was sent, and every transaction counted was answered.
      assert.ok(rr.rx.datagrams > 1_000 && rr.rx.datagrams <= rr.tx.datagrams, what);
      assert.ok(rr.tx.transactions > 0 && rr.tx.transactions <= rr.rx.datagrams, what);
      assert.ok(rr.rx.rssMax > 0, what);
      assert.equal(rr.vsC, null, 'no C echo server');
    }
    assert.equal(dgram.vsDgram, 1);
    assert.equal(dgram.rssVsDgram, 1);
    assert.ok(Math.abs(compat.vsDgram - compat.rxDatagramsPerSecond / dgram.rxDatagramsPerSecond) < 1e-9);
    assert.ok(Math.abs(compat.rssVsDgram - compat.rx.rssMax / dgram.rx.rssMax) < 1e-9);
    assert.equal(msgs.vsDgram, null, 'no node:dgram row in this run');
    assert.ok(Math.abs(dnsCompat.vsDgram - dnsCompat.rxDatagramsPerSecond / dnsDgram.rxDatagramsPerSecond) < 1e-9, 'against dns-dgram');
  });

  test('the cost rows run and report their figures, each over its node:dgram twin\'s, against issue 20\'s targets', async () => {
    const impls = ['create-dgram', 'create-compat', 'sockets-dgram', 'sockets-compat', 'pingpong-dgram', 'pingpong-compat'];
    const r = await run(['bench', '--duration', '0.3', '--size', '64', '--impl', impls.join(','), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { rows } = JSON.parse(r.stdout) as { rows: BenchRow[] };
    assert.deepEqual(rows.map((x) => x.impl), impls);
    const figures: Record<string, [string, number | null][]> = {
      create: [['cpuPerSocket', 2]],
      sockets: [['rssAdded', 2], ['externalAdded', 2]],
      pingpong: [['roundTrip', 1.2], ['cpuPerRoundTrip', null]],
    };
    for (let i = 0; i < rows.length; i += 2) {
      const [dgram, compat] = [rows[i], rows[i + 1]];
      const kind = dgram.impl.split('-')[0];
      for (const x of [dgram, compat]) {
        const what = `${x.impl}: ${JSON.stringify(x)}`;
        assert.equal(x.error, null, what);
        assert.deepEqual(x.costs!.map((c) => c.figure), figures[kind].map(([f]) => f), what);
        for (const c of x.costs!) assert.ok(typeof c.value === 'number' && Number.isFinite(c.value), what);
        if (kind !== 'sockets') assert.ok(x.costs!.every((c) => c.value! > 0), what);
      }
      // Memory added may be nothing at all for node:dgram; the other figures are never 0.
      assert.ok(dgram.costs!.every((c) => c.target === null && c.met === null && (c.vsDgram === 1 || c.value! <= 0)));
      compat.costs!.forEach((c, k) => {
        const base = dgram.costs![k].value!;
        assert.equal(c.target, figures[kind][k][1]);
        if (base > 0) assert.ok(Math.abs(c.vsDgram! - c.value! / base) < 1e-9, JSON.stringify(c));
        else assert.equal(c.vsDgram, null);
        assert.equal(c.met, c.target === null || c.vsDgram === null ? null : c.vsDgram <= c.target);
      });
    }
    const [, create, , sockets, , pingpong] = rows;
    assert.ok(create.tx!.datagrams > 0, 'sockets were created and closed');
    assert.equal(sockets.tx!.datagrams, 200);
    assert.ok(pingpong.tx!.transactions! > 0 && pingpong.tx!.transactions! <= pingpong.rx!.datagrams);
  });

  test('the cost rows print a table of their own', async () => {
    const r = await run(['bench', '--duration', '0.3', '--size', '64', '--impl', 'pingpong-dgram,pingpong-compat']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cost row +size +figure +value +×dgram +target$/m);
    assert.match(r.stdout, /^pingpong-dgram +64 +round trip, one request in flight \(µs\) +[\d.]+ +1\.00×$/m);
    assert.match(r.stdout, /^pingpong-compat +64 +round trip, one request in flight \(µs\) +[\d.]+ +[\d.]+× +≤ 1\.2× (met|missed)$/m);
    assert.doesNotMatch(r.stdout, /^impl +size +rx Mdgram/m, 'no throughput table without throughput rows');
  });

  test('--duration 1 --impl relay,c-relay --json: forwarded figures and the ratio to the C relay', async () => {
    const r = await run(['bench', '--duration', '1', '--impl', 'relay,c-relay', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { rows } = JSON.parse(r.stdout);
    assert.deepEqual(rows.map((x: { impl: string }) => x.impl), ['relay', 'c-relay']);
    for (const row of rows) {
      const what = `${row.impl}: ${JSON.stringify(row)}`;
      assert.equal(row.error, null, what);
      // Every datagram the final receiver got went through the relay, which got it from the sender.
      assert.ok(row.rx.datagrams > 10_000, what);
      assert.ok(row.rx.datagrams <= row.relay.datagrams && row.relay.datagrams <= row.tx.datagrams, what);
      assert.equal(row.rx.bytes, row.rx.datagrams * 1200, what);
      // GRO trains leave as GSO messages: the relay reads coalesced messages and sends no more than it read.
      // (forwardTo may merge trains of one size; udpref relay forwards message for message.)
      assert.ok(row.relay.messages < row.relay.datagrams, `the relay reads coalesced messages: ${what}`);
      assert.ok(row.rx.messages <= row.relay.messages, what);
      // Message for message, where the receiver kept up: a busy machine can
      // make it drop a few, and one lost GSO message is many datagrams.
      if (row.impl === 'c-relay' && row.rx.datagrams === row.relay.datagrams) assert.equal(row.rx.messages, row.relay.messages, what);
      for (const k of ['rxDatagramsPerSecond', 'offeredDatagramsPerSecond', 'cpuRelayPerMillion', 'vsC']) {
        assert.ok(Number.isFinite(row[k]) && row[k] > 0, `${k} of ${what}`);
      }
      assert.ok(row.loss >= 0 && row.loss <= 1, what);
      assert.equal(row.vsDgram, null, 'no node:dgram relay');
      assert.equal(row.vsCOffered, null, 'both relays are fed by the same C sender');
    }
    const [node, c] = rows;
    assert.equal(c.vsC, 1);
    assert.ok(Math.abs(node.vsC - node.rxDatagramsPerSecond / c.rxDatagramsPerSecond) < 1e-9);
    assert.equal(node.relay.dropped, 0, 'the Node relay never met a full send queue');
  });
});

describe('bench receiver: resident memory for every run, however short', () => {
  /**
   * Runs a bench receiver, sends it `datagrams` datagrams from node:dgram,
   * stops it as soon as its progress line has counted them all (well before
   * a second of traffic), and returns its "done" line.
   */
  async function shortRun(impl: Impl, datagrams: number): Promise<ChildCounts> {
    const rx = new NodeProgram(spawn(process.execPath, [BENCH_CHILD, 'recv', '--impl', impl, '--bind', '127.0.0.1', '--port', '0'],
      { stdio: ['pipe', 'pipe', 'pipe'] }));
    try {
      const ready = await rx.next<{ event: string; port: number }>();
      assert.equal(ready.event, 'ready');
      const tx = dgram.createSocket('udp4');
      for (let i = 0; i < datagrams; i++) {
        await new Promise<void>((resolve, reject) => tx.send(Buffer.alloc(64), ready.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      }
      let e = await rx.next<{ event: string; datagrams: number }>();
      while (e.event === 'progress' && e.datagrams < datagrams) e = await rx.next();
      tx.close();
      rx.child.stdin!.end('stop\n');
      while (e.event !== 'done') e = await rx.next();
      assert.equal(await rx.exited, 0);
      return e as unknown as ChildCounts;
    } finally {
      rx.kill();
    }
  }

  // Each case: implementation, datagrams sent before the stop.
  const cases: [Impl, number][] = [...NODE_IMPLS.map((impl): [Impl, number] => [impl, 100]), ['gso-zero', 0]];
  for (const [impl, datagrams] of cases) {
    test(`${impl}, stopped after ${datagrams} datagrams: rssWarm, rssMin, rssMax and rssEnd are reported and ordered`, async () => {
      const done = await shortRun(impl, datagrams);
      const what = JSON.stringify(done);
      assert.equal(done.datagrams, datagrams, what);
      const { rssWarm, rssMin, rssMax, rssEnd } = done;
      for (const v of [rssWarm, rssMin, rssMax, rssEnd]) assert.ok(typeof v === 'number' && v > 0, what);
      assert.ok(rssMin! <= rssWarm! && rssWarm! <= rssMax!, what);
      assert.ok(rssMin! <= rssEnd! && rssEnd! <= rssMax!, what);
    });
  }
});

describe('bench, first contact', () => {
  test('an --svg path that cannot be written fails before measuring', async () => {
    for (const [path, why] of [['/nonexistent-dir/chart.svg', /cannot be written \(ENOENT\)/], ['/tmp', /is a directory/]] as const) {
      const t0 = Date.now();
      const r = await run(['bench', '--svg', path]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, '');
      assert.ok(Date.now() - t0 < 5_000, 'no run was measured');
    }
  });

  test('Ctrl-C prints the rows measured so far, and a legend for them only', async () => {
    let sent = false;
    const r = await run(['bench', '--impl', 'dgram,mmsg,c-gso', '--duration', '1'], [], (stderr, child) => {
      // The first run has finished and the second is under way.
      if (!sent && /\[1\/3\] dgram 1200 B: rx .*\n/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stdout, /^dgram +1200 /m);
    assert.doesNotMatch(r.stdout, /^(mmsg|c-gso) /m);
    assert.match(r.stdout, /^interrupted: 1 of 3 runs measured$/m);
    assert.match(r.stdout, /^1 run in \d+ s\.$/m);
    assert.match(r.stdout, /^loss %: /m);
    assert.doesNotMatch(r.stdout, /×C rx\/tx:|relay|--peer c/, 'no legend for what did not run');
  });

  const row = (impl: Impl) => ({ impl, size: 1200 }) as BenchRow;
  const cases: [string, Impl[], 'same' | 'c', RegExp[], RegExp[]][] = [
    ['node:dgram alone', ['dgram'], 'same', [/^×dgram:/m, /^loss %:/m], [/^×C/m, /relay/, /--peer c/]],
    ['each implementation with its C reference', ['mmsg', 'gso', 'gso-zero', 'c-plain', 'c-gso'], 'same',
      [/\(mmsg vs c-plain; gso, gso-zero vs c-gso\)/], [/^×dgram:/m]],
    ['no C row, no C legend', ['gso'], 'same', [], [/^×C/m]],
    ['relays', ['relay', 'c-relay'], 'same', [/relay vs c-relay/, /^relay, c-relay: /m], []],
    ['--peer c', ['gso', 'c-gso'], 'c', [/^--peer c: /m], []],
    ['request/response', ['rr-dgram', 'rr-compat'], 'same', [/^rr-dgram, rr-compat: /m, /^rx rss MB: /m], [/^×C/m, /^relay/m, /^dns-/m]],
    ['DNS-like request/response', ['dns-dgram', 'dns-compat'], 'same', [/^dns-dgram, dns-compat: /m], [/^rr-dgram/m]],
    ['writeMessages with its C reference', ['gso-zero', 'gso-msgs', 'c-gso'], 'same', [/gso-zero, gso-msgs vs c-gso/], [/rr-dgram/]],
  ];
  test('noise: the rows with a spread of 10% or more, or other work of 0.2 cores or more, and nothing when none', () => {
    const at = (impl: Impl, spread: number | null, otherCores: number | null) => ({ ...row(impl), spread, otherCores });
    assert.deepEqual(noisy([at('dgram', 0.02, 0.1), at('gso', null, null), at('c-gso', 0.099, 0.19)]), []);
    const lines = noisy([at('dgram', 0.25, 0.1), at('gso', 0.1, 0.6), at('c-gso', 0.03, 1.25)]);
    assert.equal(lines[0], 'noisy: the rate spread 10% or more over the rounds of dgram 1200 B (25%), gso 1200 B (10%).');
    assert.match(lines[1], /^noisy: other work kept some of the \d+ cores busy during gso 1200 B \(0\.6\), c-gso 1200 B \(1\.3\)\.$/);
    assert.match(lines[2], /run again on an idle machine/);
  });

  test('--svg: a bar of what was received before a pale one of what was offered, and the loss above', () => {
    const measured = (impl: Impl, rx: number, offered: number) =>
      ({ ...row(impl), rxDatagramsPerSecond: rx, offeredDatagramsPerSecond: offered, loss: 1 - rx / offered });
    const svg = svgChart([measured('dgram', 0.2e6, 0.25e6), measured('gso', 1.2e6, 1.2e6)], ['dgram', 'gso'], [1200]);
    // The axis tops at 1.2 M over 240 px: 0.25 M is 50 px high, 0.2 M 40.
    const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="22" height="([\d.]+)" fill="(#\w+)"( fill-opacity="0.3")?\/>/g)]
      .map((m) => [+(+m[1]).toFixed(6), m[2], m[3] !== undefined]);
    assert.deepEqual(bars, [[50, '#8c8c8c', true], [40, '#8c8c8c', false], [240, '#f58518', true], [240, '#f58518', false]]);
    assert.match(svg, />0\.20<tspan x="[\d.]+" dy="-10">−20%<\/tspan><\/text>/);
    assert.match(svg, />1\.20<\/text>/, 'no loss, no label');
    assert.match(svg, /pale: offered/);
  });

  for (const [name, impls, peer, present, absent] of cases) {
    test(`legend: ${name}`, () => {
      const text = legend(impls.map(row), peer).join('\n');
      for (const p of present) assert.match(text, p);
      for (const a of absent) assert.doesNotMatch(text, a);
    });
  }
});

describe('README', () => {
  test("its usage lines are the commands' own", async () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const block = /## Command line\n\n```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'README has a Command line section with a sh block');
    // Every usage line of each command's help (the lines before its first blank one), in order.
    const usage: string[] = [];
    for (const command of ['bench', 'probe', 'recv', 'send']) {
      const r = await run([command, '--help']);
      usage.push(...r.stdout.split('\n\n')[0].split('\n').map((l) => `npx ${l.replace(/^Usage: /, '').trim()}`));
    }
    // Then the main help's usage lines but its first (`batchgram <command> [options]`): --version.
    const main = await run([]);
    usage.push(...main.stdout.split('\n\n')[0].split('\n').slice(1).map((l) => `npx ${l.trim()}`));
    assert.deepEqual(block[1].trim().split('\n'), usage);
  });
});

describe('arguments', () => {
  const helpFor = ['bench', 'probe', 'recv', 'send'];
  for (const cmd of helpFor) {
    test(`${cmd} --help prints its usage and exits 0`, async () => {
      const r = await run([cmd, '--help']);
      assert.equal(r.status, 0);
      assert.match(r.stdout, new RegExp(`^Usage: batchgram ${cmd}`));
    });
  }

  test('--version and -v print the package\'s version', async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    for (const flag of ['--version', '-v']) {
      const r = await run([flag]);
      assert.deepEqual([r.status, r.stdout, r.stderr], [0, `${version}\n`, ''], flag);
    }
  });

  test('no command prints the command list', async () => {
    const r = await run([]);
    assert.equal(r.status, 0);
    for (const cmd of helpFor) assert.match(r.stdout, new RegExp(`^  ${cmd} `, 'm'));
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['bad address', ['send', '10.0.0.300:5201'], /'10\.0\.0\.300' is not an IPv4 or IPv6 address/],
    ['IPv6 without brackets', ['recv', '--bind', 'fd00::1:5201'], /is not ADDR:PORT/],
    ['bad port', ['send', '127.0.0.1:65536'], /port must be an integer from 1 to 65535/],
    ['size > 65507 (send)', ['send', '127.0.0.1:5201', '--size', '65508'], /--size must be an integer from 16 to 65507/],
    ['size > 65507 to an IPv4-mapped address (send)', ['send', '[::ffff:127.0.0.1]:5201', '--size', '65520'], /--size must be an integer from 16 to 65507/],
    ['size > 65507 (bench)', ['bench', '--size', '64,65508'], /--size must be an integer from 1 to 65507/],
    ['negative duration', ['bench', '--duration=-1'], /--duration must be a number of seconds > 0/],
    ['negative duration, separate', ['send', '127.0.0.1:5201', '--duration', '-2'], /--duration/],
    ['unknown peer', ['bench', '--peer', 'rust'], /--peer must be 'same' or 'c'/],
    ['unknown implementation', ['bench', '--impl', 'dgram,quic'], /unknown implementation 'quic'/],
    ['unknown option', ['probe', '--verbose'], /^batchgram: unknown option '--verbose'$/],
    ['unknown short option', ['bench', '-x'], /^batchgram: unknown option '-x'$/],
    ['--rate with --max', ['send', '127.0.0.1:5201', '--rate', '10', '--max'], /exclude each other/],
    ['recv without --bind', ['recv'], /recv needs --bind/],
    ['extra argument', ['probe', 'now'], /unexpected argument 'now'/],
    ['--work-us without --workers', ['bench', '--work-us', '5'], /--work-us goes with --workers/],
    ['--workers with --impl', ['bench', '--workers', '2', '--impl', 'gso'], /do not go with --workers/],
    ['--workers with two sizes', ['bench', '--workers', '2', '--size', '64,1200'], /one --size/],
    ['--workers 0', ['bench', '--workers', '0'], /--workers must be an integer from 1 to 64/],
  ];
  for (const [name, args, message] of bad) {
    test(`${name}: exit 2, one line and the usage hint`, async () => {
      const r = await run(args);
      assert.equal(r.status, 2, r.stderr);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0], /^batchgram: /);
      assert.match(lines[0], message);
      const cmd = args[0] === 'frobnicate' ? '' : `${args[0]} `;
      assert.equal(lines[1], `Run 'batchgram ${cmd}--help' for usage.`);
      assert.equal(r.stdout, '');
    });
  }

  test('a failure at run time is one line, no usage hint, exit 1', async () => {
    // TEST-NET-1 is assigned to no interface here: bind fails with EADDRNOTAVAIL.
    const r = await run(['recv', '--bind', '192.0.2.1:5201']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'batchgram: bind EADDRNOTAVAIL 192.0.2.1:5201\n');
  });
});

describe('SequenceTracker', () => {
  // Each case: sequence numbers in arrival order, then what the receiver concludes.
  const cases: [string, number[], { missing: number; reordered: number; duplicates: number; distinct: number }][] = [
    ['in order', [0, 1, 2, 3], { missing: 0, reordered: 0, duplicates: 0, distinct: 4 }],
    ['a gap stays missing', [0, 1, 4], { missing: 2, reordered: 0, duplicates: 0, distinct: 3 }],
    ['a late arrival fills its gap', [0, 2, 1], { missing: 0, reordered: 1, duplicates: 0, distinct: 3 }],
    ['a repeat is a duplicate', [0, 1, 1, 0], { missing: 0, reordered: 0, duplicates: 2, distinct: 2 }],
    ['a late arrival repeated', [0, 3, 1, 1], { missing: 1, reordered: 1, duplicates: 1, distinct: 3 }],
    ['the first datagram lost', [1, 2], { missing: 1, reordered: 0, duplicates: 0, distinct: 2 }],
    ['a jump beyond the window forgets old numbers', [0, 5_000_000, 5_000_000], { missing: 4_999_999, reordered: 0, duplicates: 1, distinct: 2 }],
  ];
  for (const [name, arrivals, expected] of cases) {
    test(name, () => {
      const t = new SequenceTracker();
      for (const s of arrivals) t.add(s);
      assert.deepEqual({ missing: t.missing, reordered: t.reordered, duplicates: t.duplicates, distinct: t.distinct }, expected);
    });
  }
});

describe('send and recv intervals cover the whole run', () => {
  /** The interval lines, checked to follow one another from 0 to the total's end, and the total. */
  function intervals(lines: Record<string, unknown>[]): { ends: number[]; total: Record<string, unknown> } {
    const total = lines.at(-1)!;
    assert.equal(total.event, 'done');
    const shown = lines.slice(0, -1).filter((l) => l.event === 'interval');
    assert.deepEqual(shown.map((l) => l.start), [0, ...shown.slice(0, -1).map((l) => l.end)]);
    assert.equal(shown.reduce((sum, l) => sum + (l.datagrams as number), 0), total.datagrams);
    return { ends: shown.map((l) => l.end as number), total };
  }

  test('send --duration 2 --interval 0.5: four intervals, the last ending with the run', async () => {
    const r = await run(['send', '127.0.0.1:9', '--duration', '2', '--interval', '0.5', '--rate', '1000', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { ends, total } = intervals(jsonLines(r.stdout));
    assert.deepEqual(ends.slice(0, 3), [0.5, 1, 1.5]);
    assert.equal(ends.length, 4);
    assert.equal(ends[3], total.end);
    assert.ok(ends[3] >= 2, `${ends[3]}`);
  });

  test('--count: what came after the last full interval is a shorter one, on both sides', async () => {
    const rx = new NodeProgram(spawn(process.execPath, [CLI, 'recv', '--bind', '127.0.0.1:0', '--count', '1000', '--interval', '0.3', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] }));
    const listening = await rx.next();
    const tx = await run(['send', `127.0.0.1:${listening.port}`, '--count', '1000', '--rate', '1000', '--interval', '0.3', '--json']);
    assert.equal(tx.status, 0, tx.stderr);
    const sent = intervals(jsonLines(tx.stdout));
    assert.deepEqual([sent.ends.slice(0, 3), sent.total.datagrams], [[0.3, 0.6, 0.9], 1000]);
    const got: Record<string, unknown>[] = [];
    do got.push(await rx.next()); while (got.at(-1)!.event !== 'done');
    assert.equal(await rx.exited, 0);
    const received = intervals(got);
    assert.equal(received.total.datagrams, 1000);
    assert.ok(received.ends.length >= 4, `${received.ends}`);
  });
});

describe('send and recv across two network namespaces', () => {
  const skip = netnsUnavailable() ?? false;
  if (skip) console.log(`# send/recv namespace tests skipped: ${skip}`);
  let hosts: TwoHosts;
  before(() => { if (!skip) hosts = new TwoHosts(2); });
  after(() => hosts?.destroy());

  const COUNT = 20_000;
  for (const family of ['v4', 'v6'] as const) {
    test(`IP${family}: zero loss and the exact count at 20,000 datagrams/s`, { skip, timeout: 30_000 }, async () => {
      const address = family === 'v4' ? hosts.b.v4 : `[${hosts.b.v6}]`;
      const rx = new NodeProgram(spawn('ip', ['netns', 'exec', hosts.b.ns, process.execPath, CLI,
        'recv', '--bind', `${address}:0`, '--count', String(COUNT), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const listening = await rx.next();
      assert.equal(listening.event, 'listening');
      const tx = await run(['send', `${address}:${listening.port}`, '--count', String(COUNT), '--rate', '20000', '--json'],
        ['ip', 'netns', 'exec', hosts.a.ns]);
      assert.equal(tx.status, 0, tx.stderr);
      const sent = jsonLines(tx.stdout).at(-1)!;
      assert.deepEqual({ event: sent.event, datagrams: sent.datagrams }, { event: 'done', datagrams: COUNT });
      let got = await rx.next();
      while (got.event === 'interval') got = await rx.next();
      assert.equal(await rx.exited, 0);
      assert.deepEqual(
        { event: got.event, datagrams: got.datagrams, distinct: got.distinct, lost: got.lost, duplicates: got.duplicates, bytes: got.bytes },
        { event: 'done', datagrams: COUNT, distinct: COUNT, lost: 0, duplicates: 0, bytes: COUNT * 1200 });
    });
  }
});
