// The portable path: the same engine contract over node:dgram, one datagram
// per system call. It serves systems without the addon (anything but Linux),
// kernels without recvmmsg/sendmmsg, and `batching: false`. It offers no
// offload, and reports so.
import type { Socket } from 'node:dgram';
import { BatchView } from '../batch';
import { CapabilityState } from './capabilities';
import {
  emptyCounts, writeTooLarge, type BindOptions, type Engine, type EngineHost, type Multicast, type SocketStats, type WriteJob,
} from './contract';
import { notRunning, queueFull, unsupported } from '../errors';
import { nodeCreateSocket } from '../compat/node-dgram';
import { cutMessages } from '../offload/segments';
import { endpointText, formatAddress, type ParsedAddress, type SocketAddress } from '../wire/sockaddr';
import { channels, publish } from '../diagnostics';

class PortableEngine implements Engine {
  // node:dgram reports none of the per-datagram metadata either.
  readonly capabilities = new CapabilityState({
    batching: false, txOffload: false, rxOffload: false, rxqOverflowCounter: false, ecn: false, localAddress: false, timestamps: false,
    originalDestination: false, mayFragment: true, icmpErrors: false, pacing: false,
  }, 1);
  readonly #counts = emptyCounts();
  readonly #sock: Socket;
  readonly #limit: number;
  readonly #host: EngineHost;
  readonly #view = new BatchView(Buffer.alloc(0), 1, 1);
  #queued = 0;
  #closed = false;
  #pending = new Set<(err: Error) => void>();

  constructor(sock: Socket, o: BindOptions, host: EngineHost) {
    this.#sock = sock;
    this.#limit = o.sendQueueLimit;
    this.#host = host;
    // node:dgram cannot stop reading, so datagrams are delivered whether or
    // not anyone asked; BatchSocket queues them rather than dropping them.
    sock.on('message', (msg, rinfo) => {
      const v = this.#view;
      v.data = msg;
      v.messageOffsets[0] = 0;
      v.messageLengths[0] = msg.length;
      v.segmentSizes[0] = 0;
      v.messageTruncated[0] = 0;
      v.peers[0] = { address: rinfo.address, family: rinfo.family as 'IPv4' | 'IPv6', port: rinfo.port };
      v.setMessages(1, 1);
      this.#counts.datagramsIn++;
      this.#counts.messagesIn++;
      this.#counts.recvCalls++;
      this.#counts.bytesIn += msg.length;
      v.live = true;
      try {
        host.deliver(v);
      } finally {
        v.live = false;
      }
    });
    sock.on('error', (err) => host.reportError(err));
  }

  get stats(): SocketStats { return { ...this.#counts, gsoDisabled: false, copyBlocksHeld: 0, copyBlocksFree: 0 }; }
  get queuedDatagrams(): number { return this.#queued; }

  address(): SocketAddress {
    const a = this.#sock.address();
    return { address: a.address, family: a.family as 'IPv4' | 'IPv6', port: a.port };
  }

  remoteAddress(): SocketAddress | null {
    try {
      const a = this.#sock.remoteAddress();
      return { address: a.address, family: a.family as 'IPv4' | 'IPv6', port: a.port };
    } catch {
      return null;
    }
  }

  connect(dest: ParsedAddress, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#sock.once('error', reject);
      this.#sock.connect(port, formatAddress(dest), () => {
        this.#sock.off('error', reject);
        resolve();
      });
    });
  }

  disconnect(): void { this.#sock.disconnect(); }
  // node:dgram has no offload to turn on: the capabilities stay false.
  setOffload(): void {}
  setSteering(): void {
    throw unsupported('steering needs the batch path (Linux with the native addon)');
  }
  setReading(): void {}
  setRef(ref: boolean): void { if (ref) this.#sock.ref(); else this.#sock.unref(); }
  getRecvBufferSize(): number { return this.#sock.getRecvBufferSize(); }
  getSendBufferSize(): number { return this.#sock.getSendBufferSize(); }
  // node:dgram has no raw socket options; the drop-in never asks this engine for them.
  getIntOption(): number { throw unsupported('raw socket options on the portable path'); }
  setIntOption(): void { throw unsupported('raw socket options on the portable path'); }
  setBytesOption(): void { throw unsupported('raw socket options on the portable path'); }
  getBytesOption(): Uint8Array { throw unsupported('raw socket options on the portable path'); }
  setFamilyOption(): void { throw unsupported('raw socket options on the portable path'); }
  // node:dgram's own calls: a program gets what it would get from node:dgram.
  readonly multicast: Multicast = {
    membership: (method, group, iface) => this.#sock[method](group, iface ?? undefined),
    sourceMembership: (method, source, group, iface) => this.#sock[method](source, group, iface ?? undefined),
    setInterface: (iface) => this.#sock.setMulticastInterface(iface),
    setTTL: (ttl) => { this.#sock.setMulticastTTL(ttl); },
    setLoopback: (on) => { this.#sock.setMulticastLoopback(on); },
  };

  write(job: WriteJob): Promise<void> {
    if (this.#closed) return Promise.reject(notRunning());
    if (job.segments !== undefined) {
      // One datagram per send here: whole messages are cut.
      const c = cutMessages(job.buffers, job.offsets, job.start, job.lengths, job.segments, job.messages?.of, 0);
      job = {
        ...job, buffers: c.buffers, start: 0, offsets: c.offsets, lengths: c.lengths, segments: undefined,
        messages: job.messages === undefined ? undefined : { of: c.of, to: job.messages.to },
      };
    }
    const count = job.lengths.length;
    const tooLarge = writeTooLarge(count, this.#limit);
    if (tooLarge !== null) return Promise.reject(tooLarge);
    if (this.#queued + count > this.#limit) return Promise.reject(queueFull(this.#limit));
    this.#queued += count;
    // writeMessages: each datagram to its message's destination.
    const g = job.messages;
    const hosts = g === undefined ? undefined : g.to.map((t) => (t.dest ? formatAddress(t.dest) : undefined));
    const host = job.dest ? formatAddress(job.dest) : undefined;
    return new Promise<void>((resolve, reject) => {
      let left = count;
      let first: Error | null = null;
      const done = (err: Error | null) => {
        if (err && !first) first = err;
        if (--left > 0) return;
        this.#pending.delete(abort);
        if (first) reject(first);
        else resolve();
      };
      const abort = (err: Error) => { left = 1; done(err); };
      this.#pending.add(abort);
      for (let i = 0; i < count; i++) {
        const len = job.lengths[i];
        const cb = (err: (NodeJS.ErrnoException & { address?: string; port?: number }) | null) => {
          this.#queued--;
          // A local rule's refusal is one lost datagram, as on the batch path (send.ts).
          if (err?.code === 'EPERM') {
            this.#counts.sendRefused++;
            const cause = err;
            publish(channels.sendRefused, () => ({ socket: this.#host.socket, address: endpointText(this.address()),
              to: cause.address, port: cause.port, datagrams: 1, cause }));
            err = null;
          } else if (!err) {
            this.#counts.datagramsOut++;
            this.#counts.messagesOut++;
            this.#counts.sendCalls++;
            this.#counts.bytesOut += len;
          }
          done(err);
        };
        // A borrowed view here is a fresh 'message' Buffer, never reused.
        const at = job.offsets ? job.offsets[i] : job.start;
        const to = g === undefined ? host : hosts![g.of[i]];
        if (to === undefined) this.#sock.send(job.buffers[i], at, len, cb);
        else this.#sock.send(job.buffers[i], at, len, g === undefined ? job.port : g.to[g.of[i]].port, to, cb);
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sock.close();
    for (const abort of this.#pending) abort(notRunning());
    this.#pending.clear();
    this.#queued = 0;
  }
}

export function openPortable(o: BindOptions, host: EngineHost): Promise<PortableEngine> {
  if (o.reusePort) {
    // node:dgram gained reusePort after Node 20; we do not emulate it.
    return Promise.reject(unsupported('reusePort needs the batch path (Linux with the native addon)'));
  }
  // Nor are these raw socket options: refused, never quietly left unset.
  const raw: string[] = (['mark', 'bindToDevice', 'ttl', 'tos'] as const).filter((k) => o[k] !== undefined);
  for (const k of ['dontFragment', 'freebind', 'transparent', 'pacing'] as const) if (o[k]) raw.push(k);
  if (raw.length > 0) return Promise.reject(unsupported(`${raw.join(', ')} need the batch path (Linux with the native addon)`));
  const sock = nodeCreateSocket({
    type: o.type,
    reuseAddr: o.reuseAddr,
    ipv6Only: o.ipv6Only,
    recvBufferSize: o.recvBufferSize,
    sendBufferSize: o.sendBufferSize,
  });
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      sock.close();
      reject(err);
    };
    sock.once('error', onError);
    // A socket made elsewhere (BatchSocket.adopt): node:dgram takes it over, as it is.
    sock.bind(o.fd !== undefined ? { fd: o.fd } : { address: formatAddress(o.address), port: o.port }, () => {
      sock.off('error', onError);
      resolve(new PortableEngine(sock, o, host));
    });
  });
}
