// Receive ring: `slots` messages of `slot_size` bytes in one arena, each with
// its own address slot and control buffer. The kernel's per-message results
// go to `meta` so JavaScript reads them without any object per message.
// Arrays: arena, addresses, controls (Uint8Array), meta (Int32Array).
#include "batchgram.h"

typedef struct {
  ring_t ring;
  uint32_t slots, slot_size, ctrl_size;
} recv_ring_t;

enum { RECV_ARENA, RECV_NAMES, RECV_CTRLS, RECV_META };

napi_value js_recv_ring(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int64_t slots, slot_size, ctrl_size;
  if (!get_args(env, info, 7, argv) ||
      !get_int(env, argv[1], 1, MAX_RING_ENTRIES, &slots, "slots out of range") ||
      !get_int(env, argv[2], 1, 1 << 20, &slot_size, "slot size out of range") ||
      !get_int(env, argv[5], 0, 1 << 16, &ctrl_size, "control size out of range"))
    return NULL;
  const napi_value arrays[RING_ARRAYS] = {argv[0], argv[3], argv[4], argv[6]};
  const napi_typedarray_type types[RING_ARRAYS] = {napi_uint8_array, napi_uint8_array, napi_uint8_array, napi_int32_array};
  // Products of the bounded arguments fit in 64 bits; a 32-bit size_t
  // would wrap them, so they are computed there and checked.
  const uint64_t arena = (uint64_t)slots * (uint64_t)slot_size;
  if (arena > SIZE_MAX) return throw_range(env, "receive ring too large"), NULL;
  const size_t need[RING_ARRAYS] = {(size_t)arena, (size_t)slots * SOCKADDR_SLOT,
                                    (size_t)slots * (size_t)ctrl_size, (size_t)slots * RECV_META_FIELDS};
  ring_t* ring = NULL;
  napi_value obj = ring_new(env, sizeof(recv_ring_t), &RECV_RING_TAG,
                            "receive ring: arena, addresses, controls (Uint8Array), meta (Int32Array)",
                            arrays, types, need, (size_t)slots, (size_t)slots, 0, &ring);
  if (ring == NULL) return obj;
  recv_ring_t* r = (recv_ring_t*)ring;
  r->slots = (uint32_t)slots;
  r->slot_size = (uint32_t)slot_size;
  r->ctrl_size = (uint32_t)ctrl_size;
  return obj;
}

// One recvmmsg into the ring's first `count` slots with `flags` beside
// MSG_DONTWAIT: the data queue, or with MSG_ERRQUEUE the socket's error queue.
static napi_value recv_into_ring(napi_env env, napi_callback_info info, int flags) {
  napi_value argv[3];
  sock_t* s;
  recv_ring_t* r;
  int64_t count;
  if (!get_args(env, info, 3, argv) || !get_sock(env, argv[0], &s) ||
      !unwrap(env, argv[1], &RECV_RING_TAG, (void**)&r, "expected a receive ring"))
    return NULL;
  if (!get_int(env, argv[2], 1, r->slots, &count, "count exceeds the receive ring")) return NULL;
  ring_mem_t m;
  if (!ring_memory(env, &r->ring, &m)) return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  uint8_t *arena = m.data[RECV_ARENA], *names = m.data[RECV_NAMES], *ctrls = m.data[RECV_CTRLS];
  struct mmsghdr* msgs = r->ring.msgs;
  for (uint32_t i = 0; i < count; i++) {
    struct iovec* iov = &r->ring.iovs[i];
    iov->iov_base = arena + (size_t)i * r->slot_size;
    iov->iov_len = r->slot_size;
    struct msghdr* h = &msgs[i].msg_hdr;
    h->msg_name = names + (size_t)i * SOCKADDR_SLOT;
    h->msg_namelen = SOCKADDR_SLOT;
    h->msg_iov = iov;
    h->msg_iovlen = 1;
    h->msg_control = r->ctrl_size ? ctrls + (size_t)i * r->ctrl_size : NULL;
    h->msg_controllen = r->ctrl_size;
    h->msg_flags = 0;
    msgs[i].msg_len = 0;
  }
  int n;
  RETRY_EINTR(n, recvmmsg(s->fd, msgs, (unsigned)count, MSG_DONTWAIT | flags, NULL));
  if (n < 0) return int_value(env, -errno);
  int32_t* meta = m.data[RECV_META];
  for (int i = 0; i < n; i++) {
    int32_t* out = meta + (size_t)i * RECV_META_FIELDS;
    out[0] = (int32_t)msgs[i].msg_len;
    out[1] = msgs[i].msg_hdr.msg_flags;
    out[2] = (int32_t)msgs[i].msg_hdr.msg_namelen;
    out[3] = (int32_t)msgs[i].msg_hdr.msg_controllen;
  }
  return int_value(env, n);
}

napi_value js_recvmmsg(napi_env env, napi_callback_info info) {
  return recv_into_ring(env, info, 0);
}

// The error queue (IP_RECVERR): each message is the start of a datagram that
// failed, its destination as the address, and the error as control data.
napi_value js_recv_errors(napi_env env, napi_callback_info info) {
  return recv_into_ring(env, info, MSG_ERRQUEUE);
}
