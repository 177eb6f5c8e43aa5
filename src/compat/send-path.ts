// A drop-in send from its address to SendBatcher, once the socket is bound
// and its arguments read (arguments.ts): the address looked up (lookup.ts),
// or, where the lookup would answer it with itself, a wait for the next tick
// instead; then the send fails as dgram fails it (the lookup's error, the
// sendBlockList, an address not of the socket's family, a connect() that
// finished meanwhile) or goes to the batcher, with the largest payload
// towards its destination.
import type { EventEmitter } from 'node:events';
import type { BlockList } from 'node:net';
import { constants } from 'node:os';
import { errorWithHostPort, ipBlocked } from '../errors';
import { maxPayloadTo } from '../wire/sockaddr';
import { sendBlocked } from './block-lists';
import type { Connection } from './connection';
import type { Destination } from './destinations';
import type { KernelSocket } from './kernel-socket';
import type { HostLookup } from './lookup';
import type { SendCallback } from './send-batcher';

const { EINVAL, EISCONN } = constants.errno;

/** Entries of the sends waiting for their tick (SendPath's #waiting) kept once it is empty: 1024 sends. */
const MAX_KEPT_WAITING = 4096;

export class SendPath {
  readonly #socket: EventEmitter;
  readonly #kernel: KernelSocket;
  readonly #lookup: HostLookup;
  readonly #connection: Connection;
  readonly #sendBlockList: BlockList | undefined;

  constructor(socket: EventEmitter, kernel: KernelSocket, lookup: HostLookup, connection: Connection,
    sendBlockList: BlockList | undefined) {
    this.#socket = socket;
    this.#kernel = kernel;
    this.#lookup = lookup;
    this.#connection = connection;
    this.#sendBlockList = sendBlockList;
  }

  /** A send of a connected socket: `address` and `port` are as given, none of them truthy. */
  sendConnected(list: Uint8Array | Uint8Array[], address: string | undefined, port: number,
    callback: SendCallback | undefined): void {
    this.#resolved(null, null, list, address, port, callback);
  }

  /** A send to `address` (the loopback address when none), looked up first. */
  sendTo(address: string | undefined, list: Uint8Array | Uint8Array[], port: number, callback: SendCallback | undefined): void {
    if (address === undefined || !this.#lookup.answersItself(address)) {
      this.#lookup.resolve(address, (err, ip) => this.#resolved(err, ip, list, address, port, callback));
      return;
    }
    // An address the lookup would answer with itself needs none: the send
    // waits for the next tick, when the lookup's answer would come.
    const q = this.#waiting, t = this.#waitingEnd;
    q[t] = list;
    q[t + 1] = address;
    q[t + 2] = port;
    q[t + 3] = callback;
    this.#waitingEnd = t + 4;
    process.nextTick(this.#sendWaiting);
  }

  // Sends to addresses the lookup would have answered with themselves, each
  // waiting for a tick of its own. Ticks run in the order they were queued,
  // so each tick takes the oldest send. The sends lie in #waiting, four
  // entries each (datagrams, address, port, callback), from #waitingStart
  // to #waitingEnd: a tick with arguments, or an object per send, would be
  // an allocation per request of a server answering its clients.
  #waiting: unknown[] = [];
  #waitingStart = 0;
  #waitingEnd = 0;
  readonly #sendWaiting = () => {
    const q = this.#waiting, h = this.#waitingStart;
    const list = q[h] as Uint8Array | Uint8Array[], address = q[h + 1] as string, port = q[h + 2] as number;
    const callback = q[h + 3] as SendCallback | undefined;
    q[h] = q[h + 3] = undefined; // not kept past the send
    if (h + 4 < this.#waitingEnd) this.#waitingStart = h + 4;
    else {
      this.#waitingStart = this.#waitingEnd = 0;
      // Room for a burst is kept for the next, up to a bound.
      if (q.length > MAX_KEPT_WAITING) this.#waiting = [];
    }
    this.#resolved(null, address, list, address, port, callback);
  };

  // A send whose address is resolved: `ip` the lookup's answer (null on a
  // connected socket), or the lookup's error `ex`. `address` and `port` are
  // the send's arguments.
  #resolved(ex: Error | null, ip: string | null, list: Uint8Array | Uint8Array[], address: string | undefined, port: number,
    callback: SendCallback | undefined): void {
    // Results, failures before the kernel included, come out in send order.
    const batcher = this.#kernel.batcher!;
    if (ex) {
      batcher.addFailed(callback ?? (() => this.#socket.emit('error', ex)), ex);
      return;
    }
    if (this.#kernel.closed) return; // as dgram: a send whose lookup outlived the socket is dropped
    if (ip && sendBlocked(this.#sendBlockList, ip)) {
      if (callback) batcher.addFailed(callback, ipBlocked(ip));
      return;
    }
    let dest: Destination | null = null;
    if (ip !== null) {
      dest = this.#lookup.destination(ip, address);
      if (dest === null) {
        if (callback) batcher.addFailed(callback, errorWithHostPort(-EINVAL, 'send', address, port));
        return;
      }
      // A connect() begun before this send finished while its address was
      // looked up: libuv refuses a send that names an address on a connected
      // socket (UV_EISCONN, though the kernel would take it), and dgram
      // tells only the callback.
      if (this.#connection.connected) {
        if (callback) batcher.addFailed(callback, errorWithHostPort(-EISCONN, 'send', address, port));
        return;
      }
    }
    batcher.add(dest, dest === null ? 0 : port, dest === null ? this.#connection.payload : maxPayloadTo(dest.address),
      list, callback ?? null, address, port);
  }
}
