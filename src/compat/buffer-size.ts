// dgram's buffer sizes (get/setRecvBufferSize, get/setSendBufferSize, and
// the recvBufferSize and sendBufferSize options, set once bound) as libuv's
// uv_recv_buffer_size and uv_send_buffer_size make them: SO_RCVBUF and
// SO_SNDBUF without SO_*BUFFORCE, a size of 0 reads the value, and a
// refusal is ERR_SOCKET_BUFFER_SIZE naming libuv's call.
import { constants } from 'node:os';
import { badBufferSize, bufferSizeError, closedHandle, errnoOf } from '../errors';
import { abi } from '../wire/abi';
import { INT32_MAX } from '../limits';
import type { KernelSocket } from './kernel-socket';

const { EBADF, EINVAL } = constants.errno;

/** Sets the receive (`recv`) or send buffer size to `size` and returns it, or with 0 returns the size the kernel has. */
export function bufferSize(kernel: KernelSocket, size: unknown, recv: boolean): number {
  if (typeof size !== 'number' || size >>> 0 !== size) throw badBufferSize();
  if (kernel.closed) throw closedHandle('bufferSize');
  const syscall = recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size';
  if (size > INT32_MAX) throw bufferSizeError(-EINVAL, syscall);
  const engine = kernel.engine;
  if (engine === null) throw bufferSizeError(-EBADF, syscall);
  const name = recv ? abi.SO_RCVBUF : abi.SO_SNDBUF;
  try {
    if (size === 0) return engine.getIntOption(abi.SOL_SOCKET, name, syscall);
    kernel.batcher!.flush();
    engine.setIntOption(abi.SOL_SOCKET, name, size, syscall);
    return size;
  } catch (e) {
    throw bufferSizeError(errnoOf(e), syscall);
  }
}
