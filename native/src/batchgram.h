// batchgram's kernel boundary: UDP sockets, socket options, one recvmmsg and
// one sendmmsg per call over memory that JavaScript registered once, and
// readiness calling back into JavaScript. Every decision about what to send or
// how to read what arrived lives in TypeScript (src/); the addon only checks
// that each index, offset and length stays inside memory it was given, then
// asks the kernel.
//
// Convention: functions return a non-negative result or -errno, so the caller
// can build a Node-style system error; wrong argument types and values that
// would reach outside registered memory throw TypeError/RangeError instead.
//
// The addon is one contract in a few files, by job. This header holds what
// they share: the ABI fallbacks, the descriptor layout and its bounds, the
// socket and ring structs. args.c reads arguments; sockets.c makes, adopts,
// binds, connects and closes sockets; options.c sets and gets their options;
// poll.c calls JavaScript on readiness; pages.c maps memory; rings.c holds
// what both rings share, recv.c and send.c the rings that recvmmsg and
// sendmmsg use; init.c names the functions and constants JavaScript sees.

#ifndef BATCHGRAM_H
#define BATCHGRAM_H

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>

#include <node_api.h>
#include <uv.h>

// Older libc headers lack the UDP offload options; the values are the
// kernel's ABI (include/uapi/linux/udp.h) and will not change.
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_SELECT_ERR_QUEUE  // Linux 3.10; older C libraries lack the name
#define SO_SELECT_ERR_QUEUE 45
#endif
#ifndef SO_MEMINFO  // Linux 4.6
#define SO_MEMINFO 55
#endif
#ifndef SO_ATTACH_REUSEPORT_CBPF  // Linux 4.5
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF  // Linux 5.8
#define SO_DETACH_REUSEPORT_BPF 68
#endif
#ifndef SO_TXTIME  // Linux 4.19
#define SO_TXTIME 61
#define SCM_TXTIME SO_TXTIME
#endif
#ifndef SOF_TXTIME_REPORT_ERRORS  // linux/net_tstamp.h, Linux 4.19
#define SOF_TXTIME_REPORT_ERRORS (1 << 1)
#endif
#ifndef IPV6_FREEBIND  // Linux 4.15 (include/uapi/linux/in6.h)
#define IPV6_FREEBIND 78
#endif

// Every address slot is large enough for the largest family we speak.
#define SOCKADDR_SLOT ((uint32_t)sizeof(struct sockaddr_in6))
// The descriptor layout, the one contract between the addon and the
// TypeScript that fills and reads the rings (src/kernel/descriptors.ts names
// the same fields in the same order; the counts below are exported, and the
// loader checks them against src/wire/abi.ts). Every field is an int32 in an
// Int32Array that JavaScript owns.
//
// Receive meta, per message i of a recvmmsg (written here, read by JS):
//   [0] length  [1] msg_flags  [2] address length  [3] control length
// Its address is always slot i of the names array and its control data
// control buffer i: both implicit, by the message's index.
#define RECV_META_FIELDS 4
// Send message descriptor, per message (written by JS, checked here):
//   [0] first iovec  [1] iovec count  [2] address slot  [3] address length
//   [4] control length
// The address slot is explicit (messages of one write share slot 0); the
// control buffer is implicit: message first + j of a sendmmsg(first, count)
// call uses control buffer first + j. A zero length means none.
#define SEND_MSG_FIELDS 5
// Send iovec descriptor: [0] index into the call's buffer array, [1] byte
// offset in that buffer, [2] byte length.
#define SEND_IOV_FIELDS 3
// One recvmmsg/sendmmsg call never needs more messages than this, nor more
// iovecs than the second (a message of every slot with 64 segments, each its
// own iovec); they bound what a ring allocates whatever JavaScript asks for.
#define MAX_RING_ENTRIES 4096
#define MAX_RING_IOVECS (1 << 16)
// The kernel rejects a message with more iovecs than this (UIO_MAXIOV).
#define MAX_IOV_PER_MSG 1024
// Most bytes of an option value passed to setsockopt or asked of getsockopt
// (src/limits.ts OPTION_BYTES_MAX says why this many): the value goes to the
// kernel straight from JavaScript's memory, so this only bounds its length.
#define OPTION_BYTES_MAX 1024

// A call that a signal interrupted before it did anything fails with EINTR,
// and is made again here rather than reported. Our sockets are non-blocking,
// so no call sleeps where a signal could interrupt it; this keeps EINTR from
// JavaScript all the same, for recvmmsg, sendmmsg and connect (a datagram
// socket's connect only sets its peer, so making it again is harmless).
// close is never made again: see sock_close_fd (sockets.c).
#define RETRY_EINTR(result, call)                                              \
  do {                                                                         \
    (result) = (call);                                                         \
  } while ((result) < 0 && errno == EINTR)

static const napi_type_tag SOCKET_TAG = {0x6261746368677261ULL, 0x6d736f636b657431ULL};
static const napi_type_tag RECV_RING_TAG = {0x6261746368677261ULL, 0x6d72656376726e67ULL};
static const napi_type_tag SEND_RING_TAG = {0x6261746368677261ULL, 0x6d73656e64726e67ULL};
static const napi_type_tag PAGES_TAG = {0x6261746368677261ULL, 0x6d70616765627566ULL};

// What a failed Node-API call returns (args.c): see napi_failed.
#define CALL(env, expr)                                                        \
  do {                                                                         \
    if ((expr) != napi_ok) return napi_failed(env);                            \
  } while (0)

// The status of a call the addon makes after the poll's own (libuv's status
// is 0 or a negative errno): hand out the next datagram JavaScript kept back.
#define POLL_HAND_OUT 1

// A socket (sockets.c), which JavaScript holds as a tagged wrapper object.
typedef struct {
  int fd;
  // A descriptor inherited from elsewhere (bind({ fd })): the socket works on
  // its own duplicate, and closes the original too at close() if it still
  // names the same socket (the same socket cookie), as libuv, which would
  // have owned it, does. -1 when the socket was made here.
  int adopted_fd;
  // The socket's identity while its descriptor is open (see open_sockets);
  // 0 where the kernel has no socket cookies.
  uint64_t cookie;
  bool registered;
  napi_env env;
  // Readiness (poll.c), by one of two means that JavaScript picks at
  // pollStart: libuv's uv_poll on the runtime's loop, or a thread of our own
  // waiting in epoll_wait and calling JavaScript through a thread-safe
  // function (watch_*).
  bool uv;            // the uv_poll; else the thread
  uv_poll_t poll;
  bool poll_open;     // started, and not closed yet
  bool poll_closing;  // closed: uv_close's callback, or the thread-safe function's finalizer, pending
  bool finalized;     // the JavaScript wrapper is gone
  napi_ref callback;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
  // The thread's side. Its epoll set holds the socket (EPOLLONESHOT: one
  // report, then nothing until the main thread arms it again) and an
  // eventfd that tells the thread to end. Only the main thread arms, and
  // reads or writes any field but these four, which are fixed while the
  // thread runs, and `reported`, which both touch atomically.
  int watch_epfd;
  int watch_stop;
  pthread_t watch_thread;
  napi_threadsafe_function watch_tsfn;
  bool reported;          // the thread took an event that the main thread has not handled yet
  int watch_events;       // the events JavaScript asked for (UV_READABLE...), 0 for none
  int64_t watch_waiting;  // datagrams the last call said wait to be handed out
  bool watch_registered;  // the socket is in the epoll set
} sock_t;

// A ring (rings.c), the first member of a receive ring's struct (recv.c) and
// a send ring's (send.c).
#define RING_ARRAYS 4

typedef struct {
  napi_ref refs[RING_ARRAYS];
  napi_typedarray_type types[RING_ARRAYS];
  size_t need[RING_ARRAYS];
  const char* what;
  void* mem;        // one mapping of mem_len bytes: msgs, iovs, then scratch
  size_t mem_len;
  struct mmsghdr* msgs;
  struct iovec* iovs;
  void* scratch;    // a ring's own working memory, if it needs any
  int64_t external; // bytes of the above, as reported to V8
  bool released;    // ringRelease() gave all of the above back
  bool busy;        // sendmmsg is running JavaScript (a getter) with this ring's scratch in use
} ring_t;

typedef struct {
  void* data[RING_ARRAYS];
} ring_mem_t;

// Throw, and return false: callers return that as their own failure, with
// their outputs unset. Defined here so that the compiler sees it too.
static inline bool throw_type(napi_env env, const char* what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return false;
}

static inline bool throw_range(napi_env env, const char* what) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", what);
  return false;
}

// args.c: argument helpers. Each returns false with a JavaScript exception pending.
napi_value napi_failed(napi_env env);
napi_value int_value(napi_env env, int64_t v);
bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t* out, const char* what);
bool get_bool(napi_env env, napi_value v, bool* out, const char* what);
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len, const char* what);
bool get_typed_ref(napi_env env, napi_ref ref, napi_typedarray_type want, void** data, size_t* len, const char* what);
bool unwrap(napi_env env, napi_value v, const napi_type_tag* tag, void** out, const char* what);
bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv);

// sockets.c
void sock_free_if_done(sock_t* s);
void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg);
bool get_sock(napi_env env, napi_value v, sock_t** out);
napi_value js_socket(napi_env env, napi_callback_info info);
napi_value js_adopt(napi_env env, napi_callback_info info);
napi_value js_socket_kind(napi_env env, napi_callback_info info);
napi_value js_bind(napi_env env, napi_callback_info info);
napi_value js_connect(napi_env env, napi_callback_info info);
napi_value js_getsockname(napi_env env, napi_callback_info info);
napi_value js_getpeername(napi_env env, napi_callback_info info);
napi_value js_close(napi_env env, napi_callback_info info);

// options.c
napi_value js_setsockopt(napi_env env, napi_callback_info info);
napi_value js_getsockopt(napi_env env, napi_callback_info info);
napi_value js_setsockopt_bytes(napi_env env, napi_callback_info info);
napi_value js_getsockopt_bytes(napi_env env, napi_callback_info info);

// poll.c
void sock_close_poll(sock_t* s);
napi_value js_poll_start(napi_env env, napi_callback_info info);
napi_value js_poll_update(napi_env env, napi_callback_info info);
napi_value js_poll_ref(napi_env env, napi_callback_info info);

// pages.c
void* pages_map(size_t len);
napi_value js_map_pages(napi_env env, napi_callback_info info);
napi_value js_release_pages(napi_env env, napi_callback_info info);
napi_value js_copy_block(napi_env env, napi_callback_info info);
napi_value js_attach_steering(napi_env env, napi_callback_info info);
napi_value js_copy_blocks(napi_env env, napi_callback_info info);

// rings.c, recv.c, send.c
bool ring_memory(napi_env env, ring_t* r, ring_mem_t* m);
napi_value ring_new(napi_env env, size_t size, const napi_type_tag* tag, const char* what,
                    const napi_value arrays[RING_ARRAYS], const napi_typedarray_type types[RING_ARRAYS],
                    const size_t need[RING_ARRAYS], size_t msgs, size_t iovs, size_t scratch, ring_t** out);
napi_value js_ring_release(napi_env env, napi_callback_info info);
napi_value js_recv_ring(napi_env env, napi_callback_info info);
napi_value js_recvmmsg(napi_env env, napi_callback_info info);
napi_value js_recv_errors(napi_env env, napi_callback_info info);
napi_value js_send_ring(napi_env env, napi_callback_info info);
napi_value js_sendmmsg(napi_env env, napi_callback_info info);

#endif
