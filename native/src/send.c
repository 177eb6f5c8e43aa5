// Send ring: message and iovec descriptors written by JavaScript, pointing into
// the caller's own buffers (payloads are never copied), plus address slots and
// control buffers for UDP_SEGMENT.
#include "batchgram.h"

typedef struct {
  ring_t ring;
  uint32_t max_msgs, max_iovs, ctrl_size;
} send_ring_t;

enum { SEND_NAMES, SEND_CTRLS, SEND_MSG_DESC, SEND_IOV_DESC };

// sendmmsg copies the descriptors it will use into these, checked, before
// it touches the buffer array: reading an array element can run JavaScript
// (a getter), which could detach or shrink any registered array.
typedef struct {
  int32_t niov, slot, namelen, ctrllen;
} msg_plan_t;
typedef struct {
  int32_t idx, off, len;
} iov_plan_t;

napi_value js_send_ring(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int64_t max_msgs, max_iovs, ctrl_size;
  if (!get_args(env, info, 7, argv) ||
      !get_int(env, argv[0], 1, MAX_RING_ENTRIES, &max_msgs, "message count out of range") ||
      !get_int(env, argv[1], 1, MAX_RING_IOVECS, &max_iovs, "iovec count out of range") ||
      !get_int(env, argv[4], 0, 1 << 16, &ctrl_size, "control size out of range"))
    return NULL;
  const napi_value arrays[RING_ARRAYS] = {argv[2], argv[3], argv[5], argv[6]};
  const napi_typedarray_type types[RING_ARRAYS] = {napi_uint8_array, napi_uint8_array, napi_int32_array, napi_int32_array};
  const size_t need[RING_ARRAYS] = {(size_t)max_msgs * SOCKADDR_SLOT, (size_t)max_msgs * (size_t)ctrl_size,
                                    (size_t)max_msgs * SEND_MSG_FIELDS, (size_t)max_iovs * SEND_IOV_FIELDS};
  const size_t scratch = (size_t)max_msgs * sizeof(msg_plan_t) + (size_t)max_iovs * (sizeof(iov_plan_t) + sizeof(napi_value));
  ring_t* ring = NULL;
  napi_value obj = ring_new(env, sizeof(send_ring_t), &SEND_RING_TAG,
                            "send ring: addresses, controls (Uint8Array), message and iovec descriptors (Int32Array)",
                            arrays, types, need, (size_t)max_msgs, (size_t)max_iovs, scratch, &ring);
  if (ring == NULL) return obj;
  send_ring_t* r = (send_ring_t*)ring;
  r->max_msgs = (uint32_t)max_msgs;
  r->max_iovs = (uint32_t)max_iovs;
  r->ctrl_size = (uint32_t)ctrl_size;
  return obj;
}
// A payload source: a Uint8Array, or an ArrayBuffer when JavaScript merged
// datagrams that lie back to back in one buffer into a single iovec. Asking
// for the typed array first keeps the common case to one call per iovec.
static bool get_payload(napi_env env, napi_value v, void** data, size_t* len) {
  napi_typedarray_type t;
  size_t n;
  void* p;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, NULL, NULL) == napi_ok) {
    if (t != napi_uint8_array) return throw_type(env, "buffers must hold Uint8Arrays");
  } else {
    bool is_ab = false;
    if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab ||
        napi_get_arraybuffer_info(env, v, &p, &n) != napi_ok)
      return throw_type(env, "buffers must hold Uint8Arrays");
  }
  if (n > 0 && p == NULL) return throw_range(env, "buffer is detached");
  *data = p;
  *len = n;
  return true;
}

// sendmmsg(handle, ring, buffers, first, count): sends the messages described
// at [first, first + count) of the ring; their iovecs index into `buffers`, an
// array of Uint8Array (or ArrayBuffer). Returns how many messages the kernel took.
napi_value js_sendmmsg(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  sock_t* s;
  send_ring_t* r;
  int64_t first, count;
  bool is_array = false;
  if (!get_args(env, info, 5, argv) || !get_sock(env, argv[0], &s) ||
      !unwrap(env, argv[1], &SEND_RING_TAG, (void**)&r, "expected a send ring"))
    return NULL;
  if (r->ring.busy) return throw_range(env, "the ring is in use: a getter of the buffer array sends with it"), NULL;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array)
    return throw_type(env, "buffers must be an array"), NULL;
  if (!get_int(env, argv[3], 0, r->max_msgs - 1, &first, "first message out of range") ||
      !get_int(env, argv[4], 1, r->max_msgs - first, &count, "message count out of range"))
    return NULL;
  uint32_t nbuf;
  CALL(env, napi_get_array_length(env, argv[2], &nbuf));

  // 1. Copy and check the descriptors; no JavaScript runs here.
  ring_mem_t m;
  if (!ring_memory(env, &r->ring, &m)) return NULL;
  // Scratch layout, most aligned first: elements, message plans, iovec plans.
  napi_value* elems = r->ring.scratch;
  msg_plan_t* mp = (msg_plan_t*)(elems + r->max_iovs);
  iov_plan_t* ip = (iov_plan_t*)(mp + r->max_msgs);
  const int32_t *msg_desc = m.data[SEND_MSG_DESC], *iov_desc = m.data[SEND_IOV_DESC];
  uint32_t iov_used = 0;
  for (uint32_t j = 0; j < count; j++) {
    const int32_t* d = msg_desc + (size_t)(first + j) * SEND_MSG_FIELDS;
    int32_t iov0 = d[0], niov = d[1], slot = d[2], namelen = d[3], ctrllen = d[4];
    if (iov0 < 0 || niov < 1 || niov > MAX_IOV_PER_MSG || (uint64_t)iov0 + (uint64_t)niov > r->max_iovs)
      return throw_range(env, "message iovecs out of range"), NULL;
    if (slot < 0 || (uint32_t)slot >= r->max_msgs || namelen < 0 || (uint32_t)namelen > SOCKADDR_SLOT)
      return throw_range(env, "message address out of range"), NULL;
    if (ctrllen < 0 || (uint32_t)ctrllen > r->ctrl_size)
      return throw_range(env, "message control length out of range"), NULL;
    // The kernel walks iovecs per message; we lay them out contiguously in
    // our own array so that a descriptor can never alias another's.
    if (iov_used + (uint32_t)niov > r->max_iovs) return throw_range(env, "too many iovecs in one call"), NULL;
    mp[j] = (msg_plan_t){niov, slot, namelen, ctrllen};
    for (int32_t k = 0; k < niov; k++) {
      const int32_t* v = iov_desc + (size_t)(iov0 + k) * SEND_IOV_FIELDS;
      if (v[0] < 0 || (uint32_t)v[0] >= nbuf || v[1] < 0 || v[2] < 0) return throw_range(env, "iovec out of range"), NULL;
      ip[iov_used + k] = (iov_plan_t){v[0], v[1], v[2]};
    }
    iov_used += (uint32_t)niov;
  }

  // 2. Fetch the payload sources. JavaScript may run here (a getter), and
  // must not release this ring or send with it while its scratch is in use.
  r->ring.busy = true;
  napi_status got = napi_ok;
  for (uint32_t k = 0; k < iov_used && got == napi_ok; k++)
    got = napi_get_element(env, argv[2], (uint32_t)ip[k].idx, &elems[k]);
  r->ring.busy = false;
  if (got != napi_ok) return napi_failed(env);

  // 3. Resolve every pointer afresh and check it; no JavaScript runs from here on.
  if (!ring_memory(env, &r->ring, &m)) return NULL;
  uint8_t *names = m.data[SEND_NAMES], *ctrls = m.data[SEND_CTRLS];
  struct iovec* iov = r->ring.iovs;
  for (uint32_t k = 0; k < iov_used; k++) {
    void* data;
    size_t blen;
    if (!get_payload(env, elems[k], &data, &blen)) return NULL;
    if ((uint64_t)ip[k].off + (uint64_t)ip[k].len > blen) return throw_range(env, "iovec exceeds its buffer"), NULL;
    iov[k].iov_base = (uint8_t*)data + ip[k].off;
    iov[k].iov_len = (size_t)ip[k].len;
  }
  for (uint32_t j = 0; j < count; j++) {
    struct msghdr* h = &r->ring.msgs[j].msg_hdr;
    h->msg_name = mp[j].namelen ? names + (size_t)mp[j].slot * SOCKADDR_SLOT : NULL;
    h->msg_namelen = (socklen_t)mp[j].namelen;
    h->msg_iov = iov;
    h->msg_iovlen = (size_t)mp[j].niov;
    h->msg_control = mp[j].ctrllen ? ctrls + (size_t)(first + j) * r->ctrl_size : NULL;
    h->msg_controllen = (size_t)mp[j].ctrllen;
    h->msg_flags = 0;
    iov += mp[j].niov;
  }
  if (s->fd < 0) return int_value(env, -EBADF);
  int n;
  RETRY_EINTR(n, sendmmsg(s->fd, r->ring.msgs, (unsigned)count, MSG_DONTWAIT));
  return int_value(env, n < 0 ? -errno : n);
}
