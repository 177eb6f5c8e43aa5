// Socket options: an int, or the bytes of a struct (multicast memberships,
// an interface name), up to OPTION_BYTES_MAX.
#include "batchgram.h"

// What every socket-option call starts with: the handle, then the level and
// the option's name, each a non-negative int; `argc` arguments in all.
static bool get_sockopt_args(napi_env env, napi_callback_info info, size_t argc, napi_value* argv, sock_t** s,
                             int64_t* level, int64_t* name) {
  return get_args(env, info, argc, argv) && get_sock(env, argv[0], s) &&
         get_int(env, argv[1], 0, INT_MAX, level, "level must be an int") &&
         get_int(env, argv[2], 0, INT_MAX, name, "option must be an int");
}

napi_value js_setsockopt(napi_env env, napi_callback_info info) {
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
napi_value js_setsockopt_bytes(napi_env env, napi_callback_info info) {
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

napi_value js_getsockopt(napi_env env, napi_callback_info info) {
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
napi_value js_getsockopt_bytes(napi_env env, napi_callback_info info) {
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

// attachSteering(handle, program): SO_ATTACH_REUSEPORT_CBPF (Linux 4.5) with
// a classic BPF program, 1 to BPF_MAXINSNS struct sock_filter of 8 bytes;
// the kernel checks the program itself and copies it. 0 or -errno.
napi_value js_attach_steering(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t* s;
  void* data;
  size_t n;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s) ||
      !get_typed(env, argv[1], napi_uint8_array, &data, &n, "program must be a Uint8Array"))
    return NULL;
  if (n == 0 || n % sizeof(struct sock_filter) != 0 || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return throw_range(env, "program must be 1 to 4096 instructions of 8 bytes"), NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  struct sock_fprog prog = {.len = (unsigned short)(n / sizeof(struct sock_filter)), .filter = data};
  int r = setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
  return int_value(env, r == 0 ? 0 : -errno);
}
