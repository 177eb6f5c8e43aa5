// The dgram drop-in: `createSocket` returns a socket with node:dgram's API
// and behaviour (Node 20: argument checks, error codes and messages, event
// order, implicit bind, sends queued until bound) over the batch engine.
// Reads arrive by recvmmsg (and GRO) and are emitted one 'message' per
// datagram; sends of one tick are batched per destination by SendCoalescer.
// Where there is no batch path, createSocket returns a genuine dgram socket.
import cluster from 'node:cluster';
import { channel } from 'node:diagnostics_channel';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { addAbortListener, EventEmitter } from 'node:events';
import { fstatSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import type { BatchView } from './batch';
import { SendCoalescer, type SendDone } from './coalescer';
import type { BindOptions as EngineOptions, EngineHost, SocketStats } from './engine';
import { emptyStats } from './engine';
import { badPort, bufferSizeError, invalidArgType, nodeError, notRunning, outOfRange, systemError, type SystemError } from './errors';
import { IDEAL_BATCH_SIZE_WITH_MMSG, MAX_IPV4_PAYLOAD, resolveBatchSize } from './limits';
import { rethrow } from './listeners';
import { adoptMmsg, GRO_SLOT_SIZE, MmsgEngine, openMmsg } from './mmsg';
import { abi, binding } from './native';
import { batchingAvailable } from './probe';
import { encodeSockaddr, interfaceIndex, maxPayloadTo, parseAddress, type ParsedAddress } from './sockaddr';

const { EBADF, EEXIST, EINVAL, ENOTCONN, ECANCELED } = constants.errno;

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

// ---------------------------------------------------------------------------
// Errors exactly as node:dgram makes them (code, class and message text);
// the general ones live in errors.ts.

const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}

function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
}

/** A port for connect and send: 1..65535, as a number or numeric string. */
function validatePort(port: unknown): number {
  const n = Number(port);
  if ((typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    n !== n >>> 0 || n > 0xffff || port === 0) {
    throw badPort(port);
  }
  return n | 0;
}

function validateUint32(value: unknown, name: string): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
}

const badType = () => nodeError(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), 'ERR_SOCKET_BAD_TYPE');
const alreadyBound = () => nodeError(new Error('Socket is already bound'), 'ERR_SOCKET_ALREADY_BOUND');
const isConnected = () => nodeError(new Error('Already connected'), 'ERR_SOCKET_DGRAM_IS_CONNECTED');
const notConnected = () => nodeError(new Error('Not connected'), 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
const missingArg = (name: string) => nodeError(new TypeError(`The "${name}" argument must be specified`), 'ERR_MISSING_ARGS');
const outOfBounds = (name: string) => nodeError(new RangeError(`"${name}" is outside of buffer bounds`), 'ERR_BUFFER_OUT_OF_BOUNDS');
const invalidFdType = (type: string) => nodeError(new TypeError(`Unsupported fd type: ${type}`), 'ERR_INVALID_FD_TYPE');
const badBufferSize = () => nodeError(new TypeError('Buffer size must be a positive integer'), 'ERR_SOCKET_BAD_BUFFER_SIZE');

/** What dgram throws when a method that does not check for a closed socket meets one. */
const closedHandle = (method: string) => new TypeError(`Cannot read properties of null (reading '${method}')`);

/** Features this socket cannot offer: the error says so rather than doing something else. */
function unsupported(what: string): Error {
  return nodeError(new Error(`${what} is not supported by batchgram's dgram-compatible socket; use node:dgram for it`),
    'ERR_BATCHGRAM_UNSUPPORTED');
}

/** A system error naming the peer, as dgram reports bind, connect and send failures. */
function errorWithHostPort(errno: number, syscall: string, address: unknown, port: unknown): SystemError {
  const err = systemError(errno, syscall);
  const p = port as number;
  if (p && p > 0) err.message += ` ${String(address)}:${String(port)}`;
  else if (address) err.message += ` ${String(address)}`;
  err.address = address as string;
  if (p) err.port = p;
  return err;
}

const errnoOf = (err: unknown): number => (err as SystemError).errno;

// ---------------------------------------------------------------------------
// Addresses as libuv reads them (uv_ip4_addr, uv_ip6_addr): literals only,
// and an IPv6 zone is an interface name (an unknown name is zone 0).

function ip4(text: string): ParsedAddress | null {
  const a = parseAddress(text);
  return a !== null && a.family === 4 ? a : null;
}

function ip6(text: string): ParsedAddress | null {
  const pct = text.indexOf('%');
  const a = parseAddress(pct < 0 ? text : text.slice(0, pct));
  if (a === null || a.family !== 6) return null;
  return pct < 0 ? a : { ...a, scopeId: interfaceIndex(text.slice(pct + 1)) ?? 0 };
}

/** Interface names by index, read from sysfs when an index is first seen. */
const interfaceNames = new Map<number, string>();

function interfaceName(index: number): string {
  if (!interfaceNames.has(index)) {
    try {
      for (const name of readdirSync('/sys/class/net')) {
        interfaceNames.set(Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')), name);
      }
    } catch {
      // no sysfs: the index stands
    }
  }
  return interfaceNames.get(index) ?? String(index);
}

/**
 * An address as Node reports it (libuv's AddressToJS): an IPv6 link-local
 * address carries its zone as an interface name (fe80::1%eth0), and no
 * other address carries a zone.
 */
function nodeAddress(address: string): string {
  const pct = address.indexOf('%');
  if (pct < 0) return address;
  const host = address.slice(0, pct);
  return /^fe[89ab]/i.test(host) ? `${host}%${interfaceName(Number(address.slice(pct + 1)))}` : host;
}

/** The address a lookup gave, in the socket's family, or null (dgram then fails with EINVAL). */
function inFamily(ip: unknown, family: 4 | 6): ParsedAddress | null {
  if (typeof ip !== 'string') return null;
  return family === 4 ? ip4(ip) : ip6(ip);
}

const ANY4 = parseAddress('0.0.0.0')!;
const ANY6 = parseAddress('::')!;

/**
 * What libuv (uv_guess_handle) calls a descriptor, in the words of Node's
 * ERR_INVALID_FD_TYPE: TTY, FILE (a character device too), PIPE (a FIFO, or
 * a Unix stream socket), TCP, UDP, or UNKNOWN (a closed descriptor too).
 */
function handleType(fd: number): string {
  if (isatty(fd)) return 'TTY';
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return 'UNKNOWN';
  }
  if (st.isFile() || st.isCharacterDevice()) return 'FILE';
  if (st.isFIFO()) return 'PIPE';
  const kind = new Int32Array(3); // domain, type, protocol
  if (!st.isSocket() || binding!.socketKind(fd, kind) < 0) return 'UNKNOWN';
  const [domain, type] = kind;
  const ip = domain === abi.AF_INET || domain === abi.AF_INET6;
  if (type === abi.SOCK_STREAM) return domain === abi.AF_UNIX ? 'PIPE' : ip ? 'TCP' : 'UNKNOWN';
  return type === abi.SOCK_DGRAM && ip ? 'UDP' : 'UNKNOWN';
}

/** Descriptors open sockets took over with bind({ fd }): libuv refuses to watch one twice (EEXIST). */
const adoptedFds = new Set<number>();

function engineOptions(family: 4 | 6, address: ParsedAddress, port: number, reuseAddr: boolean, reusePort: boolean,
  ipv6Only: boolean): EngineOptions {
  return {
    type: family === 4 ? 'udp4' : 'udp6', address, port, batchSize: resolveBatchSize(IDEAL_BATCH_SIZE_WITH_MMSG),
    offload: true, neverGsoEqualTail: false, rxqOverflowMetric: '',
    // Buffer sizes are set after bind, without SO_*BUFFORCE, as dgram does.
    reuseAddr, reusePort, ipv6Only,
    recvSlotSize: GRO_SLOT_SIZE,
    sendQueueLimit: 2 ** 31 - 1, // dgram queues without limit
  };
}

// ---------------------------------------------------------------------------

/** Turns a send's buffer arguments into one Uint8Array view (no copy for one buffer). */
function asBytes(b: ArrayBufferView): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  let b: ArrayBufferView;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (ArrayBuffer.isView(buffer)) b = buffer;
  else throw invalidArgType('buffer', BUFFER_TYPES, buffer);
  const off = Number(offset) >>> 0, len = Number(length) >>> 0;
  if (off > b.byteLength) throw outOfBounds('offset');
  if (off + len > b.byteLength) throw outOfBounds('length');
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

function bufferList(list: unknown[]): Uint8Array[] | null {
  const out = new Array<Uint8Array>(list.length);
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    if (typeof b === 'string') out[i] = Buffer.from(b);
    else if (ArrayBuffer.isView(b)) out[i] = asBytes(b);
    else return null;
  }
  return out;
}

/**
 * A dgram.Socket over the batch engine. Its state mirrors dgram's: a bind
 * state, a connect state, and a queue of work that waits for 'listening'.
 * The engine exists from bind on (or earlier, as in libuv, when a multicast
 * membership is set on an unbound socket).
 */
class CompatSocket extends EventEmitter implements dgram.Socket {
  readonly type: dgram.SocketType;
  readonly #family: 4 | 6;
  readonly #lookup: Lookup;
  readonly #options: SocketOptions | undefined;
  readonly #recvBufferSize: number | undefined;
  readonly #sendBufferSize: number | undefined;
  #engine: MmsgEngine | null = null;
  /** The family of the kernel socket, which a deferred bind may have chosen. */
  #engineFamily: 4 | 6 = 4;
  /** The descriptor bind({ fd }) took over; the engine closes it with the socket. */
  #adopted = -1;
  #coalescer: SendCoalescer | null = null;
  #bindState = Bind.Unbound;
  #connectState = Connect.Disconnected;
  #connectedPayload = MAX_IPV4_PAYLOAD;
  #queue: Array<() => void> | undefined;
  #closed = false;
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
    }
    if (lookup !== undefined && typeof lookup !== 'function') throw invalidArgType('lookup', 'of type function', lookup);
    if (type !== 'udp4' && type !== 'udp6') throw badType();
    this.type = type;
    this.#family = type === 'udp4' ? 4 : 6;
    this.#lookup = (lookup ?? dns.lookup) as Lookup;
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
    this.#lookup(address || (this.#family === 4 ? '127.0.0.1' : '::1'), this.#family, cb);
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
      throw unsupported('bind() to an existing UDP handle');
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
    if (typeof fd === 'number' && (fd | 0) === fd && fd > 0) {
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
        // A socket libuv already made for a membership is bound: bind again is EINVAL.
        if (this.#engine !== null) throw systemError(-EINVAL, 'bind');
        const local = inFamily(ip, this.#family);
        if (local === null) throw systemError(-EINVAL, 'bind');
        // Like the kernel (via libuv), a port is read as a 16-bit number.
        const o = this.#options;
        this.#open(this.#family, local, (Number(port || 0) >>> 0) & 0xffff,
          !!o?.reuseAddr, !!o?.reusePort, !!o?.ipv6Only);
      } catch (e) {
        this.#bindState = Bind.Unbound;
        this.emit('error', errorWithHostPort(errnoOf(e), 'bind', ip, port));
        return;
      }
      this.#startListening();
    });
    return this;
  }

  #open(family: 4 | 6, address: ParsedAddress, port: number, reuseAddr: boolean, reusePort: boolean, ipv6Only: boolean): void {
    const o = engineOptions(family, address, port, reuseAddr, reusePort, ipv6Only);
    this.#install(openMmsg(binding!, o, this.#host()), family, o.batchSize);
  }

  // bind({ fd }), as libuv's uv_udp_open takes a descriptor: it must be a
  // UDP socket that no other socket of this process has taken.
  #adopt(fd: number): void {
    const type = handleType(fd);
    if (type !== 'UDP') throw invalidFdType(type);
    if (adoptedFds.has(fd)) throw systemError(-EEXIST, 'open');
    let engine: MmsgEngine;
    const o = engineOptions(this.#family, this.#family === 4 ? ANY4 : ANY6, 0, false, false, false);
    try {
      engine = adoptMmsg(binding!, fd, o, this.#host());
    } catch (e) {
      throw systemError(errnoOf(e), 'open');
    }
    adoptedFds.add(fd);
    this.#adopted = fd;
    // The descriptor's own family decides its options, whatever the socket's type.
    this.#install(engine, engine.address().family === 'IPv4' ? 4 : 6, o.batchSize);
  }

  #host(): EngineHost {
    return { deliver: (v) => this.#deliver(v), fail: (e) => this.#fail(e) };
  }

  #install(engine: MmsgEngine, family: 4 | 6, batchSize: number): void {
    if (!this.#ref) engine.setRef(false);
    this.#engine = engine;
    this.#engineFamily = family;
    this.#coalescer = new SendCoalescer(engine, batchSize);
  }

  #startListening(): void {
    this.#engine!.setReading(true);
    this.#bindState = Bind.Bound;
    if (this.#recvBufferSize) this.#bufferSize(this.#recvBufferSize, true);
    if (this.#sendBufferSize) this.#bufferSize(this.#sendBufferSize, false);
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

  // One copy per read; each datagram is a view of it the listener may keep.
  #deliver(view: BatchView): void {
    if (this.#closed || this.listenerCount('message') === 0) return;
    const batch = view.toBatch();
    let thrown: unknown[] | null = null;
    for (const d of batch) {
      if (this.#closed) break;
      try {
        this.emit('message', d.data, { address: nodeAddress(d.address), family: d.family, port: d.port, size: d.data.length });
      } catch (err) {
        (thrown ??= []).push(err);
      }
    }
    // A throwing listener does not cost the datagrams after it.
    rethrow(thrown);
  }

  #fail(err: Error): void {
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
    if (this.#connectState !== Connect.Disconnected) throw isConnected();
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
      if (!err) {
        try {
          const peer = inFamily(ip, this.#family);
          if (peer === null) throw systemError(-EINVAL, 'connect');
          this.#coalescer!.writeNow();
          this.#engine!.connect(peer, port);
          this.#connectedPayload = maxPayloadTo(peer);
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

  disconnect(): void {
    if (this.#connectState !== Connect.Connected) throw notConnected();
    if (this.#closed) throw closedHandle('disconnect');
    this.#coalescer!.writeNow();
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
      if (port || address) throw isConnected();
    }

    let list: Uint8Array[] | null;
    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') list = [Buffer.from(buffer)];
      else if (ArrayBuffer.isView(buffer)) list = [asBytes(buffer)];
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
    if (list.length === 0) list.push(Buffer.alloc(0));

    const datagrams = list, to = port as number, host = address as string | undefined;
    const cb = callback as SendCallback | undefined;
    if (this.#bindState !== Bind.Bound) {
      this.#enqueue(() => this.send(datagrams, to, host, cb));
      return;
    }
    if (!connected) this.#lookupHost(host, (ex, ip) => this.#doSend(ex, ip, datagrams, host, to, cb));
    else this.#doSend(null, null, datagrams, host, to, cb);
  }

  #doSend(ex: Error | null, ip: string | null, list: Uint8Array[], address: string | undefined, port: number,
    callback: SendCallback | undefined): void {
    // Results, failures before the kernel included, come out in send order.
    const coalescer = this.#coalescer!;
    if (ex) {
      coalescer.fail(callback ?? (() => this.emit('error', ex)), ex);
      return;
    }
    if (this.#closed) return; // as dgram: a send whose lookup outlived the socket is dropped
    let dest: ParsedAddress | null = null;
    if (ip !== null) {
      dest = inFamily(ip, this.#family);
      if (dest === null) {
        if (callback) coalescer.fail(callback, errorWithHostPort(-EINVAL, 'send', address, port));
        return;
      }
    }
    const done: SendDone | null = callback === undefined ? null : (err, bytes) => {
      if (err === null) return callback(null, bytes!);
      // A send the socket's close cut short fails as libuv's does.
      const errno = (err as { code?: string }).code === 'ERR_SOCKET_DGRAM_NOT_RUNNING' ? -ECANCELED : errnoOf(err);
      callback(errorWithHostPort(errno, 'send', address, port));
    };
    coalescer.add(dest, dest === null ? 0 : port, dest === null ? this.#connectedPayload : maxPayloadTo(dest),
      list, done);
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
    const emitClose = () => process.nextTick(() => this.emit('close'));
    if (this.#coalescer === null) emitClose();
    // What dgram would already have handed to the kernel goes now; 'close'
    // follows the results of the sends made before it, as with dgram.
    else this.#coalescer.close(emitClose);
    this.#engine?.close();
    adoptedFds.delete(this.#adopted);
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
  #option<T>(method: string, check: () => number, apply: (e: MmsgEngine) => T): T {
    if (this.#closed) throw closedHandle(method);
    const early = check();
    if (early < 0) throw systemError(early, method);
    if (this.#engine === null) throw systemError(-EBADF, method);
    this.#coalescer!.writeNow(); // sends made before the change go out without it
    try {
      return apply(this.#engine);
    } catch (e) {
      throw systemError(errnoOf(e), method);
    }
  }

  /** An option with an IPv4 and an IPv6 name; the kernel socket's family picks one. */
  #familyOption(e: MmsgEngine, v4: number, v6: number, value: number): void {
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
    if (!group) throw missingArg('multicastAddress');
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
        new DataView(mreq.buffer).setUint32(16, i.scopeId, littleEndian);
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
      new DataView(req.buffer).setUint32(0, i.scopeId, littleEndian);
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
      this.#coalescer!.writeNow();
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
    return this.#coalescer?.queuedBytes ?? 0;
  }

  /** How many datagrams those are. */
  getSendQueueCount(): number {
    if (this.#closed) throw closedHandle('getSendQueueCount');
    return this.#coalescer?.queuedDatagrams ?? 0;
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

  /** @internal see compatStats */
  stats(): CompatStats {
    return { ...(this.#engine?.stats ?? emptyStats()), sendQueue: this.#coalescer?.queuedDatagrams ?? 0 };
  }
}

type SendCallback = (error: Error | null, bytes?: number) => void;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * dgram.createSocket with batching underneath: the same arguments, events
 * and errors. Where batching is unavailable (no addon, not Linux), with
 * `batching: false`, and in cluster workers (where dgram shares the primary's
 * socket), it returns a node:dgram socket.
 */
export function createSocket(type: dgram.SocketType | SocketOptions, listener?: MessageListener): dgram.Socket {
  const options = type !== null && typeof type === 'object' ? type : undefined;
  const batching = batchingAvailable && binding !== null && !cluster.isWorker && options?.batching !== false;
  if (batching) return new CompatSocket(type, listener);
  // dgram before Node 22.12 would ignore reusePort without a word.
  if (options?.reusePort && !dgramHasReusePort()) throw unsupported('reusePort without batching (or before Node 22.12)');
  return dgram.createSocket(type as dgram.SocketOptions, listener);
}

function dgramHasReusePort(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The batching counters of a socket from createSocket, or null for a node:dgram socket. */
export function compatStats(socket: dgram.Socket): CompatStats | null {
  return socket instanceof CompatSocket ? socket.stats() : null;
}
