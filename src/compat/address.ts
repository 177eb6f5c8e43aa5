// libuv's address rules (the reading of literals is wire/sockaddr.ts's ip4
// and ip6), and addresses as Node reports them, with a link-local address's
// zone as an interface name.
import { readdirSync, readFileSync } from 'node:fs';
import { parseAddress } from '../wire/sockaddr';

/**
 * The running Node's dgram answers an IP address of the socket's family by
 * itself, on the next tick, for a socket without a lookup option: dns.lookup,
 * even a replaced one, is not called for it (nodejs/node#64133, from 24.19
 * and 26.5). Earlier releases ask dns.lookup for every address.
 */
export const DEFAULT_LOOKUP_SKIPS_IP = skipsIpLookup(process.versions.node);

function skipsIpLookup(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 26 || (major === 26 && minor >= 5) || (major === 24 && minor >= 19);
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
export function nodeAddress(address: string): string {
  const pct = address.indexOf('%');
  if (pct < 0) return address;
  const host = address.slice(0, pct);
  return /^fe[89ab]/i.test(host) ? `${host}%${interfaceName(Number(address.slice(pct + 1)))}` : host;
}

/** The any-address of each family, where libuv binds a socket a multicast call needs before bind(). */
export const ANY4 = parseAddress('0.0.0.0')!;
export const ANY6 = parseAddress('::')!;
