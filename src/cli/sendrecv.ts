// `batchgram send` and `batchgram recv`: an iperf-like UDP tester between two
// machines. Every datagram starts with its sequence number and its send time:
//
//   bytes 0-7   sequence number, from 0 (uint64, big-endian)
//   bytes 8-15  send time in ns, process.hrtime.bigint() (uint64, big-endian)
//   bytes 16-   padding up to --size
//
// From the sequence numbers the receiver tells loss, reordering and
// duplicates; from the send times the jitter of RFC 3550, which needs no
// common clock (only differences of transit times enter it).
import { isIPv6 } from 'node:net';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
import { BatchSocket, GSODisabledError, type BatchView } from '../index';
import { socketTypeFor, stopSignal, WRITES_PER_YIELD } from './common';

/** Sequence number and timestamp: the smallest datagram the tester sends. */
export const HEADER_SIZE = 16;

export interface Endpoint { address: string; port: number }

export interface RecvOptions {
  bind: Endpoint;
  /** Seconds between reports. */
  interval: number;
  /** Stop after this many seconds from the start, if given. */
  duration?: number;
  /** Stop once this many distinct datagrams arrived; also the number expected when counting loss. */
  count?: number;
  /** Stop this many seconds after the last datagram, once one arrived; 0: never. */
  idle: number;
  json: boolean;
}

export interface SendOptions {
  to: Endpoint;
  size: number;
  /** Datagrams per second; null: as fast as the socket takes them. */
  rate: number | null;
  duration?: number;
  count?: number;
  interval: number;
  json: boolean;
}

/** How long a sender runs when given neither --duration nor --count. */
export const DEFAULT_SEND_SECONDS = 5;
/** How often the receiver looks at the clock for reports and the idle timeout. */
const TICK_MS = 50;
/** Sequence numbers remembered behind the highest one seen, to tell a late datagram from a duplicate. */
const WINDOW = 1 << 22;
/** Receive buffer asked for (the library tries SO_RCVBUFFORCE): a short stall should not lose datagrams. */
const RECV_BUFFER = 16 << 20;

const formatEndpoint = (e: Endpoint) => (isIPv6(e.address) ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);
const seconds = (fromNs: bigint, toNs: bigint) => Number(toNs - fromNs) / 1e9;

/**
 * Classifies sequence numbers as they arrive. `next` is one past the highest
 * seen; a number below it is late (reordered) the first time and a duplicate
 * after, as far back as WINDOW remembers. Numbers skipped on the way up are
 * missing until they turn up late.
 */
export class SequenceTracker {
  readonly #seen = new Uint8Array(WINDOW / 8);
  next = 0;
  distinct = 0;
  reordered = 0;
  duplicates = 0;

  /** Sequence numbers skipped and not (yet) arrived. */
  get missing(): number { return this.next - this.distinct; }

  add(seq: number): void {
    if (seq >= this.next) {
      // Forget the slots the window slides past: they belong to numbers WINDOW ago.
      const clear = Math.min(seq + 1 - this.next, WINDOW);
      for (let s = seq + 1 - clear; s <= seq; s++) this.#seen[(s % WINDOW) >> 3] &= ~(1 << (s & 7));
      this.#mark(seq);
      this.next = seq + 1;
      this.distinct++;
    } else if (this.next - seq > WINDOW) {
      this.reordered++; // too old to tell from a duplicate; far more likely late
      this.distinct++;
    } else if (this.#isSeen(seq)) {
      this.duplicates++;
    } else {
      this.#mark(seq);
      this.reordered++;
      this.distinct++;
    }
  }

  #mark(seq: number): void { this.#seen[(seq % WINDOW) >> 3] |= 1 << (seq & 7); }
  #isSeen(seq: number): boolean { return (this.#seen[(seq % WINDOW) >> 3] & (1 << (seq & 7))) !== 0; }
}

/** RFC 3550 §6.4.1 interarrival jitter, in ns: a running mean of |change in transit time| with gain 1/16. */
class Jitter {
  #lastTransit: number | null = null;
  value = 0;

  add(sentNs: number, arrivedNs: number): void {
    const transit = arrivedNs - sentNs;
    if (this.#lastTransit !== null) this.value += (Math.abs(transit - this.#lastTransit) - this.value) / 16;
    this.#lastTransit = transit;
  }
}

/** What both sides report per interval and at the end. */
interface Throughput {
  event: 'interval' | 'done';
  /** Seconds since the first datagram (receiver) or the start (sender). */
  start: number;
  end: number;
  datagrams: number;
  bytes: number;
  bitsPerSecond: number;
  datagramsPerSecond: number;
}

function throughput(event: Throughput['event'], datagrams: number, bytes: number, start: number, end: number): Throughput {
  const span = end - start;
  return {
    event, start, end, datagrams, bytes,
    bitsPerSecond: span > 0 ? (bytes * 8) / span : 0, datagramsPerSecond: span > 0 ? datagrams / span : 0,
  };
}

/**
 * Where the `k`th whole interval ends, in seconds: a product, not a sum of
 * steps, and to the microsecond, so 3 intervals of 0.3 s end at 0.9, not at
 * 0.8999999999999999.
 */
function boundary(k: number, interval: number): number {
  return Math.round(k * interval * 1e6) / 1e6;
}

/** One report: a JSON line, or a text line with the counts after the throughput. */
function print(json: boolean, r: Throughput, verb: string, extra = ''): void {
  if (json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const span = `${r.start.toFixed(1).padStart(6)}-${r.end.toFixed(1).padStart(6)} s`;
  const mbit = `${(r.bitsPerSecond / 1e6).toFixed(2).padStart(9)} Mbit/s`;
  process.stdout.write(`${r.event === 'done' ? 'total ' : '      '}${span}  ${String(r.datagrams).padStart(9)} datagrams ${verb}  ${mbit}${extra}\n`);
}

// --- recv -------------------------------------------------------------------

/** The receiver's running totals; reports are differences of two of these. */
interface Totals { datagrams: number; bytes: number; missing: number; reordered: number; duplicates: number }

export async function runRecv(o: RecvOptions): Promise<number> {
  const sock = await BatchSocket.bind({
    type: socketTypeFor(o.bind.address), address: o.bind.address, port: o.bind.port,
    recvBufferSize: RECV_BUFFER, rxqOverflowMetric: 'batchgram.recv',
  });
  const local = { address: o.bind.address, port: sock.address().port };
  if (o.json) process.stdout.write(JSON.stringify({ event: 'listening', ...local }) + '\n');
  else process.stdout.write(`listening on ${formatEndpoint(local)}\n`);

  const seq = new SequenceTracker();
  const jitter = new Jitter();
  let datagrams = 0, bytes = 0, malformed = 0;
  let first = 0n, last = 0n;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => { finish = resolve; });

  sock.on('view', (v: BatchView) => {
    const now = process.hrtime.bigint();
    if (datagrams === 0) first = now;
    last = now;
    const arrivedNs = Number(now);
    for (let i = 0; i < v.count; i++) {
      const at = v.offsets[i], len = v.lengths[i];
      if (len < HEADER_SIZE) { malformed++; continue; }
      // Two 32-bit halves keep this free of BigInt allocations; a double holds
      // sequence numbers exactly and timestamps to within nanoseconds.
      seq.add(v.data.readUInt32BE(at) * 2 ** 32 + v.data.readUInt32BE(at + 4));
      jitter.add(v.data.readUInt32BE(at + 8) * 2 ** 32 + v.data.readUInt32BE(at + 12), arrivedNs);
      datagrams++;
      bytes += len;
    }
    if (o.count !== undefined && seq.distinct >= o.count) finish();
  });
  // A socket that fails to read will not recover: end the run with the error.
  const failed = new Promise<never>((_, reject) => sock.on('error', reject));

  const totals = (): Totals => ({ datagrams, bytes, missing: seq.missing, reordered: seq.reordered, duplicates: seq.duplicates });
  const started = process.hrtime.bigint();
  let mark = totals();
  let reported = 0; // seconds after the first datagram that reports have covered
  let full = 0; // whole intervals reported
  /** Reports what arrived from `reported` to `end` seconds after the first datagram. */
  const report = (end: number): void => {
    const t = totals();
    // lost: the change in datagrams missing; below zero when late ones filled earlier gaps.
    const r = {
      ...throughput('interval', t.datagrams - mark.datagrams, t.bytes - mark.bytes, reported, end),
      lost: t.missing - mark.missing, reordered: t.reordered - mark.reordered, duplicates: t.duplicates - mark.duplicates,
      jitterMs: jitter.value / 1e6,
    };
    print(o.json, r, 'received',
      `  lost ${r.lost}  reordered ${r.reordered}  dup ${r.duplicates}  jitter ${r.jitterMs.toFixed(3)} ms`);
    mark = t;
    reported = end;
  };
  const ticker = setInterval(() => {
    const now = process.hrtime.bigint();
    if (o.duration !== undefined && seconds(started, now) >= o.duration) return finish();
    if (datagrams === 0) return;
    if (o.idle > 0 && seconds(last, now) >= o.idle) return finish();
    if (seconds(first, now) >= boundary(full + 1, o.interval)) report(boundary(++full, o.interval));
  }, TICK_MS);

  try {
    await Promise.race([finished, stopSignal(), failed]);
  } finally {
    clearInterval(ticker);
  }
  // The intervals cover the whole run: what arrived after the last full one is a shorter one.
  if (datagrams > mark.datagrams) report(Math.max(reported, seconds(first, last)));
  const kernelDrops = sock.stats().rxqOverflows;
  await sock.close();

  // Datagrams lost after the last one that arrived are seen only against --count.
  const expected = Math.max(seq.next, o.count ?? 0);
  const lost = expected - seq.distinct;
  const r = {
    ...throughput('done', datagrams, bytes, 0, datagrams > 0 ? seconds(first, last) : 0),
    distinct: seq.distinct, expected, lost, lossPercent: expected > 0 ? (lost / expected) * 100 : 0,
    reordered: seq.reordered, duplicates: seq.duplicates, jitterMs: jitter.value / 1e6, malformed, kernelDrops,
  };
  print(o.json, r, 'received',
    `  lost ${lost}/${expected} (${r.lossPercent.toFixed(2)}%)  reordered ${r.reordered}  dup ${r.duplicates}` +
    `  jitter ${r.jitterMs.toFixed(3)} ms  kernel drops ${kernelDrops}${malformed ? `  malformed ${malformed}` : ''}`);
  return 0;
}

// --- send -------------------------------------------------------------------

/** Writes sequence numbers `seq`.. and the send time into the first `n` buffers. */
function stamp(bufs: Buffer[], n: number, seq: number): void {
  const now = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    bufs[i].writeBigUInt64BE(BigInt(seq + i), 0);
    bufs[i].writeBigUInt64BE(now, 8);
  }
}

/** Datagrams to send now: those due by the pacing (all at --max), within the batch and the --count. */
function due(o: SendOptions, sent: number, elapsed: number, batch: number): number {
  const paced = o.rate === null ? batch : Math.floor(elapsed * o.rate) + 1 - sent;
  const left = o.count === undefined ? batch : o.count - sent;
  return Math.max(0, Math.min(paced, left, batch));
}

export async function runSend(o: SendOptions): Promise<number> {
  const sock = await BatchSocket.bind({ type: socketTypeFor(o.to.address) });
  const bufs = Array.from({ length: sock.batchSize }, () => Buffer.alloc(o.size));
  let stopped = false;
  void stopSignal().then(() => { stopped = true; });
  const duration = o.duration ?? (o.count === undefined ? DEFAULT_SEND_SECONDS : Infinity);

  const start = process.hrtime.bigint();
  let sent = 0, writes = 0, mark = 0, reported = 0, full = 0;
  /** Reports what was sent from `reported` to `end` seconds after the start. */
  const report = (end: number): void => {
    print(o.json, throughput('interval', sent - mark, (sent - mark) * o.size, reported, end), 'sent');
    mark = sent;
    reported = end;
  };
  for (;;) {
    const elapsed = seconds(start, process.hrtime.bigint());
    if (stopped || elapsed >= duration || sent === o.count) break;
    if (elapsed >= boundary(full + 1, o.interval)) report(boundary(++full, o.interval));
    const n = due(o, sent, elapsed, bufs.length);
    if (n === 0) {
      // Ahead of the pace (only pacing can make nothing due): sleep until
      // datagram `sent` is due at sent/rate seconds; timers round up to 1 ms.
      await sleep(Math.max(1, (sent / o.rate! - elapsed) * 1e3));
      continue;
    }
    stamp(bufs, n, sent);
    try {
      await sock.writeBatchTo(n === bufs.length ? bufs : bufs.slice(0, n), o.to.address, o.to.port);
    } catch (err) {
      // GSO was refused and turned off, and the retry sent the datagrams.
      if (!(err instanceof GSODisabledError && err.cause === null)) throw err;
    }
    sent += n;
    if (++writes % WRITES_PER_YIELD === 0) await yieldToLoop();
  }
  const end = seconds(start, process.hrtime.bigint());
  await sock.close();
  // The intervals cover the whole run (--duration 3: 0-1, 1-2 and 2-3), the
  // last one shorter where the run stopped between two; a sliver with nothing
  // sent (the loop's last check falling just past a report) is not one.
  if (sent > mark || end - reported >= o.interval / 10) report(end);
  print(o.json, throughput('done', sent, sent * o.size, 0, end), 'sent');
  return 0;
}
