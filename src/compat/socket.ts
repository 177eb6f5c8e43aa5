// The dgram drop-in's socket: node:dgram's API and behaviour (Node 20:
// argument checks, error codes and messages, event order, implicit bind,
// sends queued until bound) over a batch engine. Reads arrive by recvmmsg
// (and GRO) and are emitted one 'message' per datagram; sends of one tick are
// batched per destination by SendBatcher (send-batcher.ts). createSocket
// and Socket (index.ts, socket-class.ts) decide whether a socket is this one
// or node:dgram's.
import { channel } from 'node:diagnostics_channel';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { addAbortListener, EventEmitter } from 'node:events';
import { isIP, type AddressInfo, type BlockList } from 'node:net';
import { constants } from 'node:os';
import type { BatchView } from '../batch';
import { Destinations, type Destination } from './destinations';
import { dgramSendError, SendBatcher, type SendCallback } from './send-batcher';
import { emptyStats, type BindOptions, type Engine, type EngineHost, type SocketStats } from '../engine/contract';
import { adoptBatchEngine, openBatchEngine } from '../engine/open';
import { engineOptions, UNLIMITED_SEND_QUEUE } from '../engine/options';
import {
  alreadyBound, alreadyConnected, badBufferSize, badSocketType, bufferSizeError, closedHandle,
  dropInUnsupported, errorWithHostPort, invalidArgType, invalidArgValue, invalidFdType, ipBlocked, missingArgs, notConnected,
  notRunning, systemError, type SystemError,
} from '../errors';
import { MAX_IPV4_PAYLOAD } from '../limits';
import { binding } from '../kernel/native';
import { abi } from '../wire/abi';
import { encodeSockaddr, maxPayloadTo, type ParsedAddress } from '../wire/sockaddr';
import { HOST_LITTLE_ENDIAN } from '../wire/byteorder';
import { ANY4, ANY6, DEFAULT_LOOKUP_SKIPS_IP, inFamily, ip4, ip6, nodeAddress } from './address';
import { askPrimary, sharedByPrimary, sharedFlags, type SharedHandle, type SharedRequest } from './cluster';
import { handleType } from './descriptor';
import {
  asBytes, blockListOption, BUFFER_TYPES, bufferList, sliceBuffer, validateNumber, validatePort, validateString, validateUint32,
} from './arguments';

const { EBADF, EINVAL, EISCONN, ENOTCONN } = constants.errno;

/** dgram's options, plus reusePort (Node >= 22.12 has it too) and a way to opt out of batching. */
export interface SocketOptions extends dgram.SocketOptions {
  /** SO_REUSEPORT: sockets of one user may bind the same address and port; the kernel spreads datagrams. */
  reusePort?: boolean | undefined;
  /** false: return a node:dgram socket even where batching is available. */
  batching?: boolean | undefined;
}

export type MessageListener = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

/** What a batching socket has done; `sendQueue` counts datagrams accepted and not yet sent. */
export interface CompatStats extends SocketStats { sendQueue: number }

type Lookup = (hostname: string, family: number,
  callback: (err: Error | null, address: string, family?: number) => void) => void;

const enum Bind { Unbound, Binding, Bound }
const enum Connect { Disconnected, Connecting, Connected }

const udpSocketChannel = channel('udp.socket');

const errnoOf = (err: unknown): number => (err as SystemError).errno;

/** Entries of the sends waiting for their tick (CompatSocket's #lookedUp) kept once it is empty: 1024 sends. */
const MAX_KEPT_LOOKED_UP = 4096;

/** The address argument of bindSync and connectSync (`method`), given: a string holding an IP literal, as they check it. */
function numericAddress(value: unknown, name: string, method: string): string {
  validateString(value, name);
  if (isIP(value) === 0) throw invalidArgValue(name, value, `must be a numeric IP address; ${method} does not perform DNS resolution`);
  return value;
}

/** Whether `list` names `ip`, asked as dgram asks it: the family as 'ipv4' or 'ipv6'. */
const blocks = (list: BlockList | undefined, ip: string, family: string): boolean =>
  list !== undefined && list.check(ip, family as 'ipv4' | 'ipv6');

/**
 * dns.lookup as this module found it, which answers an IP address with itself
 * on the next tick. A socket without a lookup option uses dns.lookup as it is
 * when the socket is made, as dgram does: an application may have replaced it.
 */
const dnsLookup = dns.lookup as Lookup;


/** The engine's options for a drop-in socket: the defaults, but a send queue without limit, as dgram's. */
function dropInEngineOptions(family: 4 | 6, address: ParsedAddress, port: number, reuseAddr: boolean, reusePort: boolean,
  ipv6Only: boolean): BindOptions {
  return engineOptions({
    type: family === 4 ? 'udp4' : 'udp6', address, port,
    // Buffer sizes are set after bind, without SO_*BUFFORCE, as dgram does.
    reuseAddr, reusePort, ipv6Only,
    sendQueueLimit: UNLIMITED_SEND_QUEUE, // dgram queues without limit
  }, true);
}

/**
 * A dgram.Socket over the batch engine. Its state mirrors dgram's: a bind
 * state, a connect state, and a queue of work that waits for 'listening'.
 * The engine exists from bind on (or earlier, as in libuv, when a multicast
 * membership is set on an unbound socket).
 */
export class CompatSocket extends EventEmitter implements dgram.Socket {
  readonly type: dgram.SocketType;
  readonly #family: 4 | 6;
  readonly #lookup: Lookup;
  /** #lookup is dns.lookup, which answers an IP address with itself on the next tick. */
  readonly #lookupIsDns: boolean;
  /** This dgram answers an IP address of the socket's family without a lookup (DEFAULT_LOOKUP_SKIPS_IP). */
  readonly #skipsIpLookup: boolean;
  readonly #options: SocketOptions | undefined;
  readonly #recvBufferSize: number | undefined;
  readonly #sendBufferSize: number | undefined;
  readonly #receiveBlockList: BlockList | undefined;
  readonly #sendBlockList: BlockList | undefined;
  #engine: Engine | null = null;
  /** The family of the kernel socket, which a deferred bind may have chosen. */
  #engineFamily: 4 | 6 = 4;
  #batcher: SendBatcher | null = null;
  readonly #destinations: Destinations;
  #bindState = Bind.Unbound;
  #connectState = Connect.Disconnected;
  #connectedPayload = MAX_IPV4_PAYLOAD;
  #queue: Array<() => void> | undefined;
  #closed = false;
  /** In a cluster worker, the primary's socket that this one reads and writes through a duplicate of. */
  #shared: SharedHandle | null = null;
  /** The datagrams of a read waiting to be emitted, each followed by its rinfo (see #deliver). */
  readonly #inbox: Array<Buffer | dgram.RemoteInfo | null> = [];
  #inboxAt = 0;
  #ref = true;

  constructor(type: unknown, listener?: unknown) {
    super();
    let lookup: unknown;
    let options: SocketOptions | undefined;
    if (type !== null && typeof type === 'object') {
      options = type as SocketOptions;
      type = options.type;
      lookup = options.lookup;
      if (options.recvBufferSize) validateUint32(options.recvBufferSize, 'options.recvBufferSize');
      if (options.sendBufferSize) validateUint32(options.sendBufferSize, 'options.sendBufferSize');
      this.#receiveBlockList = blockListOption(options, 'receiveBlockList');
      this.#sendBlockList = blockListOption(options, 'sendBlockList');
    }
    if (lookup !== undefined && typeof lookup !== 'function') throw invalidArgType('lookup', 'of type function', lookup);
    if (type !== 'udp4' && type !== 'udp6') throw badSocketType();
    this.type = type;
    this.#family = type === 'udp4' ? 4 : 6;
    this.#destinations = new Destinations(this.#family);
    this.#lookup = (lookup ?? dns.lookup) as Lookup;
    this.#lookupIsDns = this.#lookup === dnsLookup;
    this.#skipsIpLookup = DEFAULT_LOOKUP_SKIPS_IP && lookup === undefined;
    this.#options = options;
    this.#recvBufferSize = options?.recvBufferSize;
    this.#sendBufferSize = options?.sendBufferSize;
    if (typeof listener === 'function') this.on('message', listener as MessageListener);

    const signal: unknown = options?.signal;
    if (signal !== undefined) {
      if (signal === null || typeof signal !== 'object' || !('aborted' in signal)) {
        throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
      }
      const onAborted = () => { if (!this.#closed) this.close(); };
      if ((signal as AbortSignal).aborted) onAborted();
      else this.once('close', addAbortListener(signal as AbortSignal, onAborted)[Symbol.dispose]);
    }
    if (udpSocketChannel.hasSubscribers) udpSocketChannel.publish({ socket: this });
  }

  #lookupHost(address: string | undefined, cb: (err: Error | null, ip: string) => void): void {
    const host = address || (this.#family === 4 ? '127.0.0.1' : '::1');
    if (this.#skipsIpLookup && isIP(host) === this.#family) process.nextTick(cb, null, host);
    else this.#lookup(host, this.#family, cb);
  }

  // Whether a lookup of `host` would answer it with itself on the next tick
  // without calling anything a user could see: the running dgram's rule
  // (DEFAULT_LOOKUP_SKIPS_IP), or before it an address the original
  // dns.lookup answered with itself before.
  #answersItself(host: string): boolean {
    return this.#skipsIpLookup ? isIP(host) === this.#family : this.#lookupIsDns && this.#destinations.known(host);
  }

  #healthCheck(): void {
    if (this.#closed) throw notRunning();
  }

  // --- bind -----------------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: dgram.BindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    let port = args[0];
    this.#healthCheck();
    if (this.#bindState !== Bind.Unbound) throw alreadyBound();
    if (port !== null && typeof port === 'object' && typeof (port as { recvStart?: unknown }).recvStart === 'function') {
      throw dropInUnsupported('bind() to an existing UDP handle');
    }
    this.#bindState = Bind.Binding;

    const cb = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof cb === 'function') {
      // The callback is a 'listening' listener that a bind error removes.
      const removeListeners = () => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      const onListening = () => {
        removeListeners();
        cb.call(this);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }

    // An inherited descriptor is taken over at once, and 'listening' comes
    // before bind() returns, as in dgram; a refused one leaves the socket
    // binding, so a second bind() is ERR_SOCKET_ALREADY_BOUND there too.
    const fd = port !== null && typeof port === 'object' ? (port as { fd?: unknown }).fd : undefined;
    const exclusive = port !== null && typeof port === 'object' && !!(port as dgram.BindOptions).exclusive;
    const reusePort = !!this.#options?.reusePort;
    if (typeof fd === 'number' && (fd | 0) === fd && fd > 0) {
      // In a cluster worker the descriptor is the primary's to open, as with dgram.
      if (sharedByPrimary(exclusive, false)) {
        this.#askPrimary({ address: null, port: null, addressType: this.type, fd, flags: null },
          (errno) => systemError(errno, 'open'));
        return this;
      }
      this.#adopt(fd);
      this.#startListening();
      return this;
    }

    let address: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as dgram.BindOptions;
      address = o.address || '';
      port = o.port;
    } else {
      address = typeof args[1] === 'function' ? '' : args[1];
    }
    if (!address) address = this.#family === 4 ? '0.0.0.0' : '::';

    this.#lookupHost(address as string, (err, ip) => {
      if (this.#closed) return;
      if (err) {
        this.#bindState = Bind.Unbound;
        this.emit('error', err);
        return;
      }
      try {
        // In a cluster worker the primary binds, unless this socket is its own (cluster.ts).
        if (this.#engine === null && inFamily(ip, this.#family) !== null && sharedByPrimary(exclusive, reusePort)) {
          const o = this.#options;
          this.#askPrimary({ address: ip, port: port as number, addressType: this.type, fd: -1,
            flags: sharedFlags(!!o?.reuseAddr, !!o?.ipv6Only) }, (errno) => errorWithHostPort(errno, 'bind', ip, port));
          return;
        }
        // Like the kernel (via libuv), a port is read as a 16-bit number.
        this.#bindTo(ip, (Number(port || 0) >>> 0) & 0xffff);
      } catch (e) {
        this.#bindState = Bind.Unbound;
        this.emit('error', errorWithHostPort(errnoOf(e), 'bind', ip, port));
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
      this.#bindTo(address, port);
    } catch (e) {
      this.#bindState = Bind.Unbound;
      throw errorWithHostPort(errnoOf(e), 'bind', address, port);
    }
    this.#startReceiving();
    process.nextTick(() => { if (!this.#closed) this.emit('listening'); });
    return this.address();
  }

  /** Opens the kernel socket bound to `ip`:`port` with the socket's options; throws the errno's error. */
  #bindTo(ip: unknown, port: number): void {
    // A socket libuv already made for a membership is bound: bind again is EINVAL.
    if (this.#engine !== null) throw systemError(-EINVAL, 'bind');
    const local = inFamily(ip, this.#family);
    if (local === null) throw systemError(-EINVAL, 'bind');
    const o = this.#options;
    this.#open(this.#family, local, port, !!o?.reuseAddr, !!o?.reusePort, !!o?.ipv6Only);
  }

  #open(family: 4 | 6, address: ParsedAddress, port: number, reuseAddr: boolean, reusePort: boolean, ipv6Only: boolean): void {
    const o = dropInEngineOptions(family, address, port, reuseAddr, reusePort, ipv6Only);
    this.#install(openBatchEngine(binding!, o, this.#host()), family);
  }

  // bind({ fd }), as libuv's uv_udp_open takes a descriptor: it must be a
  // UDP socket that nothing else in this process uses (the addon says EEXIST
  // otherwise), and it gets SO_REUSEADDR, as libuv sets it.
  #adopt(fd: number): void {
    const type = handleType(fd);
    if (type !== 'UDP') throw invalidFdType(type);
    let engine: Engine | undefined;
    try {
      engine = this.#adoptEngine(fd);
      engine.setIntOption(abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, 'SO_REUSEADDR');
    } catch (e) {
      engine?.close();
      throw systemError(errnoOf(e), 'open');
    }
    // The descriptor's own family decides its options, whatever the socket's type.
    this.#install(engine, engine.address().family === 'IPv4' ? 4 : 6);
  }

  /** An engine over a duplicate of `fd`, used as it is. */
  #adoptEngine(fd: number): Engine {
    const o = dropInEngineOptions(this.#family, this.#family === 4 ? ANY4 : ANY6, 0, false, false, false);
    return adoptBatchEngine(binding!, fd, o, this.#host());
  }

  // The primary binds (or opens) the socket and hands this worker a
  // descriptor of it, kept until close() so that the primary knows the socket
  // is in use; the engine works on a duplicate, as for bind({ fd }), without
  // changing the socket's options.
  #askPrimary(request: SharedRequest, bindError: (errno: number) => Error): void {
    askPrimary(this, request, (errno, handle) => {
      if (errno) {
        this.#bindState = Bind.Unbound;
        this.emit('error', bindError(errno));
        return;
      }
      if (this.#closed) {
        handle.close();
        return;
      }
      let engine: Engine;
      try {
        engine = this.#adoptEngine(handle.fd);
      } catch (e) {
        handle.close();
        this.#bindState = Bind.Unbound;
        this.emit('error', systemError(errnoOf(e), 'open'));
        return;
      }
      // cluster.disconnect() closes the handles the primary handed out
      // (cluster's child.js, _disconnect): dgram's socket closes with its
      // handle, and so does this one, or the worker would never exit.
      const close = handle.close.bind(handle);
      handle.close = (callback) => {
        this.#shared = null;
        close(callback);
        if (!this.#closed) this.close();
      };
      this.#shared = handle;
      this.#install(engine, engine.address().family === 'IPv4' ? 4 : 6);
      this.#startListening();
    });
  }

  #host(): EngineHost {
    // The drop-in never asks for the error queue: dgram reports ICMP errors on connected sockets only.
    return {
      deliver: (v) => this.#deliver(v), deliverNext: () => this.#deliverNext(),
      waiting: () => this.#waiting(),
      reportError: (e) => this.#reportError(e), reportIcmpError: () => {},
    };
  }

  #install(engine: Engine, family: 4 | 6): void {
    if (!this.#ref) engine.setRef(false);
    this.#engine = engine;
    this.#engineFamily = family;
    this.#batcher = new SendBatcher(engine, dgramSendError);
  }

  #startReceiving(): void {
    this.#engine!.setReading(true);
    this.#bindState = Bind.Bound;
    if (this.#recvBufferSize) this.#bufferSize(this.#recvBufferSize, true);
    if (this.#sendBufferSize) this.#bufferSize(this.#sendBufferSize, false);
  }

  #startListening(): void {
    this.#startReceiving();
    this.emit('listening');
  }

  // Work issued before 'listening' waits for it; a bind error discards it.
  #enqueue(work: () => void): void {
    if (this.#queue === undefined) {
      this.#queue = [];
      const onError = () => {
        this.removeListener('listening', onListening);
        this.#queue = undefined;
      };
      const onListening = () => {
        this.removeListener(EventEmitter.errorMonitor, onError);
        const queue = this.#queue!;
        this.#queue = undefined;
        for (const w of queue) w();
      };
      this.once(EventEmitter.errorMonitor, onError);
      this.once('listening', onListening);
    }
    this.#queue.push(work);
  }

  // --- receive --------------------------------------------------------------

  // dgram hands out each datagram in a callback of the event loop of its
  // own (UDPWrap::OnRecv, one MakeCallback each), in memory of its own: its
  // listeners' nextTicks and promise jobs run before the next datagram, and
  // a message's buffer holds that datagram alone, at offset 0 (libraries
  // read msg.buffer, as osc does for blobs). So a read is copied out here,
  // one ArrayBuffer per datagram, while the view is live, and the datagrams
  // wait in #inbox; the engine ends the wake-up and hands them out one per
  // callback scope (deliverNext), before it reads again.
  #deliver(view: BatchView): boolean {
    if (this.#closed || this.listenerCount('message') === 0) return true;
    const { data, offsets, lengths, message, peers } = view; // getters: read once, not per datagram
    for (let i = 0; i < view.count; i++) {
      const at = offsets[i], len = lengths[i];
      const msg = Buffer.allocUnsafeSlow(len);
      msg.set(data.subarray(at, at + len));
      const peer = peers[message[i]];
      this.#inbox.push(msg, { address: nodeAddress(peer.address), family: peer.family, port: peer.port, size: len });
    }
    return this.#inbox.length === 0;
  }

  /**
   * Emits the next datagram #deliver kept; returns how many still wait. What
   * a listener throws goes to the engine's caller, and on to the process.
   */
  #deliverNext(): number {
    const inbox = this.#inbox, at = this.#inboxAt;
    if (this.#closed || at >= inbox.length) {
      inbox.length = 0;
      this.#inboxAt = 0;
      return 0;
    }
    const msg = inbox[at] as Buffer, rinfo = inbox[at + 1] as dgram.RemoteInfo;
    inbox[at] = inbox[at + 1] = null; // nothing is kept once handed out
    this.#inboxAt = at + 2;
    // Asked per datagram as it is handed out, as dgram asks it: the list may change meanwhile.
    if (!blocks(this.#receiveBlockList, rinfo.address, rinfo.family.toLowerCase())) this.emit('message', msg, rinfo);
    return this.#waiting();
  }

  /** Datagrams #deliver kept and #deliverNext has not handed out (after a close inside a listener, none or fewer). */
  #waiting(): number {
    return (this.#inbox.length - this.#inboxAt) / 2;
  }

  #reportError(err: Error): void {
    const e = err as SystemError;
    // dgram reads with recvmsg; an ICMP error on a connected socket carries that name there.
    this.emit('error', e.syscall === 'recvmmsg' ? systemError(e.errno, 'recvmsg') : err);
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
    if (this.#connectState !== Connect.Disconnected) throw alreadyConnected();
    this.#connectState = Connect.Connecting;
    if (this.#bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, undefined);
    const host = address;
    if (this.#bindState !== Bind.Bound) {
      this.#enqueue(() => this.#connect(port, host, callback));
      return;
    }
    this.#connect(port, host, callback);
  }

  #connect(port: number, address: string, callback: unknown): void {
    if (callback) this.once('connect', callback as () => void);
    if (this.#closed) throw closedHandle('lookup'); // dgram has no handle to look up with
    this.#lookupHost(address, (ex, ip) => {
      if (this.#closed) return;
      let err: Error | null = ex;
      if (!err && this.#sendBlocked(ip)) err = ipBlocked(ip);
      if (!err) {
        try {
          this.#connectTo(ip, port);
        } catch (e) {
          err = errorWithHostPort(errnoOf(e), 'connect', address, port);
        }
      }
      if (err) {
        const failure = err;
        this.#connectState = Connect.Disconnected;
        process.nextTick(() => {
          if (callback) {
            this.removeListener('connect', callback as () => void);
            (callback as (e: Error) => void)(failure);
          } else {
            this.emit('error', failure);
          }
        });
        return;
      }
      this.#connectState = Connect.Connected;
      process.nextTick(() => this.emit('connect'));
    });
  }

  /** Whether the sendBlockList names `ip` (an IP literal), asked as dgram asks it. */
  #sendBlocked(ip: string): boolean {
    return blocks(this.#sendBlockList, ip, `ipv${isIP(ip)}`);
  }

  /** Connects the kernel socket to `ip`:`port`; throws the errno's error. */
  #connectTo(ip: string, port: number): void {
    const peer = inFamily(ip, this.#family);
    if (peer === null) throw systemError(-EINVAL, 'connect');
    this.#batcher!.flush(); // sends made before go to their own destinations
    this.#engine!.connect(peer, port);
    this.#connectedPayload = maxPayloadTo(peer);
  }

  /**
   * The synchronous connect of Node 24.19 and 26.4: a numeric address only
   * (the loopback address by default), binding first with bindSync where
   * unbound, the errors thrown, and 'connect' on the next tick.
   */
  connectSync(port: number, address?: string): void {
    this.#healthCheck();
    const to = validatePort(port);
    if (this.#connectState !== Connect.Disconnected) throw alreadyConnected();
    // Arguments are checked before the state changes: a refused one leaves the socket as it was.
    const ip = address == null || address === '' ? this.#family === 4 ? '127.0.0.1' : '::1'
      : numericAddress(address, 'address', 'connectSync');
    if (this.#bindState === Bind.Unbound) this.bindSync();
    else if (this.#bindState !== Bind.Bound) throw alreadyBound();
    this.#connectState = Connect.Connecting;
    if (this.#sendBlocked(ip)) {
      this.#connectState = Connect.Disconnected;
      throw ipBlocked(ip);
    }
    try {
      this.#connectTo(ip, to);
    } catch (e) {
      this.#connectState = Connect.Disconnected;
      throw errorWithHostPort(errnoOf(e), 'connect', ip, to);
    }
    this.#connectState = Connect.Connected;
    process.nextTick(() => { if (!this.#closed) this.emit('connect'); });
  }

  disconnect(): void {
    if (this.#connectState !== Connect.Connected) throw notConnected();
    if (this.#closed) throw closedHandle('disconnect');
    this.#batcher!.flush();
    try {
      this.#engine!.disconnect();
    } catch (e) {
      throw systemError(errnoOf(e), 'connect');
    }
    this.#connectState = Connect.Disconnected;
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
    const connected = this.#connectState === Connect.Connected;
    // Which signature this is follows dgram's reading of the arguments.
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw alreadyConnected();
    }

    // One buffer stays one: no list is made for it.
    let list: Uint8Array | Uint8Array[] | null;
    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') list = Buffer.from(buffer);
      else if (ArrayBuffer.isView(buffer)) list = asBytes(buffer);
      else throw invalidArgType('buffer', BUFFER_TYPES, buffer);
    } else if ((list = bufferList(buffer)) === null) {
      throw invalidArgType('buffer list arguments', BUFFER_TYPES, buffer);
    }
    if (!connected) port = validatePort(port);
    if (typeof callback !== 'function') callback = undefined;
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    } else if (address != null) {
      validateString(address, 'address');
    }
    this.#healthCheck();
    if (this.#bindState === Bind.Unbound) this.bind({ port: 0, exclusive: true }, undefined);
    if (Array.isArray(list) && list.length === 0) list.push(Buffer.alloc(0));

    const datagrams = list, to = port as number, host = address as string | undefined;
    const cb = callback as SendCallback | undefined;
    if (this.#bindState !== Bind.Bound) {
      this.#enqueue(() => this.send(datagrams, to, host, cb));
      return;
    }
    if (connected) this.#doSend(null, null, datagrams, host, to, cb);
    // An address the lookup would answer with itself needs none: the send
    // waits for the next tick, when the lookup's answer would come.
    else if (host !== undefined && this.#answersItself(host)) {
      const q = this.#lookedUp, t = this.#lookedUpEnd;
      q[t] = datagrams;
      q[t + 1] = host;
      q[t + 2] = to;
      q[t + 3] = cb;
      this.#lookedUpEnd = t + 4;
      process.nextTick(this.#sendLookedUp);
    } else this.#lookupHost(host, (ex, ip) => this.#doSend(ex, ip, datagrams, host, to, cb));
  }

  // Sends to addresses the lookup would have answered with themselves, each
  // waiting for a tick of its own. Ticks run in the order they were queued,
  // so each tick takes the oldest send. The sends lie in #lookedUp, four
  // entries each (datagrams, address, port, callback), from #lookedUpStart
  // to #lookedUpEnd: a tick with arguments, or an object per send, would be
  // an allocation per request of a server answering its clients.
  #lookedUp: unknown[] = [];
  #lookedUpStart = 0;
  #lookedUpEnd = 0;
  readonly #sendLookedUp = () => {
    const q = this.#lookedUp, h = this.#lookedUpStart;
    const list = q[h] as Uint8Array | Uint8Array[], address = q[h + 1] as string, port = q[h + 2] as number;
    const callback = q[h + 3] as SendCallback | undefined;
    q[h] = q[h + 3] = undefined; // not kept past the send
    if (h + 4 < this.#lookedUpEnd) this.#lookedUpStart = h + 4;
    else {
      this.#lookedUpStart = this.#lookedUpEnd = 0;
      // Room for a burst is kept for the next, up to a bound.
      if (q.length > MAX_KEPT_LOOKED_UP) this.#lookedUp = [];
    }
    this.#doSend(null, address, list, address, port, callback);
  };

  #doSend(ex: Error | null, ip: string | null, list: Uint8Array | Uint8Array[], address: string | undefined, port: number,
    callback: SendCallback | undefined): void {
    // Results, failures before the kernel included, come out in send order.
    const batcher = this.#batcher!;
    if (ex) {
      batcher.addFailed(callback ?? (() => this.emit('error', ex)), ex);
      return;
    }
    if (this.#closed) return; // as dgram: a send whose lookup outlived the socket is dropped
    if (ip && this.#sendBlocked(ip)) {
      if (callback) batcher.addFailed(callback, ipBlocked(ip));
      return;
    }
    let dest: Destination | null = null;
    if (ip !== null) {
      dest = this.#destinations.get(ip);
      if (ip === address && this.#lookupIsDns) this.#destinations.answeredItself(ip);
      if (dest === null) {
        if (callback) batcher.addFailed(callback, errorWithHostPort(-EINVAL, 'send', address, port));
        return;
      }
      // A connect() begun before this send finished while its address was
      // looked up: libuv refuses a send that names an address on a connected
      // socket (UV_EISCONN, though the kernel would take it), and dgram
      // tells only the callback.
      if (this.#connectState === Connect.Connected) {
        if (callback) batcher.addFailed(callback, errorWithHostPort(-EISCONN, 'send', address, port));
        return;
      }
    }
    batcher.add(dest, dest === null ? 0 : port, dest === null ? this.#connectedPayload : maxPayloadTo(dest.address),
      list, callback ?? null, address, port);
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
    if (this.#queue !== undefined) {
      this.#queue.push(() => this.close());
      return this;
    }
    this.#healthCheck();
    this.#closed = true;
    this.#inbox.length = 0;
    const emitClose = () => process.nextTick(() => this.emit('close'));
    if (this.#batcher === null) emitClose();
    // What dgram would already have handed to the kernel goes now; 'close'
    // follows the results of the sends made before it, as with dgram.
    else this.#batcher.close(emitClose);
    // The primary's descriptor first: the engine then finds it closed and
    // closes only its duplicate, so no descriptor is closed twice.
    this.#shared?.close();
    this.#engine?.close();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  // --- addresses ------------------------------------------------------------

  address(): AddressInfo {
    this.#healthCheck();
    if (this.#engine === null) throw systemError(-EBADF, 'getsockname');
    const a = this.#engine.address();
    return { address: nodeAddress(a.address), family: a.family, port: a.port };
  }

  remoteAddress(): AddressInfo {
    this.#healthCheck();
    if (this.#connectState !== Connect.Connected) throw notConnected();
    const a = this.#engine!.remoteAddress();
    if (a === null) throw systemError(-ENOTCONN, 'getpeername');
    return { address: nodeAddress(a.address), family: a.family, port: a.port };
  }

  // --- socket options -------------------------------------------------------

  /**
   * Runs a socket-option call the way dgram's handle does: the closed socket
   * has no handle, an unbound one no descriptor (EBADF), and a kernel
   * refusal becomes `<method> <CODE>`.
   */
  #option<T>(method: string, check: () => number, apply: (e: Engine) => T): T {
    if (this.#closed) throw closedHandle(method);
    const early = check();
    if (early < 0) throw systemError(early, method);
    if (this.#engine === null) throw systemError(-EBADF, method);
    this.#batcher!.flush(); // sends made before the change go out without it
    try {
      return apply(this.#engine);
    } catch (e) {
      throw systemError(errnoOf(e), method);
    }
  }

  /** An option with an IPv4 and an IPv6 name; the kernel socket's family picks one. */
  #familyOption(e: Engine, v4: number, v6: number, value: number): void {
    if (this.#engineFamily === 6) e.setIntOption(abi.IPPROTO_IPV6, v6, value, 'IPv6 option');
    else e.setIntOption(abi.IPPROTO_IP, v4, value, 'IPv4 option');
  }

  setBroadcast(flag: boolean): void {
    this.#option('setBroadcast', () => 0, (e) => e.setIntOption(abi.SOL_SOCKET, abi.SO_BROADCAST, flag ? 1 : 0, 'SO_BROADCAST'));
  }

  setTTL(ttl: number): number {
    return this.#hopLimit('setTTL', ttl, 1, abi.IP_TTL, abi.IPV6_UNICAST_HOPS);
  }

  setMulticastTTL(ttl: number): number {
    return this.#hopLimit('setMulticastTTL', ttl, 0, abi.IP_MULTICAST_TTL, abi.IPV6_MULTICAST_HOPS);
  }

  // The handle reads the value as an int32; libuv refuses it outside
  // [min, 255] with EINVAL before it looks at the socket.
  #hopLimit(method: string, ttl: unknown, min: number, v4: number, v6: number): number {
    validateNumber(ttl, 'ttl');
    const v = ttl | 0;
    this.#option(method, () => (v < min || v > 255 ? -EINVAL : 0), (e) => this.#familyOption(e, v4, v6, v));
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.#option('setMulticastLoopback', () => 0,
      (e) => this.#familyOption(e, abi.IP_MULTICAST_LOOP, abi.IPV6_MULTICAST_LOOP, flag ? 1 : 0));
    return flag;
  }

  setMulticastInterface(interfaceAddress: string): void {
    this.#healthCheck();
    validateString(interfaceAddress, 'interfaceAddress');
    const v4 = ip4(interfaceAddress);
    const v6 = v4 === null ? ip6(interfaceAddress) : null;
    this.#option('setMulticastInterface', () => (v4 === null && v6 === null ? -EINVAL : 0), (e) => {
      if (v4 !== null) e.setBytesOption(abi.IPPROTO_IP, abi.IP_MULTICAST_IF, v4.bytes, 'IP_MULTICAST_IF');
      else e.setIntOption(abi.IPPROTO_IPV6, abi.IPV6_MULTICAST_IF, v6!.scopeId, 'IPV6_MULTICAST_IF');
    });
  }

  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#membership('addMembership', true, multicastAddress, interfaceAddress);
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#membership('dropMembership', false, multicastAddress, interfaceAddress);
  }

  // IP_ADD_MEMBERSHIP with struct ip_mreq, or IPV6_JOIN_GROUP with struct
  // ipv6_mreq, as libuv sets them; on an unbound socket libuv first binds one
  // to the group's family, any address, any port (a later bind() then fails).
  #membership(method: string, join: boolean, group: unknown, iface: unknown): void {
    this.#healthCheck();
    if (!group) throw missingArgs('multicastAddress');
    const groupText = String(group), ifaceText = iface == null ? null : String(iface);
    const g4 = ip4(groupText), g6 = g4 === null ? ip6(groupText) : null;
    if (g4 === null && g6 === null) throw systemError(-EINVAL, method);
    this.#deferredBind(method, g4 !== null ? 4 : 6);
    if (g4 !== null) {
      const mreq = new Uint8Array(8); // imr_multiaddr, imr_interface (INADDR_ANY)
      mreq.set(g4.bytes, 0);
      if (ifaceText !== null) {
        const i = ip4(ifaceText);
        if (i === null) throw systemError(-EINVAL, method);
        mreq.set(i.bytes, 4);
      }
      this.#option(method, () => 0, (e) =>
        e.setBytesOption(abi.IPPROTO_IP, join ? abi.IP_ADD_MEMBERSHIP : abi.IP_DROP_MEMBERSHIP, mreq, 'ip_mreq'));
    } else {
      const mreq = new Uint8Array(20); // ipv6mr_multiaddr, ipv6mr_interface
      mreq.set(g6!.bytes, 0);
      if (ifaceText !== null) {
        const i = ip6(ifaceText);
        if (i === null) throw systemError(-EINVAL, method);
        new DataView(mreq.buffer).setUint32(16, i.scopeId, HOST_LITTLE_ENDIAN);
      }
      this.#option(method, () => 0, (e) =>
        e.setBytesOption(abi.IPPROTO_IPV6, join ? abi.IPV6_JOIN_GROUP : abi.IPV6_LEAVE_GROUP, mreq, 'ipv6_mreq'));
    }
  }

  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#sourceMembership('addSourceSpecificMembership', true, sourceAddress, groupAddress, interfaceAddress);
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#sourceMembership('dropSourceSpecificMembership', false, sourceAddress, groupAddress, interfaceAddress);
  }

  // IPv4: IP_ADD_SOURCE_MEMBERSHIP with struct ip_mreq_source. IPv6:
  // MCAST_JOIN_SOURCE_GROUP with struct group_source_req: the interface
  // index, then group and source as sockaddr_storage, which end the struct.
  #sourceMembership(method: string, join: boolean, source: unknown, group: unknown, iface: unknown): void {
    this.#healthCheck();
    validateString(source, 'sourceAddress');
    validateString(group, 'groupAddress');
    const ifaceText = iface == null ? null : String(iface);
    const g4 = ip4(group);
    if (g4 !== null) {
      const s4 = ip4(source);
      if (s4 === null) throw systemError(-EINVAL, method);
      this.#deferredBind(method, 4);
      const mreq = new Uint8Array(12); // imr_multiaddr, imr_interface, imr_sourceaddr
      mreq.set(g4.bytes, 0);
      if (ifaceText !== null) {
        const i = ip4(ifaceText);
        if (i === null) throw systemError(-EINVAL, method);
        mreq.set(i.bytes, 4);
      }
      mreq.set(s4.bytes, 8);
      this.#option(method, () => 0, (e) => e.setBytesOption(abi.IPPROTO_IP,
        join ? abi.IP_ADD_SOURCE_MEMBERSHIP : abi.IP_DROP_SOURCE_MEMBERSHIP, mreq, 'ip_mreq_source'));
      return;
    }
    const g6 = ip6(group), s6 = ip6(source);
    if (g6 === null || s6 === null) throw systemError(-EINVAL, method);
    this.#deferredBind(method, 6);
    const req = new Uint8Array(abi.SIZEOF_GROUP_SOURCE_REQ);
    const storage = 128; // sizeof(struct sockaddr_storage)
    if (ifaceText !== null) {
      const i = ip6(ifaceText);
      if (i === null) throw systemError(-EINVAL, method);
      new DataView(req.buffer).setUint32(0, i.scopeId, HOST_LITTLE_ENDIAN);
    }
    encodeSockaddr(req, req.length - 2 * storage, g6, 0);
    encodeSockaddr(req, req.length - storage, s6, 0);
    this.#option(method, () => 0, (e) => e.setBytesOption(abi.IPPROTO_IPV6,
      join ? abi.MCAST_JOIN_SOURCE_GROUP : abi.MCAST_LEAVE_SOURCE_GROUP, req, 'group_source_req'));
  }

  #deferredBind(method: string, family: 4 | 6): void {
    if (this.#engine !== null || this.#closed) return;
    try {
      this.#open(family, family === 4 ? ANY4 : ANY6, 0, true, false, false);
    } catch (e) {
      throw systemError(errnoOf(e), method);
    }
  }

  // --- buffers and queue ----------------------------------------------------

  #bufferSize(size: unknown, recv: boolean): number {
    if (typeof size !== 'number' || size >>> 0 !== size) throw badBufferSize();
    if (this.#closed) throw closedHandle('bufferSize');
    const syscall = recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size';
    if (size > 0x7fffffff) throw bufferSizeError(-EINVAL, syscall); // the handle takes an int
    if (this.#engine === null) throw bufferSizeError(-EBADF, syscall);
    const name = recv ? abi.SO_RCVBUF : abi.SO_SNDBUF;
    try {
      if (size === 0) return this.#engine.getIntOption(abi.SOL_SOCKET, name, syscall);
      this.#batcher!.flush();
      this.#engine.setIntOption(abi.SOL_SOCKET, name, size, syscall);
      return size;
    } catch (e) {
      throw bufferSizeError(errnoOf(e), syscall);
    }
  }

  setRecvBufferSize(size: number): void { this.#bufferSize(size, true); }
  setSendBufferSize(size: number): void { this.#bufferSize(size, false); }
  getRecvBufferSize(): number { return this.#bufferSize(0, true); }
  getSendBufferSize(): number { return this.#bufferSize(0, false); }

  /** Bytes of datagrams accepted by send() and not yet taken by the kernel. */
  getSendQueueSize(): number {
    if (this.#closed) throw closedHandle('getSendQueueSize');
    return this.#batcher?.queuedBytes ?? 0;
  }

  /** How many datagrams those are. */
  getSendQueueCount(): number {
    if (this.#closed) throw closedHandle('getSendQueueCount');
    return this.#batcher?.queuedDatagrams ?? 0;
  }

  ref(): this {
    if (!this.#closed) {
      this.#ref = true;
      this.#engine?.setRef(true);
    }
    return this;
  }

  unref(): this {
    if (!this.#closed) {
      this.#ref = false;
      this.#engine?.setRef(false);
    }
    return this;
  }

  /**
   * Whether `value` was made by this constructor, whatever its prototype:
   * `new Socket()` makes these sockets under Socket.prototype or a subclass's
   * (socket-class.ts), where instanceof CompatSocket does not see them.
   */
  static made(value: unknown): value is CompatSocket {
    return typeof value === 'object' && value !== null && #closed in value;
  }

  /** @internal see compatStats */
  static stats(socket: CompatSocket): CompatStats {
    return { ...(socket.#engine?.stats ?? emptyStats()), sendQueue: socket.#batcher?.queuedDatagrams ?? 0 };
  }
}



// bindSync and connectSync came with Node 24.19 and 26.4. Where the running
// dgram lacks them, so does the drop-in: code that tests for them
// (typeof socket.bindSync) takes the same path with either socket.
for (const name of ['bindSync', 'connectSync'] as const) {
  if (!(name in dgram.Socket.prototype)) Reflect.deleteProperty(CompatSocket.prototype, name);
}
