// What the bench harness and its children share: the implementations, the
// C program matching each, and the line protocol of a child's stdout
// (bench/udpref.c defines it; child.ts speaks it for Node).

/**
 * Implementations run by child.ts. gso-iter sends as gso does and reads
 * with for await. gso-msgs sends with writeMessages, each write one
 * caller-built segmentSize message, and reads as gso-zero does.
 * rr-dgram and rr-compat are request/response: an echo server written for
 * node:dgram (on node:dgram, and on the drop-in) answering many clients that
 * keep requests in flight; the clients are the same batchgram process for both.
 * dns-dgram and dns-compat are the same with a DNS-like server (dns.ts): each
 * query parsed and answered in JavaScript. The cost rows (COST_IMPLS) follow.
 */
export const NODE_IMPLS = ['dgram', 'dgram-compat', 'mmsg', 'gso', 'gso-iter', 'gso-zero', 'gso-msgs', 'rr-dgram', 'rr-compat',
  'dns-dgram', 'dns-compat', 'create-dgram', 'create-compat', 'sockets-dgram', 'sockets-compat', 'pingpong-dgram', 'pingpong-compat'] as const;
/**
 * Cost rows: what the drop-in costs where dgram code does little, the same
 * code on node:dgram (-dgram) and on createSocket (-compat). create: sockets
 * created, bound, sending one datagram and closed, one after another (CPU per
 * socket); sockets: SOCKETS_HELD sockets bound, each sending one datagram and
 * receiving its echo (resident and V8 external memory added); pingpong: one
 * request in flight between a client and an echo server, both on the module
 * under test (round trip, and CPU per round trip of both processes).
 */
export const COST_KINDS = ['create', 'sockets', 'pingpong'] as const;
export type CostKind = (typeof COST_KINDS)[number];
export type CostImpl = `${CostKind}-dgram` | `${CostKind}-compat`;
/** Sockets a sockets-* row holds. */
export const SOCKETS_HELD = 200;
/** Modes of bench/udpref.c. */
export const C_IMPLS = ['c-plain', 'c-gso'] as const;
/** The batchgram relay of child.ts (forwardTo in the 'view' listener). */
export const NODE_RELAY = 'relay';
/** Relays, each between the C sender and the C receiver in gso mode: batchgram's, and `udpref relay`. */
export const RELAY_IMPLS = [NODE_RELAY, 'c-relay'] as const;
export const IMPLS = [...NODE_IMPLS, ...C_IMPLS, ...RELAY_IMPLS] as const;
export type NodeImpl = (typeof NODE_IMPLS)[number];
export type CImpl = (typeof C_IMPLS)[number];
export type RelayImpl = (typeof RELAY_IMPLS)[number];
export type Impl = NodeImpl | CImpl | RelayImpl;

/**
 * The C program making the same system calls with the same offloads: the
 * ceiling for each implementation. The request/response rows have none.
 */
export const C_MATCH: Record<Impl, CImpl | 'c-relay' | null> = {
  dgram: 'c-plain', 'dgram-compat': 'c-gso', mmsg: 'c-plain', gso: 'c-gso', 'gso-iter': 'c-gso', 'gso-zero': 'c-gso', 'gso-msgs': 'c-gso',
  'c-plain': 'c-plain', 'c-gso': 'c-gso', relay: 'c-relay', 'c-relay': 'c-relay', 'rr-dgram': null, 'rr-compat': null,
  'dns-dgram': null, 'dns-compat': null, 'create-dgram': null, 'create-compat': null, 'sockets-dgram': null, 'sockets-compat': null,
  'pingpong-dgram': null, 'pingpong-compat': null,
};

/** The node:dgram row each row's ×dgram compares with: request/response and cost rows with their own; relays with none. */
export function dgramMatch(impl: Impl): Impl | null {
  const server = serverKind(impl);
  if (server !== null) return `${server}-dgram`;
  const kind = costKind(impl);
  if (kind !== null) return `${kind}-dgram`;
  return isRelay(impl) ? null : 'dgram';
}

/** What a child reports when it is done. seconds: receiver first→last datagram, sender start→end. */
export interface ChildCounts {
  datagrams: number;
  bytes: number;
  seconds: number;
  cpuUser: number;
  cpuSystem: number;
  /** System calls (recvmmsg/sendmmsg; node:dgram one per datagram). */
  calls: number;
  /** Messages: fewer than datagrams when GSO/GRO coalesced them. */
  messages: number;
  /** udpref send and relay: sendmmsg calls retried after EAGAIN/ENOBUFS. */
  retries?: number;
  /** The Node relay: datagrams it dropped because its send queue was full. */
  dropped?: number;
  /** Request/response and ping-pong clients: responses received, i.e. transactions completed. */
  transactions?: number;
  /** sockets-* senders: resident and V8 external bytes that SOCKETS_HELD sockets added, after a full GC each time. */
  rssAdded?: number;
  externalAdded?: number;
  /**
   * Node receivers, always: resident bytes sampled every 250 ms from one
   * second of traffic on, and once at the end (after the drain). rssWarm is
   * the first sample (the end one, for a run with less than a second of
   * traffic), rssMin and rssMax the range of all samples, rssEnd the last.
   */
  rssWarm?: number;
  rssMin?: number;
  rssMax?: number;
  rssEnd?: number;
}

/** One line of a child's stdout (bench/udpref.c defines the protocol). */
export type ChildEvent =
  | { event: 'ready'; port: number }
  | { event: 'progress'; datagrams: number; bytes: number }
  | ({ event: 'done' } & ChildCounts);

export function isCImpl(impl: Impl): impl is CImpl {
  return (C_IMPLS as readonly Impl[]).includes(impl);
}

export function isRelay(impl: Impl): impl is RelayImpl {
  return (RELAY_IMPLS as readonly Impl[]).includes(impl);
}

/**
 * The server of a request/response row (the receiver a server, the sender its
 * clients): 'rr' echoes, 'dns' answers DNS queries; null for other rows.
 */
export function serverKind(impl: Impl): 'rr' | 'dns' | null {
  return impl === 'rr-dgram' || impl === 'rr-compat' ? 'rr' : impl === 'dns-dgram' || impl === 'dns-compat' ? 'dns' : null;
}

/** The cost row kind of an implementation, or null for a throughput row. */
export function costKind(impl: Impl): CostKind | null {
  return COST_KINDS.find((k) => impl === `${k}-dgram` || impl === `${k}-compat`) ?? null;
}

export function isCost(impl: Impl): impl is CostImpl {
  return costKind(impl) !== null;
}
