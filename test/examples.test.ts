// The examples as a user runs them: `node examples/<file>` from the
// repository's root, where 'batchgram' resolves to this package by its name
// (package.json's "exports"), each in a process of its own talking over
// loopback with the test's sockets or with another example. Then README's code
// blocks: each one in JavaScript or TypeScript is either a whole program,
// which runs here as copied and must end with status 0, or starts with
// `// excerpt of examples/<file>` and its lines are that example's, in order.
//
// The sanitizer run keeps these tests: the examples' children inherit its
// addon and runtimes, so the paths a user's first program takes are checked
// for memory errors too.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { queryOfSize } from '../src/cli/bench/dns';
import type { Datagram } from '../src/index';
import { bindClosedAfter, collect, payload } from './helpers';

const repo = join(__dirname, '..', '..');
const bind = bindClosedAfter();

/** Every file under examples/; each is run by a test below. */
const EXAMPLES = [
  'examples/dns-server.mjs', 'examples/echo-client.mjs', 'examples/echo-server.mjs', 'examples/group/main.js',
  'examples/group/worker.js', 'examples/quic-server.mjs', 'examples/relay.mjs',
];

interface Ended { status: number | null; stdout: string; stderr: string }

/** Runs a program that ends by itself: `node <args>` from the repository's root. */
function run(args: string[], timeoutMs = 20_000): Promise<Ended> {
  return ended(spawn(process.execPath, args, { cwd: repo, timeout: timeoutMs }));
}

function ended(child: ChildProcess): Promise<Ended> {
  let stdout = '', stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

const running = new Set<ChildProcess>();
after(() => { for (const child of running) child.kill('SIGKILL'); });

/**
 * Starts a server example and resolves once it prints the port it serves on
 * ('listening on 127.0.0.1:PORT', 'serving on PORT'). stop() sends SIGTERM,
 * which every server example answers by closing, and resolves with how it ended.
 */
function server(file: string, args: string[] = []): Promise<{ port: number; stop: () => Promise<Ended> }> {
  const child = spawn(process.execPath, [file, ...args], { cwd: repo });
  running.add(child);
  const end = ended(child).finally(() => running.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (s: string) => {
      out += s;
      const m = /(?:listening on \S+:|serving on )(\d+)/.exec(out);
      if (!m) return;
      child.stdout!.off('data', onData);
      resolve({ port: Number(m[1]), stop: () => { child.kill('SIGTERM'); return end; } });
    };
    child.stdout!.on('data', onData);
    void end.then((r) => reject(new Error(`${file} ended before serving (${r.status}):\n${out}${r.stderr}`)));
  });
}

/** A server example stopped by SIGTERM closes its sockets and ends on its own, with status 0 and nothing on stderr. */
async function stopped(s: { stop: () => Promise<Ended> }): Promise<void> {
  const r = await s.stop();
  assert.deepEqual([r.status, r.stderr], [0, ''], 'a clean exit after SIGTERM');
}

describe('examples, run as a user runs them', () => {
  it('lists every file under examples/', () => {
    const files = readdirSync(join(repo, 'examples'), { recursive: true, encoding: 'utf8' })
      .map((f) => join('examples', f)).filter((f) => statSync(join(repo, f)).isFile()).sort();
    assert.deepEqual(files, EXAMPLES);
  });

  it('echo-server.mjs sends every datagram back byte for byte, and echo-client.mjs says all came back', async () => {
    const echo = await server('examples/echo-server.mjs');
    const client = await bind({ address: '127.0.0.1', recvBufferSize: 1 << 20 });
    // Datagrams of three sizes in one write: GSO messages and single datagrams.
    const sent = Array.from({ length: 96 }, (_, i) => payload(i, [1200, 64, 7][i % 3]));
    const got = collect(client, sent.length);
    await client.writeBatchTo(sent, '127.0.0.1', echo.port);
    const echoes = await got;
    for (const d of echoes) {
      assert.deepEqual([d.address, d.port], ['127.0.0.1', echo.port]);
      assert.deepEqual(d.data, sent[d.data.readUInt32BE(0)]);
    }
    assert.deepEqual(echoes.map((d) => d.data.readUInt32BE(0)).sort((a, b) => a - b), sent.map((_, i) => i));

    const r = await run(['examples/echo-client.mjs', String(echo.port), '2000']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '2000 of 2000 echoed intact\n', '']);
    await stopped(echo);
  });

  it('quic-server.mjs answers from the address each request came to, with its ECN mark', async (t) => {
    const quic = await server('examples/quic-server.mjs');
    const client = await bind({ address: '127.0.0.1', receiveEcn: true });
    if (!client.capabilities.ecn) return t.skip('this kernel reports no ECN');
    // Each request names the address it goes to and its ECN codepoint: 0 (not ECN-capable), ECT(1), ECT(0), CE.
    const requests = [['127.0.0.1', 0], ['127.0.0.2', 1], ['127.0.0.3', 2], ['127.0.0.4', 3]] as const;
    const got = collect(client, requests.length);
    for (const [to, ecn] of requests) await client.writeBatchTo([Buffer.from(`${to} ${ecn}`)], to, quic.port, { ecn });
    const answers = (await got).map((d) => [d.data.toString(), d.address, d.port, d.ecn]).sort();
    assert.deepEqual(answers, requests.map(([to, ecn]) => [`${to} ${ecn}`, to, quic.port, ecn]));
    await stopped(quic);
  });

  it('relay.mjs forwards every datagram, in order and unchanged', async () => {
    const target = await bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
    const relay = await server('examples/relay.mjs', [String(target.address().port)]);
    const sender = await bind({ address: '127.0.0.1' });
    // 20 writes of 100, each sent once the one before came through: the relay's receive buffer is the kernel's default.
    const forwarded: Datagram[] = [];
    for (let first = 0; first < 2000; first += 100) {
      const got = collect(target, 100);
      await sender.writeBatchTo(Array.from({ length: 100 }, (_, i) => payload(first + i, 300)), '127.0.0.1', relay.port);
      forwarded.push(...await got);
    }
    assert.deepEqual(forwarded.map((d) => d.data.readUInt32BE(0)), Array.from({ length: 2000 }, (_, i) => i), 'in order');
    for (const d of forwarded) assert.deepEqual(d.data, payload(d.data.readUInt32BE(0), 300));
    assert.ok(forwarded.every((d) => d.address === '127.0.0.1' && d.port === relay.port), 'from the relay');
    await stopped(relay);
  });

  it('dns-server.mjs answers an A query with its address, and an unknown name with NXDOMAIN', async () => {
    const dns = await server('examples/dns-server.mjs');
    const client = await bind({ address: '127.0.0.1' });
    const known = queryOfSize(64, 0x1234); // www.example.test, with an EDNS(0) record the server ignores
    const unknown = Buffer.from(known);
    unknown.write('xyz', 13, 'latin1'); // xyz.example.test
    unknown.writeUInt16BE(0x5678, 0);
    const got = collect(client, 2);
    await client.writeBatchTo([known, unknown], '127.0.0.1', dns.port);
    const answers = new Map((await got).map((d) => [d.data.readUInt16BE(0), d.data]));

    // Header: id, flags (a response, authoritative, recursion desired as asked; the code), then the counts.
    const a = answers.get(0x1234)!;
    assert.deepEqual([a.readUInt16BE(2), a.readUInt16BE(4), a.readUInt16BE(6), a.readUInt16BE(8), a.readUInt16BE(10)],
      [0x8500, 1, 1, 0, 0]);
    const questionEnd = 12 + '\x03www\x07example\x04test\x00'.length + 4;
    assert.deepEqual(a.subarray(12, questionEnd), known.subarray(12, questionEnd), 'the question');
    // The answer: its name (a pointer to the question's), type A, class IN, a TTL, 4 bytes of address.
    const rr = a.subarray(questionEnd);
    assert.deepEqual([rr.readUInt16BE(0), rr.readUInt16BE(2), rr.readUInt16BE(4), rr.readUInt32BE(6), rr.readUInt16BE(10)],
      [0xc00c, 1, 1, 300, 4]);
    assert.equal([...rr.subarray(12)].join('.'), '192.0.2.1');

    const nx = answers.get(0x5678)!;
    assert.deepEqual([nx.readUInt16BE(2) & 0x800f, nx.readUInt16BE(6), nx.length], [0x8003, 0, questionEnd]);
    await stopped(dns);
  });

  it('group/main.js serves on one port from two workers, each datagram answered once', async () => {
    const group = await server('examples/group/main.js', ['0', '2']);
    const client = await bind({ address: '127.0.0.1' });
    // 64 queries, their ids spread so that the hash of the first two bytes picks either member.
    const ids = Array.from({ length: 64 }, (_, i) => i * 977);
    const got = collect(client, ids.length);
    // One message per query: over loopback a GSO message reaches the group whole, and the kernel steers it by its first datagram.
    await client.writeMessages(ids.map((id) => ({ data: Buffer.from([id >> 8, id & 0xff, 0, 0]), address: '127.0.0.1', port: group.port })));
    const answers = await got;
    assert.deepEqual(answers.map((d) => d.data.readUInt16BE(0)).sort((x, y) => x - y), ids);
    const workers = new Set(answers.map((d) => /^ answered by worker (\d+)$/.exec(d.data.toString('latin1', 2))?.[1]));
    assert.equal(workers.size, 2, `answered by the two workers: ${[...workers].join(', ')}`);
    await stopped(group);
  });
});

/** The code blocks of a Markdown text: language, first line's number, text. */
function codeBlocks(markdown: string): { lang: string; line: number; code: string }[] {
  return [...markdown.matchAll(/^( *)```(\S*)\n([\s\S]*?)^\1```$/gm)].map((m) => ({
    lang: m[2], line: markdown.slice(0, m.index).split('\n').length, code: m[3].replace(new RegExp(`^${m[1]}`, 'gm'), ''),
  }));
}

const RUNNABLE = new Set(['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript']);
const EXCERPT = /^\/\/ excerpt of (\S+)\n/;

describe("README's code blocks", () => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  for (const { lang, line, code } of codeBlocks(readme).filter((b) => RUNNABLE.has(b.lang))) {
    const excerpt = EXCERPT.exec(code);
    if (excerpt) {
      it(`line ${line}: an excerpt of ${excerpt[1]}, line by line`, () => {
        assert.ok(EXAMPLES.includes(excerpt[1]), `${excerpt[1]} is an example run above`);
        const lines = readFileSync(join(repo, excerpt[1]), 'utf8').split('\n').map((l) => l.trim());
        let at = 0;
        for (const wanted of code.slice(excerpt[0].length).split('\n').map((l) => l.trim())) {
          if (wanted === '' || wanted === '// ...') continue;
          const found = lines.indexOf(wanted, at);
          assert.ok(found >= 0, `README line ${line}'s block: "${wanted}" is not in ${excerpt[1]} after its line ${at}`);
          at = found + 1;
        }
      });
    } else {
      // A whole program: TypeScript blocks among them are valid JavaScript too, so each runs as copied.
      it(`line ${line}: a whole ${lang} program, which runs as copied and ends`, async () => {
        const r = await run([`--input-type=${lang === 'cjs' ? 'commonjs' : 'module'}`, '-e', code]);
        assert.equal(r.status, 0, `README line ${line}'s block is neither a program that runs nor marked "// excerpt of examples/<file>":\n${r.stdout}${r.stderr}`);
      });
    }
  }
});
