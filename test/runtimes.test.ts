// batchgram under the other runtimes that load Node-API addons, Bun and Deno,
// against the real kernel over loopback: the batch path (readiness from the
// addon's own thread, native/src/poll.c), BatchSocket's writes and reads, the
// drop-in, and sockets closed or unref'd with reads pending, after which the
// process must end by itself. Each runtime is installed from the npm registry
// once, into .cache/runtimes/<package>@<version>, and reused from there; the
// versions are pinned, as what each gives is written down for them (README).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const repo = join(__dirname, '..', '..');

interface Runtime {
  name: string;
  /** The npm package holding this machine's binary, and the binary's path in it. */
  pkg: Record<string, string>;
  bin: string;
  version: string;
  /** The command line that runs a script with its arguments. */
  run(bin: string, script: string, args: string[]): string[];
  /** Whether each datagram's nextTicks and promise jobs run before the next one (see poll.c's on_watch). */
  jobsBetweenDatagrams: boolean;
  /**
   * Whether an uncaught exception from a listener is printed as itself: Deno 2.9.6 ends the process as it should
   * (status 1) but prints `Uncaught null` for the 'batch' listener's, which napi_fatal_exception got.
   */
  printsListenerError: boolean;
}

const RUNTIMES: Runtime[] = [
  {
    name: 'Bun', version: '1.4.5', bin: 'bin/bun', jobsBetweenDatagrams: true, printsListenerError: true,
    pkg: { x64: '@oven/bun-linux-x64', arm64: '@oven/bun-linux-aarch64' },
    run: (bin, script, args) => [bin, script, ...args],
  },
  {
    name: 'Deno', version: '2.9.6', bin: 'deno', jobsBetweenDatagrams: false, printsListenerError: false,
    pkg: { x64: '@deno/linux-x64-glibc', arm64: '@deno/linux-arm64-glibc' },
    run: (bin, script, args) => [bin, 'run', '-A', script, ...args],
  },
];

/** The runtime's binary, installed on first use. */
function install(rt: Runtime): string {
  const pkg = rt.pkg[process.arch];
  const dir = join(repo, '.cache', 'runtimes', `${pkg.replace('/', '+')}@${rt.version}`);
  const bin = join(dir, 'node_modules', pkg, rt.bin);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--prefer-offline', `${pkg}@${rt.version}`],
      { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `npm install ${pkg}@${rt.version}:\n${r.stdout}\n${r.stderr}`);
  }
  return bin;
}

// Both runtimes check what they can; each script prints one JSON line, its record.
const BATCH = `
import { BatchSocket, createSocket, compatStats } from 'batchgram';
const out = {};
const rx = await BatchSocket.bind({ address: '127.0.0.1', recvBufferSize: 8 << 20 });
const tx = await BatchSocket.bind({ address: '127.0.0.1' });
out.capabilities = { batching: rx.capabilities.batching, rxOffload: rx.capabilities.rxOffload };
// One write of equal sizes (GSO) and one of sizes that differ, read back in order.
const sent = [];
for (let i = 0; i < 300; i++) sent.push(Buffer.alloc(i < 150 ? 1200 : 100 + i, i % 251));
await tx.writeBatchTo(sent.slice(0, 150), '127.0.0.1', rx.address().port);
await tx.writeBatchTo(sent.slice(150), '127.0.0.1', rx.address().port);
const got = [];
for await (const batch of rx) {
  for (const d of batch) got.push(d.data);
  if (got.length >= sent.length) break;
}
out.sameBytes = got.length === sent.length && got.every((d, i) => Buffer.compare(d, sent[i]) === 0);
out.reads = rx.stats().recvCalls < sent.length ? 'batched' : rx.stats().recvCalls;
await rx.close();
await tx.close();

// The drop-in: bind, send, 'message' events (and what their listeners queue), close.
const server = createSocket('udp4');
const client = createSocket({ type: 'udp4' });
const order = [];
await new Promise((resolve) => server.bind(0, '127.0.0.1', resolve));
const heard = new Promise((resolve) => server.on('message', (msg, rinfo) => {
  const i = msg.toString();
  order.push('m' + i);
  process.nextTick(() => order.push('t' + i));
  Promise.resolve().then(() => order.push('p' + i));
  if (order.filter((e) => e[0] === 'm').length === 20) setTimeout(resolve, 50);
}));
const sends = [];
for (let i = 0; i < 20; i++) sends.push(new Promise((resolve, reject) => client.send(String(i), server.address().port, '127.0.0.1', (err, n) => (err ? reject(err) : resolve(n)))));
out.sendBytes = (await Promise.all(sends)).reduce((a, b) => a + b, 0);
await heard;
out.messages = order.filter((e) => e[0] === 'm').map((e) => e.slice(1)).join(',');
out.order = order.join(' ');
out.dropIn = compatStats(server) !== null;
await new Promise((resolve) => server.close(resolve));
client.close();
console.log(JSON.stringify(out));
`;

// Sockets left with reads pending: closed, or unref'd; the process then ends by itself.
const PENDING = `
import { BatchSocket, createSocket } from 'batchgram';
const a = await BatchSocket.bind({ address: '127.0.0.1' });
const reading = (async () => { for await (const b of a) void b; })();
const b = await BatchSocket.bind({ address: '127.0.0.1' });
b.on('batch', () => {});
b.unref();
const c = createSocket('udp4', () => {});
await new Promise((resolve) => c.bind(0, '127.0.0.1', resolve));
const d = createSocket('udp4', () => {});
await new Promise((resolve) => d.bind(0, '127.0.0.1', resolve));
d.unref();
await new Promise((resolve) => setTimeout(resolve, 50));
await a.close();
await reading;
c.close();
console.log(JSON.stringify({ ended: true }));
`;

// What listeners throw: to 'uncaughtException' where there is a handler (the sockets go on), else the process
// ends with the error, as any uncaught exception ends it.
const THROW = `
import { BatchSocket, createSocket } from 'batchgram';
const caught = [];
if (process.argv[2] === 'handler') process.on('uncaughtException', (err) => caught.push(err.message));
const rx = await BatchSocket.bind({ address: '127.0.0.1' });
let batches = 0;
rx.on('batch', () => { batches++; throw new Error('batch listener'); });
const server = createSocket('udp4', (msg) => { if (msg.toString() === '1') throw new Error('message listener'); });
await new Promise((resolve) => server.bind(0, '127.0.0.1', resolve));
const client = createSocket('udp4');
for (let i = 0; i < 3; i++) client.send(String(i), server.address().port, '127.0.0.1');
client.send('x', rx.address().port, '127.0.0.1');
await new Promise((resolve) => setTimeout(resolve, 200));
client.send('y', rx.address().port, '127.0.0.1');
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(JSON.stringify({ caught: caught.sort(), batches }));
client.close();
server.close();
await rx.close();
`;

const skip = process.env.BATCHGRAM_ADDON ? 'the sanitizer run loads its addon in Node only'
  : process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch) ? 'Bun and Deno are fetched for Linux x64 and arm64'
    : false;

describe('under Bun and Deno: the batch path, the drop-in, and exit', { skip }, () => {
  let work: string;

  before(() => {
    // A project whose node_modules holds this checkout as batchgram (Deno resolves bare names there when a package.json is present).
    work = mkdtempSync(join(tmpdir(), 'batchgram-runtimes-'));
    mkdirSync(join(work, 'node_modules'));
    symlinkSync(repo, join(work, 'node_modules', 'batchgram'));
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'runtimes', private: true, type: 'module' }));
    writeFileSync(join(work, 'batch.mjs'), BATCH);
    writeFileSync(join(work, 'pending.mjs'), PENDING);
    writeFileSync(join(work, 'throw.mjs'), THROW);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Runs a script under the runtime, which must exit by itself with `status`; its output, parsed as JSON. */
  function run(rt: Runtime, script: string, scriptArgs: string[] = [], status = 0): Record<string, unknown> {
    const [cmd, ...args] = rt.run(install(rt), join(work, script), scriptArgs);
    const r = spawnSync(cmd, args, {
      cwd: work, encoding: 'utf8', timeout: 60_000,
      // Deno: its cache in the project, never a network check for updates.
      env: { ...process.env, DENO_DIR: join(work, '.deno'), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    });
    const what = `${rt.name} ${rt.version} ${script}: status ${r.status}, signal ${r.signal}\n${r.stdout}\n${r.stderr}`;
    assert.equal(r.signal, null, what);
    assert.equal(r.status, status, what);
    if (status !== 0) return { stderr: r.stderr };
    // The addon loaded: no line saying that batchgram fell back to node:dgram.
    assert.doesNotMatch(r.stderr, /batchgram: using node:dgram/, what);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  for (const rt of RUNTIMES) {
    it(`${rt.name} ${rt.version}: BatchSocket's batched writes and reads, and the drop-in, on the batch path`, () => {
      const out = run(rt, 'batch.mjs');
      const numbers = Array.from({ length: 20 }, (_, i) => i);
      const expected: Record<string, unknown> = {
        capabilities: { batching: true, rxOffload: true }, sameBytes: true, reads: 'batched',
        sendBytes: numbers.map(String).join('').length, messages: numbers.join(','), dropIn: true,
        // Each datagram's nextTick and promise job before the next datagram, as node:dgram on Node.js.
        order: rt.jobsBetweenDatagrams ? numbers.map((i) => `m${i} t${i} p${i}`).join(' ') : out.order,
      };
      assert.deepEqual(out, expected);
    });

    it(`${rt.name} ${rt.version}: sockets closed or unref'd with reads pending let the process end`, () => {
      assert.deepEqual(run(rt, 'pending.mjs'), { ended: true });
    });

    it(`${rt.name} ${rt.version}: what a listener throws reaches 'uncaughtException', or ends the process with the error`, () => {
      assert.deepEqual(run(rt, 'throw.mjs', ['handler']), { caught: ['batch listener', 'batch listener', 'message listener'], batches: 2 });
      const { stderr } = run(rt, 'throw.mjs', [], 1);
      if (rt.printsListenerError) assert.match(stderr as string, /(batch|message) listener/);
    });

    it(`${rt.name} ${rt.version}: batchgram probe names the runtime and its readiness thread`, () => {
      const report = run(rt, join('node_modules', 'batchgram', 'dist', 'src', 'cli', 'main.js'), ['probe', '--json']);
      assert.equal(report.runtime, `${rt.name} ${rt.version}`);
      assert.equal(report.readiness, 'thread');
      assert.equal((report.socket as { batching: boolean }).batching, true);
    });
  }
});
