// What libuv makes of a descriptor it is handed (uv_guess_handle), for the
// drop-in's bind({ fd }) and BatchSocket.adopt.
import { fstatSync } from 'node:fs';
import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { invalidFdType, throwSystemError } from '../errors';
import { binding, type NativeBinding } from './native';
import { abi } from '../wire/abi';

/**
 * What libuv (uv_guess_handle) calls a descriptor, in the words of Node's
 * ERR_INVALID_FD_TYPE: TTY, FILE (a character device too), PIPE (a FIFO, or
 * a Unix stream socket), TCP, UDP, or UNKNOWN (a closed descriptor too).
 */
export function handleType(fd: number): string {
  if (isatty(fd)) return 'TTY';
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return 'UNKNOWN';
  }
  if (st.isFile() || st.isCharacterDevice()) return 'FILE';
  if (st.isFIFO()) return 'PIPE';
  const kind = new Int32Array(3); // domain, type, protocol
  if (!st.isSocket() || binding!.socketKind(fd, kind) < 0) return 'UNKNOWN';
  const [domain, type] = kind;
  const ip = domain === abi.AF_INET || domain === abi.AF_INET6;
  if (type === abi.SOCK_STREAM) return domain === abi.AF_UNIX ? 'PIPE' : ip ? 'TCP' : 'UNKNOWN';
  return type === abi.SOCK_DGRAM && ip ? 'UDP' : 'UNKNOWN';
}

/**
 * The type of the UDP socket `fd` for BatchSocket.adopt: EBADF for a closed
 * descriptor, ERR_INVALID_FD_TYPE (as node:dgram's bind({ fd }) says it) for
 * anything but a UDP socket.
 */
export function udpTypeOf(b: NativeBinding, fd: number): 'udp4' | 'udp6' {
  const kind = new Int32Array(3); // domain, type, protocol
  const r = b.socketKind(fd, kind);
  if (r === -constants.errno.EBADF) throwSystemError(r, 'adopt');
  const handle = handleType(fd);
  if (handle !== 'UDP') throw invalidFdType(handle);
  return kind[0] === abi.AF_INET ? 'udp4' : 'udp6';
}
