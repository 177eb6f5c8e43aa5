// Errors in Node's own shapes, so callers can switch on `code`: system errors
// carry errno/syscall/address/port like node:dgram's, argument errors use
// Node's ERR_* names and TypeError/RangeError.
import { getSystemErrorName } from 'node:util';

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/** A system error from a negative errno returned by the addon. */
export function systemError(negErrno: number, syscall: string, address?: string, port?: number): SystemError {
  const code = getSystemErrorName(negErrno);
  const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const err = new Error(`${syscall} ${code}${where}`) as SystemError;
  err.code = code;
  err.errno = negErrno;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

function coded<E extends Error>(err: E, code: string): E & { code: string } {
  return Object.assign(err, { code });
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const got = actual === null ? 'null' : Array.isArray(actual) ? 'an array' : typeof actual;
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${got}`), 'ERR_INVALID_ARG_TYPE');
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`), 'ERR_OUT_OF_RANGE');
}

export function badPort(port: unknown): RangeError {
  return coded(new RangeError(`Port should be > 0 and < 65536. Received ${String(port)}.`), 'ERR_SOCKET_BAD_PORT');
}

export function invalidAddress(address: unknown, why = ''): TypeError {
  return coded(new TypeError(`Invalid IP address: ${String(address)}${why ? ` (${why})` : ''}`), 'ERR_INVALID_IP_ADDRESS');
}

export function notRunning(): Error {
  return coded(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
}

/** More writes are waiting for the kernel than the socket's sendQueueLimit allows. */
export function queueFull(limit: number): Error {
  return coded(new Error(`send queue is full (${limit} datagrams waiting); await earlier writes first`), 'ERR_BATCHGRAM_QUEUE_FULL');
}

/**
 * A send that used UDP GSO failed with EIO, which the kernel reports when the
 * route's device cannot checksum-offload segmented UDP. The socket turned GSO
 * off for good and retried without it: `cause` is the retry's error, or null
 * when the datagrams were sent after all.
 */
export class GSODisabledError extends Error {
  readonly code = 'ERR_BATCHGRAM_GSO_DISABLED';
  override readonly cause: Error | null;
  constructor(readonly localAddress: string, cause: Error | null) {
    super(`UDP GSO disabled on ${localAddress}${cause ? `; the retry without it failed: ${cause.message}` : '; the retry without it succeeded'}`);
    this.name = 'GSODisabledError';
    this.cause = cause;
  }
}
