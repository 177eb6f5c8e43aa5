// Where each datagram of a write lies in its buffer: from the write's offset,
// or, with a Geneve header, from the 8 bytes before it. The checks of a
// write's buffers against the destination's payload limit live here too, so
// the engine receives spans it can plan GSO messages over without looking;
// and the datagrams of caller-built messages, where they must be cut.
import { isUint8Array } from 'node:util/types';
import { invalidArgType, outOfRange } from '../errors';
import { GENEVE_FIXED_HEADER_LENGTH, type GeneveHeader } from '../wire/geneve';

/**
 * Where each buffer's datagram lies: from `offset`, or with a Geneve header
 * whose VNI is set, from the 8 bytes before it, which the header fills.
 * Validates that every buffer has room and fits the destination's payload
 * limit, then writes the headers; nothing is written if any check fails.
 * The caller's array is read once, into `buffers`: what was checked is what
 * is sent, whatever its getters do later.
 */
export function datagramSpans(caller: readonly Uint8Array[], offset: number, geneve: GeneveHeader | undefined,
  maxPayload: number): { buffers: Uint8Array[]; start: number; lengths: number[] } {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw outOfRange('options.offset', 'an integer >= 0', offset);
  }
  const withHeader = geneve?.vniIsSet === true;
  if (withHeader && offset < GENEVE_FIXED_HEADER_LENGTH) {
    throw outOfRange('options.offset', `>= ${GENEVE_FIXED_HEADER_LENGTH} to leave room for the Geneve header`, offset);
  }
  const start = withHeader ? offset - GENEVE_FIXED_HEADER_LENGTH : offset;
  const n = caller.length;
  const buffers: Uint8Array[] = new Array(n);
  const lengths: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = caller[i];
    if (!isUint8Array(b)) throw invalidArgType(`buffers[${i}]`, 'a Uint8Array', b);
    const size = b.length;
    const len = size - start;
    if (size < offset) throw outOfRange(`buffers[${i}].length`, `>= offset (${offset})`, size);
    if (len > maxPayload) throw outOfRange(`buffers[${i}] datagram length`, `<= ${maxPayload} for this destination`, len);
    buffers[i] = b;
    lengths[i] = len;
  }
  // Written once, before the first try: a retry sends the very same bytes.
  // The header's fields are read once too, into the bytes every buffer gets.
  if (withHeader) {
    const header = new Uint8Array(GENEVE_FIXED_HEADER_LENGTH);
    geneve.encode(header, 0);
    for (const b of buffers) b.set(header, start);
  }
  return { buffers, start, lengths };
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
  const out = { buffers: [] as Uint8Array[], offsets: [] as number[], lengths: [] as number[], of: [] as number[] };
  for (let u = from; u < lengths.length; u++) {
    const seg = segments[u] > 0 ? segments[u] : lengths[u];
    let at = offsets === null ? start : offsets[u];
    const end = at + lengths[u];
    do {
      out.buffers.push(buffers[u]);
      out.offsets.push(at);
      out.lengths.push(Math.min(seg, end - at));
      out.of.push(of === undefined ? 0 : of[u]);
      at += seg;
    } while (at < end);
  }
  return out;
}
