// Addresses as libuv reads them (uv_ip4_addr, uv_ip6_addr): literals only,
// and an IPv6 zone is an interface name (an unknown name is zone 0); and as
// Node reports them, with a link-local address's zone as an interface name.
import { readdirSync, readFileSync } from 'node:fs';
import { interfaceIndex, parseAddress, type ParsedAddress } from '../wire/sockaddr';

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

/** An IPv4 literal, or null. */
export function ip4(text: string): ParsedAddress | null {
  const a = parseAddress(text);
  return a !== null && a.family === 4 ? a : null;
}

/** An IPv6 literal with an optional %interface zone, or null. */
export function ip6(text: string): ParsedAddress | null {
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
export function nodeAddress(address: string): string {
  const pct = address.indexOf('%');
  if (pct < 0) return address;
  const host = address.slice(0, pct);
  return /^fe[89ab]/i.test(host) ? `${host}%${interfaceName(Number(address.slice(pct + 1)))}` : host;
}

/** The address a lookup gave, in the socket's family, or null (dgram then fails with EINVAL). */
export function inFamily(ip: unknown, family: 4 | 6): ParsedAddress | null {
  if (typeof ip !== 'string') return null;
  return family === 4 ? ip4(ip) : ip6(ip);
}


/** The any-address of each family, where libuv binds a socket a multicast call needs before bind(). */
export const ANY4 = parseAddress('0.0.0.0')!;
export const ANY6 = parseAddress('::')!;
