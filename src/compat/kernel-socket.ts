// The kernel socket under a drop-in socket, as libuv's handle is under
// dgram's: none until bind (or a multicast call before it, where libuv
// binds one), then an engine and its SendBatcher, over a socket opened and
// bound, a descriptor taken over (bind({ fd })), or a duplicate of the
// cluster primary's socket; how a socket-option call reaches it (a closed
// socket has no handle, an unbound one no descriptor); connect, addresses,
// ref, and close, which is where the drop-in socket's closed state lives.
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:os';
import { emptyStats, type BindOptions, type Engine, type SocketStats } from '../engine/contract';
import { adoptBatchEngine, openBatchEngine } from '../engine/open';
import { engineOptions, UNLIMITED_SEND_QUEUE } from '../engine/options';
import { closedHandle, errnoOf, invalidFdType, systemError } from '../errors';
import { binding } from '../kernel/native';
import { abi } from '../wire/abi';
import { inFamily, type ParsedAddress } from '../wire/sockaddr';
import { ANY4, ANY6, nodeAddress } from './address';
import { askPrimary, type SharedHandle, type SharedRequest } from './cluster';
import { handleType } from '../kernel/handle-type';
import { dgramSendError, SendBatcher } from './send-batcher';
import type { Inbox } from './inbox';

const { EBADF, EINVAL, ENOTCONN } = constants.errno;

/** How the socket binds: its reuseAddr, reusePort and ipv6Only options, and the equal-tail workaround. */
interface BindFlags {
  reuseAddr?: boolean | undefined;
  reusePort?: boolean | undefined;
  ipv6Only?: boolean | undefined;
  neverGsoEqualTail?: boolean | undefined;
}

/** The engine's options for a drop-in socket: the defaults, but a send queue without limit, as dgram's. */
function dropInEngineOptions(family: 4 | 6, address: ParsedAddress, port: number, flags: BindFlags): BindOptions {
  return engineOptions({
    type: family === 4 ? 'udp4' : 'udp6', address, port,
    // Buffer sizes are set after bind, without SO_*BUFFORCE, as dgram does.
    reuseAddr: !!flags.reuseAddr, reusePort: !!flags.reusePort, ipv6Only: !!flags.ipv6Only,
    neverGsoEqualTail: !!flags.neverGsoEqualTail,
    sendQueueLimit: UNLIMITED_SEND_QUEUE, // dgram queues without limit
  }, true);
}

export class KernelSocket {
  /** The drop-in socket's family, from its type. */
  readonly #family: 4 | 6;
  readonly #flags: BindFlags;
  readonly #host: Inbox;
  #engine: Engine | null = null;
  #batcher: SendBatcher | null = null;
  /** In a cluster worker, the primary's socket that this one reads and writes through a duplicate of. */
  #shared: SharedHandle | null = null;
  #ref = true;
  #closed = false;

  constructor(family: 4 | 6, flags: BindFlags, host: Inbox) {
    this.#family = family;
    this.#flags = flags;
    this.#host = host;
  }

  /** close() was called: dgram's socket has no handle any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The engine, from bind (or a multicast call) on; null before. */
  get engine(): Engine | null {
    return this.#engine;
  }

  /** The sends' batcher, there with the engine. */
  get batcher(): SendBatcher | null {
    return this.#batcher;
  }

  /** Opens the kernel socket bound to `ip`:`port` with the socket's options; throws the errno's error. */
  bind(ip: unknown, port: number): void {
    // A socket libuv already made for a membership is bound: bind again is EINVAL.
    if (this.#engine !== null) throw systemError(-EINVAL, 'bind');
    const local = inFamily(ip, this.#family);
    if (local === null) throw systemError(-EINVAL, 'bind');
    this.#open(this.#family, local, port, this.#flags);
  }

  /**
   * libuv's deferred bind: a multicast call on an unbound socket first binds
   * one to the group's family, any address, any port (a later bind() then
   * fails with EINVAL).
   */
  bindForMulticast(method: string, family: 4 | 6): void {
    if (this.#engine !== null || this.#closed) return;
    try {
      this.#open(family, family === 4 ? ANY4 : ANY6, 0, { reuseAddr: true });
    } catch (e) {
      throw systemError(errnoOf(e), method);
    }
  }

  #open(family: 4 | 6, address: ParsedAddress, port: number, flags: BindFlags): void {
    this.#install(openBatchEngine(binding!, dropInEngineOptions(family, address, port, flags), this.#host));
  }

  // bind({ fd }), as libuv's uv_udp_open takes a descriptor: it must be a
  // UDP socket that nothing else in this process uses (the addon says EEXIST
  // otherwise), and it gets SO_REUSEADDR, as libuv sets it.
  adopt(fd: number): void {
    const type = handleType(fd);
    if (type !== 'UDP') throw invalidFdType(type);
    let engine: Engine | undefined;
    try {
      engine = this.#duplicate(fd);
      engine.setIntOption(abi.SOL_SOCKET, abi.SO_REUSEADDR, 1, 'SO_REUSEADDR');
    } catch (e) {
      engine?.close();
      throw systemError(errnoOf(e), 'open');
    }
    this.#install(engine);
  }

  /**
   * Asks the cluster primary for its socket as `socket` (cluster.ts); `done`
   * gets the error, or null once this kernel socket is a duplicate of the
   * primary's, and is not called where close() came first.
   * `closedByCluster` runs when the cluster closes its handle.
   */
  fromPrimary(socket: EventEmitter & { address(): AddressInfo }, request: SharedRequest,
    bindError: (errno: number) => Error, done: (err: Error | null) => void, closedByCluster: () => void): void {
    askPrimary(socket, request, (errno, handle) => {
      if (errno) {
        done(bindError(errno));
        return;
      }
      if (this.#closed) {
        handle.close();
        return;
      }
      try {
        this.#share(handle, closedByCluster);
      } catch (e) {
        done(e as Error);
        return;
      }
      done(null);
    });
  }

  // The primary's socket, whose descriptor `handle` holds: kept until
  // close() so that the primary knows the socket is in use; the engine works
  // on a duplicate, as for bind({ fd }), without changing the socket's
  // options.
  #share(handle: SharedHandle, closedByCluster: () => void): void {
    let engine: Engine;
    try {
      engine = this.#duplicate(handle.fd);
    } catch (e) {
      handle.close();
      throw systemError(errnoOf(e), 'open');
    }
    // cluster.disconnect() closes the handles the primary handed out
    // (cluster's child.js, _disconnect): dgram's socket closes with its
    // handle, and so does this one, or the worker would never exit.
    const close = handle.close.bind(handle);
    handle.close = (callback) => {
      this.#shared = null;
      close(callback);
      closedByCluster();
    };
    this.#shared = handle;
    this.#install(engine);
  }

  /** An engine over a duplicate of `fd`, used as it is. */
  #duplicate(fd: number): Engine {
    const o = dropInEngineOptions(this.#family, this.#family === 4 ? ANY4 : ANY6, 0, {});
    return adoptBatchEngine(binding!, fd, o, this.#host);
  }

  #install(engine: Engine): void {
    if (!this.#ref) engine.setRef(false);
    this.#engine = engine;
    const batcher = new SendBatcher(engine, dgramSendError, () => this.#host.waiting() > 0);
    this.#host.onHandedOut(() => batcher.handedOut());
    this.#batcher = batcher;
  }

  /**
   * Runs a socket-option call the way dgram's handle does: the closed socket
   * has no handle, a `refusal` (a negative errno libuv answers before it
   * looks at the socket) comes next, an unbound socket has no descriptor
   * (EBADF), and a kernel refusal becomes `<method> <CODE>`.
   */
  option(method: string, refusal: number, apply: (e: Engine) => void): void {
    if (this.#closed) throw closedHandle(method);
    if (refusal < 0) throw systemError(refusal, method);
    if (this.#engine === null) throw systemError(-EBADF, method);
    this.#batcher!.flush(); // sends made before the change go out without it
    try {
      apply(this.#engine);
    } catch (e) {
      throw systemError(errnoOf(e), method);
    }
  }

  /** Starts reading, once bound. */
  startReading(): void {
    this.#engine!.setReading(true);
  }

  /** Connects the kernel socket to `peer`:`port`; throws the errno's error. */
  connect(peer: ParsedAddress, port: number): void {
    this.#batcher!.flush(); // sends made before go to their own destinations
    this.#engine!.connect(peer, port);
  }

  disconnect(): void {
    this.#batcher!.flush();
    try {
      this.#engine!.disconnect();
    } catch (e) {
      throw systemError(errnoOf(e), 'connect');
    }
  }

  address(): AddressInfo {
    if (this.#engine === null) throw systemError(-EBADF, 'getsockname');
    return nodeAddressInfo(this.#engine.address());
  }

  /** The peer of a connected socket. */
  remoteAddress(): AddressInfo {
    const a = this.#engine!.remoteAddress();
    if (a === null) throw systemError(-ENOTCONN, 'getpeername');
    return nodeAddressInfo(a);
  }

  setRef(ref: boolean): void {
    if (this.#closed) return;
    this.#ref = ref;
    this.#engine?.setRef(ref);
  }

  /** The engine's counters, none before bind. */
  get stats(): SocketStats {
    return this.#engine?.stats ?? emptyStats();
  }

  /**
   * Closes the kernel socket; `onClosed` runs once the results of the sends
   * made before are handed out, as 'close' follows them in dgram.
   */
  close(onClosed: () => void): void {
    this.#closed = true;
    // What dgram would already have handed to the kernel goes now.
    if (this.#batcher === null) onClosed();
    else this.#batcher.close(onClosed);
    // The primary's descriptor first: the engine then finds it closed and
    // closes only its duplicate, so no descriptor is closed twice.
    this.#shared?.close();
    this.#engine?.close();
  }
}

/** A socket address as Node reports it. */
function nodeAddressInfo(a: { address: string; family: string; port: number }): AddressInfo {
  return { address: nodeAddress(a.address), family: a.family, port: a.port };
}
