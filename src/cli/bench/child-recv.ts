// The receiving sides of a bench child: node:dgram, the drop-in and
// BatchSocket receivers, the request/response echo server, and the relay.
import * as nodeDgram from 'node:dgram';
import { isQueueFull } from '../../errors';
import { socketTypeFor } from '../common';
import { answerQuery } from './dns';
import { costKind, serverKind, type NodeImpl } from './protocol';
import { BatchSocket, GSODisabledError, type Batch, type BatchView } from '../../index';
import { cpuSince, dgramCalls, dgramModule, emit, isDgram, isEcho, SOCKET_BUFFER, stopRequested, type Args } from './child-common';

/** How often the receiver reports its running total, as udpref does. */
const PROGRESS_MS = 250;
/** Traffic a receiver has taken before its resident memory is first sampled: buffers touched, code optimised. */
const RSS_WARM_MS = 1000;
/** After a stop request, keep reading while datagrams still arrive this often... */
const DRAIN_IDLE_MS = 20;
/** ...but no longer than udpref's DRAIN_MAX_S. */
const DRAIN_MAX_MS = 2000;

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

/**
 * A request/response server as written for node:dgram: every request is
 * answered with its own bytes, or in the DNS-like rows with the answer to
 * the query it holds (answerQuery).
 */
async function echoServer(a: Args, t: Tally, module = dgramModule(a.impl)): Promise<Receiver> {
  const dns = serverKind(a.impl as NodeImpl) === 'dns';
  const sock = module.createSocket({ type: socketTypeFor(a.address), recvBufferSize: SOCKET_BUFFER });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(a.port, a.address, () => { sock.off('error', reject); resolve(); });
  });
  sock.on('message', (msg, rinfo) => {
    arrived(t, 1, msg.length);
    const answer = dns ? answerQuery(msg) : msg;
    if (answer !== null) sock.send(answer, rinfo.port, rinfo.address);
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
  } else if (a.impl === 'gso-iter') {
    // The loop ends when the socket closes (close below).
    void (async () => {
      for await (const b of sock) {
        let bytes = 0;
        for (const d of b) bytes += d.data.length;
        arrived(t, b.length, bytes);
      }
    })();
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

export async function receive(a: Args): Promise<void> {
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
export async function relay(a: Args): Promise<void> {
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
