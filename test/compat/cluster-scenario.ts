// A cluster scenario for cluster.test.ts, run as
// `node cluster-scenario.js <dgram|batchgram> <scenario>`: the primary forks
// two workers, tells each what to do with a socket from the implementation
// named, sends them datagrams from a socket of its own, and prints one JSON
// line of what happened, with ports replaced by names so that the two
// implementations' records can be compared.
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import * as dgram from 'node:dgram';
import { compatStats, createSocket, type SocketOptions } from '../../src/index';

const [impl, scenario] = process.argv.slice(2);

/** What the primary asks a worker to do. */
type Command =
  | { do: 'bind'; options: SocketOptions; bind: dgram.BindOptions }
  | { do: 'send'; port: number; text: string }
  | { do: 'close' };

/** What a worker reports. */
type Report =
  | { ev: 'listening'; port: number; batched: boolean }
  | { ev: 'error'; code: string; syscall: string; message: string }
  | { ev: 'message'; text: string }
  | { ev: 'sent'; err: string | null; batched: boolean }
  | { ev: 'close' };

function runWorker(): void {
  const create = impl === 'dgram' ? dgram.createSocket as (o: SocketOptions) => dgram.Socket : createSocket;
  let socket: dgram.Socket | undefined;
  const report = (r: Report) => process.send!(r);
  const make = (options: SocketOptions) => {
    const s = create(options);
    s.on('message', (msg) => report({ ev: 'message', text: msg.toString() }));
    s.on('error', (e: NodeJS.ErrnoException) => report({ ev: 'error', code: e.code!, syscall: e.syscall!, message: e.message }));
    s.on('close', () => report({ ev: 'close' }));
    return s;
  };
  process.on('message', (c: Command) => {
    if (c.do === 'bind') {
      socket = make(c.options);
      socket.bind(c.bind, () => report({ ev: 'listening', port: socket!.address().port, batched: compatStats(socket!) !== null }));
    } else if (c.do === 'send') {
      // No bind first: the send binds implicitly, which dgram does exclusively.
      socket = make({ type: 'udp4' });
      socket.send(c.text, c.port, '127.0.0.1', (err) =>
        report({ ev: 'sent', err: err && (err as NodeJS.ErrnoException).code!, batched: compatStats(socket!) !== null }));
    } else {
      socket!.close();
    }
  });
}

/** A worker whose reports are kept in order, each waited for by kind. */
class Peer {
  readonly reports: Report[] = [];
  readonly #waiting: Array<() => void> = [];

  constructor(readonly worker: Worker) {
    worker.on('message', (r: Report) => {
      this.reports.push(r);
      for (const w of this.#waiting.splice(0)) w();
    });
  }

  do(c: Command): void { this.worker.send(c); }

  count(ev: Report['ev']): number { return this.reports.filter((r) => r.ev === ev).length; }

  /** The first report of kind `ev` or the first error, once it has come. */
  async next(ev: Report['ev'] | 'error'): Promise<Report> {
    for (;;) {
      const r = this.reports.find((x) => x.ev === ev || x.ev === 'error');
      if (r !== undefined) return r;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  async until(ev: Report['ev'], n: number): Promise<void> {
    while (this.count(ev) < n) await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
}

async function runPrimary(): Promise<void> {
  let done = false;
  const peers = [cluster.fork(), cluster.fork()].map((w) => new Peer(w));
  // A worker that dies (an exception, an unsupported option) ends the scenario.
  for (const p of peers) p.worker.on('exit', (code) => { if (!done) throw new Error(`a worker exited (${code})`); });
  await Promise.all(peers.map((p) => new Promise((resolve) => p.worker.once('online', resolve))));
  const sender = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
  const ports = new Map<number, string>();
  const name = (port: number) => {
    if (!ports.has(port)) ports.set(port, `port${ports.size}`);
    return ports.get(port)!;
  };
  const named = (r: Report) => {
    if (r.ev === 'listening') return { ...r, port: name(r.port) };
    if (r.ev === 'error') return { ...r, message: r.message.replace(/\b\d{2,5}\b/g, (d) => ports.get(Number(d)) ?? d) };
    return r;
  };
  const send = (port: number, n: number) => {
    for (let i = 0; i < n; i++) sender.send(`d${i}`, port, '127.0.0.1');
  };
  const bindBoth = async (options: SocketOptions, bind: (port: number) => dgram.BindOptions) => {
    peers[0].do({ do: 'bind', options, bind: bind(0) });
    const first = await peers[0].next('listening');
    assert.equal(first.ev, 'listening', JSON.stringify(first));
    const port = (first as { port: number }).port;
    peers[1].do({ do: 'bind', options, bind: bind(port) });
    return [first, await peers[1].next('listening')];
  };
  const closeBoth = async (open: Peer[]) => {
    for (const p of open) p.do({ do: 'close' });
    await Promise.all(open.map((p) => p.next('close')));
  };
  const record: Record<string, unknown> = {};
  const N = 20;

  if (scenario === 'shared' || scenario === 'reusePort') {
    // Both workers on one port: the primary's one socket (the same request
    // from each, port 0 included), or two sockets of their own in one
    // SO_REUSEPORT group.
    const reusePort = scenario === 'reusePort';
    const [a, b] = await bindBoth({ type: 'udp4', reusePort }, (port) => ({ port: reusePort ? port : 0, address: '127.0.0.1' }));
    record.bound = [a, b].map(named);
    const port = (a as { port: number }).port;
    send(port, N);
    // Every datagram arrives, at one worker or the other.
    const received = () => peers[0].count('message') + peers[1].count('message');
    while (received() < N) await Promise.race(peers.map((p) => p.until('message', p.count('message') + 1)));
    record.received = received();
    await closeBoth(peers);
    // Once both workers closed it, nothing holds the port: the primary binds it.
    const again = dgram.createSocket('udp4');
    record.rebind = await new Promise((resolve) => {
      again.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
      again.bind(port, '127.0.0.1', () => again.close(() => resolve('listening')));
    });
  } else if (scenario === 'exclusive') {
    // Each worker a socket of its own: two ports, each one's datagrams its own.
    const [a, b] = await bindBoth({ type: 'udp4' }, () => ({ port: 0, address: '127.0.0.1', exclusive: true }));
    record.bound = [a, b].map(named);
    for (const [i, r] of [a, b].entries()) sender.send(`to${i}`, (r as { port: number }).port, '127.0.0.1');
    await Promise.all(peers.map((p) => p.until('message', 1)));
    record.received = peers.map((p) => p.reports.filter((r) => r.ev === 'message'));
    await closeBoth(peers);
  } else if (scenario === 'conflict') {
    // A worker's exclusive socket holds the port: the primary's bind for the
    // other worker fails, and that worker gets the primary's error.
    peers[0].do({ do: 'bind', options: { type: 'udp4' }, bind: { port: 0, address: '127.0.0.1', exclusive: true } });
    const a = await peers[0].next('listening');
    peers[1].do({ do: 'bind', options: { type: 'udp4' }, bind: { port: (a as { port: number }).port, address: '127.0.0.1' } });
    record.bound = [a, await peers[1].next('listening')].map(named);
    await closeBoth([peers[0]]);
  } else if (scenario === 'implicit') {
    // A send from an unbound socket binds it, exclusively.
    const receiver = dgram.createSocket('udp4');
    const got = new Promise<string>((resolve) => receiver.once('message', (m) => resolve(m.toString())));
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    peers[0].do({ do: 'send', port: receiver.address().port, text: 'hello' });
    record.sent = await peers[0].next('sent');
    record.received = await got;
    receiver.close();
    await closeBoth([peers[0]]);
  } else if (scenario === 'disconnect') {
    // cluster.disconnect() closes the sockets the primary handed out, and
    // with them the workers' last handles: the workers exit.
    const [a, b] = await bindBoth({ type: 'udp4' }, () => ({ port: 0, address: '127.0.0.1' }));
    record.bound = [a, b].map(named);
    done = true;
    const exits = peers.map((p) => new Promise((resolve) => p.worker.once('exit', (code) => resolve({ code, afterDisconnect: p.worker.exitedAfterDisconnect }))));
    cluster.disconnect();
    record.exits = await Promise.all(exits);
  } else {
    throw new Error(`no scenario ${scenario}`);
  }
  sender.close();
  done = true;
  for (const p of peers) p.worker.kill();
  process.stdout.write(JSON.stringify(record) + '\n');
}

if (cluster.isPrimary) void runPrimary();
else runWorker();
