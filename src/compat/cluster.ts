// Cluster workers: where dgram's bind() hands the socket to the cluster
// primary, and how the drop-in asks for it the way dgram does. In a worker,
// dgram binds a socket of its own only for `exclusive: true` (implicit binds
// before a send or connect are exclusive) and, from Node 22.12, for
// `reusePort: true`; any other bind asks the primary, which binds once per
// address and hands every worker that asks a descriptor of that one socket.
import cluster from 'node:cluster';
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:os';

// libuv's uv_udp_flags (uv.h), which the primary's dgram passes to uv_udp_bind.
const UV_UDP_IPV6ONLY = 1;
const { UV_UDP_REUSEADDR } = constants;

/** The one socket of an address the primary bound, as a worker holds it. */
export interface SharedHandle {
  /** This worker's descriptor of the primary's socket. */
  readonly fd: number;
  /** Closes the descriptor and tells the primary, which closes its socket when no worker holds it. */
  close(callback?: () => void): void;
}

/** What dgram asks the primary for: an address to bind, or (fd >= 0) a descriptor of the primary's to open. */
export interface SharedRequest {
  address: string | null;
  port: number | null;
  addressType: 'udp4' | 'udp6';
  fd: number;
  flags: number | null;
}

type GetServer = (socket: EventEmitter & { address(): AddressInfo }, request: SharedRequest,
  callback: (errno: number, handle: SharedHandle) => void) => void;

/**
 * Whether bind() in this process asks the cluster primary for its socket:
 * in a worker, unless the bind is exclusive or reusePort asked for a socket
 * of its own (Node 24's dgram treats reusePort as exclusive too).
 */
export function sharedByPrimary(exclusive: boolean, reusePort: boolean): boolean {
  return cluster.isWorker && !exclusive && !reusePort;
}

/** The bind flags dgram sends the primary. */
export function sharedFlags(reuseAddr: boolean, ipv6Only: boolean): number {
  return (reuseAddr ? UV_UDP_REUSEADDR : 0) | (ipv6Only ? UV_UDP_IPV6ONLY : 0);
}

/**
 * Asks the primary for the socket, through the request dgram makes (cluster's
 * `_getServer`, internal to Node but the same on every line from 20 on): the
 * callback gets a negative errno from the primary's bind, or the handle. The
 * worker reports itself listening to the primary on the socket's 'listening'.
 */
export function askPrimary(socket: EventEmitter & { address(): AddressInfo }, request: SharedRequest,
  callback: (errno: number, handle: SharedHandle) => void): void {
  (cluster as unknown as { _getServer: GetServer })._getServer(socket, request, callback);
}
