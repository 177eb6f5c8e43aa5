// node:dgram's reading of its arguments, for the drop-in: the checks in the
// order dgram makes them, with its error codes and messages, and the forms a
// datagram may be given in (string, Buffer, TypedArray, DataView, a list).
import { BlockList } from 'node:net';
import { badPort, bufferOutOfBounds, invalidArgType, outOfRange } from '../errors';

/** What dgram says a buffer argument must be. */
export const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a number. */
export function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
}

/** A port as a number or numeric string: 1..65535 for connect and send, 0..65535 with `allowZero` (bindSync). */
export function validatePort(port: unknown, name = 'Port', allowZero = false): number {
  const n = Number(port);
  if ((typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    n !== n >>> 0 || n > 0xffff || (port === 0 && !allowZero)) {
    throw badPort(port, name, allowZero);
  }
  return n | 0;
}

/** dgram reads the receiveBlockList and sendBlockList options from Node 22.13 and 23.4 on; before, it ignores them. */
const READS_BLOCK_LISTS = readsBlockLists(process.versions.node);

function readsBlockLists(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13);
}

/** The socket option `name` where the running dgram reads it, checked as it checks it; else undefined. */
export function blockListOption(options: object, name: 'receiveBlockList' | 'sendBlockList'): BlockList | undefined {
  const value = (options as Record<string, unknown>)[name];
  if (!READS_BLOCK_LISTS || !value) return undefined;
  // BlockList.isBlockList came in the same releases; @types/node 20 does not declare it.
  if (!(BlockList as unknown as { isBlockList(v: unknown): boolean }).isBlockList(value)) {
    throw invalidArgType(`options.${name}`, 'an net.BlockList', value); // sic: dgram's wording
  }
  return value as BlockList;
}

/** An unsigned 32-bit integer option (recvBufferSize, sendBufferSize). */
export function validateUint32(value: unknown, name: string): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
}

/** Turns a send's buffer arguments into one Uint8Array view (no copy for one buffer). */
export function asBytes(b: ArrayBufferView): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** buffer[offset, offset + length) for send's (buffer, offset, length) form, checked as dgram checks it. */
export function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  let b: ArrayBufferView;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (ArrayBuffer.isView(buffer)) b = buffer;
  else throw invalidArgType('buffer', BUFFER_TYPES, buffer);
  const off = Number(offset) >>> 0, len = Number(length) >>> 0;
  if (off > b.byteLength) throw bufferOutOfBounds('offset');
  if (off + len > b.byteLength) throw bufferOutOfBounds('length');
  return new Uint8Array(b.buffer, b.byteOffset + off, len);
}

/** A list of buffers as Uint8Arrays, or null when one is of no accepted type. */
export function bufferList(list: unknown[]): Uint8Array[] | null {
  const out = new Array<Uint8Array>(list.length);
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    if (typeof b === 'string') out[i] = Buffer.from(b);
    else if (ArrayBuffer.isView(b)) out[i] = asBytes(b);
    else return null;
  }
  return out;
}
