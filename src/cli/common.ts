// What the long-running commands share (send/recv, the bench children): when
// a full-speed loop lets the event loop run, what stops them, and which
// socket type an address needs.
import { isIPv6 } from 'node:net';

/**
 * A batch write that the kernel takes at once resolves in a microtask, so a
 * sending loop never reaches the event loop by itself; it yields every this
 * many writes to notice stdin EOF, signals and timers.
 */
export const WRITES_PER_YIELD = 64;

/** Resolves on SIGINT or SIGTERM: the command then finishes and reports as if its time were up. */
export function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** The socket type for an IP literal: udp6 for IPv6, udp4 otherwise. */
export function socketTypeFor(address: string): 'udp4' | 'udp6' {
  return isIPv6(address) ? 'udp6' : 'udp4';
}
