// How the drop-in resolves the address of a bind, connect or send, as dgram
// does: with the socket's lookup option, or dns.lookup as it is when the
// socket is made (an application may have replaced it), the loopback address
// for none; which addresses the lookup would answer with themselves, so
// that a send to one needs no call (send-path.ts); and the destination each
// answer names.
import * as dns from 'node:dns';
import { isIP } from 'node:net';
import { DEFAULT_LOOKUP_SKIPS_IP } from './address';
import { Destinations, type Destination } from './destinations';

export type Lookup = (hostname: string, family: number,
  callback: (err: Error | null, address: string, family?: number) => void) => void;

/**
 * dns.lookup as this module found it, which answers an IP address with itself
 * on the next tick.
 */
const dnsLookup = dns.lookup as Lookup;

export class HostLookup {
  readonly #family: 4 | 6;
  readonly #lookup: Lookup;
  /** #lookup is dns.lookup, which answers an IP address with itself on the next tick. */
  readonly #isDns: boolean;
  /** This dgram answers an IP address of the socket's family without a lookup (DEFAULT_LOOKUP_SKIPS_IP). */
  readonly #skipsIp: boolean;
  readonly #destinations: Destinations;

  /** `lookup` is the socket's option. */
  constructor(family: 4 | 6, lookup: Lookup | undefined) {
    this.#family = family;
    this.#lookup = lookup ?? (dns.lookup as Lookup);
    this.#isDns = this.#lookup === dnsLookup;
    this.#skipsIp = DEFAULT_LOOKUP_SKIPS_IP && lookup === undefined;
    this.#destinations = new Destinations(family);
  }

  /** Resolves `address` (the loopback address when empty) to an IP address of the socket's family. */
  resolve(address: string | undefined, cb: (err: Error | null, ip: string) => void): void {
    const host = address || (this.#family === 4 ? '127.0.0.1' : '::1');
    if (this.#skipsIp && isIP(host) === this.#family) process.nextTick(cb, null, host);
    else this.#lookup(host, this.#family, cb);
  }

  /**
   * The destination `ip` names in the socket's family, or null (dgram then
   * fails with EINVAL); `address` is the text the send named, which the
   * lookup answered with `ip`.
   */
  destination(ip: string, address: string | undefined): Destination | null {
    const dest = this.#destinations.get(ip);
    if (ip === address && this.#isDns) this.#destinations.answeredItself(ip);
    return dest;
  }

  /**
   * Whether a lookup of `host` would answer it with itself on the next tick
   * without calling anything a user could see: the running dgram's rule
   * (DEFAULT_LOOKUP_SKIPS_IP), or before it an address the original
   * dns.lookup answered with itself before.
   */
  answersItself(host: string): boolean {
    return this.#skipsIp ? isIP(host) === this.#family : this.#isDns && this.#destinations.known(host);
  }
}
