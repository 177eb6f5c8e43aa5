// Sockets. JavaScript holds a tagged wrapper object rather than a raw file
// descriptor, so no argument can make this layer touch a descriptor it did not
// open (stdout, or another library's socket).
#include "batchgram.h"

void sock_free_if_done(sock_t* s) {
  if (s->finalized && !s->poll_open && !s->poll_closing) free(s);
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
void on_env_cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
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
  s->watch_epfd = s->watch_stop = -1;
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

napi_value js_socket(napi_env env, napi_callback_info info) {
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
napi_value js_socket_kind(napi_env env, napi_callback_info info) {
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

// adopt(fd, uvLoop): a socket handle for a duplicate of an inherited UDP
// socket (systemd socket activation, a parent process), or -errno:
// -EPROTOTYPE when fd is a socket of another kind, -EEXIST when this process
// already uses it (a socket of this addon, or, where uvLoop says the
// runtime's loop is libuv's, one it watches; see poll.c). The duplicate is
// non-blocking; that flag belongs to the open file, so the original becomes
// non-blocking too, as libuv makes it.
napi_value js_adopt(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd;
  bool uv;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], 0, INT_MAX, &fd, "fd must be a non-negative int") ||
      !get_bool(env, argv[1], &uv, "uvLoop must be a boolean"))
    return NULL;
  int kind[3];
  if (!socket_kind((int)fd, kind)) return int_value(env, -errno);
  if ((kind[0] != AF_INET && kind[0] != AF_INET6) || kind[1] != SOCK_DGRAM || kind[2] != IPPROTO_UDP)
    return int_value(env, -EPROTOTYPE);
  if (sock_is_open_here(socket_cookie((int)fd))) return int_value(env, -EEXIST);
  int watched = uv ? watched_by_loop(env, (int)fd) : 0;
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

bool get_sock(napi_env env, napi_value v, sock_t** out) {
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

napi_value js_bind(napi_env env, napi_callback_info info) {
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
napi_value js_connect(napi_env env, napi_callback_info info) {
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

napi_value js_getsockname(napi_env env, napi_callback_info info) { return get_name(env, info, false); }
napi_value js_getpeername(napi_env env, napi_callback_info info) { return get_name(env, info, true); }

napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t* s;
  if (!get_args(env, info, 1, argv) || !get_sock(env, argv[0], &s)) return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  sock_close_poll(s);
  return int_value(env, sock_close_fd(s) == 0 ? 0 : -errno);
}
