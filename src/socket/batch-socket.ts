// BatchSocket: the public face. It opens the engine (the batch path on
// Linux, node:dgram elsewhere; options.ts checks the options), hands each
// write method's job (writes.ts) to it, and turns reads into 'view' and
// 'batch' events and async iteration with backpressure (iterators.ts).
import { EventEmitter } from 'node:events';
import { isUint8Array } from 'node:util/types';
import type { BatchView, Batch } from '../batch';
import type { SocketCapabilities } from '../engine/capabilities';
import type {
  BindOptions, Engine, EngineHost, IcmpError, MembershipCall, SocketStats, SourceMembershipCall, WriteJob,
} from '../engine/contract';
import { settleWithinBudget } from '../engine/budget';
import { openEngine } from '../engine/open';
import { invalidAddress, invalidArgType, invalidArgValue, missingArgs, notConnected, notRunning, outOfRange } from '../errors';
import { channels, publish } from '../diagnostics';
import { emitEach, rethrow } from '../listeners';
import { managedOption } from '../kernel/managed';
import { binding, type NativeBinding } from '../kernel/native';
import { INT32_MAX, OPTION_BYTES_MAX } from '../limits';
import { endpointText, ip6, type Family } from '../wire/sockaddr';
import { Iterators } from './iterators';
import {
  resolveAdoptOptions, resolveOffload, resolveOptions, sockoptName, steeringProgram, type AdoptOptions, type BatchSocketOptions, type OffloadOptions,
  type Steering,
} from './options';
import { WriteJobs, type OutgoingMessage, type SendOptions, type WriteOptions } from './writes';

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

/** @internal The engine's host for a socket: its callbacks reach the socket's private handlers (set in the class's static block). */
let hostFor: (socket: () => BatchSocket) => EngineHost;

export class BatchSocket extends EventEmitter<BatchSocketEvents> {
  readonly #engine: Engine;
  readonly #type: 'udp4' | 'udp6';
  readonly #batchSize: number;
  readonly #iterators = new Iterators(() => this.#updateReading());
  readonly #writes: WriteJobs;
  #closed = false;
  #reading = false;
  // A read is being handed out: close() leaves the iterators to #deliver,
  // which ends them once they have this read too.
  #delivering = false;

  /** Opens and binds a socket. Rejects with a system error (code, errno, syscall) when the kernel refuses. */
  // (It shadows Function.prototype.bind on the class itself, hence `override`.)
  static override bind(options: BatchSocketOptions = {}): Promise<BatchSocket> {
    return bindWith(options, binding);
  }

  /**
   * Takes over a UDP socket made elsewhere, as it is: a socket group's
   * member, a supervisor's socket as systemd passes them. Its address, port,
   * reuse flags and IPV6_V6ONLY are its own (those options are refused); the
   * rest apply. It works on a duplicate of `fd`, and closing the BatchSocket
   * closes `fd` too. Rejects with EBADF for a closed descriptor,
   * ERR_INVALID_FD_TYPE for anything but a UDP socket, EEXIST for one this
   * process uses already (another BatchSocket's, node:dgram's).
   */
  static adopt(fd: number, options: AdoptOptions = {}): Promise<BatchSocket> {
    return adoptWith(fd, options, binding);
  }

  static {
    hostFor = (socket) => ({
      deliver: (v) => socket().#deliver(v),
      reportError: (e) => socket().#reportError(e),
      reportIcmpError: (e) => rethrow(emitEach(socket(), 'icmpError', e, null)),
      get socket() { return socket(); },
    });
  }

  // The published declarations keep only the first signature, which no call
  // matches (stripInternal): sockets come from BatchSocket.bind.
  /** Sockets are made by BatchSocket.bind, never by hand. */
  constructor(...bindOnly: never);
  /** @internal by bindWith */
  constructor(engine: Engine, type: 'udp4' | 'udp6', batchSize: number);
  constructor(engine: Engine, type: 'udp4' | 'udp6', batchSize: number) {
    super();
    this.#type = type;
    this.#batchSize = batchSize;
    this.#engine = engine;
    this.#writes = new WriteJobs(type, batchSize, engine.capabilities);
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
    await this.#engine.connect(this.#writes.destination(address), this.#writes.port(port));
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
    return this.#write(() => this.#writes.buffers(buffers, this.#writes.destination(address), this.#writes.port(port), options));
  }


  /** writeBatchTo for the connected peer. */
  writeBatch(buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    return this.#write(() => {
      const peer = this.#engine.remoteAddress();
      if (peer === null) throw notConnected();
      return this.#writes.buffers(buffers, this.#writes.destination(peer.address), peer.port, options, true);
    });
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
    return this.#write(() => this.#writes.messages(messages));
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
    return this.#write(() => this.#writes.packed(packed, lengths, address, port, options));
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
    return this.#write(() => this.#writes.forward(view, address, port));
  }

  // A write method's job made and handed to the engine; what making it
  // throws (a bad argument, a closed socket) is the promise's rejection.
  #write(job: () => WriteJob): Promise<void> {
    try {
      if (this.#closed) throw notRunning();
      return this.#engine.write(job());
    } catch (err) {
      return Promise.reject(err);
    }
  }


  /**
   * Turns GSO (later writes) and GRO (later reads) on or off while the socket
   * is open; `capabilities.txOffload` and `rxOffload` say at once what the
   * kernel gave. Turning GSO back on after the kernel refused it (EIO,
   * GSODisabledError) is the caller's call. `neverGsoEqualTail` and
   * `gsoSentinel` change the equal-tail workaround for the messages planned
   * from now on. BATCHGRAM_DISABLE_GSO / _GRO=1 keep
   * a direction off, BATCHGRAM_NEVER_GSO_EQUAL_TAIL=1 the workaround on,
   * whatever is asked; the portable path has no offload.
   */
  setOffload(options: OffloadOptions): void {
    this.#assertOpen();
    this.#engine.setOffload(resolveOffload(options));
  }

  /**
   * Sets how the kernel picks the member of this socket's SO_REUSEPORT group
   * (sockets bound with `reusePort: true` to one address and port) for each
   * datagram: a classic BPF program for the whole group, attached through
   * this member. `members` is the group's size; set it again when the group
   * changes (an index past its end falls back to the kernel's 4-tuple hash).
   * Members are numbered in the order they joined. 'flow' takes the program
   * away. A datagram too short for the payload bytes goes to the first member.
   */
  steer(steering: Steering, members?: number): void {
    this.#assertOpen();
    this.#engine.setSteering(steeringProgram(steering, members));
  }

  /**
   * Joins a multicast group, node:dgram's call: on the interface whose
   * address `multicastInterface` is (IPv6: `::%eth0`, the interface its zone
   * names), or on the kernel's pick. Errors as dgram's: no group is
   * ERR_MISSING_ARGS, text that is no address (for the interface, none of the
   * group's family) an EINVAL system error whose syscall is the method's
   * name, a refusal the kernel's errno (EADDRINUSE: joined already); and a
   * non-string ERR_INVALID_ARG_TYPE, an IPv6 address on a udp4 socket
   * ERR_INVALID_IP_ADDRESS. A udp6 socket joins IPv4 groups too, unless it is
   * ipv6Only: the kernel takes that join but never delivers the group's datagrams.
   */
  addMembership(multicastAddress: string, multicastInterface?: string): void {
    this.#membership('addMembership', multicastAddress, multicastInterface);
  }

  /** Leaves a group that addMembership joined, on the same interface (EADDRNOTAVAIL: not joined). */
  dropMembership(multicastAddress: string, multicastInterface?: string): void {
    this.#membership('dropMembership', multicastAddress, multicastInterface);
  }

  /**
   * Joins a group for the datagrams `sourceAddress` sends it and no other's;
   * otherwise as addMembership. Source and group are of one family (EINVAL).
   */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, multicastInterface?: string): void {
    this.#sourceMembership('addSourceSpecificMembership', sourceAddress, groupAddress, multicastInterface);
  }

  /** Leaves what addSourceSpecificMembership joined (EINVAL: not joined). */
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, multicastInterface?: string): void {
    this.#sourceMembership('dropSourceSpecificMembership', sourceAddress, groupAddress, multicastInterface);
  }

  /**
   * The interface multicast datagrams leave through: an IPv4 address (on a
   * udp6 socket, for its datagrams to IPv4 groups), `::%eth0` for IPv6, or
   * the any-address for the kernel's pick again. EINVAL for text that is no address.
   */
  setMulticastInterface(interfaceAddress: string): void {
    this.#assertOpen();
    this.#engine.multicast.setInterface(this.#multicastText('interfaceAddress', interfaceAddress));
  }

  /** Whether this host's own members of a group get the datagrams this socket sends it (the kernel's default: true). */
  setMulticastLoopback(flag: boolean): boolean {
    this.#assertOpen();
    if (typeof flag !== 'boolean') throw invalidArgType('flag', 'of type boolean', flag);
    this.#engine.multicast.setLoopback(flag);
    return flag;
  }

  /**
   * The TTL / hop limit of multicast datagrams, 0..255 (the kernel's
   * default: 1, this link only). On a udp6 socket the IPv6 hop limit, as
   * node:dgram sets it: datagrams to IPv4 groups keep the IPv4 one.
   */
  setMulticastTTL(ttl: number): number {
    this.#assertOpen();
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw outOfRange('ttl', 'an integer >= 0 and <= 255', ttl);
    this.#engine.multicast.setTTL(ttl);
    return ttl;
  }

  #membership(method: MembershipCall, group: unknown, iface: unknown): void {
    this.#assertOpen();
    // As node:dgram: no group at all is a missing argument, not a wrong one.
    if (!group) throw missingArgs('multicastAddress');
    this.#engine.multicast.membership(method, this.#multicastText('multicastAddress', group), this.#membershipInterface(iface));
  }

  #sourceMembership(method: SourceMembershipCall, source: unknown, group: unknown, iface: unknown): void {
    this.#assertOpen();
    const sourceText = this.#multicastText('sourceAddress', source);
    const groupText = this.#multicastText('groupAddress', group);
    this.#engine.multicast.sourceMembership(method, sourceText, groupText, this.#membershipInterface(iface));
  }

  /** A membership's interface argument; null for none, the kernel's pick. */
  #membershipInterface(iface: unknown): string | null {
    return iface === undefined ? null : this.#multicastText('multicastInterface', iface);
  }

  // A multicast call's address, which the engine reads as node:dgram does.
  // An IPv6 one on a udp4 socket is refused here: the kernel would answer
  // its IPv6 option with a bare ENOPROTOOPT.
  #multicastText(name: string, value: unknown): string {
    if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
    if (this.#type === 'udp4' && ip6(value) !== null) throw invalidAddress(value, 'an IPv6 address on a udp4 socket');
    return value;
  }

  /** Counters since the socket opened. */
  stats(): BatchSocketStats {
    return { ...this.#engine.stats, sendQueue: this.#engine.queuedDatagrams };
  }

  /**
   * The escape hatch for socket options batchgram has no word for:
   * setsockopt(level, option) with an int, or with a Uint8Array's bytes
   * (at most OPTION_BYTES_MAX, 1024). A refused option is a Node-style system error.
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
      if (bytes.length > OPTION_BYTES_MAX) throw outOfRange('value.length', `<= ${OPTION_BYTES_MAX}`, bytes.length);
      this.#engine.setBytesOption(lvl, opt, bytes, `${lvl}/${opt}`);
      return;
    }
    if (typeof value !== 'number') throw invalidArgType('value', 'of type number or an instance of Uint8Array', value);
    if (!Number.isInteger(value) || value < -(2 ** 31) || value > INT32_MAX) {
      throw outOfRange('value', `an integer >= ${-(2 ** 31)} and <= ${INT32_MAX}`, value);
    }
    this.#engine.setIntOption(lvl, opt, value, `${lvl}/${opt}`);
  }

  /** getsockopt(level, option): an int, or with `byteLength` (1..OPTION_BYTES_MAX, 1024) the option's bytes, as many as the kernel gave. */
  getSocketOption(level: number, option: number): number;
  getSocketOption(level: number, option: number, byteLength: number): Uint8Array;
  getSocketOption(level: number, option: number, byteLength?: number): number | Uint8Array {
    this.#assertOpen();
    const [lvl, opt] = [sockoptName('level', level), sockoptName('option', option)];
    if (byteLength === undefined) return this.#engine.getIntOption(lvl, opt, `${lvl}/${opt}`);
    if (typeof byteLength !== 'number') throw invalidArgType('byteLength', 'of type number', byteLength);
    if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > OPTION_BYTES_MAX) {
      throw outOfRange('byteLength', `an integer >= 1 and <= ${OPTION_BYTES_MAX}`, byteLength);
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
    return this.#iterators.create(this.#closed);
  }


  // Every consumer gets every read, whatever another one does: each listener
  // is called on its own (what they throw is rethrown at the end), the copy
  // is made before any listener can touch the view, and iterators get the
  // batch before the 'batch' listeners, one of which may close the socket.
  // Returns false while an iterator has a batch its loop has not run for
  // yet: the engine then ends the wake-up, so the loop runs before the next read.
  #deliver(view: BatchView): boolean {
    const batches = this.listenerCount('batch') > 0 || this.#iterators.size > 0 ? view.toBatches() : null;
    this.#delivering = true;
    let thrown: unknown[] | null = null;
    try {
      thrown = emitEach(this, 'view', view, thrown);
      if (batches === null) return true;
      for (const batch of batches) {
        this.#iterators.push(batch);
        thrown = emitEach(this, 'batch', batch, thrown);
      }
      return this.#iterators.size === 0;
    } finally {
      this.#delivering = false;
      if (this.#closed) this.#iterators.end();
      rethrow(thrown);
    }
  }

  #reportError(err: Error): void {
    const told = this.#iterators.reject(err);
    // As with node:dgram, an error nobody handles is thrown.
    if (!told || this.listenerCount('error') > 0) this.emit('error', err);
  }


  #updateReading(): void {
    if (this.#closed) return;
    const demand = this.listenerCount('batch') + this.listenerCount('view') + this.#iterators.size > 0 && this.#iterators.keepUp;
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
    if (!this.#delivering) this.#iterators.end();
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
}

/**
 * @internal Opens a socket on the given addon (the real one, or a test's wrapper that
 * injects kernel faults); null, or `batching: false`, selects the portable path.
 */
export async function bindWith(options: BatchSocketOptions, b: NativeBinding | null): Promise<BatchSocket> {
  return openWith(resolveOptions(options, b), b);
}

/** @internal BatchSocket.adopt on the given addon (null: the portable path). */
export async function adoptWith(fd: number, options: AdoptOptions, b: NativeBinding | null): Promise<BatchSocket> {
  return openWith(resolveAdoptOptions(fd, options, b), b);
}

async function openWith({ batching, options: o }: { batching: boolean; options: BindOptions }, b: NativeBinding | null): Promise<BatchSocket> {
  // The engine reports to the socket made for it: nothing can arrive
  // before it exists, as reading starts on demand. A holder object, not a
  // `let` of this async function captured by the host: the poll handle keeps
  // the host until its close callback runs, and on Node 24 a captured binding
  // kept more of each closed socket alive with it (the lifecycle test's
  // 10 000 cycles: 68 MiB outside V8's heap against 44 MiB with the holder).
  const holder: { socket?: BatchSocket } = {};
  const engine = await openEngine(batching ? b : null, o, hostFor(() => holder.socket!));
  return (holder.socket = new BatchSocket(engine, o.type, o.batchSize));
}
