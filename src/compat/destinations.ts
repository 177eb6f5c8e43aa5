// The addresses a socket's sends name, each text parsed once: a server
// answering its clients sends to the same few addresses over and over, and
// parsing the text (and naming the destination's group) on every send showed
// in its profile.
import { formatAddress, inFamily, type ParsedAddress } from '../wire/sockaddr';

/** A destination of the socket's sends. */
export interface Destination {
  address: ParsedAddress;
  /** The same for every text naming this address (SendBatcher groups sends by it). */
  id: number;
}

/**
 * Texts (and addresses) remembered at most; past it they are all forgotten,
 * and a socket writing to more addresses than this parses them as if nothing
 * were kept.
 */
const MAX_TEXTS = 1024;

export class Destinations {
  readonly #family: 4 | 6;
  readonly #byText = new Map<string, Destination>();
  /** By formatAddress: the texts of one address (::ffff:7f00:1, ::ffff:127.0.0.1) share one id. */
  readonly #byAddress = new Map<string, Destination>();
  /** Texts the socket's lookup was asked for and answered with themselves. */
  readonly #selfAnswered = new Set<string>();
  #nextId = 0;

  constructor(family: 4 | 6) {
    this.#family = family;
  }

  /** Whether the lookup answered `text` with itself before (and this is remembered). */
  known(text: string): boolean {
    return this.#selfAnswered.has(text);
  }

  /**
   * The lookup answered `text` with itself, as dns.lookup does an IP address.
   * Only such an answer is remembered: what a lookup answers for another
   * text (a name, or an address a replaced lookup redirects) says nothing
   * about what it answers for this one.
   */
  answeredItself(text: string): void {
    // Only a text kept (see get: not one with a zone) is remembered.
    if (this.#byText.has(text)) this.#selfAnswered.add(text);
  }

  /** The destination a lookup's result names in the socket's family, or null (dgram then fails with EINVAL). */
  get(ip: unknown): Destination | null {
    if (typeof ip !== 'string') return null;
    const known = this.#byText.get(ip);
    if (known !== undefined) return known;
    const address = inFamily(ip, this.#family);
    if (address === null) return null;
    if (this.#byText.size >= MAX_TEXTS || this.#byAddress.size >= MAX_TEXTS) {
      // Ids keep counting: a group of this round under the old id stays apart and keeps its order.
      this.#byText.clear();
      this.#byAddress.clear();
      this.#selfAnswered.clear();
    }
    const name = formatAddress(address);
    let d = this.#byAddress.get(name);
    if (d === undefined) {
      d = { address, id: this.#nextId++ };
      this.#byAddress.set(name, d);
    }
    // A zone is an interface's name, whose index can change: such a text is read every time.
    if (!ip.includes('%')) this.#byText.set(ip, d);
    return d;
  }
}
