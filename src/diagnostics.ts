// The diagnostics_channel channels batchgram publishes on, all in one place
// (as undici keeps its own). A message is built only when the channel has
// subscribers, so an unobserved socket pays one property read per event.
// Every message names the socket and its local address.
import { channel, type Channel } from 'node:diagnostics_channel';

export const channels = {
  /** A BatchSocket opened: { socket, address }. */
  open: channel('batchgram:socket:open'),
  /** A BatchSocket closed: { socket, address }. */
  close: channel('batchgram:socket:close'),
  /** The kernel refused GSO and the socket turned TX offload off: { socket, address, cause } (cause: the EIO). */
  gsoDisabled: channel('batchgram:gso-disabled'),
  /** The kernel refused a write's ECN (EINVAL, EIO) and the socket sends without it: { socket, address, cause }. */
  ecnDisabled: channel('batchgram:ecn-disabled'),
  /** The kernel's drop counter (SO_RXQ_OVFL) rose: { socket, address, dropped, total }. */
  drops: channel('batchgram:drops'),
  /** An entry of the error queue (receiveErrors): { socket, address, error } (error: the 'icmpError' event's object). */
  icmpError: channel('batchgram:icmp-error'),
  /**
   * A local rule refused datagrams of a write (EPERM), which went on without them:
   * { socket, address, to, port, datagrams, cause } (to and port: their destination; cause: the EPERM).
   */
  sendRefused: channel('batchgram:send-refused'),
  /** A write was refused past sendQueueLimit: { socket, address, limit, queued }. */
  queueFull: channel('batchgram:queue-full'),
};

/** Who an event is about. */
export interface Subject { socket: object | undefined; address: string }

export function publish(ch: Channel, message: () => object): void {
  if (ch.hasSubscribers) ch.publish(message());
}
