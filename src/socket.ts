// BatchSocket: the public face. It validates arguments, chooses the engine
// (the batch path on Linux, node:dgram elsewhere), and turns reads into
// 'view' and 'batch' events and async iteration with backpressure.
import { EventEmitter } from 'node:events';
import { isUint8Array } from 'node:util/types';
import { BatchView, type Batch } from './batch';
import type { BindOptions, Destination, Engine, EngineHost, IcmpError, SendHeader, SocketStats, WriteJob } from './engine/contract';
import { settleWithinBudget } from './engine/budget';
import { openEngine } from './engine/open';
import { engineOptions, GRO_DISABLE_ENV, GSO_DISABLE_ENV, offloadAllowed } from './engine/options';
import {
  badPort, invalidAddress, invalidArgType, invalidArgValue, notConnected, notRunning, outOfRange, unsupported, viewExpired,
} from './errors';
import { GeneveHeader } from './wire/geneve';
import { GRO_SLOT_SIZE } from './limits';
import { channels, publish } from './diagnostics';
import { emitEach, rethrow } from './listeners';
import { datagramSpans } from './offload/spans';
import { managedOption } from './kernel/managed';
import { binding, type NativeBinding } from './kernel/native';
import { useBatchPath } from './kernel/probe';
import type { SocketCapabilities } from './engine/capabilities';
import { forwardsWhole, MessagePlan, packedRuns } from './offload/gso';
import { endpointText, maxPayloadTo, parseAddress, toV4Mapped, type Family, type ParsedAddress } from './wire/sockaddr';

export interface BatchSocketOptions {
  type?: 'udp4' | 'udp6';
  /** Local IP literal; default all addresses of the family. */
  address?: string;
  /** Local port; default 0, any free port. */
  port?: number;
  /** Most datagrams per write and messages per read; default IDEAL_BATCH_SIZE or BATCHGRAM_BATCH_SIZE. */
  batchSize?: number;
  /** Use UDP GSO and GRO where the kernel has them; default true, and the default of `gso` and `gro`. */
  offload?: boolean;
  /** Use UDP GSO on send; default `offload`. BATCHGRAM_DISABLE_GSO=1 turns it off for the whole process. */
  gso?: boolean;
  /** Use UDP GRO on receive; default `offload`. BATCHGRAM_DISABLE_GRO=1 turns it off for the whole process. */
  gro?: boolean;
  /** Never send a GSO message whose segments are all one length (see README). */
  neverGsoEqualTail?: boolean;
  /** Name of the shared counter that receives this socket's kernel drop count (SO_RXQ_OVFL). */
  rxqOverflowMetric?: string;
  recvBufferSize?: number;
  sendBufferSize?: number;
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  /**
   * Bytes reserved per received message; a longer datagram arrives with
   * `truncated: true`. Default 65536, which no UDP datagram exceeds. GRO needs
   * 65536, so a smaller value also turns receive offload off.
   */
  recvSlotSize?: number;
  /** Most datagrams accepted by writes and still waiting for the kernel; default 64 batches, at least 1024. */
  sendQueueLimit?: number;
  /** false: use the portable single-datagram path even where batching is available. */
  batching?: boolean;
  /** Report each datagram's ECN bits (`ecn`, 0..3); `capabilities.ecn` says whether the kernel does. */
  receiveEcn?: boolean;
  /** Report the local address each datagram was sent to and the interface it came in on. */
  receiveLocalAddress?: boolean;
  /** Report the kernel's receive time of each datagram (`timestamp`, nanoseconds since the epoch). */
  receiveTimestamps?: boolean;
  /** SO_MARK (0..2^32-1): the firewall and routing mark of every packet, as VPNs use to avoid routing loops. */
  mark?: number;
  /** SO_BINDTODEVICE: send and receive only through this interface, e.g. 'eth0'. */
  bindToDevice?: string;
  /** The unicast TTL / hop limit of every datagram (1..255). */
  ttl?: number;
  /** The TOS byte / traffic class of every datagram (0..255); a write's `ecn` sets the whole byte instead. */
  tos?: number;
  /** Never fragment: a datagram above the path MTU fails its write with EMSGSIZE (path MTU probing). */
  dontFragment?: boolean;
  /**
   * Read the error queue (IP_RECVERR / IPV6_RECVERR): what ICMP says about sent datagrams arrives as 'icmpError'
   * events, on unconnected sockets too, and never as 'error'; `capabilities.icmpErrors` says whether the kernel does.
   */
  receiveErrors?: boolean;
}

/** Header fields every datagram of a write goes out with. */
export interface SendOptions {
  /** The ECN codepoint (0..3) of every datagram's IP header, as IP_TOS / IPV6_TCLASS per message. */
  ecn?: number;
  /**
   * The local address the datagrams leave from (IP_PKTINFO / IPV6_PKTINFO): an IP literal of the socket's
   * family, or IPv4 on a dual-stack socket; a wildcard socket answers from the address a datagram came to.
   */
  sourceAddress?: string;
}

/** One message of writeMessages: one datagram, or with `segmentSize` datagrams of that size back to back. */
export interface OutgoingMessage extends SendOptions {
  /** The datagram, or the datagrams of `segmentSize` bytes each back to back (the last may be shorter). */
  data: Uint8Array;
  address: string;
  port: number;
  /** The size `data` is cut into (a GSO message where the socket has TX offload); without it `data` is one datagram. */
  segmentSize?: number;
}

export interface WriteOptions extends SendOptions {
  /** With its VNI set, written into the 8 bytes before `offset` of every buffer and sent with it. */
  geneve?: GeneveHeader;
  /** Where each datagram's payload starts in its buffer; the bytes before it are not sent. */
  offset?: number;
}

export interface AddressInfo { address: string; family: Family; port: number }

export interface BatchSocketStats extends SocketStats {
  /** Datagrams accepted by writes and not yet handed to the kernel. */
  sendQueue: number;
}

export interface BatchSocketEvents {
  view: [view: BatchView];
  batch: [batch: Batch];
  error: [err: Error];
  /** An entry of the error queue (receiveErrors); never an 'error'. */
  icmpError: [e: IcmpError];
  close: [];
}

/** Batches an iterator may hold unread before the socket stops reading. */
const ITERATOR_HIGH_WATER = 64;

interface IteratorState {
  queue: Batch[];
  wake: ((r: IteratorResult<Batch>) => void) | null;
  reject: ((err: Error) => void) | null;
  error: Error | null;
}

const boolOpt = (o: BatchSocketOptions, k: keyof BatchSocketOptions, dflt: boolean): boolean => {
  const v = o[k];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidArgType(`options.${k}`, 'of type boolean', v);
  return v;
};

const intOpt = (o: BatchSocketOptions, k: keyof BatchSocketOptions, min: number, max: number): number | undefined => {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw invalidArgType(`options.${k}`, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(`options.${k}`, `an integer >= ${min} and <= ${max}`, v);
  return v;
};

/** An interface name: 1 to 15 bytes (IFNAMSIZ less its terminating zero), no zero byte. */
function deviceOpt(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgType('options.bindToDevice', 'of type string', v);
  const bytes = Buffer.byteLength(v);
  if (bytes < 1 || bytes > 15 || v.includes('\0')) throw invalidArgValue('options.bindToDevice', v, 'must be an interface name');
  return v;
}

/** A socket option level or name: a non-negative int. */
function sockoptName(name: string, v: unknown): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < 0 || v > INT32_MAX) throw outOfRange(name, `an integer >= 0 and <= ${INT32_MAX}`, v);
  return v;
}

/** Checks the options (in the order of BatchSocketOptions) and resolves them for the engine. */
function resolveOptions(o: BatchSocketOptions, b: NativeBinding | null): { batching: boolean; options: BindOptions } {
  if (o === null || typeof o !== 'object') throw invalidArgType('options', 'of type object', o);
  const type = o.type ?? 'udp4';
  if (type !== 'udp4' && type !== 'udp6') throw invalidArgType('options.type', "'udp4' or 'udp6'", type);
  const addrText = o.address ?? (type === 'udp4' ? '0.0.0.0' : '::');
  if (typeof addrText !== 'string') throw invalidArgType('options.address', 'of type string', addrText);
  let address = parseAddress(addrText);
  if (address === null) throw invalidAddress(addrText);
  if (type === 'udp4' && address.family === 6) throw invalidAddress(addrText, 'an IPv6 address on a udp4 socket');
  if (type === 'udp6') address = toV4Mapped(address);
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw badPort(port);
  if (o.rxqOverflowMetric !== undefined && typeof o.rxqOverflowMetric !== 'string') {
    throw invalidArgType('options.rxqOverflowMetric', 'of type string', o.rxqOverflowMetric);
  }
  const batching = useBatchPath(b, boolOpt(o, 'batching', true));
  const options = engineOptions({
    type, address, port,
    batchSize: intOpt(o, 'batchSize', 1, INT32_MAX),
    offload: boolOpt(o, 'offload', true),
    gso: o.gso === undefined ? undefined : boolOpt(o, 'gso', true),
    gro: o.gro === undefined ? undefined : boolOpt(o, 'gro', true),
    neverGsoEqualTail: boolOpt(o, 'neverGsoEqualTail', false),
    rxqOverflowMetric: o.rxqOverflowMetric,
    recvBufferSize: intOpt(o, 'recvBufferSize', 1, INT32_MAX),
    sendBufferSize: intOpt(o, 'sendBufferSize', 1, INT32_MAX),
    reuseAddr: boolOpt(o, 'reuseAddr', false),
    reusePort: boolOpt(o, 'reusePort', false),
    ipv6Only: boolOpt(o, 'ipv6Only', false),
    recvSlotSize: intOpt(o, 'recvSlotSize', 1, GRO_SLOT_SIZE),
    sendQueueLimit: intOpt(o, 'sendQueueLimit', 1, INT32_MAX),
    receiveEcn: boolOpt(o, 'receiveEcn', false),
    receiveLocalAddress: boolOpt(o, 'receiveLocalAddress', false),
    receiveTimestamps: boolOpt(o, 'receiveTimestamps', false),
    mark: intOpt(o, 'mark', 0, 2 ** 32 - 1),
    bindToDevice: deviceOpt(o.bindToDevice),
    ttl: intOpt(o, 'ttl', 1, 255),
    tos: intOpt(o, 'tos', 0, 255),
    dontFragment: boolOpt(o, 'dontFragment', false),
    receiveErrors: boolOpt(o, 'receiveErrors', false),
  }, batching);
  return { batching, options };
}

/** Largest value of an int option (the kernel's int). */
const INT32_MAX = 2 ** 31 - 1;

export class BatchSocket extends EventEmitter<BatchSocketEvents> {
  readonly #engine: Engine;
  readonly #type: 'udp4' | 'udp6';
  readonly #batchSize: number;
  readonly #iterators = new Set<IteratorState>();
  #closed = false;
  #reading = false;
  // A read is being handed out: close() leaves the iterators to #deliver,
  // which ends them once they have this read too.
  #delivering = false;
  /** writePackedTo's plan of the runs that leave as one GSO message, made on its first use. */
  #packPlan: MessagePlan | undefined;
  // Writes mostly go to the address of the write before: parse it once.
  #lastDestination: { text: string; parsed: ParsedAddress } | null = null;

  /** Opens and binds a socket. Rejects with a system error (code, errno, syscall) when the kernel refuses. */
  // (It shadows Function.prototype.bind on the class itself, hence `override`.)
  static override bind(options: BatchSocketOptions = {}): Promise<BatchSocket> {
    return bindWith(options, binding);
  }

  /** @internal use BatchSocket.bind */
  constructor(engine: Engine, host: EngineHost, type: 'udp4' | 'udp6', batchSize: number) {
    super();
    this.#type = type;
    this.#batchSize = batchSize;
    this.#engine = engine;
    host.deliver = (v) => this.#deliver(v);
    host.reportError = (e) => this.#reportError(e);
    host.reportIcmpError = (e) => rethrow(emitEach(this, 'icmpError', e, null));
    host.socket = this;
    publish(channels.open, () => ({ socket: this, address: endpointText(engine.address()) }));
    // Reading follows demand: it starts with the first consumer and stops
    // with the last, so an unread socket leaves datagrams to the kernel.
    // 'newListener' comes before the listener is added, so its update waits
    // a microtask; 'removeListener' comes after, and stops reading at once,
    // before the read loop fetches a batch nobody takes.
    const untyped = this as EventEmitter;
    untyped.on('newListener', () => queueMicrotask(() => this.#updateReading()));
    untyped.on('removeListener', () => this.#updateReading());
  }

  /** What this socket does in the kernel; txOffload turns false if the kernel refuses GSO at run time. */
  get capabilities(): Readonly<SocketCapabilities> {
    return this.#engine.capabilities.snapshot();
  }
  get batchSize(): number { return this.#batchSize; }
  get type(): 'udp4' | 'udp6' { return this.#type; }

  address(): AddressInfo {
    this.#assertOpen();
    return { ...this.#engine.address() };
  }

  /** The connected peer, or null. */
  remoteAddress(): AddressInfo | null {
    this.#assertOpen();
    return this.#engine.remoteAddress();
  }

  /** Restricts the socket to one peer: writeBatch() sends to it, and ICMP errors surface as 'error'. */
  async connect(address: string, port: number): Promise<void> {
    this.#assertOpen();
    await this.#engine.connect(this.#destination(address), this.#port(port));
  }

  disconnect(): void {
    this.#assertOpen();
    this.#engine.disconnect();
  }

  /**
   * Sends every buffer as one datagram to address:port, in order, coalescing
   * runs of datagrams into GSO messages where the socket has TX offload.
   * Resolves once the kernel has accepted all of them; waits for the socket
   * to become writable rather than dropping. Rejects with GSODisabledError if
   * the kernel refused GSO and the socket turned it off (the datagrams were
   * still sent when its `cause` is null). Takes up to sendQueueLimit
   * buffers, sent in calls of batchSize messages.
   */
  writeBatchTo(buffers: readonly Uint8Array[], address: string, port: number, options?: WriteOptions): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      const dest = this.#destination(address);
      return this.#engine.write(this.#job(buffers, dest, this.#port(port), options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** writeBatchTo for the connected peer. */
  writeBatch(buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      const peer = this.#engine.remoteAddress();
      if (peer === null) throw notConnected();
      const dest = this.#destination(peer.address);
      return this.#engine.write(this.#job(buffers, dest, peer.port, options, true));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends messages to any number of destinations, each with its own ECN and
   * source address, in as few sendmmsg calls as the kernel allows (one per
   * batchSize messages). A message with `segmentSize` leaves as one GSO
   * message, whole, where it can; the engine cuts it into datagrams where it
   * cannot (no TX offload, past the kernel's segment or byte limits, a
   * refused segment size, the sentinel workaround), and plans those anew. The
   * datagrams of two messages never share a GSO message. Otherwise as
   * writeBatchTo: the same promise, queueing, fallbacks and errors.
   */
  writeMessages(messages: readonly OutgoingMessage[]): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      if (!Array.isArray(messages)) throw invalidArgType('messages', 'an array of messages', messages);
      // Every caller value is read once, here, into the write's own arrays: a
      // getter that changes its answer (or the array) cannot make what is
      // sent differ from what was checked.
      const n = messages.length;
      if (n < 1) throw outOfRange('messages.length', '>= 1', n);
      const to: Destination[] = new Array(n);
      // One unit per message: a segmentSize message stays whole (WriteJob.segments), so the work here is per message.
      const buffers: Uint8Array[] = new Array(n), offsets: number[] = new Array(n).fill(0), lengths: number[] = new Array(n);
      const segments: number[] = new Array(n), of: number[] = new Array(n);
      let maxPayload = Infinity;
      for (let k = 0; k < n; k++) {
        const m = messages[k];
        if (m === null || typeof m !== 'object') throw invalidArgType(`messages[${k}]`, 'of type object', m);
        const data = m.data;
        if (!isUint8Array(data)) throw invalidArgType(`messages[${k}].data`, 'a Uint8Array', data);
        const size = data.length;
        const dest = this.#destination(m.address);
        const limit = maxPayloadTo(dest);
        maxPayload = Math.min(maxPayload, limit);
        to[k] = { dest, port: this.#port(m.port), header: this.#header(m, dest) };
        const seg = m.segmentSize;
        buffers[k] = data;
        lengths[k] = size;
        of[k] = k;
        segments[k] = 0;
        if (seg === undefined) {
          if (size > limit) throw outOfRange(`messages[${k}].data.length`, `<= ${limit} for this destination`, size);
          continue;
        }
        if (typeof seg !== 'number') throw invalidArgType(`messages[${k}].segmentSize`, 'of type number', seg);
        if (!Number.isInteger(seg) || seg < 1 || seg > limit) {
          throw outOfRange(`messages[${k}].segmentSize`, `an integer >= 1 and <= ${limit} for this destination`, seg);
        }
        if (size < 1) throw outOfRange(`messages[${k}].data.length`, '>= 1 with a segmentSize', size);
        segments[k] = seg;
      }
      return this.#engine.write({
        buffers, start: 0, offsets, lengths, borrowed: false, dest: null, port: 0, maxPayload, groups: { of, to }, segments,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The zero-allocation write: datagram i is the next `lengths[i]` bytes of
   * `packed`, the datagrams back to back from its start. No object per
   * datagram is needed, and runs of equal lengths leave as GSO messages of
   * one iovec each. Otherwise as writeBatchTo: up to sendQueueLimit
   * datagrams, leave `packed` alone until the promise settles.
   */
  writePackedTo(packed: Uint8Array, lengths: ArrayLike<number>, address: string, port: number,
    options?: SendOptions): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      if (!isUint8Array(packed)) throw invalidArgType('packed', 'a Uint8Array', packed);
      if (lengths === null || typeof lengths !== 'object') throw invalidArgType('lengths', 'an array of numbers', lengths);
      const n = lengths.length;
      if (typeof n !== 'number') throw invalidArgType('lengths', 'an array of numbers', lengths);
      if (n < 1) throw outOfRange('lengths.length', '>= 1', n);
      const dest = this.#destination(address);
      const maxPayload = maxPayloadTo(dest);
      // Each length is read once, into the write's own array, which is what is checked and planned over.
      const checked: number[] = new Array(n);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const len = lengths[i];
        if (!Number.isInteger(len) || len < 0 || len > maxPayload) {
          throw outOfRange(`lengths[${i}]`, `an integer >= 0 and <= ${maxPayload} for this destination`, len);
        }
        checked[i] = len;
        at += len;
      }
      if (at > packed.length) throw outOfRange('lengths', `to add up to at most packed.length (${packed.length})`, at);
      const runs = packedRuns(checked, { maxPayload, maxSegments: this.#engine.capabilities.maxGsoSegments },
        (this.#packPlan ??= new MessagePlan(this.#batchSize)));
      return this.#engine.write({
        buffers: new Array<Uint8Array>(runs.lengths.length).fill(packed), start: 0, offsets: runs.offsets, lengths: runs.lengths,
        segments: runs.segments, borrowed: false, dest, port: this.#port(port), maxPayload, header: this.#header(options, dest),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Forwards every datagram of a received view to address:port as it is:
   * runs of equal datagrams (a GRO message) leave as GSO messages whose
   * iovecs point into the receive memory, without splitting them into
   * objects or copying them. Call it inside the 'view' listener, while the
   * view is live; what the kernel cannot take at once is copied before the
   * listener returns, so the next read cannot overwrite it. Resolves like
   * writeBatchTo.
   */
  forwardTo(view: BatchView, address: string, port: number): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      if (!(view instanceof BatchView)) throw invalidArgType('view', 'a BatchView', view);
      if (!view.live) {
        throw viewExpired();
      }
      const dest = this.#destination(address);
      const maxPayload = maxPayloadTo(dest);
      // A datagram is no longer than its segment size, or than its message
      // when that holds one datagram: checking the messages checks them all.
      for (let m = 0; m < view.messageCount; m++) {
        const longest = view.segmentSizes[m] || view.messageLengths[m];
        if (longest > maxPayload) throw outOfRange('datagram length', `<= ${maxPayload} for this destination`, longest);
      }
      // The view lends its own arrays with its memory: the engine copies them too if the write has to wait.
      const whole = forwardsWhole(view.count, view.messageCount);
      const n = whole ? view.messageCount : view.count;
      const job: WriteJob = {
        buffers: new Array<Uint8Array>(n).fill(view.data), start: 0,
        offsets: (whole ? view.messageOffsets : view.offsets).subarray(0, n),
        lengths: (whole ? view.messageLengths : view.lengths).subarray(0, n),
        segments: whole ? view.segmentSizes.subarray(0, n) : undefined, borrowed: true, dest, port: this.#port(port), maxPayload,
      };
      return this.#engine.write(job);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #destination(address: string): ParsedAddress {
    if (this.#lastDestination?.text === address) return this.#lastDestination.parsed;
    if (typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    const a = parseAddress(address);
    if (a === null) throw invalidAddress(address);
    if (this.#type === 'udp4' && a.family === 6) throw invalidAddress(address, 'an IPv6 address on a udp4 socket');
    const parsed = this.#type === 'udp6' ? toV4Mapped(a) : a;
    this.#lastDestination = { text: address, parsed };
    return parsed;
  }

  #port(port: number): number {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw badPort(port);
    return port;
  }

  #job(buffers: readonly Uint8Array[], dest: ParsedAddress, port: number, options: WriteOptions | undefined,
    connected = false): WriteJob {
    if (!Array.isArray(buffers)) throw invalidArgType('buffers', 'an array of Uint8Array', buffers);
    if (buffers.length < 1) throw outOfRange('buffers.length', '>= 1', buffers.length);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const geneve = options?.geneve;
    if (geneve !== undefined && !(geneve instanceof GeneveHeader)) {
      throw invalidArgType('options.geneve', 'a GeneveHeader', geneve);
    }
    const maxPayload = maxPayloadTo(dest);
    const header = this.#header(options, dest);
    const spans = datagramSpans(buffers, options?.offset ?? 0, geneve, maxPayload);
    return {
      buffers: spans.buffers, start: spans.start, offsets: null, lengths: spans.lengths, borrowed: false,
      dest: connected ? null : dest, port, maxPayload, header,
    };
  }

  // The checked ecn and sourceAddress of a write to `dest`, for the engine
  // to write into every message; undefined when the write sets neither.
  #header(options: SendOptions | undefined, dest: ParsedAddress): SendHeader | undefined {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArgType('options', 'of type object', options);
    }
    const ecn = options?.ecn, sourceText = options?.sourceAddress;
    if (ecn === undefined && sourceText === undefined) return undefined;
    if (ecn !== undefined) {
      if (typeof ecn !== 'number') throw invalidArgType('options.ecn', 'of type number', ecn);
      if (!Number.isInteger(ecn) || ecn < 0 || ecn > 3) throw outOfRange('options.ecn', 'an integer >= 0 and <= 3', ecn);
    }
    const ipv4 = dest.family === 4 || dest.v4mapped;
    let source: Uint8Array | undefined;
    if (sourceText !== undefined) {
      if (typeof sourceText !== 'string') throw invalidArgType('options.sourceAddress', 'of type string', sourceText);
      const a = parseAddress(sourceText);
      if (a === null) throw invalidAddress(sourceText);
      if (this.#type === 'udp4' && a.family === 6) throw invalidAddress(sourceText, 'an IPv6 address on a udp4 socket');
      const s = this.#type === 'udp6' ? toV4Mapped(a) : a;
      if ((s.family === 4 || s.v4mapped) !== ipv4) throw invalidAddress(sourceText, 'not of the destination\'s family');
      source = s.bytes;
    }
    // node:dgram has no per-message control data to carry them.
    if (!this.#engine.capabilities.batching) throw unsupported('options.ecn and options.sourceAddress need the batch path');
    return { trafficClass: ecn, source, ipv4 };
  }

  /**
   * Turns GSO (later writes) and GRO (later reads) on or off while the socket
   * is open; `capabilities.txOffload` and `rxOffload` say at once what the
   * kernel gave. Turning GSO back on after the kernel refused it (EIO,
   * GSODisabledError) is the caller's call. BATCHGRAM_DISABLE_GSO / _GRO=1
   * keep a direction off whatever is asked; the portable path has neither.
   */
  setOffload(options: { gso?: boolean; gro?: boolean }): void {
    this.#assertOpen();
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const gso = options.gso === undefined ? undefined : boolOpt(options, 'gso', true);
    const gro = options.gro === undefined ? undefined : boolOpt(options, 'gro', true);
    this.#engine.setOffload({
      gso: gso === undefined ? undefined : gso && offloadAllowed(GSO_DISABLE_ENV),
      gro: gro === undefined ? undefined : gro && offloadAllowed(GRO_DISABLE_ENV),
    });
  }

  /** Counters since the socket opened. */
  stats(): BatchSocketStats {
    return { ...this.#engine.stats, sendQueue: this.#engine.queuedDatagrams };
  }

  /**
   * The escape hatch for socket options batchgram has no word for:
   * setsockopt(level, option) with an int, or with a Uint8Array's bytes
   * (at most 1024). A refused option is a Node-style system error.
   */
  setSocketOption(level: number, option: number, value: number | Uint8Array): void {
    this.#assertOpen();
    const [lvl, opt] = [sockoptName('level', level), sockoptName('option', option)];
    const managed = managedOption(lvl, opt);
    if (managed !== null) {
      throw invalidArgValue('option', option, `is ${managed.option}, which batchgram manages: use ${managed.instead}`);
    }
    // A real Uint8Array (not a Proxy of one, which passes instanceof), its
    // bytes copied once: the kernel gets what was checked.
    if (isUint8Array(value)) {
      const bytes = Uint8Array.prototype.slice.call(value);
      if (bytes.length > 1024) throw outOfRange('value.length', '<= 1024', bytes.length);
      this.#engine.setBytesOption(lvl, opt, bytes, `${lvl}/${opt}`);
      return;
    }
    if (typeof value !== 'number') throw invalidArgType('value', 'of type number or an instance of Uint8Array', value);
    if (!Number.isInteger(value) || value < -(2 ** 31) || value > INT32_MAX) {
      throw outOfRange('value', `an integer >= ${-(2 ** 31)} and <= ${INT32_MAX}`, value);
    }
    this.#engine.setIntOption(lvl, opt, value, `${lvl}/${opt}`);
  }

  /** getsockopt(level, option): an int, or with `byteLength` (1..1024) the option's bytes, as many as the kernel gave. */
  getSocketOption(level: number, option: number): number;
  getSocketOption(level: number, option: number, byteLength: number): Uint8Array;
  getSocketOption(level: number, option: number, byteLength?: number): number | Uint8Array {
    this.#assertOpen();
    const [lvl, opt] = [sockoptName('level', level), sockoptName('option', option)];
    if (byteLength === undefined) return this.#engine.getIntOption(lvl, opt, `${lvl}/${opt}`);
    if (typeof byteLength !== 'number') throw invalidArgType('byteLength', 'of type number', byteLength);
    if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > 1024) {
      throw outOfRange('byteLength', 'an integer >= 1 and <= 1024', byteLength);
    }
    return this.#engine.getBytesOption(lvl, opt, byteLength, `${lvl}/${opt}`);
  }

  getRecvBufferSize(): number { this.#assertOpen(); return this.#engine.getRecvBufferSize(); }
  getSendBufferSize(): number { this.#assertOpen(); return this.#engine.getSendBufferSize(); }

  /** Lets the process exit while this socket is open (like dgram's unref). */
  unref(): this { if (!this.#closed) this.#engine.setRef(false); return this; }
  ref(): this { if (!this.#closed) this.#engine.setRef(true); return this; }

  /**
   * Async iteration over batches; each batch is safe to keep. Several
   * iterators each see every batch. When one falls ITERATOR_HIGH_WATER
   * batches behind, the socket stops reading until it catches up (the kernel
   * queues, then drops and counts in SO_RXQ_OVFL). Ends when the socket closes.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    const state: IteratorState = { queue: [], wake: null, reject: null, error: null };
    if (!this.#closed) this.#iterators.add(state);
    this.#updateReading();
    const finish = (): IteratorResult<Batch> => {
      this.#dropIterator(state);
      const done = { value: undefined, done: true } as const;
      // return() while a next() waits: that next() ends too.
      settle(state, done);
      return done;
    };
    const it: AsyncIterableIterator<Batch> = {
      next: () => {
        const batch = state.queue.shift();
        if (batch !== undefined) {
          if (state.queue.length === ITERATOR_HIGH_WATER - 1) this.#updateReading();
          return Promise.resolve({ value: batch, done: false });
        }
        if (state.error) {
          const err = state.error;
          state.error = null;
          // A rejected next() ends a for-await loop without return().
          this.#dropIterator(state);
          return Promise.reject(err);
        }
        if (!this.#iterators.has(state)) return Promise.resolve(finish());
        return new Promise((resolve, reject) => {
          state.wake = resolve;
          state.reject = reject;
        });
      },
      return: () => Promise.resolve(finish()),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  // Every consumer gets every read, whatever another one does: each listener
  // is called on its own (what they throw is rethrown at the end), the copy
  // is made before any listener can touch the view, and iterators get the
  // batch before the 'batch' listeners, one of which may close the socket.
  // Returns false while an iterator has a batch its loop has not run for
  // yet: the engine then ends the wake-up, so the loop runs before the next read.
  #deliver(view: BatchView): boolean {
    const batch = this.listenerCount('batch') > 0 || this.#iterators.size > 0 ? view.toBatch() : null;
    this.#delivering = true;
    let thrown: unknown[] | null = null;
    try {
      thrown = emitEach(this, 'view', view, thrown);
      if (batch === null) return true;
      let full = false;
      for (const it of this.#iterators) {
        if (!settle(it, { value: batch, done: false })) {
          it.queue.push(batch);
          if (it.queue.length >= ITERATOR_HIGH_WATER) full = true;
        }
      }
      if (full) this.#updateReading();
      thrown = emitEach(this, 'batch', batch, thrown);
      return this.#iterators.size === 0;
    } finally {
      this.#delivering = false;
      if (this.#closed) this.#endIterators();
      rethrow(thrown);
    }
  }

  #reportError(err: Error): void {
    let told = false;
    for (const it of this.#iterators) {
      told = true;
      if (it.reject) {
        const reject = it.reject;
        it.wake = it.reject = null;
        // That ends the loop awaiting it, which will not call return():
        // an iterator nobody reads must not hold the socket's reading back.
        this.#dropIterator(it);
        reject(err);
      } else {
        it.error = err;
      }
    }
    // As with node:dgram, an error nobody handles is thrown.
    if (!told || this.listenerCount('error') > 0) this.emit('error', err);
  }

  #updateReading(): void {
    if (this.#closed) return;
    let demand = this.listenerCount('batch') + this.listenerCount('view') + this.#iterators.size > 0;
    for (const it of this.#iterators) if (it.queue.length >= ITERATOR_HIGH_WATER) demand = false;
    if (demand === this.#reading) return;
    this.#reading = demand;
    this.#engine.setReading(demand);
  }

  #assertOpen(): void {
    if (this.#closed) throw notRunning();
  }

  /**
   * Closes the socket: reading stops, iterators end once they have handed
   * out what they hold, and every pending write is rejected with
   * ERR_SOCKET_DGRAM_NOT_RUNNING. Closing twice is harmless.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#reading = false;
    // Its address is known only while it is open.
    publish(channels.close, () => ({ socket: this, address: endpointText(this.#engine.address()) }));
    this.#engine.close();
    if (!this.#delivering) this.#endIterators();
    // After the results of the writes before it, which may wait for the
    // next turn of the event loop (engine/budget.ts), pending ones included.
    return new Promise((resolve) => settleWithinBudget(() => process.nextTick(() => {
      this.emit('close');
      resolve();
    })));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #dropIterator(it: IteratorState): void {
    this.#iterators.delete(it);
    this.#updateReading();
  }

  // Waiting next() calls end now; the others end once their queue is read.
  #endIterators(): void {
    for (const it of this.#iterators) settle(it, { value: undefined, done: true });
    this.#iterators.clear();
  }
}

/** Resolves the iterator's waiting next() with `r`; false when none waits. */
function settle(it: IteratorState, r: IteratorResult<Batch>): boolean {
  const wake = it.wake;
  if (wake === null) return false;
  it.wake = it.reject = null;
  wake(r);
  return true;
}

/**
 * Opens a socket on the given addon (the real one, or a test's wrapper that
 * injects kernel faults); null, or `batching: false`, selects the portable path.
 */
export async function bindWith(options: BatchSocketOptions, b: NativeBinding | null): Promise<BatchSocket> {
  const { batching, options: o } = resolveOptions(options, b);
  // The engine reports to whatever the socket installs here once it exists;
  // nothing can arrive before that, as reading starts on demand.
  const host: EngineHost = { deliver: () => true, reportError: () => {}, reportIcmpError: () => {} };
  const engine = await openEngine(batching ? b : null, o, host);
  return new BatchSocket(engine, host, o.type, o.batchSize);
}
