// Pages. A socket's large blocks (its receive arena, its rings' arrays) are
// mapped rather than taken from malloc: freed blocks of as many sizes as
// there are socket options fragment malloc's heap, whose free pages stay
// resident long after their sockets closed; unmapped pages go back to the
// system at once.
#include "batchgram.h"

// The largest mapping mapPages makes: far above any arena a socket needs
// (128 slots of 64 KiB), below the longest Buffer every Node accepts
// (buffer.constants.MAX_LENGTH), past which Node would free the memory itself.
#define MAX_PAGES (1 << 30)

void* pages_map(size_t len) {
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
napi_value js_map_pages(napi_env env, napi_callback_info info) {
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
napi_value js_release_pages(napi_env env, napi_callback_info info) {
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
