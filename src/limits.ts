// The numbers that bound a batch, each with where it comes from and what
// breaks past it.

/**
 * Most datagrams one GSO message may carry. It is UDP_MAX_SEGMENTS in the
 * kernel's transmit path (a send with more segments fails with EINVAL) and
 * UDP_GRO_CNT_MAX on receive. A message has at most one iovec per datagram
 * (datagrams lying back to back share one), so it also bounds the iovecs of
 * a message, far below UIO_MAXIOV (1024).
 */
export const UDP_MAX_SEGMENTS = 64;

/**
 * What newer kernels raised UDP_MAX_SEGMENTS to. Whether this one has is
 * asked once per process (kernel/support.ts gsoSegmentLimit), since the
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

/**
 * The largest C int: an integer socket option's value is one (what
 * setsockopt takes and getsockopt gives), and so are the addon's integer
 * arguments, which it refuses past this, and libuv's buffer sizes
 * (uv_recv_buffer_size, uv_send_buffer_size), which the drop-in follows.
 */
export const INT32_MAX = 2 ** 31 - 1;

/**
 * Most bytes of a socket option's value the addon passes to setsockopt or
 * asks getsockopt for (setsockoptBytes, getsockoptBytes). It is the addon's
 * own bound, not the kernel's: the value goes to the kernel straight from the
 * caller's memory, through no buffer of fixed size, and the bound keeps a
 * stray length from reaching it. It is far above every fixed-size option a
 * UDP socket takes (struct group_source_req, 264 bytes on 64-bit machines;
 * an interface name, IFNAMSIZ, 16); only source filter lists (IP_MSFILTER)
 * grow past it.
 */
export const OPTION_BYTES_MAX = 1024;

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
