// Errors in Node's own shapes, so callers can switch on `code`: system errors
// carry errno/syscall/address/port like node:dgram's, argument errors use
// Node's ERR_* names and TypeError/RangeError.
import { getSystemErrorMap, getSystemErrorName, inspect, type InspectOptions } from 'node:util';

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
  // In the order Node's errnoException and exceptionWithHostPort add them,
  // which is the order util.inspect prints them in.
  err.errno = negErrno;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

// Node's ERR_* errors print their code: `RangeError [ERR_X]: message` in the
// stack, String(err) and util.inspect. Node's stack formatter does that for
// its own errors only (it knows them by an internal symbol), so ours carry
// the code in an own `name` while V8 formats the stack, on its first read,
// then drop it; toString comes from a prototype between the error and its
// class, as in Node, whose `constructor` still names the class.
const codedPrototypes = new Map<object, object>();

function codedPrototype(proto: object): object {
  let coded = codedPrototypes.get(proto);
  if (coded === undefined) {
    coded = Object.create(proto, {
      constructor: { value: (proto as { constructor: unknown }).constructor, writable: true, configurable: true },
      toString: {
        value(this: Error & { code: string }) { return `${this.name} [${this.code}]: ${this.message}`; },
        writable: true, configurable: true,
      },
    }) as object;
    codedPrototypes.set(proto, coded);
  }
  return coded;
}

/** An error with Node's `code` property, printed as Node prints its own. */
export function nodeError<E extends Error>(err: E, code: string): E & { code: string } {
  Object.defineProperty(err, 'name', { value: `${err.name} [${code}]`, writable: true, configurable: true });
  void err.stack;
  delete (err as { name?: string }).name;
  Object.setPrototypeOf(err, codedPrototype(Object.getPrototypeOf(err) as object));
  return Object.assign(err, { code });
}

/** How Node describes a received value in an argument error ("Received type number (5)"). */
export function received(value: unknown): string {
  if (value == null) return String(value);
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return ctor ? `an instance of ${String(ctor)}` : inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** ERR_INVALID_ARG_TYPE as Node words it; `expected` is the text after "must be". */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const what = name.includes('.') ? 'property' : 'argument';
  return nodeError(new TypeError(`The "${name}" ${what} must be ${expected}. Received ${received(value)}`), 'ERR_INVALID_ARG_TYPE');
}

function withSeparators(digits: string): string {
  const sign = digits.startsWith('-') ? '-' : '';
  let rest = sign ? digits.slice(1) : digits, out = '';
  for (; rest.length > 3; rest = rest.slice(0, -3)) out = `_${rest.slice(-3)}${out}`;
  return `${sign}${rest}${out}`;
}

/** ERR_OUT_OF_RANGE as Node words it. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'number' && Number.isInteger(value) && Math.abs(value) > 2 ** 32
    ? withSeparators(String(value)) : inspect(value);
  return nodeError(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE');
}

export function badPort(port: unknown): RangeError {
  return nodeError(new RangeError(`Port should be > 0 and < 65536. Received ${received(port)}.`), 'ERR_SOCKET_BAD_PORT');
}

export function invalidAddress(address: unknown, why = ''): TypeError {
  return nodeError(new TypeError(`Invalid IP address: ${String(address)}${why ? ` (${why})` : ''}`), 'ERR_INVALID_IP_ADDRESS');
}

export function notRunning(): Error {
  return nodeError(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
}

/** A read found its registered memory unusable; the socket registered fresh memory and reads on. */
export function receiveMemoryError(cause: Error): Error {
  return nodeError(new Error('the receive memory became unusable (was view.data.buffer transferred or detached?): ' +
    'that read was not made; fresh memory is registered and reading goes on', { cause }), 'ERR_BATCHGRAM_RECEIVE_MEMORY');
}

/** What a SystemError holds about the failed call (its `info`). */
export interface SystemErrorInfo { errno: number; code: string; message: string; syscall: string }

// Node's SystemError class (internal/errors): `name` is an own property,
// `errno` and `syscall` are accessors over `info`, and instances show
// NodeError as their constructor, the subclass Node makes per code.
class SystemErrorBase extends Error {
  override toString(): string { return `${this.name} [${(this as { code?: string }).code}]: ${this.message}`; }
  // Shows the accessors' values, as Node's does.
  [inspect.custom](_depth: number, options: InspectOptions): string {
    return inspect(this, { ...options, getters: true, customInspect: false });
  }
}
class NodeError extends SystemErrorBase {}

function nodeSystemError(code: string, prefix: string, info: SystemErrorInfo): Error {
  const err = new NodeError(`${prefix}: ${info.syscall} returned ${info.code} (${info.message})`);
  Object.defineProperty(err, 'name', { value: `SystemError [${code}]`, writable: true, configurable: true, enumerable: false });
  void err.stack;
  Object.defineProperty(err, 'name', { value: 'SystemError' });
  const field = (k: 'errno' | 'syscall') => ({
    get: () => info[k], set: (v: never) => { info[k] = v; }, enumerable: true, configurable: true,
  });
  Object.defineProperties(err, {
    code: { value: code, enumerable: true, writable: true, configurable: true },
    info: { value: info, enumerable: true, configurable: true },
    errno: field('errno'),
    syscall: field('syscall'),
  });
  return err;
}

/** ERR_SOCKET_BUFFER_SIZE, the SystemError dgram throws when a buffer size cannot be read or set. */
export function bufferSizeError(negErrno: number, syscall: string): Error {
  const [code, message] = getSystemErrorMap().get(negErrno) ?? [`Unknown system error ${negErrno}`, 'unknown error'];
  return nodeSystemError('ERR_SOCKET_BUFFER_SIZE', 'Could not get or set buffer size', { errno: negErrno, code, message, syscall });
}

/** More writes are waiting for the kernel than the socket's sendQueueLimit allows. */
export function queueFull(limit: number): Error {
  return nodeError(new Error(`send queue is full (${limit} datagrams waiting); await earlier writes first`), 'ERR_BATCHGRAM_QUEUE_FULL');
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
