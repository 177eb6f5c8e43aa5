// The numbers that bound a batch, each with where it comes from and what
// breaks past it.

/**
 * Most datagrams one GSO message may carry. It is UDP_MAX_SEGMENTS in the
 * kernel's transmit path (a send with more segments fails with EINVAL) and
 * UDP_GRO_CNT_MAX on receive. As we hand the kernel one iovec per datagram it
 * also bounds the iovecs of a message, far below IOV_MAX (1024).
 */
export const UDP_MAX_SEGMENTS = 64;

/**
 * What newer kernels raised UDP_MAX_SEGMENTS to. Whether this one has is
 * asked once per process (kernel/probe.ts gsoSegmentLimit), since the
 * kernel answers EINVAL past its own limit and says it nowhere else.
 */
export const UDP_MAX_SEGMENTS_RAISED = 128;

/**
 * Largest UDP payload per family: a 16-bit IP length less the headers
 * (IPv4: 20 + 8; IPv6 counts only the 8-byte UDP header, the IPv6 header is
 * outside its payload length). A message longer than this fails with
 * EMSGSIZE, so a GSO message must fit in it as a whole.
 */
export const MAX_IPV4_PAYLOAD = 65535 - 20 - 8; // 65507
export const MAX_IPV6_PAYLOAD = 65535 - 8; // 65527

/**
 * The largest C int: the kernel takes socket option values and buffer sizes
 * as a C int (setsockopt's int options; libuv's uv_recv_buffer_size and
 * uv_send_buffer_size take an int too), so a larger value cannot be passed.
 */
export const INT32_MAX = 2 ** 31 - 1;

/**
 * Datagrams per batch that balance system calls against latency and memory.
 * It matches the batch size of wireguard-go and Tailscale's batching
 * connection, which this design follows.
 */
export const IDEAL_BATCH_SIZE_WITH_MMSG = 128;

/**
 * Bytes of a receive slot that holds any GRO message: the kernel coalesces at
 * most 64 KiB (a 16-bit IP length) into one, so a smaller slot would cut it.
 * It is also the default slot size, which no UDP datagram exceeds.
 */
export const GRO_SLOT_SIZE = 65536;

/** Environment variable that lowers the batch size without code changes. */
export const BATCH_SIZE_ENV = 'BATCHGRAM_BATCH_SIZE';

/**
 * The batch size a socket uses: an explicit option wins, then the
 * environment variable; both are clamped to [1, ideal], and anything that is
 * not a positive integer falls back to the ideal size.
 */
export function resolveBatchSize(ideal: number, requested?: number, env: string | undefined = process.env[BATCH_SIZE_ENV]): number {
  const clamp = (n: number) => Math.min(ideal, Math.max(1, n));
  if (requested !== undefined) return clamp(requested);
  if (env !== undefined && /^\s*\d+\s*$/.test(env)) return clamp(Number(env));
  return ideal;
}
