// bind({ fd }) for the drop-in: what libuv makes of a descriptor it is
// handed (uv_guess_handle).
import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import { binding } from '../kernel/native';
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
