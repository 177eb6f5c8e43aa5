// The dgram drop-in's socket: node:dgram's API and behaviour (Node 20:
// argument checks, error codes and messages, event order, implicit bind,
// sends queued until bound) over a batch engine. This file holds the
// socket's bind state and lifecycle, and hands each call's work to the file
// whose job it is: arguments.ts reads the arguments; kernel-socket.ts holds
// the kernel socket, with multicast.ts and buffer-size.ts for its options;
// connection.ts the connect state; lookup.ts resolves addresses;
// send-path.ts takes a send to SendBatcher (send-batcher.ts); inbox.ts
// emits the reads; listening.ts keeps what waits for 'listening'.
// createSocket and Socket (index.ts, socket-class.ts) decide whether a
// socket is this one or node:dgram's.
import { channel } from 'node:diagnostics_channel';
import * as dgram from 'node:dgram';
import { addAbortListener, EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:os';
import type { Engine, SocketStats } from '../engine/contract';
import {
  alreadyBound, closedHandle, dropInUnsupported, errnoOf, errorWithHostPort, invalidArgType, notConnected, notRunning, systemError,
} from '../errors';
import { abi } from '../wire/abi';
import { inFamily } from '../wire/sockaddr';
import {
  bindAddress, bindDescriptor, numericAddress, sendArguments, socketArguments, validateNumber, validatePort, validateString,
} from './arguments';
import { bufferSize } from './buffer-size';
import { sharedByPrimary, sharedFlags, type SharedRequest } from './cluster';
import { Connection } from './connection';
import { Inbox } from './inbox';
import { KernelSocket } from './kernel-socket';
import { callOnListening, ListeningQueue } from './listening';
import { HostLookup } from './lookup';
import { setMembership, setMulticastInterface, setSourceMembership } from './multicast';
import { SendPath } from './send-path';

const { EINVAL } = constants.errno;

/** dgram's options, plus reusePort (Node >= 22.12 has it too) and a way to opt out of batching. */
export interface SocketOptions extends dgram.SocketOptions {
  /** SO_REUSEPORT: sockets of one user may bind the same address and port; the kernel spreads datagrams. */
  reusePort?: boolean | undefined;
  /** false: return a node:dgram socket even where batching is available. */
  batching?: boolean | undefined;
  /** BatchSocket's option of that name: never send a GSO message whose segments are all one length. */
  neverGsoEqualTail?: boolean | undefined;
}

export type MessageListener = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

/** What a batching socket has done; `sendQueue` counts datagrams accepted and not yet sent. */
export interface CompatStats extends SocketStats { sendQueue: number }

const enum Bind { Unbound, Binding, Bound }

const udpSocketChannel = channel('udp.socket');

/**
 * @internal A dgram.Socket over the batch engine. Its state mirrors dgram's: a bind
 * state, a connect state (connection.ts), and a queue of work that waits
 * for 'listening' (listening.ts). The kernel socket exists from bind on (or
 * earlier, as in libuv, when a multicast membership is set on an unbound
 * socket).
 */
export class CompatSocket extends EventEmitter implements dgram.Socket {
  readonly type: dgram.SocketType;
  readonly #family: 4 | 6;
  readonly #options: SocketOptions | undefined;
  readonly #recvBufferSize: number | undefined;
  readonly #sendBufferSize: number | undefined;
  /** The kernel socket, and whether the socket is closed. */
  readonly #kernel: KernelSocket;
  readonly #lookup: HostLookup;
  readonly #connection: Connection;
  readonly #sends: SendPath;
  readonly #inbox: Inbox;
  readonly #queue = new ListeningQueue(this);
  #bindState = Bind.Unbound;

  constructor(type: unknown, listener?: unknown) {
    super();
    const a = socketArguments(type);
    const options = a.options;
    this.type = a.type;
    this.#family = a.type === 'udp4' ? 4 : 6;
    this.#lookup = new HostLookup(this.#family, a.lookup);
    this.#inbox = new Inbox(this, a.receiveBlockList, () => this.#kernel.closed);
    const never: unknown = options?.neverGsoEqualTail;
    if (never !== undefined && typeof never !== 'boolean') throw invalidArgType('options.neverGsoEqualTail', 'of type boolean', never);
    this.#kernel = new KernelSocket(this.#family, { ...options, neverGsoEqualTail: never }, this.#inbox);
    this.#connection = new Connection(this, this.#family, this.#kernel, this.#lookup, a.sendBlockList);
    this.#sends = new SendPath(this, this.#kernel, this.#lookup, this.#connection, a.sendBlockList);
    this.#options = options;
    this.#recvBufferSize = options?.recvBufferSize;
    this.#sendBufferSize = options?.sendBufferSize;
    if (typeof listener === 'function') this.on('message', listener as MessageListener);

    const signal: unknown = options?.signal;
    if (signal !== undefined) {
      if (signal === null || typeof signal !== 'object' || !('aborted' in signal)) {
        throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
      }
      const onAborted = () => { if (!this.#kernel.closed) this.close(); };
      if ((signal as AbortSignal).aborted) onAborted();
      else this.once('close', addAbortListener(signal as AbortSignal, onAborted)[Symbol.dispose]);
    }
    if (udpSocketChannel.hasSubscribers) udpSocketChannel.publish({ socket: this });
  }

  #healthCheck(): void {
    if (this.#kernel.closed) throw notRunning();
  }

  // --- bind -----------------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: dgram.BindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    const port = args[0];
    this.#healthCheck();
    if (this.#bindState !== Bind.Unbound) throw alreadyBound();
    if (port !== null && typeof port === 'object' && typeof (port as { recvStart?: unknown }).recvStart === 'function') {
      throw dropInUnsupported('bind() to an existing UDP handle');
    }
    this.#bindState = Bind.Binding;

    const cb = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof cb === 'function') callOnListening(this, cb as () => void);

    // An inherited descriptor is taken over at once, and 'listening' comes
    // before bind() returns, as in dgram; a refused one leaves the socket
    // binding, so a second bind() is ERR_SOCKET_ALREADY_BOUND there too.
    const fd = bindDescriptor(port);
    const exclusive = port !== null && typeof port === 'object' && !!(port as dgram.BindOptions).exclusive;
    const reusePort = !!this.#options?.reusePort;
    if (fd !== undefined) {
      // In a cluster worker the descriptor is the primary's to open, as with dgram.
      if (sharedByPrimary(exclusive, false)) {
        this.#askPrimary({ address: null, port: null, addressType: this.type, fd, flags: null },
          (errno) => systemError(errno, 'open'));
        return this;
      }
      this.#kernel.adopt(fd);
      this.#startListening();
      return this;
    }

    const { address, port: bindPort } = bindAddress(args, this.#family);
    this.#lookup.resolve(address, (err, ip) => {
      if (this.#kernel.closed) return;
      if (err) {
        this.#bindState = Bind.Unbound;
        this.emit('error', err);
        return;
      }
      try {
        // In a cluster worker the primary binds, unless this socket is its own (cluster.ts).
        if (this.#kernel.engine === null && inFamily(ip, this.#family) !== null && sharedByPrimary(exclusive, reusePort)) {
          const o = this.#options;
          this.#askPrimary({ address: ip, port: bindPort as number, addressType: this.type, fd: -1,
            flags: sharedFlags(!!o?.reuseAddr, !!o?.ipv6Only) }, (errno) => errorWithHostPort(errno, 'bind', ip, bindPort));
          return;
        }
        // Like the kernel (via libuv), a port is read as a 16-bit number.
        this.#kernel.bind(ip, (Number(bindPort || 0) >>> 0) & 0xffff);
      } catch (e) {
        this.#bindState = Bind.Unbound;
        this.emit('error', errorWithHostPort(errnoOf(e), 'bind', ip, bindPort));
        return;
      }
      this.#startListening();
    });
    return this;
  }

  /**
   * The synchronous bind of Node 24.19 and 26.4: a numeric address only, the
   * errors thrown, the address returned, and 'listening' on the next tick.
   */
  bindSync(options: { port?: number | undefined; address?: string | undefined } = {}): AddressInfo {
    this.#healthCheck();
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw invalidArgType('options', 'of type object', options);
    }
    if (this.#bindState !== Bind.Unbound) throw alreadyBound();
    // Arguments are checked before the state changes: a refused one leaves the socket as it was.
    const port = validatePort(options.port ?? 0, 'options.port', true);
    const given = options.address;
    // dgram's bindSync takes any falsy address as none.
    const address = given ? numericAddress(given, 'options.address', 'bindSync') : this.#family === 4 ? '0.0.0.0' : '::';
    this.#bindState = Bind.Binding;
    try {
      this.#kernel.bind(address, port);
    } catch (e) {
      this.#bindState = Bind.Unbound;
      throw errorWithHostPort(errnoOf(e), 'bind', address, port);
    }
    this.#startReceiving();
    process.nextTick(() => { if (!this.#kernel.closed) this.emit('listening'); });
    return this.address();
  }

  // The primary binds (or opens) the socket and hands this worker a
  // descriptor of it; cluster.disconnect() closes the socket.
  #askPrimary(request: SharedRequest, bindError: (errno: number) => Error): void {
    this.#kernel.fromPrimary(this, request, bindError, (err) => {
      if (err === null) this.#startListening();
      else {
        this.#bindState = Bind.Unbound;
        this.emit('error', err);
      }
    }, () => { if (!this.#kernel.closed) this.close(); });
  }

  #startReceiving(): void {
    this.#kernel.startReading();
    this.#bindState = Bind.Bound;
    if (this.#recvBufferSize) bufferSize(this.#kernel, this.#recvBufferSize, true);
    if (this.#sendBufferSize) bufferSize(this.#kernel, this.#sendBufferSize, false);
  }

  #startListening(): void {
    this.#startReceiving();
    this.emit('listening');
  }

  // --- connect --------------------------------------------------------------

  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback: () => void): void;
  connect(portArg: unknown, address?: unknown, callback?: unknown): void {
    const port = validatePort(portArg);
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) {
      address = '';
    }
    validateString(address, 'address');
    this.#connection.begin();
    if (this.#bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, undefined);
    const host = address;
    if (this.#bindState !== Bind.Bound) {
      this.#queue.add(() => this.#connection.connect(port, host, callback));
      return;
    }
    this.#connection.connect(port, host, callback);
  }

  /**
   * The synchronous connect of Node 24.19 and 26.4: a numeric address only
   * (the loopback address by default), binding first with bindSync where
   * unbound, the errors thrown, and 'connect' on the next tick.
   */
  connectSync(port: number, address?: string): void {
    this.#healthCheck();
    const to = validatePort(port);
    this.#connection.checkDisconnected();
    // Arguments are checked before the state changes: a refused one leaves the socket as it was.
    const ip = address == null || address === '' ? this.#family === 4 ? '127.0.0.1' : '::1'
      : numericAddress(address, 'address', 'connectSync');
    if (this.#bindState === Bind.Unbound) this.bindSync();
    else if (this.#bindState !== Bind.Bound) throw alreadyBound();
    this.#connection.connectSync(ip, to);
  }

  disconnect(): void {
    this.#connection.disconnect();
  }

  // --- send -----------------------------------------------------------------

  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], port?: number, address?: string,
    callback?: (error: Error | null, bytes: number) => void): void;
  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], port?: number,
    callback?: (error: Error | null, bytes: number) => void): void;
  send(msg: string | NodeJS.ArrayBufferView | readonly unknown[], callback?: (error: Error | null, bytes: number) => void): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, port?: number, address?: string,
    callback?: (error: Error | null, bytes: number) => void): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number, port?: number,
    callback?: (error: Error | null, bytes: number) => void): void;
  send(msg: string | NodeJS.ArrayBufferView, offset: number, length: number,
    callback?: (error: Error | null, bytes: number) => void): void;
  send(buffer: unknown, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    const connected = this.#connection.connected;
    // Which signature this is follows dgram's reading of the arguments.
    const { list, port: to, address: host, callback: cb } =
      sendArguments(connected, buffer, offset, length, port, address, callback);
    this.#healthCheck();
    if (this.#bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, undefined);
    if (this.#bindState !== Bind.Bound) {
      this.#queue.add(() => this.send(list, to, host, cb));
      return;
    }
    if (connected) this.#sends.sendConnected(list, host, to, cb);
    else this.#sends.sendTo(host, list, to, cb);
  }

  /** dgram's legacy form of send(buffer, offset, length, port, address, callback). */
  sendto(buffer: unknown, offset: unknown, length: unknown, port: unknown, address: unknown, callback?: unknown): void {
    validateNumber(offset, 'offset');
    validateNumber(length, 'length');
    validateNumber(port, 'port');
    validateString(address, 'address');
    (this.send as (...a: unknown[]) => void)(buffer, offset, length, port, address, callback);
  }

  // --- close ----------------------------------------------------------------

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    if (this.#queue.waiting) {
      this.#queue.add(() => this.close());
      return this;
    }
    this.#healthCheck();
    this.#inbox.clear();
    // 'close' follows the results of the sends made before it, as with dgram.
    this.#kernel.close(() => process.nextTick(() => this.emit('close')));
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#kernel.closed) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  // --- addresses ------------------------------------------------------------

  address(): AddressInfo {
    this.#healthCheck();
    return this.#kernel.address();
  }

  remoteAddress(): AddressInfo {
    this.#healthCheck();
    if (!this.#connection.connected) throw notConnected();
    return this.#kernel.remoteAddress();
  }

  // --- socket options -------------------------------------------------------

  setBroadcast(flag: boolean): void {
    this.#kernel.option('setBroadcast', 0, (e) => e.setIntOption(abi.SOL_SOCKET, abi.SO_BROADCAST, flag ? 1 : 0, 'SO_BROADCAST'));
  }

  setTTL(ttl: number): number {
    return this.#hopLimit('setTTL', ttl, 1, (e, v) => e.setFamilyOption(abi.IP_TTL, abi.IPV6_UNICAST_HOPS, v, 'TTL'));
  }

  setMulticastTTL(ttl: number): number {
    return this.#hopLimit('setMulticastTTL', ttl, 0, (e, v) => e.multicast.setTTL(v));
  }

  // The handle reads the value as an int32; libuv refuses it outside
  // [min, 255] with EINVAL before it looks at the socket.
  #hopLimit(method: string, ttl: unknown, min: number, set: (e: Engine, v: number) => void): number {
    validateNumber(ttl, 'ttl');
    const v = ttl | 0;
    this.#kernel.option(method, v < min || v > 255 ? -EINVAL : 0, (e) => set(e, v));
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.#kernel.option('setMulticastLoopback', 0, (e) => e.multicast.setLoopback(!!flag));
    return flag;
  }

  setMulticastInterface(interfaceAddress: string): void {
    this.#healthCheck();
    setMulticastInterface(this.#kernel, interfaceAddress);
  }

  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    setMembership(this.#kernel, 'addMembership', multicastAddress, interfaceAddress);
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    setMembership(this.#kernel, 'dropMembership', multicastAddress, interfaceAddress);
  }

  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    setSourceMembership(this.#kernel, 'addSourceSpecificMembership', sourceAddress, groupAddress, interfaceAddress);
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    setSourceMembership(this.#kernel, 'dropSourceSpecificMembership', sourceAddress, groupAddress, interfaceAddress);
  }

  // --- buffers and queue ----------------------------------------------------

  setRecvBufferSize(size: number): void { bufferSize(this.#kernel, size, true); }
  setSendBufferSize(size: number): void { bufferSize(this.#kernel, size, false); }
  getRecvBufferSize(): number { return bufferSize(this.#kernel, 0, true); }
  getSendBufferSize(): number { return bufferSize(this.#kernel, 0, false); }

  /** Bytes of datagrams accepted by send() and not yet taken by the kernel. */
  getSendQueueSize(): number {
    if (this.#kernel.closed) throw closedHandle('getSendQueueSize');
    return this.#kernel.batcher?.queuedBytes ?? 0;
  }

  /** How many datagrams those are. */
  getSendQueueCount(): number {
    if (this.#kernel.closed) throw closedHandle('getSendQueueCount');
    return this.#kernel.batcher?.queuedDatagrams ?? 0;
  }

  ref(): this {
    this.#kernel.setRef(true);
    return this;
  }

  unref(): this {
    this.#kernel.setRef(false);
    return this;
  }

  /**
   * Whether `value` was made by this constructor, whatever its prototype:
   * `new Socket()` makes these sockets under Socket.prototype or a subclass's
   * (socket-class.ts), where instanceof CompatSocket does not see them.
   */
  static made(value: unknown): value is CompatSocket {
    return typeof value === 'object' && value !== null && #kernel in value;
  }

  /** @internal see compatStats */
  static stats(socket: CompatSocket): CompatStats {
    return { ...socket.#kernel.stats, sendQueue: socket.#kernel.batcher?.queuedDatagrams ?? 0 };
  }
}

// bindSync and connectSync came with Node 24.19 and 26.4. Where the running
// dgram lacks them, so does the drop-in: code that tests for them
// (typeof socket.bindSync) takes the same path with either socket.
for (const name of ['bindSync', 'connectSync'] as const) {
  if (!(name in dgram.Socket.prototype)) Reflect.deleteProperty(CompatSocket.prototype, name);
}
