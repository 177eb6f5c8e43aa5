// The capability state: what the kernel does for one socket, in one object
// that its engine owns and everyone else reads (the socket's `capabilities`,
// the sender's GSO plans, the CLI's probe). The kernel can take a capability
// back at run time (EIO on a GSO send) and the caller can switch offloads
// (setOffload); both go through here, so no copy of a flag can go stale.
// quinn-udp keeps the same per socket (UdpSocketState).

export interface Capabilities {
  /** Many datagrams per system call (recvmmsg/sendmmsg). */
  batching: boolean;
  /** UDP_SEGMENT: the kernel cuts one send into many datagrams. Can turn off at run time (EIO). */
  txOffload: boolean;
  /** UDP_GRO: the kernel hands over many datagrams of a flow as one message. */
  rxOffload: boolean;
  /** SO_RXQ_OVFL: the kernel reports how many datagrams it dropped for this socket. */
  rxqOverflowCounter: boolean;
  /**
   * ECN both ways: each datagram's ECN bits read (IP_RECVTOS / IPV6_RECVTCLASS,
   * asked for with receiveEcn) and a write's `ecn` sent. Turns false at run
   * time when the kernel refuses a write's ECN (EINVAL, EIO): later writes go without it.
   */
  ecn: boolean;
  /** IP_PKTINFO / IPV6_RECVPKTINFO: each datagram's local address and interface (receiveLocalAddress). */
  localAddress: boolean;
  /** SO_TIMESTAMPNS: each datagram's receive time (receiveTimestamps). */
  timestamps: boolean;
  /** IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR: where each datagram was going (receiveOriginalDestination). */
  originalDestination: boolean;
  /** The kernel may fragment a datagram above the path MTU; false with dontFragment. */
  mayFragment: boolean;
  /** IP_RECVERR / IPV6_RECVERR: ICMP errors arrive as 'icmpError' events (asked for with receiveErrors). */
  icmpErrors: boolean;
  /**
   * SO_TXTIME (asked for with pacing): writeMessages' `txTime` reaches the kernel. The spacing itself is the
   * outgoing interface's queueing discipline's (fq, etf), which a socket cannot see.
   */
  pacing: boolean;
}

/** What a socket does in the kernel, as `capabilities` reports it. */
export interface SocketCapabilities extends Capabilities {
  /** Most datagrams one GSO message carries: the kernel's limit (64, or 128 on newer kernels) with TX offload, else 1. */
  maxGsoSegments: number;
}

/** One socket's capabilities, as they stand now. */
export class CapabilityState {
  readonly #now: Capabilities;
  /** The kernel's segment limit (kernel/support.ts gsoSegmentLimit), known where TX offload ever was. */
  #gsoLimit: number;
  /** The kernel refused GSO (EIO) and TX offload went off here, until a setOffload turns it on. */
  #gsoRefused = false;

  constructor(initial: Capabilities, gsoLimit: number) {
    this.#now = { ...initial };
    this.#gsoLimit = gsoLimit;
  }

  get batching(): boolean { return this.#now.batching; }
  get txOffload(): boolean { return this.#now.txOffload; }
  get rxOffload(): boolean { return this.#now.rxOffload; }
  get mayFragment(): boolean { return this.#now.mayFragment; }
  get icmpErrors(): boolean { return this.#now.icmpErrors; }
  get pacing(): boolean { return this.#now.pacing; }

  /** Datagrams one GSO message may carry now; 1 without TX offload. */
  get maxGsoSegments(): number { return this.#now.txOffload ? this.#gsoLimit : 1; }

  /** TX offload went off because the kernel refused it (stats().gsoDisabled), not at the caller's word. */
  get gsoDisabled(): boolean { return this.#gsoRefused && !this.#now.txOffload; }

  /** The kernel refused a GSO send with EIO: TX offload is off for good, unless the caller turns it on. */
  refuseGso(): void {
    this.#now.txOffload = false;
    this.#gsoRefused = true;
  }

  /** The kernel refused a write's ECN: writes go without it from now on. */
  refuseEcn(): void {
    this.#now.ecn = false;
  }

  /** The caller's setOffload, as the kernel answered it; `gsoLimit` where TX offload is on. */
  setTxOffload(on: boolean, gsoLimit: number): void {
    if (on) {
      this.#gsoRefused = false;
      this.#gsoLimit = gsoLimit;
    }
    this.#now.txOffload = on;
  }

  setRxOffload(on: boolean): void {
    this.#now.rxOffload = on;
  }

  /** A copy for the caller, which changes nothing here. */
  snapshot(): SocketCapabilities {
    return { ...this.#now, maxGsoSegments: this.maxGsoSegments };
  }
}
