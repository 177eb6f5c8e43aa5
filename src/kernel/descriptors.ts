// The rings' descriptor layout, field by field: the TypeScript side of the
// contract stated at the RECV_META_FIELDS / SEND_MSG_FIELDS / SEND_IOV_FIELDS
// #defines of native/src/batchgram.h. Each descriptor is a run of int32
// fields in an Int32Array registered with the addon; the strides (the field
// counts) are the addon's own, from abi. Writing and reading descriptors
// happens here and nowhere else.
import { abi } from '../wire/abi';

/** Per received message i, written by recvmmsg. Its address is names slot i, its control data control buffer i. */
export const enum RecvMeta { Length = 0, Flags = 1, NameLength = 2, ControlLength = 3 }

/**
 * Per message to send. The address slot is explicit; the control buffer is
 * implicit: message first + j of a sendmmsg(first, count) uses control
 * buffer first + j. A zero length means none.
 */
export const enum SendMsg { FirstIovec = 0, IovecCount = 1, NameSlot = 2, NameLength = 3, ControlLength = 4 }

/** Per iovec to send. */
export const enum SendIov { Buffer = 0, Offset = 1, Length = 2 }

/** Field `f` of received message `m`. */
export function recvMeta(meta: Int32Array, m: number, f: RecvMeta): number {
  return meta[m * abi.RECV_META_FIELDS + f];
}

/** Writes the descriptor of message `m`. */
export function describeMessage(msgs: Int32Array, m: number, firstIovec: number, iovecCount: number, nameSlot: number,
  nameLength: number, controlLength: number): void {
  const at = m * abi.SEND_MSG_FIELDS;
  msgs[at + SendMsg.FirstIovec] = firstIovec;
  msgs[at + SendMsg.IovecCount] = iovecCount;
  msgs[at + SendMsg.NameSlot] = nameSlot;
  msgs[at + SendMsg.NameLength] = nameLength;
  msgs[at + SendMsg.ControlLength] = controlLength;
}

/** Writes iovec `i`: `length` bytes at `offset` of source `buffer` (an index into sendmmsg's buffer array). */
export function describeIovec(iovecs: Int32Array, i: number, buffer: number, offset: number, length: number): void {
  const at = i * abi.SEND_IOV_FIELDS;
  iovecs[at + SendIov.Buffer] = buffer;
  iovecs[at + SendIov.Offset] = offset;
  iovecs[at + SendIov.Length] = length;
}
