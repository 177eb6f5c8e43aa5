// Paths that refused GSO. A GSO message whose segments are larger than the
// path MTU is refused as a whole (EINVAL, or EMSGSIZE), although each of its
// datagrams would leave fine, fragmented, on its own. Remembering the refused
// segment size per destination lets later writes send such datagrams singly
// at once instead of paying a failing call each time.
import { formatAddress, type ParsedAddress } from '../wire/sockaddr';

/**
 * How long a refusal is remembered. Paths change; Linux forgets an MTU it
 * learned from the network after the same time (net.ipv4.route.mtu_expires).
 */
export const REFUSAL_TTL_MS = 10 * 60 * 1000;

/** Destinations remembered at most; past it the oldest refusal is forgotten. */
export const REFUSAL_CAPACITY = 1024;

/** The smallest refused segment size per destination key, each for REFUSAL_TTL_MS. */
export class RefusedSegments {
  readonly #entries = new Map<string, { segment: number; until: number }>();
  readonly #ttl: number;
  readonly #capacity: number;

  constructor(ttl = REFUSAL_TTL_MS, capacity = REFUSAL_CAPACITY) {
    this.#ttl = ttl;
    this.#capacity = capacity;
  }

  /** Nothing is remembered: writes need not look their destinations up. */
  get empty(): boolean { return this.#entries.size === 0; }

  /** The smallest segment size the path to `key` refused, or 0 when none is remembered. */
  limit(key: string, now: number): number {
    const e = this.#entries.get(key);
    if (e === undefined) return 0;
    if (now < e.until) return e.segment;
    this.#entries.delete(key);
    return 0;
  }

  /** The path to `key` refused GSO segments of `segment` bytes. */
  remember(key: string, segment: number, now: number): void {
    const known = this.limit(key, now);
    this.#entries.delete(key); // re-inserted as the newest
    this.#entries.set(key, { segment: known > 0 ? Math.min(known, segment) : segment, until: now + this.#ttl });
    // Oldest first (every refusal re-inserts): forget the expired ones, so
    // that `empty` holds again once they all are, and any past capacity.
    for (const [k, e] of this.#entries) {
      if (e.until > now && this.#entries.size <= this.#capacity) break;
      this.#entries.delete(k);
    }
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }
}

/**
 * Names a destination's path for the refusal cache: its address (the path
 * MTU is the address's, whatever the port), IPv4-mapped ones as IPv4; '' is
 * the connected peer.
 */
export function pathKey(dest: ParsedAddress | null): string {
  if (dest === null) return '';
  return dest.v4mapped ? formatAddress({ family: 4, bytes: dest.bytes.subarray(12), scopeId: 0, v4mapped: false }) : formatAddress(dest);
}
