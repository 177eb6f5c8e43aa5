// A message cut at its segment size into datagrams, the one rule both
// directions share: the kernel hands over several datagrams of one flow as
// a single message with their segment size (UDP_GRO), and a caller hands over
// messages it built (writeMessages' segmentSize, a forwarded GRO message)
// that the engine must cut where they cannot leave whole. Each datagram is
// `segment` bytes but the last, which may be shorter; only offsets and
// lengths are produced, the bytes stay where they are.
import { GroOverflowError } from '../errors';

/** How many datagrams a message of `length` bytes cut every `segment` bytes (0: not cut) holds; an empty one is one. */
export function segmentCount(length: number, segment: number): number {
  return segment > 0 && length > segment ? Math.ceil(length / segment) : 1;
}

/** A writable array of numbers: a typed array of the receive path, or a plain array of the send path. */
interface Numbers { [index: number]: number; readonly length: number }

/** Per-datagram output of a split, sized by the caller (and reused across reads by BatchView). */
export interface SplitOutput {
  offsets: Numbers;
  lengths: Numbers;
  /** Index of the message each datagram came from (for its sender and flags). */
  message: Numbers;
}

/**
 * Splits messages [0, count) into datagrams. Message m starts at
 * `starts[m]`, holds `lengths[m]` bytes, and was cut at `segments[m]` (0
 * when not). Returns the number of datagrams written to `out`; throws
 * GroOverflowError if they would not fit in it.
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

/**
 * A write of whole messages (WriteJob.segments: unit u is `lengths[u]` bytes
 * at `offsets[u]`, or at `start` without offsets, of `buffers[u]`, cut every
 * `segments[u]` bytes, message `of[u]`, or 0 without groups), from unit
 * `from` on, as one unit per datagram: what the engine plans over when a
 * message cannot leave whole (no TX offload, a refused or oversized GSO
 * message, the sentinel workaround).
 */
export function cutMessages(buffers: readonly Uint8Array[], offsets: ArrayLike<number> | null, start: number,
  lengths: ArrayLike<number>, segments: ArrayLike<number>, of: ArrayLike<number> | undefined, from: number):
  { buffers: Uint8Array[]; offsets: number[]; lengths: number[]; of: number[] } {
  const units = lengths.length - from;
  const starts: number[] = new Array(units), own: number[] = new Array(units), cuts: number[] = new Array(units);
  let total = 0;
  for (let k = 0; k < units; k++) {
    starts[k] = offsets === null ? start : offsets[from + k];
    own[k] = lengths[from + k];
    cuts[k] = segments[from + k];
    total += segmentCount(own[k], cuts[k]);
  }
  const out = { offsets: new Array<number>(total), lengths: new Array<number>(total), message: new Array<number>(total) };
  splitCoalesced(starts, own, cuts, units, out);
  // out.message holds each datagram's unit, counted from `from`.
  const cut = { buffers: new Array<Uint8Array>(total), offsets: out.offsets, lengths: out.lengths, of: new Array<number>(total) };
  for (let d = 0; d < total; d++) {
    const u = from + out.message[d];
    cut.buffers[d] = buffers[u];
    cut.of[d] = of === undefined ? 0 : of[u];
  }
  return cut;
}
