// IP literals to and from struct sockaddr_in / sockaddr_in6 bytes: the form
// addresses take in the registered memory the kernel reads and writes.
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { MAX_IPV4_PAYLOAD, MAX_IPV6_PAYLOAD } from '../limits';
import { abi } from './abi';
import { HOST_LITTLE_ENDIAN } from './byteorder';

export type Family = 'IPv4' | 'IPv6';

/** An IP literal resolved for a socket: its 16-byte (or 4-byte) form and scope. */
/** Never changed once made: the sender keeps encoded sockaddrs by the object's identity. */
export interface ParsedAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array; // 4 or 16 bytes, network order
  readonly scopeId: number;
  /** True for ::ffff:a.b.c.d, whose datagrams travel as IPv4 and obey IPv4's limits. */
  readonly v4mapped: boolean;
}

function parseIPv4(s: string, out: Uint8Array, at: number): void {
  const parts = s.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** The kernel's index of the network interface called `name`, or null when there is none. */
export function interfaceIndex(name: string): number | null {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return null;
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) || null;
  } catch {
    return null;
  }
}

// An IPv6 zone: an interface index, or an interface name.
function scopeIdOf(zone: string): number {
  return /^\d+$/.test(zone) ? Number(zone) : interfaceIndex(zone) ?? -1;
}

/**
 * Parses an IPv4 or IPv6 literal (IPv6 may carry a %zone), or returns null
 * when it is not one. Host names are not resolved: a batch goes to one
 * address, and a DNS lookup per write has no place on the hot path.
 */
export function parseAddress(address: string): ParsedAddress | null {
  if (isIPv4(address)) {
    const bytes = new Uint8Array(4);
    parseIPv4(address, bytes, 0);
    return { family: 4, bytes, scopeId: 0, v4mapped: false };
  }
  const pct = address.indexOf('%');
  const host = pct < 0 ? address : address.slice(0, pct);
  if (!isIPv6(host)) return null;
  const scopeId = pct < 0 ? 0 : scopeIdOf(address.slice(pct + 1));
  if (scopeId < 0 || scopeId > 0xffffffff) return null;
  const bytes = new Uint8Array(16);
  let tail = host;
  let tailV4 = '';
  const lastColon = host.lastIndexOf(':');
  if (host.indexOf('.', lastColon) > 0) {
    tailV4 = host.slice(lastColon + 1);
    tail = host.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = tail.includes('::') ? tail.split('::') : [tail, undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined
    ? headGroups
    : [...headGroups, ...new Array(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i], 16);
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  }
  if (tailV4) parseIPv4(tailV4, bytes, 12);
  return { family: 6, bytes, scopeId, v4mapped: isV4Mapped(bytes) };
}

// Addresses as libuv reads them (uv_ip4_addr, uv_ip6_addr), for the calls
// that take them as node:dgram does: literals only, and an IPv6 zone is an
// interface name (an unknown name is zone 0).

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

/** An address of `family` as libuv reads one, or null (a value that is not text included). */
export function inFamily(ip: unknown, family: 4 | 6): ParsedAddress | null {
  if (typeof ip !== 'string') return null;
  return family === 4 ? ip4(ip) : ip6(ip);
}

function isV4Mapped(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[at + i] !== 0) return false;
  return b[at + 10] === 0xff && b[at + 11] === 0xff;
}

/**
 * The largest UDP payload towards `a`: IPv4's for IPv4 and IPv4-mapped
 * addresses, whose datagrams travel as IPv4, IPv6's otherwise.
 */
export function maxPayloadTo(a: ParsedAddress): number {
  return a.family === 4 || a.v4mapped ? MAX_IPV4_PAYLOAD : MAX_IPV6_PAYLOAD;
}

/** The IPv4-mapped IPv6 form of an IPv4 address, for udp6 sockets. */
export function toV4Mapped(a: ParsedAddress): ParsedAddress {
  if (a.family === 6) return a;
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(a.bytes, 12);
  return { family: 6, bytes, scopeId: 0, v4mapped: true };
}

/** sizeof(struct sockaddr_in)... */
export const SOCKADDR_IN_SIZE = 16;
/** ...and sizeof(struct sockaddr_in6). */
export const SOCKADDR_IN6_SIZE = 28;

/** Writes a sockaddr for `a`:`port` at `at` and returns its length (SOCKADDR_IN_SIZE or SOCKADDR_IN6_SIZE). */
export function encodeSockaddr(out: Uint8Array, at: number, a: ParsedAddress, port: number): number {
  const v = new DataView(out.buffer, out.byteOffset + at, abi.SOCKADDR_SLOT);
  out.fill(0, at, at + abi.SOCKADDR_SLOT);
  v.setUint16(2, port, false); // sin_port / sin6_port: network order
  if (a.family === 4) {
    v.setUint16(0, abi.AF_INET, HOST_LITTLE_ENDIAN);
    out.set(a.bytes, at + 4);
    return SOCKADDR_IN_SIZE;
  }
  v.setUint16(0, abi.AF_INET6, HOST_LITTLE_ENDIAN);
  out.set(a.bytes, at + 8);
  v.setUint32(24, a.scopeId, HOST_LITTLE_ENDIAN);
  return SOCKADDR_IN6_SIZE;
}

function hex(n: number): string { return n.toString(16); }

/**
 * Formats the IPv6 address at `b[at, at + 16)` the way Node's own sockets
 * report it (libuv's inet_ntop): the longest run of two or more zero groups
 * becomes '::', and IPv4-mapped or IPv4-compatible addresses end in dotted
 * decimal.
 */
function formatIPv6(b: Uint8Array, at: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const dotted = `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    return (bestLen === 6 ? '::' : '::ffff:') + dotted;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) { s += '::'; i += bestLen - 1; continue; }
    if (s && !s.endsWith(':')) s += ':';
    s += hex(w[i]);
  }
  return s;
}

/** The literal form of a parsed address (IPv6 canonical, with its numeric zone). */
export function formatAddress(a: ParsedAddress): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return formatIPv6(b, 0) + (a.scopeId ? `%${a.scopeId}` : '');
}

/** 'address:port', the IPv6 address in brackets. */
export function endpointText(a: SocketAddress): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** A decoded sockaddr. */
export interface SocketAddress { address: string; family: Family; port: number }

/** Reads the sockaddr at `at`; the family field says which form it is. */
export function decodeSockaddr(b: Uint8Array, at: number): SocketAddress {
  const v = new DataView(b.buffer, b.byteOffset + at, abi.SOCKADDR_SLOT);
  const fam = v.getUint16(0, HOST_LITTLE_ENDIAN);
  const port = v.getUint16(2, false);
  if (fam === abi.AF_INET) {
    return { address: `${b[at + 4]}.${b[at + 5]}.${b[at + 6]}.${b[at + 7]}`, family: 'IPv4', port };
  }
  if (fam === abi.AF_INET6) {
    const scope = v.getUint32(24, HOST_LITTLE_ENDIAN);
    const address = formatIPv6(b, at + 8) + (scope ? `%${scope}` : '');
    return { address, family: 'IPv6', port };
  }
  throw new RangeError(`unexpected address family ${fam}`);
}

/** A sockaddr's fields as readSockaddr fills them: the address in the first 4 or 16 bytes of `address`. */
export interface SockaddrFields { family: 4 | 6; address: Uint8Array; port: number; scopeId: number }

/** Fields to fill, with room for either family. */
export function sockaddrFields(): SockaddrFields {
  return { family: 4, address: new Uint8Array(16), port: 0, scopeId: 0 };
}

/**
 * Reads the sockaddr_in or sockaddr_in6 in `v[at, end)` into `into` without
 * allocating, and returns true; false, leaving `into` as it was, when its
 * family is neither or the bytes are too few for it.
 */
export function readSockaddr(v: DataView, at: number, end: number, into: SockaddrFields): boolean {
  if (end - at < 2) return false;
  const fam = v.getUint16(at, HOST_LITTLE_ENDIAN);
  if (fam === abi.AF_INET && end - at >= SOCKADDR_IN_SIZE) {
    into.family = 4;
    for (let i = 0; i < 4; i++) into.address[i] = v.getUint8(at + 4 + i);
    into.scopeId = 0;
  } else if (fam === abi.AF_INET6 && end - at >= SOCKADDR_IN6_SIZE) {
    into.family = 6;
    for (let i = 0; i < 16; i++) into.address[i] = v.getUint8(at + 8 + i);
    into.scopeId = v.getUint32(at + 24, HOST_LITTLE_ENDIAN);
  } else {
    return false;
  }
  into.port = v.getUint16(at + 2, false);
  return true;
}
