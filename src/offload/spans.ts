// Where each datagram of a write lies in its buffer: from the write's offset,
// or, with a Geneve header, from the 8 bytes before it. The checks of a
// write's buffers against the destination's payload limit live here too, so
// the engine receives spans it can plan GSO messages over without looking.
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
