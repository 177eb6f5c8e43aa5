// A drop-in socket's connect state and what changes it, as in dgram: one
// connect at a time and none on a connected socket; connect()'s peer looked
// up, checked against the sendBlockList and connected, with the result on
// the next tick ('connect', or the error to the callback or as 'error');
// connectSync's, thrown; disconnect(). The socket binds first (socket.ts).
import type { EventEmitter } from 'node:events';
import type { BlockList } from 'node:net';
import { constants } from 'node:os';
import { alreadyConnected, closedHandle, errnoOf, errorWithHostPort, ipBlocked, notConnected, systemError } from '../errors';
import { MAX_IPV4_PAYLOAD } from '../limits';
import { inFamily, maxPayloadTo } from '../wire/sockaddr';
import { sendBlocked } from './block-lists';
import type { KernelSocket } from './kernel-socket';
import type { HostLookup } from './lookup';

const { EINVAL } = constants.errno;

const enum State { Disconnected, Connecting, Connected }

export class Connection {
  readonly #socket: EventEmitter;
  readonly #family: 4 | 6;
  readonly #kernel: KernelSocket;
  readonly #lookup: HostLookup;
  readonly #sendBlockList: BlockList | undefined;
  #state = State.Disconnected;
  /** The largest payload towards the peer, once connected. */
  #payload = MAX_IPV4_PAYLOAD;

  constructor(socket: EventEmitter, family: 4 | 6, kernel: KernelSocket, lookup: HostLookup,
    sendBlockList: BlockList | undefined) {
    this.#socket = socket;
    this.#family = family;
    this.#kernel = kernel;
    this.#lookup = lookup;
    this.#sendBlockList = sendBlockList;
  }

  get connected(): boolean {
    return this.#state === State.Connected;
  }

  /** The largest payload towards the peer of a connected socket. */
  get payload(): number {
    return this.#payload;
  }

  /** Throws ERR_SOCKET_DGRAM_IS_CONNECTED where a connect was made or is under way. */
  checkDisconnected(): void {
    if (this.#state !== State.Disconnected) throw alreadyConnected();
  }

  /** connect() was called: another is refused from now on, while the socket binds. */
  begin(): void {
    this.checkDisconnected();
    this.#state = State.Connecting;
  }

  /** connect()'s work once the socket is bound: `address` looked up, then connected. */
  connect(port: number, address: string, callback: unknown): void {
    const socket = this.#socket;
    if (callback) socket.once('connect', callback as () => void);
    if (this.#kernel.closed) throw closedHandle('lookup'); // dgram has no handle to look up with
    this.#lookup.resolve(address, (ex, ip) => {
      if (this.#kernel.closed) return;
      let err: Error | null = ex;
      if (!err && sendBlocked(this.#sendBlockList, ip)) err = ipBlocked(ip);
      if (!err) {
        try {
          this.#connectTo(ip, port);
        } catch (e) {
          err = errorWithHostPort(errnoOf(e), 'connect', address, port);
        }
      }
      if (err) {
        const failure = err;
        this.#state = State.Disconnected;
        process.nextTick(() => {
          if (callback) {
            socket.removeListener('connect', callback as () => void);
            (callback as (e: Error) => void)(failure);
          } else {
            socket.emit('error', failure);
          }
        });
        return;
      }
      this.#state = State.Connected;
      process.nextTick(() => socket.emit('connect'));
    });
  }

  /** connectSync's work once the socket is bound: `ip` is an IP literal. */
  connectSync(ip: string, port: number): void {
    this.#state = State.Connecting;
    if (sendBlocked(this.#sendBlockList, ip)) {
      this.#state = State.Disconnected;
      throw ipBlocked(ip);
    }
    try {
      this.#connectTo(ip, port);
    } catch (e) {
      this.#state = State.Disconnected;
      throw errorWithHostPort(errnoOf(e), 'connect', ip, port);
    }
    this.#state = State.Connected;
    process.nextTick(() => { if (!this.#kernel.closed) this.#socket.emit('connect'); });
  }

  /** Connects the kernel socket to `ip`:`port`; throws the errno's error. */
  #connectTo(ip: string, port: number): void {
    const peer = inFamily(ip, this.#family);
    if (peer === null) throw systemError(-EINVAL, 'connect');
    this.#kernel.connect(peer, port);
    this.#payload = maxPayloadTo(peer);
  }

  disconnect(): void {
    if (this.#state !== State.Connected) throw notConnected();
    if (this.#kernel.closed) throw closedHandle('disconnect');
    this.#kernel.disconnect();
    this.#state = State.Disconnected;
  }
}
