// Every error batchgram raises, in one module. Errors take Node's own shapes
// so callers can switch on `code`: system errors carry errno/syscall/address/
// port like node:dgram's, argument errors use Node's ERR_* names and
// TypeError/RangeError, and batchgram's own conditions are BatchgramErrors
// with ERR_BATCHGRAM_* (or ERR_GENEVE_*) codes. CODES lists every code;
// callers test errors with the predicates at the end, not by comparing strings.
import { getSystemErrorMap, getSystemErrorName, inspect, type InspectOptions } from 'node:util';

/** Every `code` batchgram's errors carry, by what it means. README lists them; frozen, as the package exports it. */
export const CODES = Object.freeze({
  // batchgram's own
  queueFull: 'ERR_BATCHGRAM_QUEUE_FULL',
  gsoDisabled: 'ERR_BATCHGRAM_GSO_DISABLED',
  viewExpired: 'ERR_BATCHGRAM_VIEW_EXPIRED',
  unsupported: 'ERR_BATCHGRAM_UNSUPPORTED',
  receiveMemory: 'ERR_BATCHGRAM_RECEIVE_MEMORY',
  noAddon: 'ERR_BATCHGRAM_NO_ADDON',
  badControlMessage: 'ERR_BATCHGRAM_BAD_CONTROL_MESSAGE',
  groOverflow: 'ERR_BATCHGRAM_GRO_OVERFLOW',
  /** groupSocket() outside a module bindGroup runs; a group worker that failed to start. */
  notInGroup: 'ERR_BATCHGRAM_NOT_IN_GROUP',
  groupWorker: 'ERR_BATCHGRAM_GROUP_WORKER',
  /** Thrown by the addon itself when a Node-API call fails (native/src/args.c). */
  napi: 'ERR_BATCHGRAM_NAPI',
  geneveShortBuffer: 'ERR_GENEVE_SHORT_BUFFER',
  geneveVniUnset: 'ERR_GENEVE_VNI_UNSET',
  geneveBadVersion: 'ERR_GENEVE_BAD_VERSION',
  // Node's, with Node's classes and messages
  invalidArgType: 'ERR_INVALID_ARG_TYPE',
  invalidArgValue: 'ERR_INVALID_ARG_VALUE',
  outOfRange: 'ERR_OUT_OF_RANGE',
  invalidIpAddress: 'ERR_INVALID_IP_ADDRESS',
  missingArgs: 'ERR_MISSING_ARGS',
  bufferOutOfBounds: 'ERR_BUFFER_OUT_OF_BOUNDS',
  invalidFdType: 'ERR_INVALID_FD_TYPE',
  ipBlocked: 'ERR_IP_BLOCKED',
  badPort: 'ERR_SOCKET_BAD_PORT',
  badSocketType: 'ERR_SOCKET_BAD_TYPE',
  badBufferSize: 'ERR_SOCKET_BAD_BUFFER_SIZE',
  bufferSize: 'ERR_SOCKET_BUFFER_SIZE',
  alreadyBound: 'ERR_SOCKET_ALREADY_BOUND',
  alreadyConnected: 'ERR_SOCKET_DGRAM_IS_CONNECTED',
  notConnected: 'ERR_SOCKET_DGRAM_NOT_CONNECTED',
  notRunning: 'ERR_SOCKET_DGRAM_NOT_RUNNING',
} as const);

export type ErrorCode = (typeof CODES)[keyof typeof CODES];

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/** @internal A system error from a negative errno returned by the addon. */
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
// then drop it (withCodedStack); toString comes from a prototype between the
// error and its class, as in Node, whose `constructor` still names the class:
// a prototype made per class for the errors nodeError marks, BatchgramError's
// own for batchgram's classes.

/** The header of an error with a code, as Node prints its own: `Name [CODE]: message`. */
function codedString(err: Error & { code?: unknown }): string {
  return `${err.name} [${String(err.code)}]: ${err.message}`;
}

/** Formats `err`'s stack with `[code]` after `name` in its first line. */
function withCodedStack(err: Error, code: string, name = err.name): void {
  Object.defineProperty(err, 'name', { value: `${name} [${code}]`, writable: true, configurable: true });
  void err.stack;
  delete (err as { name?: string }).name;
}

const codedPrototypes = new Map<object, object>();

function codedPrototype(proto: object): object {
  let coded = codedPrototypes.get(proto);
  if (coded === undefined) {
    coded = Object.create(proto, {
      constructor: { value: (proto as { constructor: unknown }).constructor, writable: true, configurable: true },
      toString: { value(this: Error) { return codedString(this); }, writable: true, configurable: true },
    }) as object;
    codedPrototypes.set(proto, coded);
  }
  return coded;
}

/** @internal An error with Node's `code` property, printed as Node prints its own. */
export function nodeError<E extends Error>(err: E, code: string): E & { code: string } {
  withCodedStack(err, code);
  Object.setPrototypeOf(err, codedPrototype(Object.getPrototypeOf(err) as object));
  return Object.assign(err, { code });
}

/** @internal How Node describes a received value in an argument error ("Received type number (5)"). */
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

/** @internal The errno of a system error an engine threw. */
export const errnoOf = (err: unknown): number => (err as SystemError).errno;

/** @internal Throws the system error for a negative result `r` (-errno) of the addon's `syscall`. */
export function throwSystemError(r: unknown, syscall: string, address?: string, port?: number): never {
  throw systemError(r as number, syscall, address, port);
}

/** @internal ERR_INVALID_ARG_TYPE as Node words it; `expected` is the text after "must be". */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const what = name.includes('.') ? 'property' : 'argument';
  return nodeError(new TypeError(`The "${name}" ${what} must be ${expected}. Received ${received(value)}`), CODES.invalidArgType);
}

function withSeparators(digits: string): string {
  const sign = digits.startsWith('-') ? '-' : '';
  let rest = sign ? digits.slice(1) : digits, out = '';
  for (; rest.length > 3; rest = rest.slice(0, -3)) out = `_${rest.slice(-3)}${out}`;
  return `${sign}${rest}${out}`;
}

/** @internal ERR_INVALID_ARG_VALUE as Node words it: "The property 'x' must be ... Received ...". */
export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  const what = name.includes('.') ? 'property' : 'argument';
  return nodeError(new TypeError(`The ${what} '${name}' ${reason}. Received ${inspect(value)}`), CODES.invalidArgValue);
}

/** @internal ERR_OUT_OF_RANGE as Node words it. */
export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'number' && Number.isInteger(value) && Math.abs(value) > 2 ** 32
    ? withSeparators(String(value)) : inspect(value);
  return nodeError(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), CODES.outOfRange);
}

/** @internal ERR_SOCKET_BAD_PORT; `allowZero` where port 0 (any port) is accepted, as by bindSync. */
export function badPort(port: unknown, name = 'Port', allowZero = false): RangeError {
  return nodeError(new RangeError(`${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${received(port)}.`),
    CODES.badPort);
}

/** @internal A send or connect to an address of the socket's sendBlockList. */
export function ipBlocked(ip: string): Error {
  return nodeError(new Error(`IP(${ip}) is blocked by net.BlockList`), CODES.ipBlocked);
}

/** @internal */
export function invalidAddress(address: unknown, why = ''): TypeError {
  return nodeError(new TypeError(`Invalid IP address: ${String(address)}${why ? ` (${why})` : ''}`), CODES.invalidIpAddress);
}

/** @internal */
export function notRunning(): Error {
  return nodeError(new Error('Not running'), CODES.notRunning);
}

/** @internal A read found its registered memory unusable; the socket registered fresh memory and reads on. */
export function receiveMemoryError(cause: Error): BatchgramError {
  return new BatchgramError(CODES.receiveMemory, 'the receive memory became unusable (was view.data.buffer transferred or detached?): ' +
    'that read was not made; fresh memory is registered and reading goes on', { cause });
}

/** @internal What a SystemError holds about the failed call (its `info`). */
export interface SystemErrorInfo { errno: number; code: string; message: string; syscall: string }

// Node's SystemError class (internal/errors): `name` is an own property,
// `errno` and `syscall` are accessors over `info`, and instances show
// NodeError as their constructor, the subclass Node makes per code.
class SystemErrorBase extends Error {
  override toString(): string { return codedString(this); }
  // Shows the accessors' values, as Node's does.
  [inspect.custom](_depth: number, options: InspectOptions): string {
    return inspect(this, { ...options, getters: true, customInspect: false });
  }
}
class NodeError extends SystemErrorBase {}

function nodeSystemError(code: string, prefix: string, info: SystemErrorInfo): Error {
  const err = new NodeError(`${prefix}: ${info.syscall} returned ${info.code} (${info.message})`);
  withCodedStack(err, code, 'SystemError');
  Object.defineProperty(err, 'name', { value: 'SystemError', writable: true, configurable: true });
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

/** @internal ERR_SOCKET_BUFFER_SIZE, the SystemError dgram throws when a buffer size cannot be read or set. */
export function bufferSizeError(negErrno: number, syscall: string): Error {
  const [code, message] = getSystemErrorMap().get(negErrno) ?? [`Unknown system error ${negErrno}`, 'unknown error'];
  return nodeSystemError(CODES.bufferSize, 'Could not get or set buffer size', { errno: negErrno, code, message, syscall });
}

/** @internal BATCHGRAM_REQUIRE_NATIVE=1, and no addon loaded: `reason` says why and how to get one. */
export function noAddon(reason: string): BatchgramError {
  return new BatchgramError(CODES.noAddon, `batchgram: BATCHGRAM_REQUIRE_NATIVE=1 forbids running on node:dgram, and ${reason}`);
}

/** @internal A feature batchgram does not offer here; `message` says which and why. */
export function unsupported(message: string): BatchgramError {
  return new BatchgramError(CODES.unsupported, message);
}

/** @internal More writes are waiting for the kernel than the socket's sendQueueLimit allows. */
export function queueFull(limit: number): BatchgramError {
  return new BatchgramError(CODES.queueFull, `send queue is full (${limit} datagrams waiting); await earlier writes first`);
}

// --- node:dgram's own errors (the drop-in raises them exactly as dgram does) --

/** @internal */ export const badSocketType = () => nodeError(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), CODES.badSocketType);
/** @internal */ export const alreadyBound = () => nodeError(new Error('Socket is already bound'), CODES.alreadyBound);
/** @internal */ export const alreadyConnected = () => nodeError(new Error('Already connected'), CODES.alreadyConnected);
/** @internal */ export const notConnected = () => nodeError(new Error('Not connected'), CODES.notConnected);
/** @internal */ export const missingArgs = (name: string) => nodeError(new TypeError(`The "${name}" argument must be specified`), CODES.missingArgs);
/** @internal */ export const bufferOutOfBounds = (name: string) => nodeError(new RangeError(`"${name}" is outside of buffer bounds`), CODES.bufferOutOfBounds);
/** @internal */ export const invalidFdType = (type: string) => nodeError(new TypeError(`Unsupported fd type: ${type}`), CODES.invalidFdType);
/** @internal */ export const badBufferSize = () => nodeError(new TypeError('Buffer size must be a positive integer'), CODES.badBufferSize);

/** @internal What dgram throws when a method that does not check for a closed socket meets one (its handle is null). */
export const closedHandle = (method: string) => new TypeError(`Cannot read properties of null (reading '${method}')`);

/** @internal A feature of node:dgram the drop-in cannot offer: the error says so rather than doing something else. */
export function dropInUnsupported(what: string): BatchgramError {
  return unsupported(`${what} is not supported by batchgram's dgram-compatible socket; use node:dgram for it`);
}

/** @internal A system error naming the peer, as dgram reports bind, connect and send failures. */
export function errorWithHostPort(errno: number, syscall: string, address: unknown, port: unknown): SystemError {
  const err = systemError(errno, syscall);
  const p = port as number;
  if (p && p > 0) err.message += ` ${String(address)}:${String(port)}`;
  else if (address) err.message += ` ${String(address)}`;
  err.address = address as string;
  if (p) err.port = p;
  return err;
}

// --- batchgram's own conditions ---------------------------------------------

/** @internal A forwardTo() outside the view's listener: the memory it names is no longer this read's. */
export function viewExpired(): BatchgramError {
  return new BatchgramError(CODES.viewExpired, 'the view is no longer live: forward it inside its \'view\' listener');
}

/**
 * The class of batchgram's own errors (ERR_BATCHGRAM_*, ERR_GENEVE_*), each
 * with a stable `code` from CODES. Its subclasses have names of their own;
 * its direct instances are named `Error`, as Node names its plain ERR_*
 * errors. All print with their code, as Node's do.
 */
export class BatchgramError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    withCodedStack(this, code);
  }

  override toString(): string { return codedString(this); }
}

// A subclass's name lives on its prototype, as Error.prototype.name does: the
// stack's first line is made in BatchgramError's constructor, before the
// subclass's constructor could set one.
function nameErrors(errorClass: { prototype: Error }, name: string): void {
  Object.defineProperty(errorClass.prototype, 'name', { value: name, writable: true, configurable: true });
}

/**
 * A send that used UDP GSO failed with EIO, which the kernel reports when the
 * route's device cannot checksum-offload segmented UDP. The socket turned GSO
 * off for good and retried without it: `cause` is the retry's error, or null
 * when the datagrams were sent after all.
 */
export class GSODisabledError extends BatchgramError {
  static { nameErrors(this, 'GSODisabledError'); }
  declare readonly code: typeof CODES.gsoDisabled;
  override readonly cause: Error | null;
  constructor(readonly localAddress: string, cause: Error | null) {
    super(CODES.gsoDisabled, `UDP GSO disabled on ${localAddress}${cause ? `; the retry without it failed: ${cause.message}` : '; the retry without it succeeded'}`);
    this.cause = cause;
  }
}

export type GeneveErrorCode = typeof CODES.geneveShortBuffer | typeof CODES.geneveVniUnset | typeof CODES.geneveBadVersion;

/** A Geneve header that cannot be written or read (wire/geneve.ts). */
export class GeneveError extends BatchgramError {
  static { nameErrors(this, 'GeneveError'); }
  declare readonly code: GeneveErrorCode;
  constructor(code: GeneveErrorCode, message: string) {
    super(code, message);
  }
}

/** A control buffer that cannot be parsed as control messages (wire/cmsg.ts). */
export class ControlMessageError extends BatchgramError {
  static { nameErrors(this, 'ControlMessageError'); }
  constructor(message: string) {
    super(CODES.badControlMessage, message);
  }
}

/** @internal Splitting GRO messages needs more datagram slots than the output has (offload/gro.ts). */
export class GroOverflowError extends BatchgramError {
  static { nameErrors(this, 'GroOverflowError'); }
  constructor(capacity: number) {
    super(CODES.groOverflow, `splitting coalesced messages needs more than ${capacity} datagram slots`);
  }
}

// --- Predicates ---------------------------------------------------------------

/** Whether `err` carries `code`. */
function hasCode(err: unknown, code: ErrorCode): boolean {
  return err !== null && typeof err === 'object' && (err as { code?: unknown }).code === code;
}

/** @internal The socket closed (or was never running) before the operation could finish. */
export const isNotRunning = (err: unknown): boolean => hasCode(err, CODES.notRunning);

/** @internal A write refused because sendQueueLimit datagrams are already waiting. */
export const isQueueFull = (err: unknown): boolean => hasCode(err, CODES.queueFull);
