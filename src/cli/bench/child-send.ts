// The sending sides of a bench child: node:dgram and BatchSocket senders at
// full speed, request/response clients, and the cost rows (sockets made and
// closed, sockets held, ping-pong).
import * as nodeDgram from 'node:dgram';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { socketTypeFor, WRITES_PER_YIELD } from '../common';
import { queryOfSize } from './dns';
import { costKind, serverKind, SOCKETS_HELD, type ChildCounts, type NodeImpl } from './protocol';
import { BatchSocket, GSODisabledError, type BatchView } from '../../index';
import { cpuSince, dgramCalls, dgramModule, emit, isDgram, isEcho, SOCKET_BUFFER, stopRequested, type Args } from './child-common';

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
  // A window of requests back to back: the same bytes each (an echo's), or DNS queries of their own ids.
  const request = Buffer.alloc(a.size * RR_WINDOW, 0x61);
  if (serverKind(a.impl as NodeImpl) === 'dns') {
    for (let i = 0; i < RR_WINDOW; i++) queryOfSize(a.size, i).copy(request, i * a.size);
  }
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

export async function send(a: Args): Promise<void> {
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
