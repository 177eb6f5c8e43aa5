// node:dgram's reading of its arguments, for the drop-in: the checks in the
// order dgram makes them, with its error codes and messages; which of its
// forms a createSocket, bind or send call is; and the forms a datagram may be
// given in (string, Buffer, TypedArray, DataView, a list).
import type * as dgram from 'node:dgram';
import { isIP, type BlockList } from 'node:net';
import {
  alreadyConnected, badPort, badSocketType, bufferOutOfBounds, invalidArgType, invalidArgValue, outOfRange,
} from '../errors';
import { blockListOption } from './block-lists';
import type { Lookup } from './lookup';
import type { SendCallback } from './send-batcher';
import type { SocketOptions } from './socket';

/** What dgram says a buffer argument must be. */
const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a string. */
export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a number. */
export function validateNumber(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
}

/** The address argument of bindSync and connectSync (`method`), given: a string holding an IP literal, as they check it. */
export function numericAddress(value: unknown, name: string, method: string): string {
  validateString(value, name);
  if (isIP(value) === 0) throw invalidArgValue(name, value, `must be a numeric IP address; ${method} does not perform DNS resolution`);
  return value;
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

/** An unsigned 32-bit integer option (recvBufferSize, sendBufferSize). */
function validateUint32(value: unknown, name: string): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
}

/** Turns a send's buffer arguments into one Uint8Array view (no copy for one buffer). */
function asBytes(b: ArrayBufferView): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** buffer[offset, offset + length) for send's (buffer, offset, length) form, checked as dgram checks it. */
function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
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
function bufferList(list: unknown[]): Uint8Array[] | null {
  const out = new Array<Uint8Array>(list.length);
  for (let i = 0; i < list.length; i++) {
    const b = list[i];
    if (typeof b === 'string') out[i] = Buffer.from(b);
    else if (ArrayBuffer.isView(b)) out[i] = asBytes(b);
    else return null;
  }
  return out;
}

/** createSocket's first argument, read: a type, or options that name one. */
export interface SocketArguments {
  type: 'udp4' | 'udp6';
  options: SocketOptions | undefined;
  lookup: Lookup | undefined;
  receiveBlockList: BlockList | undefined;
  sendBlockList: BlockList | undefined;
}

/** createSocket's first argument, checked as dgram checks it (the signal option is checked later, by the socket). */
export function socketArguments(type: unknown): SocketArguments {
  let lookup: unknown;
  let options: SocketOptions | undefined;
  let receiveBlockList: BlockList | undefined, sendBlockList: BlockList | undefined;
  if (type !== null && typeof type === 'object') {
    options = type as SocketOptions;
    type = options.type;
    lookup = options.lookup;
    if (options.recvBufferSize) validateUint32(options.recvBufferSize, 'options.recvBufferSize');
    if (options.sendBufferSize) validateUint32(options.sendBufferSize, 'options.sendBufferSize');
    receiveBlockList = blockListOption(options, 'receiveBlockList');
    sendBlockList = blockListOption(options, 'sendBlockList');
  }
  if (lookup !== undefined && typeof lookup !== 'function') throw invalidArgType('lookup', 'of type function', lookup);
  if (type !== 'udp4' && type !== 'udp6') throw badSocketType();
  return { type, options, lookup: lookup as Lookup | undefined, receiveBlockList, sendBlockList };
}

/** The descriptor bind({ fd }) names: a positive int32, else undefined (the options bind an address). */
export function bindDescriptor(options: unknown): number | undefined {
  const fd = options !== null && typeof options === 'object' ? (options as { fd?: unknown }).fd : undefined;
  return typeof fd === 'number' && (fd | 0) === fd && fd > 0 ? fd : undefined;
}

/** The address and port of bind(port, address) or bind(options), read as dgram reads them; no address is any address. */
export function bindAddress(args: unknown[], family: 4 | 6): { address: string; port: unknown } {
  let address: unknown, port = args[0];
  if (port !== null && typeof port === 'object') {
    const o = port as dgram.BindOptions;
    address = o.address || '';
    port = o.port;
  } else {
    address = typeof args[1] === 'function' ? '' : args[1];
  }
  return { address: (address || (family === 4 ? '0.0.0.0' : '::')) as string, port };
}

/** send()'s arguments, read: the datagrams (one buffer stays one), the port, the address and the callback. */
export interface SendArguments {
  list: Uint8Array | Uint8Array[];
  /** Checked where the socket is not connected; as given where it is. */
  port: number;
  address: string | undefined;
  callback: SendCallback | undefined;
}

/** The one SendArguments sendArguments fills, so that a send allocates nothing for its arguments. */
const sendArgs: SendArguments = { list: [], port: 0, address: undefined, callback: undefined };

/**
 * send()'s arguments read as dgram reads them, in its order: which of its
 * forms the call is (a connected socket's names no port or address), then
 * the buffers, the port and the address. The object returned is filled
 * again by the next call: read it at once.
 */
export function sendArguments(connected: boolean, buffer: unknown, offset: unknown, length: unknown, port: unknown,
  address: unknown, callback: unknown): SendArguments {
  if (!connected) {
    if (address || (port && typeof port !== 'function')) {
      buffer = sliceBuffer(buffer, offset, length);
    } else {
      callback = port;
      port = offset;
      address = length;
    }
  } else {
    if (typeof length === 'number') {
      buffer = sliceBuffer(buffer, offset, length);
      if (typeof port === 'function') {
        callback = port;
        port = null;
      }
    } else {
      callback = offset;
    }
    if (port || address) throw alreadyConnected();
  }

  // One buffer stays one: no list is made for it.
  let list: Uint8Array | Uint8Array[] | null;
  if (!Array.isArray(buffer)) {
    if (typeof buffer === 'string') list = Buffer.from(buffer);
    else if (ArrayBuffer.isView(buffer)) list = asBytes(buffer);
    else throw invalidArgType('buffer', BUFFER_TYPES, buffer);
  } else if ((list = bufferList(buffer)) === null) {
    throw invalidArgType('buffer list arguments', BUFFER_TYPES, buffer);
  }
  if (!connected) port = validatePort(port);
  if (typeof callback !== 'function') callback = undefined;
  if (typeof address === 'function') {
    callback = address;
    address = undefined;
  } else if (address != null) {
    validateString(address, 'address');
  }
  if (Array.isArray(list) && list.length === 0) list.push(Buffer.alloc(0));
  // Filled last: what the checks above ran (a port's valueOf) may have sent too.
  sendArgs.list = list;
  sendArgs.port = port as number;
  sendArgs.address = address as string | undefined;
  sendArgs.callback = callback as SendCallback | undefined;
  return sendArgs;
}
