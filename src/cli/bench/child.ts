// One side of one `batchgram bench` run for the Node implementations, in its
// own process so that sender and receiver each have a core and an event loop
// of their own. It speaks the line protocol of bench/udpref.c (see
// ChildEvent in protocol.ts), so the harness drives Node and C alike:
//
//   bench-child recv --impl IMPL --bind ADDR --port N
//   bench-child send --impl IMPL --to ADDR --port N --size BYTES --duration SECONDS
//   bench-child relay --impl relay --bind ADDR --port N --to ADDR --to-port M
//
// The relay takes udpref relay's arguments: it receives on ADDR:N (0: any
// port) and forwards every datagram to ADDR:M.
//
// The receiver and the relay stop on a "stop" line, EOF on stdin or SIGTERM;
// a sender stops after --duration or on EOF, so an orphan never outlives its
// harness.
import * as nodeDgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isQueueFull } from '../../errors';
import { socketTypeFor, stopSignal, WRITES_PER_YIELD } from '../common';
import { costKind, NODE_IMPLS, NODE_RELAY, SOCKETS_HELD, type ChildCounts, type ChildEvent, type NodeImpl } from './protocol';
import { BatchSocket, compatStats, createSocket, GSODisabledError, type Batch, type BatchView } from '../../index';

/** Same as udpref's SOCKBUF: so that no implementation is buffer-starved. */
const SOCKET_BUFFER = 64 << 20;
/** How often the receiver reports its running total, as udpref does. */
const PROGRESS_MS = 250;
/** Traffic a receiver has taken before its resident memory is first sampled: buffers touched, code optimised. */
const RSS_WARM_MS = 1000;
/** After a stop request, keep reading while datagrams still arrive this often... */
const DRAIN_IDLE_MS = 20;
/** ...but no longer than udpref's DRAIN_MAX_S. */
const DRAIN_MAX_MS = 2000;
/** node:dgram sends kept in flight: enough to never wait on a callback, bounded so memory stays flat. */
const DGRAM_WINDOW = 256;
/**
 * Request/response: client sockets, and the requests each keeps in flight,
 * as a server's many clients would: enough that the server never idles.
 */
const RR_CLIENTS = 16;
const RR_WINDOW = 32;
/** A client that got no response for this long counts its requests lost and sends a fresh window. */
const RR_LOST_MS = 50;
interface Args {
  impl: NodeImpl | typeof NODE_RELAY;
  /** recv, relay: the address to bind; send: the destination. */
  address: string;
  port: number;
  size: number;
  duration: number;
  /** relay: where to forward. */
  to: string;
  toPort: number;
}

function emit(e: ChildEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

/** CPU seconds since `since` (a process.cpuUsage() snapshot). */
function cpuSince(since: NodeJS.CpuUsage): { cpuUser: number; cpuSystem: number } {
  const d = process.cpuUsage(since);
  return { cpuUser: d.user / 1e6, cpuSystem: d.system / 1e6 };
}

/** Resolves on a "stop" line, EOF on stdin, or SIGTERM/SIGINT. */
function stopRequested(): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (l) => { if (l.trim() === 'stop') resolve(); });
    lines.on('close', () => resolve());
    void stopSignal().then(resolve);
  });
}

// --- Receiver ---------------------------------------------------------------

interface Tally { datagrams: number; bytes: number; first: number; last: number }

interface Receiver {
  port: number;
  /** recvmmsg calls and messages so far (node:dgram: one each per datagram). */
  calls(): { calls: number; messages: number };
  close(): void;
}

function arrived(t: Tally, datagrams: number, bytes: number): void {
  const now = performance.now();
  if (t.datagrams === 0) t.first = now;
  t.last = now;
  t.datagrams += datagrams;
  t.bytes += bytes;
}

/**
 * The dgram code of dgramReceiver, echoServer, dgramSend and the cost rows
 * runs unchanged on either module: node:dgram for 'dgram' and the '-dgram'
 * rows, batchgram's drop-in for the '-compat' rows.
 */
type DgramModule = { createSocket(options: nodeDgram.SocketOptions): nodeDgram.Socket };
const dgramModule = (impl: string): DgramModule => (impl.endsWith('-compat') ? { createSocket } : nodeDgram);
const isDgram = (impl: string) => impl === 'dgram' || impl === 'dgram-compat';
const isEcho = (impl: string) => impl === 'rr-dgram' || impl === 'rr-compat' || costKind(impl as NodeImpl) === 'pingpong';

/** System calls and messages: the drop-in counts them; node:dgram makes one per datagram. */
function dgramCalls(sock: nodeDgram.Socket, datagrams: number, recv: boolean): { calls: number; messages: number } {
  const s = compatStats(sock);
  if (s === null) return { calls: datagrams, messages: datagrams };
  return recv ? { calls: s.recvCalls, messages: s.messagesIn } : { calls: s.sendCalls, messages: s.messagesOut };
}

async function dgramReceiver(a: Args, t: Tally, module = dgramModule(a.impl)): Promise<Receiver> {
  const sock = module.createSocket({ type: socketTypeFor(a.address), recvBufferSize: SOCKET_BUFFER });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(a.port, a.address, () => { sock.off('error', reject); resolve(); });
  });
  sock.on('message', (msg) => arrived(t, 1, msg.length));
  return {
    port: sock.address().port,
    calls: () => dgramCalls(sock, t.datagrams, true),
    close: () => sock.close(),
  };
}

/** A request/response server as written for node:dgram: every request is answered with its own bytes. */
async function echoServer(a: Args, t: Tally, module = dgramModule(a.impl)): Promise<Receiver> {
  const sock = module.createSocket({ type: socketTypeFor(a.address), recvBufferSize: SOCKET_BUFFER });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(a.port, a.address, () => { sock.off('error', reject); resolve(); });
  });
  sock.on('message', (msg, rinfo) => {
    arrived(t, 1, msg.length);
    sock.send(msg, rinfo.port, rinfo.address);
  });
  return {
    port: sock.address().port,
    calls: () => dgramCalls(sock, t.datagrams, true),
    close: () => sock.close(),
  };
}

async function batchReceiver(a: Args, t: Tally): Promise<Receiver> {
  const sock = await BatchSocket.bind({
    type: socketTypeFor(a.address), address: a.address, port: a.port,
    offload: a.impl !== 'mmsg', recvBufferSize: SOCKET_BUFFER,
  });
  if (a.impl === 'gso-zero' || a.impl === 'gso-msgs') {
    // The zero-allocation path: read lengths in place, copy nothing.
    sock.on('view', (v: BatchView) => {
      let bytes = 0;
      for (let m = 0; m < v.messageCount; m++) bytes += v.messageLengths[m];
      arrived(t, v.count, bytes);
    });
  } else {
    sock.on('batch', (b: Batch) => {
      let bytes = 0;
      for (const d of b) bytes += d.data.length;
      arrived(t, b.length, bytes);
    });
  }
  return {
    port: sock.address().port,
    calls: () => { const s = sock.stats(); return { calls: s.recvCalls, messages: s.messagesIn }; },
    close: () => void sock.close(),
  };
}

/** Resolves once no datagram arrived for DRAIN_IDLE_MS, or DRAIN_MAX_MS passed. */
function drained(t: Tally): Promise<void> {
  const deadline = performance.now() + DRAIN_MAX_MS;
  return new Promise((resolve) => {
    let seen = t.datagrams;
    const timer = setInterval(() => {
      if (t.datagrams === seen || performance.now() >= deadline) {
        clearInterval(timer);
        resolve();
      }
      seen = t.datagrams;
    }, DRAIN_IDLE_MS);
  });
}

async function receive(a: Args): Promise<void> {
  const t: Tally = { datagrams: 0, bytes: 0, first: 0, last: 0 };
  const stop = stopRequested();
  // The create and sockets rows measure their sender: node:dgram is the other side of both.
  const kind = costKind(a.impl as NodeImpl);
  const rx = kind === 'create' ? await dgramReceiver(a, t, nodeDgram) : kind === 'sockets' ? await echoServer(a, t, nodeDgram)
    : isEcho(a.impl) ? await echoServer(a, t) : isDgram(a.impl) ? await dgramReceiver(a, t) : await batchReceiver(a, t);
  // CPU is counted from here: Node's own start-up is not the data path.
  const cpu0 = process.cpuUsage();
  emit({ event: 'ready', port: rx.port });
  // Resident memory, sampled with each progress line once traffic has flowed
  // for RSS_WARM_MS, and once more at the end: a long run shows whether it
  // stays flat. The end sample is taken whatever happened before, so a run
  // too short (or a loop too busy) for a timed sample still has its figures.
  let rssWarm = 0, rssMin = Infinity, rssMax = 0;
  const sampleRss = (): number => {
    const rss = process.memoryUsage().rss;
    if (rssWarm === 0) rssWarm = rss;
    rssMin = Math.min(rssMin, rss);
    rssMax = Math.max(rssMax, rss);
    return rss;
  };
  const progress = setInterval(() => {
    if (t.datagrams > 0 && performance.now() - t.first >= RSS_WARM_MS) sampleRss();
    emit({ event: 'progress', datagrams: t.datagrams, bytes: t.bytes });
  }, PROGRESS_MS);
  await stop;
  clearInterval(progress);
  // What the sender sent may still wait in the socket buffer: count it, as udpref does.
  await drained(t);
  const rssEnd = sampleRss();
  rx.close();
  emit({
    event: 'done', datagrams: t.datagrams, bytes: t.bytes, seconds: (t.last - t.first) / 1e3,
    ...cpuSince(cpu0), ...rx.calls(), rssWarm, rssMin, rssMax, rssEnd,
  });
}

// --- Relay ------------------------------------------------------------------

/**
 * batchgram as a forwarder, the way an application relays at speed: each read
 * goes on as it came with forwardTo, inside the 'view' listener, so GRO
 * messages leave as GSO messages that point into the receive memory. Nothing
 * is split into objects or copied unless the kernel makes a forward wait.
 */
async function relay(a: Args): Promise<void> {
  const got: Tally = { datagrams: 0, bytes: 0, first: 0, last: 0 };
  const forwarded: Tally = { datagrams: 0, bytes: 0, first: 0, last: 0 };
  /** Datagrams refused because the send queue was full: a relay's drops, like the kernel's. */
  let dropped = 0;
  let pending = 0;
  let allSettled: (() => void) | null = null;
  const settle = () => { if (--pending === 0) allSettled?.(); };
  const stop = stopRequested();
  const sock = await BatchSocket.bind({
    type: socketTypeFor(a.address), address: a.address, port: a.port, offload: true,
    recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER,
  });
  const refused = (err: Error, datagrams: number, bytes: number) => {
    // The kernel refused GSO and the socket fell back: the datagrams still went.
    if (err instanceof GSODisabledError && err.cause === null) {
      arrived(forwarded, datagrams, bytes);
    } else if (isQueueFull(err)) {
      dropped += datagrams;
    } else {
      process.stderr.write(`bench-child: forwardTo: ${err.message}\n`);
      process.exit(1);
    }
    settle();
  };
  sock.on('view', (view: BatchView) => {
    const n = view.count;
    let bytes = 0;
    for (let m = 0; m < view.messageCount; m++) bytes += view.messageLengths[m];
    arrived(got, n, bytes);
    pending++;
    // Counted as forwarded when the promise resolves, i.e. once the kernel
    // took every datagram of the view, not when they were handed over: the
    // relay's figures are what it really sent, as udpref's are.
    sock.forwardTo(view, a.to, a.toPort).then(() => { arrived(forwarded, n, bytes); settle(); },
      (err: Error) => refused(err, n, bytes));
  });
  const cpu0 = process.cpuUsage();
  emit({ event: 'ready', port: sock.address().port });
  const progress = setInterval(() => emit({ event: 'progress', datagrams: forwarded.datagrams, bytes: forwarded.bytes }),
    PROGRESS_MS);
  await stop;
  clearInterval(progress);
  await drained(got);
  // Reading stops with the last listener; what was handed over still goes out.
  sock.removeAllListeners('view');
  if (pending > 0) await new Promise<void>((resolve) => { allSettled = resolve; });
  const s = sock.stats();
  await sock.close();
  emit({
    event: 'done', datagrams: forwarded.datagrams, bytes: forwarded.bytes,
    seconds: forwarded.datagrams > 0 ? (forwarded.last - got.first) / 1e3 : 0, ...cpuSince(cpu0),
    // messagesIn: messages as received. forwardTo plans its GSO messages anew
    // and may merge consecutive trains of one size, so fewer can leave (the
    // final receiver's count shows how many); udpref relay sends one per message read.
    calls: s.recvCalls + s.sendCalls, messages: s.messagesIn, dropped,
  });
}

// --- Sender -----------------------------------------------------------------

interface Sent { datagrams: number; calls: number; messages: number; transactions?: number }

/** A socket of the implementation's dgram module (node:dgram's or the drop-in's) connected to the peer. */
async function connected(a: Args, options: Partial<nodeDgram.SocketOptions>): Promise<nodeDgram.Socket> {
  const sock = dgramModule(a.impl).createSocket({ type: socketTypeFor(a.address), ...options });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.connect(a.port, a.address, () => { sock.off('error', reject); resolve(); });
  });
  return sock;
}

/** node:dgram as an application would use it at speed: connected, callbacks, a window of sends in flight. */
async function dgramSend(a: Args, until: () => boolean): Promise<Sent> {
  const sock = await connected(a, { sendBufferSize: SOCKET_BUFFER });
  const buf = Buffer.alloc(a.size, 0x61);
  let sent = 0, inFlight = 0;
  await new Promise<void>((resolve, reject) => {
    const onSent = (err: Error | null) => {
      inFlight--;
      if (err) return reject(err);
      sent++;
      // Refill only when the window is empty, from a fresh turn of the event
      // loop: refilling from the callback itself would never let it turn.
      if (inFlight === 0) setImmediate(pump);
    };
    const pump = () => {
      if (until()) return resolve();
      while (inFlight < DGRAM_WINDOW) {
        inFlight++;
        sock.send(buf, onSent);
      }
    };
    pump();
  });
  const counts = dgramCalls(sock, sent, false);
  sock.close();
  return { datagrams: sent, ...counts };
}

/**
 * batchgram: one write of batchSize reused datagrams after another. The
 * datagrams are slices of one slab, as a tuned application lays them out
 * (and as the C reference does): back to back, they travel as one iovec per
 * GSO message.
 */
async function batchSend(a: Args, until: () => boolean): Promise<Sent> {
  const sock = await BatchSocket.bind({ type: socketTypeFor(a.address), offload: a.impl !== 'mmsg', sendBufferSize: SOCKET_BUFFER });
  const slab = Buffer.alloc(a.size * sock.batchSize, 0x61);
  const bufs = Array.from({ length: sock.batchSize }, (_, i) => slab.subarray(i * a.size, (i + 1) * a.size));
  const lengths = bufs.map((b) => b.length);
  // gso-zero sends through the zero-allocation write, as it reads through the
  // view; gso-msgs the way a QUIC stack does, one segmented message a write.
  const messages = [{ data: slab, address: a.address, port: a.port, segmentSize: a.size }];
  const write = a.impl === 'gso-zero' ? () => sock.writePackedTo(slab, lengths, a.address, a.port)
    : a.impl === 'gso-msgs' ? () => sock.writeMessages(messages)
      : () => sock.writeBatchTo(bufs, a.address, a.port);
  let sent = 0;
  for (let n = 1; !until(); n++) {
    try {
      await write();
    } catch (err) {
      // The kernel refused GSO and the socket fell back: the batch still went.
      if (!(err instanceof GSODisabledError && err.cause === null)) throw err;
    }
    sent += bufs.length;
    if (n % WRITES_PER_YIELD === 0) await yieldToLoop();
  }
  const s = sock.stats();
  await sock.close();
  return { datagrams: sent, calls: s.sendCalls, messages: s.messagesOut };
}

/**
 * The clients of a request/response run: RR_CLIENTS batchgram sockets, each
 * keeping RR_WINDOW requests in flight, sending as many new ones as
 * responses arrive. They are the same for both servers, and cheap per
 * request, so the server is what the run measures.
 */
async function requestClients(a: Args, until: () => boolean): Promise<Sent> {
  const request = Buffer.alloc(a.size * RR_WINDOW, 0x61);
  const lengthsOf = Array.from({ length: RR_WINDOW + 1 }, (_, n) => new Array<number>(n).fill(a.size));
  let sent = 0, transactions = 0;
  let failed: Error | null = null;
  const fail = (err: Error) => { failed ??= err; };
  const clients = await Promise.all(Array.from({ length: RR_CLIENTS }, async () => {
    const sock = await BatchSocket.bind({ type: socketTypeFor(a.address), recvBufferSize: SOCKET_BUFFER });
    const c = {
      sock, inFlight: 0, answered: 0, seen: 0,
      fill: () => {
        const n = RR_WINDOW - c.inFlight;
        if (n <= 0 || until()) return;
        c.inFlight += n;
        sent += n;
        sock.writePackedTo(request, lengthsOf[n], a.address, a.port).catch(fail);
      },
    };
    sock.on('view', (v: BatchView) => {
      // Late answers to requests given up for lost never widen the window.
      c.inFlight = Math.max(0, c.inFlight - v.count);
      c.answered += v.count;
      transactions += v.count;
      c.fill();
    });
    return c;
  }));
  for (const c of clients) c.fill();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (until() || failed !== null) {
        clearInterval(timer);
        resolve();
        return;
      }
      for (const c of clients) {
        if (c.answered === c.seen && c.inFlight > 0) {
          c.inFlight = 0;
          c.fill();
        }
        c.seen = c.answered;
      }
    }, RR_LOST_MS);
  });
  let calls = 0, messages = 0;
  for (const { sock } of clients) {
    const s = sock.stats();
    calls += s.sendCalls;
    messages += s.messagesOut;
    await sock.close();
  }
  if (failed !== null) throw failed;
  return { datagrams: sent, calls, messages, transactions };
}

// --- Cost rows (senders) -----------------------------------------------------

/** One socket's life, as short-lived dgram code lives it: create, bind, send one datagram, close. */
async function createToClose(a: Args, until: () => boolean): Promise<Sent> {
  const module = dgramModule(a.impl);
  const buf = Buffer.alloc(a.size, 0x61);
  let sockets = 0;
  while (!until()) {
    await new Promise<void>((resolve, reject) => {
      const sock = module.createSocket({ type: socketTypeFor(a.address) });
      sock.once('error', reject);
      sock.bind(0, a.address, () => sock.send(buf, a.port, a.address, (err) => (err ? reject(err) : sock.close(resolve))));
    });
    sockets++;
  }
  return { datagrams: sockets, calls: sockets, messages: sockets };
}

/** process.memoryUsage() after full collections, so that only memory still held is counted. */
function heldMemory(): NodeJS.MemoryUsage {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage();
}

/**
 * SOCKETS_HELD sockets bound, each having sent one datagram and received its
 * echo, so both directions' memory is in use: the memory they add. One socket
 * opened and closed first leaves out what the first socket of a process sets
 * up once.
 */
async function holdSockets(a: Args): Promise<Sent & { rssAdded: number; externalAdded: number }> {
  const module = dgramModule(a.impl);
  const buf = Buffer.alloc(a.size, 0x61);
  const type = socketTypeFor(a.address);
  const open = (): Promise<nodeDgram.Socket> => new Promise((resolve, reject) => {
    const sock = module.createSocket({ type });
    sock.once('error', reject);
    sock.once('message', () => resolve(sock));
    sock.bind(0, a.address, () => sock.send(buf, a.port, a.address));
  });
  await new Promise<void>((resolve) => void open().then((s) => s.close(resolve)));
  const before = heldMemory();
  const socks = await Promise.all(Array.from({ length: SOCKETS_HELD }, open));
  const after = heldMemory();
  for (const s of socks) s.close();
  return {
    datagrams: SOCKETS_HELD, calls: SOCKETS_HELD, messages: SOCKETS_HELD,
    rssAdded: after.rss - before.rss, externalAdded: after.external - before.external,
  };
}

/** A client with one request in flight: the next goes when the answer came (or after RR_LOST_MS, taken as lost). */
async function pingPong(a: Args, until: () => boolean): Promise<Sent> {
  const sock = await connected(a, {});
  const buf = Buffer.alloc(a.size, 0x61);
  let sent = 0, answered = 0;
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    let seen = 0;
    const timer = setInterval(() => {
      if (answered === seen) ask();
      seen = answered;
    }, RR_LOST_MS);
    const ask = () => {
      if (until()) {
        clearInterval(timer);
        resolve();
        return;
      }
      sent++;
      sock.send(buf);
    };
    sock.on('message', () => {
      answered++;
      ask();
    });
    ask();
  });
  sock.close();
  return { datagrams: sent, calls: sent, messages: sent, transactions: answered };
}

async function send(a: Args): Promise<void> {
  let stopped = false;
  void stopRequested().then(() => { stopped = true; });
  const start = performance.now();
  const end = start + a.duration * 1e3;
  const cpu0 = process.cpuUsage();
  const until = () => stopped || performance.now() >= end;
  const kind = costKind(a.impl as NodeImpl);
  const s: Sent & { rssAdded?: number; externalAdded?: number } = kind === 'create' ? await createToClose(a, until)
    : kind === 'sockets' ? await holdSockets(a) : kind === 'pingpong' ? await pingPong(a, until)
      : isEcho(a.impl) ? await requestClients(a, until) : isDgram(a.impl) ? await dgramSend(a, until) : await batchSend(a, until);
  const { datagrams, calls, messages, ...extra } = s;
  const done: ChildCounts = {
    datagrams, bytes: datagrams * a.size, seconds: (performance.now() - start) / 1e3, ...cpuSince(cpu0), calls, messages, ...extra,
  };
  emit({ event: 'done', ...done });
}

// --- Arguments --------------------------------------------------------------

type Command = 'recv' | 'send' | 'relay';

/** The harness builds these arguments; a mistake is a bug there, reported in one line. */
function parse(argv: string[]): { command: Command; args: Args } {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      impl: { type: 'string' }, bind: { type: 'string' }, to: { type: 'string' },
      port: { type: 'string' }, 'to-port': { type: 'string', default: '0' },
      size: { type: 'string', default: '0' }, duration: { type: 'string', default: '0' },
    },
  });
  const command = positionals[0];
  if (positionals.length !== 1 || (command !== 'recv' && command !== 'send' && command !== 'relay')) {
    throw new Error('want recv, send or relay');
  }
  const impls: readonly Args['impl'][] = command === 'relay' ? [NODE_RELAY] : NODE_IMPLS;
  const impl = impls.find((i) => i === values.impl);
  if (impl === undefined) throw new Error(`--impl must be one of ${impls.join(', ')} for ${command}`);
  const address = command === 'send' ? values.to : values.bind;
  if (address === undefined) throw new Error(command === 'send' ? 'send needs --to' : `${command} needs --bind`);
  const args: Args = {
    impl, address, port: Number(values.port), size: Number(values.size), duration: Number(values.duration),
    to: values.to ?? '', toPort: Number(values['to-port']),
  };
  if (!Number.isInteger(args.port)) throw new Error('--port must be an integer');
  if (command === 'send' && !(args.port > 0 && args.size > 0 && args.duration > 0)) {
    throw new Error('send needs --port, --size and --duration > 0');
  }
  if (command === 'relay' && !(args.to !== '' && Number.isInteger(args.toPort) && args.toPort > 0)) {
    throw new Error('relay needs --to and --to-port > 0');
  }
  return { command, args };
}

function main(): void {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench-child: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const run = { recv: receive, send, relay }[parsed.command](parsed.args);
  // Exit explicitly: stdin stays open (it is how the harness reaches us).
  run.then(() => process.exit(0), (err: Error) => {
    process.stderr.write(`bench-child: ${err.message}\n`);
    process.exit(1);
  });
}

main();
