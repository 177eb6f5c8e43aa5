// Receive offload: the kernel hands over several datagrams of one flow as a
// single message with their segment size (UDP_GRO), and we cut it back into
// datagrams, in order. Only offsets and lengths are produced; the bytes stay
// where the kernel wrote them.
import { GroOverflowError } from '../errors';

/** How many datagrams a message of `length` bytes coalesced at `segmentSize` (0: none) holds. */
export function segmentCount(length: number, segmentSize: number): number {
  return segmentSize > 0 && length > 0 ? Math.ceil(length / segmentSize) : 1;
}

/** Per-datagram output of a split: arrays sized by the caller, reused across reads. */
export interface SplitOutput {
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** Index of the message each datagram came from (for its sender and flags). */
  message: Uint16Array;
}

/**
 * Splits messages [0, count) into datagrams. Message m starts at
 * `starts[m]`, holds `lengths[m]` bytes, and was coalesced at
 * `segments[m]` (0 when not). The last datagram of a message may be shorter.
 * Returns the number of datagrams written to `out`; throws GroOverflowError
 * if they would not fit in `out`.
 */
export function splitCoalesced(starts: ArrayLike<number>, lengths: ArrayLike<number>, segments: ArrayLike<number>,
  count: number, out: SplitOutput): number {
  const capacity = out.offsets.length;
  let n = 0;
  for (let m = 0; m < count; m++) {
    const length = lengths[m];
    const seg = segments[m] > 0 ? segments[m] : length;
    const base = starts[m];
    const parts = segmentCount(length, segments[m]);
    if (n + parts > capacity) throw new GroOverflowError(capacity);
    for (let start = 0, j = 0; j < parts; j++, start += seg) {
      out.offsets[n] = base + start;
      out.lengths[n] = Math.min(seg, length - start);
      out.message[n] = m;
      n++;
    }
  }
  return n;
}
