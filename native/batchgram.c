// batchgram's kernel boundary: UDP sockets, socket options, one recvmmsg and
// one sendmmsg per call over memory that JavaScript registered once, and libuv
// readiness calling back into JavaScript. Every decision about what to send or
// how to read what arrived lives in TypeScript (src/); this file only checks
// that each index, offset and length stays inside memory it was given, then
// asks the kernel.
//
// Convention: functions return a non-negative result or -errno, so the caller
// can build a Node-style system error; wrong argument types and values that
// would reach outside registered memory throw TypeError/RangeError instead.

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

// Every address slot is large enough for the largest family we speak.
#define SOCKADDR_SLOT ((uint32_t)sizeof(struct sockaddr_in6))
// The descriptor layout, the one contract between this file and the
// TypeScript that fills and reads the rings (src/kernel/descriptors.ts names
// the same fields in the same order; the counts below are exported so it can
// check). Every field is an int32 in an Int32Array that JavaScript owns.
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
// close is never made again: see sock_close_fd.
#define RETRY_EINTR(result, call)                                              \
  do {                                                                         \
    (result) = (call);                                                         \
  } while ((result) < 0 && errno == EINTR)

static const napi_type_tag SOCKET_TAG = {0x6261746368677261ULL, 0x6d736f636b657431ULL};
static const napi_type_tag RECV_RING_TAG = {0x6261746368677261ULL, 0x6d72656376726e67ULL};
static const napi_type_tag SEND_RING_TAG = {0x6261746368677261ULL, 0x6d73656e64726e67ULL};
static const napi_type_tag PAGES_TAG = {0x6261746368677261ULL, 0x6d70616765627566ULL};

// ---------------------------------------------------------------------------
// Argument helpers. Each returns false with a JavaScript exception pending.

// A failed Node-API call returns undefined to JavaScript only with an
// exception pending: never silently.
static napi_value napi_failed(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
    napi_throw_error(env, "ERR_BATCHGRAM_NAPI", "Node-API call failed");
  return NULL;
}

#define CALL(env, expr)                                                        \
  do {                                                                         \
    if ((expr) != napi_ok) return napi_failed(env);                            \
  } while (0)

static bool throw_type(napi_env env, const char* what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return false;
}

static bool throw_range(napi_env env, const char* what) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", what);
  return false;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  if (napi_create_int64(env, v, &out) != napi_ok) return napi_failed(env);
  return out;
}

static bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t* out,
                    const char* what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return throw_type(env, what);
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return throw_type(env, what);
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return throw_range(env, what);
  *out = (int64_t)d;
  return true;
}

// A typed array of the wanted element type; the pointer and length are read
// afresh on every call because JavaScript may detach or resize the buffer.
static bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void** data,
                      size_t* len, const char* what) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return throw_type(env, what);
  napi_typedarray_type t;
  size_t n;
  void* p;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, NULL, NULL) != napi_ok) return throw_type(env, what);
  if (t != want) return throw_type(env, what);
  if (n > 0 && p == NULL) return throw_range(env, what);
  *data = p;
  *len = n;
  return true;
}

static bool get_typed_ref(napi_env env, napi_ref ref, napi_typedarray_type want, void** data,
                          size_t* len, const char* what) {
  napi_value v;
  if (napi_get_reference_value(env, ref, &v) != napi_ok || v == NULL) return throw_range(env, what);
  return get_typed(env, v, want, data, len, what);
}

static bool unwrap(napi_env env, napi_value v, const napi_type_tag* tag, void** out, const char* what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) return throw_type(env, what);
  bool ok = false;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) return throw_type(env, what);
  if (napi_unwrap(env, v, out) != napi_ok || *out == NULL) return throw_type(env, what);
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env), false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

// ---------------------------------------------------------------------------
// Sockets. JavaScript holds a tagged wrapper object rather than a raw file
// descriptor, so no argument can make this layer touch a descriptor it did not
// open (stdout, or another library's socket).

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
  uv_poll_t poll;
  bool poll_open;     // uv_poll_init succeeded and uv_close has not been called
  bool poll_closing;  // uv_close called, its callback pending
  bool finalized;     // the JavaScript wrapper is gone
  napi_ref callback;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
} sock_t;

static void sock_free_if_done(sock_t* s) {
  if (s->finalized && !s->poll_open && !s->poll_closing) free(s);
}

static void on_poll_closed(uv_handle_t* h) {
  sock_t* s = (sock_t*)h->data;
  s->poll_closing = false;
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  sock_free_if_done(s);
}

static void sock_close_poll(sock_t* s) {
  if (!s->poll_open) return;
  s->poll_open = false;
  s->poll_closing = true;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t*)&s->poll, on_poll_closed);
  if (s->callback != NULL) {
    napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
  }
  if (s->async_ctx != NULL) {
    napi_async_destroy(s->env, s->async_ctx);
    s->async_ctx = NULL;
  }
}

// The kernel's unique, never reused identity of the socket behind a
// descriptor, shared by its duplicates (SO_COOKIE, Linux 4.12), or 0. Not
// fstat's inode: glibc 2.33 versioned fstat, and the prebuilt addon must load
// on the glibc 2.28 that Node.js supports.
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
static uint64_t socket_cookie(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  return getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) == 0 ? cookie : 0;
}

// Every socket the addon holds open, by cookie: adopt() refuses one of them,
// which closing the adopter would pull out from under its owner. Worker
// threads share it.
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t* open_sockets;
static size_t open_count, open_capacity;

static bool open_socket_find(uint64_t cookie, size_t* at) {
  for (size_t i = 0; i < open_count; i++) {
    if (open_sockets[i] == cookie) {
      if (at != NULL) *at = i;
      return true;
    }
  }
  return false;
}

static bool sock_is_open_here(uint64_t cookie) {
  if (cookie == 0) return false;
  pthread_mutex_lock(&open_lock);
  bool found = open_socket_find(cookie, NULL);
  pthread_mutex_unlock(&open_lock);
  return found;
}

// False (errno set) when the registry could not grow: the socket is then
// refused. A kernel without cookies leaves the socket unregistered.
static bool sock_register(sock_t* s) {
  s->cookie = socket_cookie(s->fd);
  if (s->cookie == 0) return true;
  pthread_mutex_lock(&open_lock);
  bool ok = true;
  if (open_count == open_capacity) {
    size_t cap = open_capacity ? open_capacity * 2 : 64;
    uint64_t* grown = realloc(open_sockets, cap * sizeof(*grown));
    if (grown == NULL) {
      ok = false;
      errno = ENOMEM;
    } else {
      open_sockets = grown;
      open_capacity = cap;
    }
  }
  if (ok) open_sockets[open_count++] = s->cookie;
  pthread_mutex_unlock(&open_lock);
  s->registered = ok;
  return ok;
}

static void sock_unregister(sock_t* s) {
  if (!s->registered) return;
  s->registered = false;
  pthread_mutex_lock(&open_lock);
  size_t at;
  if (open_socket_find(s->cookie, &at)) open_sockets[at] = open_sockets[--open_count];
  pthread_mutex_unlock(&open_lock);
}

// Whether fd still names the socket this one adopted: it may have been
// closed, and its number reused, since. Without cookies nobody can tell, and
// the original stays open.
static bool sock_owns_adopted(const sock_t* s) {
  return s->adopted_fd >= 0 && s->cookie != 0 && socket_cookie(s->adopted_fd) == s->cookie;
}

// Returns close(2)'s result for the socket's own descriptor, which is
// released even when an error is reported. Not made again on EINTR: Linux
// frees the descriptor before it reports one (the error comes from flushing,
// after), so a second close could close the descriptor another thread has
// just been given under the same number.
static int sock_close_fd(sock_t* s) {
  sock_unregister(s);
  if (sock_owns_adopted(s)) close(s->adopted_fd);
  s->adopted_fd = -1;
  if (s->fd < 0) return 0;
  int r = close(s->fd);
  s->fd = -1;
  return r;
}

// A worker thread's event loop must have no open handles when it ends: the
// environment's async cleanup hook closes ours and is removed once libuv has.
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  sock_t* s = (sock_t*)arg;
  (void)handle;
  sock_close_poll(s);
  sock_close_fd(s);
}

static void sock_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  sock_t* s = (sock_t*)data;
  s->finalized = true;
  sock_close_poll(s);
  sock_close_fd(s);
  sock_free_if_done(s);
}

// The tagged wrapper of a socket on descriptor fd, which it then owns.
static napi_value sock_wrap(napi_env env, int fd, sock_t** out) {
  sock_t* s = calloc(1, sizeof(*s));
  if (s == NULL) {
    close(fd);
    return int_value(env, -ENOMEM);
  }
  s->fd = fd;
  s->adopted_fd = -1;
  s->env = env;
  if (!sock_register(s)) {
    int err = errno;
    close(fd);
    free(s);
    return int_value(env, -err);
  }
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_wrap(env, obj, s, sock_finalize, NULL, NULL) != napi_ok) {
    sock_unregister(s);
    close(fd);
    free(s);
    return napi_failed(env);
  }
  CALL(env, napi_type_tag_object(env, obj, &SOCKET_TAG));
  if (out != NULL) *out = s;
  return obj;
}

static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  int64_t family;
  if (!get_int(env, argv[0], 4, 6, &family, "family must be 4 or 6")) return NULL;
  if (family == 5) return throw_range(env, "family must be 4 or 6"), NULL;
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return int_value(env, -errno);
  return sock_wrap(env, fd, NULL);
}

// A socket's domain, type and protocol; false with errno set (ENOTSOCK for
// a descriptor that is not a socket).
static bool socket_kind(int fd, int kind[3]) {
  static const int opts[3] = {SO_DOMAIN, SO_TYPE, SO_PROTOCOL};
  for (int i = 0; i < 3; i++) {
    socklen_t len = sizeof(kind[i]);
    if (getsockopt(fd, SOL_SOCKET, opts[i], &kind[i], &len) != 0) return false;
  }
  return true;
}

// socketKind(fd, out): [domain, type, protocol] of any descriptor, so that
// JavaScript can say what a descriptor it was given is. Only reads.
static napi_value js_socket_kind(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd;
  void* out;
  size_t n;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], 0, INT_MAX, &fd, "fd must be a non-negative int") ||
      !get_typed(env, argv[1], napi_int32_array, &out, &n, "output must be an Int32Array"))
    return NULL;
  if (n < 3) return throw_range(env, "output must hold three ints"), NULL;
  int kind[3];
  if (!socket_kind((int)fd, kind)) return int_value(env, -errno);
  memcpy(out, kind, sizeof(kind));
  return int_value(env, 0);
}

static void free_handle(uv_handle_t* h) { free(h); }

// Whether libuv watches fd for another handle of this event loop (a
// node:dgram socket, say): uv_poll_init then fails with UV_EEXIST, the check
// behind node:dgram's own `open EEXIST`. Returns 0, -EEXIST or -errno.
static int watched_by_loop(napi_env env, int fd) {
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  uv_poll_t* probe = malloc(sizeof(*probe));
  if (probe == NULL) return -ENOMEM;
  int r = uv_poll_init_socket(loop, probe, fd);
  if (r != 0) {
    free(probe);
    return r;  // libuv's errors are -errno on Unix
  }
  uv_close((uv_handle_t*)probe, free_handle);
  return 0;
}

// adopt(fd): a socket handle for a duplicate of an inherited UDP socket
// (systemd socket activation, a parent process), or -errno: -EPROTOTYPE when
// fd is a socket of another kind, -EEXIST when this process already uses
// it (a socket of this addon, or one libuv watches). The duplicate is
// non-blocking; that flag belongs to the open file, so the original becomes
// non-blocking too, as libuv makes it.
static napi_value js_adopt(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], 0, INT_MAX, &fd, "fd must be a non-negative int"))
    return NULL;
  int kind[3];
  if (!socket_kind((int)fd, kind)) return int_value(env, -errno);
  if ((kind[0] != AF_INET && kind[0] != AF_INET6) || kind[1] != SOCK_DGRAM || kind[2] != IPPROTO_UDP)
    return int_value(env, -EPROTOTYPE);
  if (sock_is_open_here(socket_cookie((int)fd))) return int_value(env, -EEXIST);
  int watched = watched_by_loop(env, (int)fd);
  if (watched != 0) return int_value(env, watched);
  int dup = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return int_value(env, -errno);
  int flags = fcntl(dup, F_GETFL);
  if (flags < 0 || fcntl(dup, F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    close(dup);
    return int_value(env, -err);
  }
  sock_t* s = NULL;
  napi_value obj = sock_wrap(env, dup, &s);
  if (s != NULL) s->adopted_fd = (int)fd;
  return obj;
}

static bool get_sock(napi_env env, napi_value v, sock_t** out) {
  return unwrap(env, v, &SOCKET_TAG, (void**)out, "expected a batchgram socket handle");
}

// An address argument: a Uint8Array holding a sockaddr of `len` bytes.
static bool get_sockaddr(napi_env env, napi_value buf, napi_value lenv, void** addr, socklen_t* len) {
  size_t n;
  int64_t l;
  if (!get_typed(env, buf, napi_uint8_array, addr, &n, "address must be a Uint8Array")) return false;
  if (!get_int(env, lenv, 0, SOCKADDR_SLOT, &l, "address length out of range")) return false;
  if ((size_t)l > n) return throw_range(env, "address length exceeds its buffer");
  *len = (socklen_t)l;
  return true;
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  sock_t* s;
  void* addr;
  socklen_t len;
  if (!get_args(env, info, 3, argv) || !get_sock(env, argv[0], &s) ||
      !get_sockaddr(env, argv[1], argv[2], &addr, &len))
    return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  return int_value(env, bind(s->fd, (struct sockaddr*)addr, len) == 0 ? 0 : -errno);
}

// A zero length disconnects (connect to AF_UNSPEC), as connect(2) documents.
static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  sock_t* s;
  void* addr;
  socklen_t len;
  if (!get_args(env, info, 3, argv) || !get_sock(env, argv[0], &s) ||
      !get_sockaddr(env, argv[1], argv[2], &addr, &len))
    return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  int r;
  if (len == 0) {
    struct sockaddr unspec;
    memset(&unspec, 0, sizeof(unspec));
    unspec.sa_family = AF_UNSPEC;
    RETRY_EINTR(r, connect(s->fd, &unspec, sizeof(unspec)));
  } else {
    RETRY_EINTR(r, connect(s->fd, (struct sockaddr*)addr, len));
  }
  return int_value(env, r == 0 ? 0 : -errno);
}

static napi_value get_name(napi_env env, napi_callback_info info, bool peer) {
  napi_value argv[2];
  sock_t* s;
  void* out;
  size_t n;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s) ||
      !get_typed(env, argv[1], napi_uint8_array, &out, &n, "output must be a Uint8Array"))
    return NULL;
  if (n < SOCKADDR_SLOT) return throw_range(env, "output must hold a sockaddr_in6"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  socklen_t len = SOCKADDR_SLOT;
  int r = peer ? getpeername(s->fd, out, &len) : getsockname(s->fd, out, &len);
  return int_value(env, r == 0 ? (int64_t)len : -errno);
}

static napi_value js_getsockname(napi_env env, napi_callback_info info) { return get_name(env, info, false); }
static napi_value js_getpeername(napi_env env, napi_callback_info info) { return get_name(env, info, true); }

// What every socket-option call starts with: the handle, then the level and
// the option's name, each a non-negative int; `argc` arguments in all.
static bool get_sockopt_args(napi_env env, napi_callback_info info, size_t argc, napi_value* argv, sock_t** s,
                             int64_t* level, int64_t* name) {
  return get_args(env, info, argc, argv) && get_sock(env, argv[0], s) &&
         get_int(env, argv[1], 0, INT_MAX, level, "level must be an int") &&
         get_int(env, argv[2], 0, INT_MAX, name, "option must be an int");
}

static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  sock_t* s;
  int64_t level, name, value;
  if (!get_sockopt_args(env, info, 4, argv, &s, &level, &name) ||
      !get_int(env, argv[3], INT_MIN, INT_MAX, &value, "value must be an int"))
    return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  int v = (int)value;
  int r = setsockopt(s->fd, (int)level, (int)name, &v, sizeof(v));
  return int_value(env, r == 0 ? 0 : -errno);
}

// For options whose value is a struct (multicast memberships): the bytes of
// `buf[0, len)` are passed as they are; the kernel checks their meaning.
static napi_value js_setsockopt_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  sock_t* s;
  int64_t level, name, len;
  void* data;
  size_t n;
  if (!get_sockopt_args(env, info, 5, argv, &s, &level, &name) ||
      !get_typed(env, argv[3], napi_uint8_array, &data, &n, "value must be a Uint8Array") ||
      !get_int(env, argv[4], 0, OPTION_BYTES_MAX, &len, "length out of range"))
    return NULL;
  if ((size_t)len > n) return throw_range(env, "length exceeds its buffer"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  int r = setsockopt(s->fd, (int)level, (int)name, data, (socklen_t)len);
  return int_value(env, r == 0 ? 0 : -errno);
}

static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  sock_t* s;
  int64_t level, name;
  void* out;
  size_t n;
  if (!get_sockopt_args(env, info, 4, argv, &s, &level, &name) ||
      !get_typed(env, argv[3], napi_int32_array, &out, &n, "output must be an Int32Array"))
    return NULL;
  if (n < 1) return throw_range(env, "output must hold one int"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  int v = 0;
  socklen_t len = sizeof(v);
  int r = getsockopt(s->fd, (int)level, (int)name, &v, &len);
  if (r != 0) return int_value(env, -errno);
  ((int32_t*)out)[0] = v;
  return int_value(env, 0);
}

// getsockoptBytes(handle, level, name, out): for options whose value is not
// an int (SO_BINDTODEVICE's name, say); the kernel writes at most out's
// length. Returns the length it wrote, or -errno.
static napi_value js_getsockopt_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  sock_t* s;
  int64_t level, name;
  void* out;
  size_t n;
  if (!get_sockopt_args(env, info, 4, argv, &s, &level, &name) ||
      !get_typed(env, argv[3], napi_uint8_array, &out, &n, "output must be a Uint8Array"))
    return NULL;
  if (n > OPTION_BYTES_MAX) return throw_range(env, "output longer than 1024 bytes"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  socklen_t len = (socklen_t)n;
  if (getsockopt(s->fd, (int)level, (int)name, out, &len) != 0) return int_value(env, -errno);
  return int_value(env, (int64_t)(len <= n ? len : n));
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t* s;
  if (!get_args(env, info, 1, argv) || !get_sock(env, argv[0], &s)) return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  sock_close_poll(s);
  return int_value(env, sock_close_fd(s) == 0 ? 0 : -errno);
}

// ---------------------------------------------------------------------------
// Readiness. One uv_poll per socket; JavaScript chooses the events, asking for
// writability only while it has something queued.

// The status of a call the addon makes after the poll's own (libuv's status
// is 0 or a negative errno): hand out the next datagram JavaScript kept back.
#define POLL_HAND_OUT 1

// Calls the poll's callback in a callback scope of its own, which Node closes
// by running the nextTicks and promise jobs it queued. Returns what the
// callback returned, a count of datagrams waiting to be handed out (anything
// but a positive number is 0), or -1 if it threw.
static int64_t call_poll(sock_t* s, int status, int events) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  int64_t waiting = 0;
  napi_value cb, recv, argv[2], result;
  if (napi_get_reference_value(env, s->callback, &cb) == napi_ok && cb != NULL &&
      // napi_make_callback converts its receiver to an object: pass the global.
      napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, status, &argv[0]) == napi_ok &&
      napi_create_int32(env, events, &argv[1]) == napi_ok) {
    napi_status st = napi_make_callback(env, s->async_ctx, recv, cb, 2, argv, &result);
    int64_t n;
    if (st == napi_ok) {
      if (napi_get_value_int64(env, result, &n) == napi_ok && n > 0) waiting = n;
    } else if (st == napi_pending_exception) {
      // An exception from user code reached us through the event loop: hand
      // it to process 'uncaughtException' rather than swallowing it.
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
      waiting = -1;
    }
  }
  napi_close_handle_scope(env, scope);
  return waiting;
}

// node:dgram makes one callback per datagram (UDPWrap::OnRecv), so a
// listener's nextTicks and promise jobs run before the next datagram; the
// drop-in keeps that by reading a batch in the poll's callback and handing
// the datagrams out one per call with POLL_HAND_OUT, each in its own scope,
// while the callback says some wait. A call that throws counts as one handed
// out: never more calls than datagrams, even where no JavaScript can run any
// more (a worker thread being stopped fails every call, and would otherwise
// never give the thread back). A close in between releases the callback.
static void on_poll(uv_poll_t* h, int status, int events) {
  sock_t* s = (sock_t*)h->data;
  if (s->callback == NULL) return;
  int64_t waiting = call_poll(s, status, events);
  if (waiting < 0) waiting = 1;  // it threw: asked once whether any wait
  while (waiting > 0 && s->callback != NULL) {
    int64_t left = call_poll(s, POLL_HAND_OUT, 0);
    waiting = left < 0 ? waiting - 1 : left;
  }
}

static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t* s;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s)) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_type(env, "callback must be a function"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  if (s->poll_open || s->poll_closing) return int_value(env, -EALREADY);
  uv_loop_t* loop;
  CALL(env, napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init_socket(loop, &s->poll, s->fd);
  if (r != 0) return int_value(env, r);
  s->poll.data = s;
  s->poll_open = true;
  napi_value name;
  CALL(env, napi_create_string_utf8(env, "batchgram:socket", NAPI_AUTO_LENGTH, &name));
  CALL(env, napi_async_init(env, argv[0], name, &s->async_ctx));
  CALL(env, napi_create_reference(env, argv[1], 1, &s->callback));
  CALL(env, napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup));
  return int_value(env, 0);
}

// events: UV_READABLE, UV_WRITABLE and UV_PRIORITIZED (an error queued, with
// SO_SELECT_ERR_QUEUE); 0 stops.
static napi_value js_poll_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t* s;
  int64_t events;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s) ||
      !get_int(env, argv[1], 0, UV_READABLE | UV_WRITABLE | UV_PRIORITIZED, &events,
               "events must be a mask of UV_READABLE, UV_WRITABLE and UV_PRIORITIZED"))
    return NULL;
  if (events & ~(UV_READABLE | UV_WRITABLE | UV_PRIORITIZED)) return throw_range(env, "unknown poll events"), NULL;
  if (!s->poll_open) return int_value(env, -EBADF);
  int r = events == 0 ? uv_poll_stop(&s->poll) : uv_poll_start(&s->poll, (int)events, on_poll);
  return int_value(env, r);
}

static napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t* s;
  bool ref;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s)) return NULL;
  if (napi_get_value_bool(env, argv[1], &ref) != napi_ok) return throw_type(env, "ref must be a boolean"), NULL;
  if (!s->poll_open) return int_value(env, -EBADF);
  if (ref)
    uv_ref((uv_handle_t*)&s->poll);
  else
    uv_unref((uv_handle_t*)&s->poll);
  return int_value(env, 0);
}

// ---------------------------------------------------------------------------
// Pages. A socket's large blocks (its receive arena, its rings' arrays) are
// mapped rather than taken from malloc: freed blocks of as many sizes as
// there are socket options fragment malloc's heap, whose free pages stay
// resident long after their sockets closed; unmapped pages go back to the
// system at once.

// The largest mapping mapPages makes: far above any arena a socket needs
// (128 slots of 64 KiB), below the longest Buffer every Node accepts
// (buffer.constants.MAX_LENGTH), past which Node would free the memory itself.
#define MAX_PAGES (1 << 30)

static void* pages_map(size_t len) {
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

// Node calls this once no ArrayBuffer holds the memory any more, or when the
// environment ends: nothing can reach it after. The hint is the length.
static void pages_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

// mapPages(byteLength): zeroed memory of its own mapping, as an ArrayBuffer;
// -errno when none can be mapped.
static napi_value js_map_pages(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t len;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], 1, MAX_PAGES, &len, "byte length out of range"))
    return NULL;
  void* p = pages_map((size_t)len);
  if (p == NULL) return int_value(env, -errno);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, (size_t)len, pages_finalize, (void*)(uintptr_t)len, &ab) != napi_ok) {
    munmap(p, (size_t)len);
    return napi_failed(env);
  }
  // From here the finalizer owns the mapping.
  CALL(env, napi_type_tag_object(env, ab, &PAGES_TAG));
  return ab;
}

// releasePages(buffer): gives the pages of a buffer of mapPages back to the
// system now, rather than when the garbage collector finalizes it. The buffer
// is detached first, so that no JavaScript view reads or writes it again; the
// range stays mapped (reading zeros to anything outside JavaScript that still
// holds a pointer into it) until the finalizer unmaps it. A buffer detached
// already is left alone: a transfer may have handed its memory to a live one.
static napi_value js_release_pages(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  const char* what = "expected a buffer of mapPages";
  bool is_ab = false, ours = false, detached = false;
  if (napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab) return throw_type(env, what), NULL;
  if (napi_check_object_type_tag(env, argv[0], &PAGES_TAG, &ours) != napi_ok || !ours)
    return throw_type(env, what), NULL;
  CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) return int_value(env, 0);
  void* p;
  size_t len;
  CALL(env, napi_get_arraybuffer_info(env, argv[0], &p, &len));
  // Pages dropped while the buffer still owns its mapping: once detached,
  // nothing here depends on when Node runs the finalizer that unmaps it.
  int r = madvise(p, len, MADV_DONTNEED) == 0 ? 0 : -errno;
  CALL(env, napi_detach_arraybuffer(env, argv[0]));
  return int_value(env, r);
}

// ---------------------------------------------------------------------------
// Rings. Each keeps references to four typed arrays JavaScript registered,
// how many elements each must hold, and the kernel's mmsghdr and iovec arrays,
// mapped once with the ring's working memory. The arrays are resolved afresh on every call, since
// JavaScript may detach or resize them, and must still cover the whole ring.

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

// V8 decides when to collect by the memory it knows of: tell it what a ring
// holds outside its heap, so that dropped rings are finalized in time.
static void ring_account(napi_env env, ring_t* r, int64_t bytes) {
  int64_t total;
  r->external += bytes;
  napi_adjust_external_memory(env, bytes, &total);
}

typedef struct {
  void* data[RING_ARRAYS];
} ring_mem_t;

// Gives back everything a ring holds: its own memory and its references to
// the registered arrays. A socket's close() does this at once; waiting for the
// finalizer would keep megabytes per closed socket alive for as long as the
// event loop does not reach the phase where Node runs finalizers.
static void ring_release(napi_env env, ring_t* r) {
  ring_account(env, r, -r->external);
  for (int i = 0; i < RING_ARRAYS; i++) {
    if (r->refs[i] != NULL) napi_delete_reference(env, r->refs[i]);
    r->refs[i] = NULL;
  }
  if (r->mem != NULL) munmap(r->mem, r->mem_len);
  r->mem = NULL;
  r->msgs = NULL;
  r->iovs = NULL;
  r->scratch = NULL;
  r->released = true;
}

static void ring_finalize(napi_env env, void* data, void* hint) {
  (void)hint;
  ring_t* r = data;
  ring_release(env, r);
  free(r);  // the ring_t is the first member of the ring's struct
}

static bool ring_memory(napi_env env, ring_t* r, ring_mem_t* m) {
  if (r->released) return throw_range(env, "the ring was released");
  for (int i = 0; i < RING_ARRAYS; i++) {
    size_t len;
    if (!get_typed_ref(env, r->refs[i], r->types[i], &m->data[i], &len, r->what)) return false;
    if (len < r->need[i]) return throw_range(env, "registered memory is smaller than the ring");
  }
  return true;
}

// Makes the tagged wrapper of a ring whose struct, `size` bytes, starts with
// a ring_t; `arrays` are the typed arrays to register, each of `types[i]`
// holding at least `need[i]` elements; `scratch` bytes of working memory
// follow its `msgs` mmsghdrs and `iovs` iovecs, whose sizes keep it 8-byte aligned.
static napi_value ring_new(napi_env env, size_t size, const napi_type_tag* tag, const char* what,
                           const napi_value arrays[RING_ARRAYS], const napi_typedarray_type types[RING_ARRAYS],
                           const size_t need[RING_ARRAYS], size_t msgs, size_t iovs, size_t scratch, ring_t** out) {
  for (int i = 0; i < RING_ARRAYS; i++) {
    void* p;
    size_t n;
    if (!get_typed(env, arrays[i], types[i], &p, &n, what)) return NULL;
  }
  ring_t* r = calloc(1, size);
  if (r == NULL) return int_value(env, -ENOMEM);
  r->what = what;
  memcpy(r->types, types, sizeof(r->types));
  memcpy(r->need, need, sizeof(r->need));
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, r, ring_finalize, NULL, NULL) != napi_ok) {
    free(r);
    return napi_failed(env);
  }
  // From here the finalizer owns r, whatever fails below.
  CALL(env, napi_type_tag_object(env, obj, tag));
  for (int i = 0; i < RING_ARRAYS; i++) CALL(env, napi_create_reference(env, arrays[i], 1, &r->refs[i]));
  const size_t iovs_at = msgs * sizeof(*r->msgs), scratch_at = iovs_at + iovs * sizeof(*r->iovs);
  r->mem = pages_map(scratch_at + scratch);
  if (r->mem == NULL) return int_value(env, -errno);
  r->mem_len = scratch_at + scratch;
  r->msgs = r->mem;
  r->iovs = (struct iovec*)((uint8_t*)r->mem + iovs_at);
  r->scratch = scratch > 0 ? (uint8_t*)r->mem + scratch_at : NULL;
  ring_account(env, r, (int64_t)r->mem_len);
  ring_mem_t m;
  if (!ring_memory(env, r, &m)) return NULL;
  *out = r;
  return obj;
}

// Receive ring: `slots` messages of `slot_size` bytes in one arena, each with
// its own address slot and control buffer. The kernel's per-message results
// go to `meta` so JavaScript reads them without any object per message.
// Arrays: arena, addresses, controls (Uint8Array), meta (Int32Array).

typedef struct {
  ring_t ring;
  uint32_t slots, slot_size, ctrl_size;
} recv_ring_t;

enum { RECV_ARENA, RECV_NAMES, RECV_CTRLS, RECV_META };

static napi_value js_recv_ring(napi_env env, napi_callback_info info) {
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

static napi_value js_recvmmsg(napi_env env, napi_callback_info info) {
  return recv_into_ring(env, info, 0);
}

// The error queue (IP_RECVERR): each message is the start of a datagram that
// failed, its destination as the address, and the error as control data.
static napi_value js_recv_errors(napi_env env, napi_callback_info info) {
  return recv_into_ring(env, info, MSG_ERRQUEUE);
}

// ---------------------------------------------------------------------------
// Send ring: message and iovec descriptors written by JavaScript, pointing into
// the caller's own buffers (payloads are never copied), plus address slots and
// control buffers for UDP_SEGMENT.

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

static napi_value js_send_ring(napi_env env, napi_callback_info info) {
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

// ringRelease(ring): gives back what a receive or send ring holds now, rather
// than when the garbage collector finalizes it; later calls with the ring
// throw. Releasing twice is harmless.
static napi_value js_ring_release(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  const char* what = "expected a receive or send ring";
  napi_valuetype t;
  bool recv = false;
  // Only an object may be asked for its tag: the check converts anything else.
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) return throw_type(env, what), NULL;
  if (napi_check_object_type_tag(env, argv[0], &RECV_RING_TAG, &recv) != napi_ok) return napi_failed(env);
  ring_t* r;
  if (!unwrap(env, argv[0], recv ? &RECV_RING_TAG : &SEND_RING_TAG, (void**)&r, what)) return NULL;
  if (r->busy) return throw_range(env, "the ring is in use: a getter of sendmmsg's buffer array releases it"), NULL;
  ring_release(env, r);
  return int_value(env, 0);
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
static napi_value js_sendmmsg(napi_env env, napi_callback_info info) {
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

// ---------------------------------------------------------------------------

static bool set_int(napi_env env, napi_value obj, const char* name, int64_t v) {
  napi_value n = int_value(env, v);
  return n != NULL && napi_set_named_property(env, obj, name, n) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"socket", NULL, js_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketKind", NULL, js_socket_kind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockname", NULL, js_getsockname, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getpeername", NULL, js_getpeername, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockopt", NULL, js_setsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockopt", NULL, js_getsockopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockoptBytes", NULL, js_setsockopt_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockoptBytes", NULL, js_getsockopt_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollStart", NULL, js_poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollUpdate", NULL, js_poll_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollRef", NULL, js_poll_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvRing", NULL, js_recv_ring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvmmsg", NULL, js_recvmmsg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvErrors", NULL, js_recv_errors, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendRing", NULL, js_send_ring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendmmsg", NULL, js_sendmmsg, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ringRelease", NULL, js_ring_release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapPages", NULL, js_map_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"releasePages", NULL, js_release_pages, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
  // The kernel ABI values JavaScript needs, from this machine's headers.
  // src/wire/abi.ts holds the same names with the common Linux values, and
  // the loader uses this addon only where every one is the same.
  static const struct {
    const char* name;
    int64_t value;
  } constants[] = {
      {"AF_INET", AF_INET},
      {"AF_INET6", AF_INET6},
      {"AF_UNIX", AF_UNIX},
      {"SOCK_STREAM", SOCK_STREAM},
      {"SOCK_DGRAM", SOCK_DGRAM},
      {"SOL_SOCKET", SOL_SOCKET},
      {"SOL_UDP", SOL_UDP},
      {"IPPROTO_IP", IPPROTO_IP},
      {"IPPROTO_IPV6", IPPROTO_IPV6},
      {"UDP_SEGMENT", UDP_SEGMENT},
      {"UDP_GRO", UDP_GRO},
      {"SO_RXQ_OVFL", SO_RXQ_OVFL},
      {"SO_RCVBUF", SO_RCVBUF},
      {"SO_SNDBUF", SO_SNDBUF},
      {"SO_RCVBUFFORCE", SO_RCVBUFFORCE},
      {"SO_SNDBUFFORCE", SO_SNDBUFFORCE},
      {"SO_REUSEADDR", SO_REUSEADDR},
      {"SO_REUSEPORT", SO_REUSEPORT},
      {"SO_BROADCAST", SO_BROADCAST},
      {"SO_ERROR", SO_ERROR},
      {"SO_SELECT_ERR_QUEUE", SO_SELECT_ERR_QUEUE},
      {"SO_MEMINFO", SO_MEMINFO},
      {"IP_RECVERR", IP_RECVERR},
      {"IPV6_RECVERR", IPV6_RECVERR},
      {"UV_PRIORITIZED", UV_PRIORITIZED},
      {"EHOSTDOWN", EHOSTDOWN},
      {"ENONET", ENONET},
      {"POLL_HAND_OUT", POLL_HAND_OUT},
      {"IPV6_V6ONLY", IPV6_V6ONLY},
      {"MSG_TRUNC", MSG_TRUNC},
      {"MSG_CTRUNC", MSG_CTRUNC},
      {"IP_TOS", IP_TOS},
      {"SO_MARK", SO_MARK},
      {"IP_MTU_DISCOVER", IP_MTU_DISCOVER},
      {"IP_PMTUDISC_PROBE", IP_PMTUDISC_PROBE},
      {"IPV6_MTU_DISCOVER", IPV6_MTU_DISCOVER},
      {"IPV6_PMTUDISC_PROBE", IPV6_PMTUDISC_PROBE},
      {"IPV6_DONTFRAG", IPV6_DONTFRAG},
      {"SO_BINDTODEVICE", SO_BINDTODEVICE},
      {"IP_RECVTOS", IP_RECVTOS},
      {"IP_PKTINFO", IP_PKTINFO},
      {"IPV6_TCLASS", IPV6_TCLASS},
      {"IPV6_RECVTCLASS", IPV6_RECVTCLASS},
      {"IPV6_PKTINFO", IPV6_PKTINFO},
      {"IPV6_RECVPKTINFO", IPV6_RECVPKTINFO},
      {"SO_TIMESTAMPNS", SO_TIMESTAMPNS},
      {"SCM_TIMESTAMPNS", SCM_TIMESTAMPNS},
      {"SIZEOF_TIMESPEC", (int64_t)sizeof(struct timespec)},
      {"IP_TTL", IP_TTL},
      {"IP_MULTICAST_TTL", IP_MULTICAST_TTL},
      {"IP_MULTICAST_LOOP", IP_MULTICAST_LOOP},
      {"IP_MULTICAST_IF", IP_MULTICAST_IF},
      {"IP_ADD_MEMBERSHIP", IP_ADD_MEMBERSHIP},
      {"IP_DROP_MEMBERSHIP", IP_DROP_MEMBERSHIP},
      {"IP_ADD_SOURCE_MEMBERSHIP", IP_ADD_SOURCE_MEMBERSHIP},
      {"IP_DROP_SOURCE_MEMBERSHIP", IP_DROP_SOURCE_MEMBERSHIP},
      {"IPV6_UNICAST_HOPS", IPV6_UNICAST_HOPS},
      {"IPV6_MULTICAST_HOPS", IPV6_MULTICAST_HOPS},
      {"IPV6_MULTICAST_LOOP", IPV6_MULTICAST_LOOP},
      {"IPV6_MULTICAST_IF", IPV6_MULTICAST_IF},
      {"IPV6_JOIN_GROUP", IPV6_JOIN_GROUP},
      {"IPV6_LEAVE_GROUP", IPV6_LEAVE_GROUP},
      {"MCAST_JOIN_SOURCE_GROUP", MCAST_JOIN_SOURCE_GROUP},
      {"MCAST_LEAVE_SOURCE_GROUP", MCAST_LEAVE_SOURCE_GROUP},
      {"SIZEOF_GROUP_SOURCE_REQ", (int64_t)sizeof(struct group_source_req)},
      {"CMSG_HEADER_SIZE", (int64_t)sizeof(struct cmsghdr)},
      {"CMSG_ALIGN", (int64_t)sizeof(size_t)},
      {"SOCKADDR_SLOT", SOCKADDR_SLOT},
      {"RECV_META_FIELDS", RECV_META_FIELDS},
      {"SEND_MSG_FIELDS", SEND_MSG_FIELDS},
      {"SEND_IOV_FIELDS", SEND_IOV_FIELDS},
      {"MAX_RING_ENTRIES", MAX_RING_ENTRIES},
      {"MAX_RING_IOVECS", MAX_RING_IOVECS},
      {"MAX_IOV_PER_MSG", MAX_IOV_PER_MSG},
  };
  napi_value c;
  CALL(env, napi_create_object(env, &c));
  bool ok = true;
  for (size_t i = 0; ok && i < sizeof(constants) / sizeof(constants[0]); i++)
    ok = set_int(env, c, constants[i].name, constants[i].value);
  if (!ok || napi_set_named_property(env, exports, "constants", c) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
