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

// Copy blocks: the memory the safe Buffers of small datagrams are copied
// into (copyBlock). From the allocator, a read's copies landed on pages it
// had given back to the system at the last collection, and faulted them in
// again; a block comes back here once no ArrayBuffer holds it (its
// finalizer) and stays resident for the next copy. Process-wide (worker
// threads share it, hence the lock) and bounded: at most COPY_POOL_MAX blocks
// out at once (the caller copies into the allocator's memory past that) and
// as many kept.
#define COPY_BLOCK (64 * 1024)
#define COPY_POOL_MAX 512

static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
static void* copy_pool[COPY_POOL_MAX];
static size_t copy_pooled, copy_out;

static void copy_block_finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  pthread_mutex_lock(&copy_lock);
  copy_out--;
  bool kept = copy_pooled < COPY_POOL_MAX;
  if (kept) copy_pool[copy_pooled++] = data;
  pthread_mutex_unlock(&copy_lock);
  if (!kept) free(data);
}

// copyBlock(): a COPY_BLOCK-byte ArrayBuffer, the pool's most recently
// returned block (warmest in the cache; its bytes an earlier copy's, as with
// Buffer.allocUnsafe) or a fresh one; -ENOBUFS with COPY_POOL_MAX blocks
// out, -ENOMEM when none can be allocated.
napi_value js_copy_block(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&copy_lock);
  bool full = copy_out >= COPY_POOL_MAX;
  void* p = !full && copy_pooled > 0 ? copy_pool[--copy_pooled] : NULL;
  if (!full) copy_out++;
  pthread_mutex_unlock(&copy_lock);
  if (full) return int_value(env, -ENOBUFS);
  if (p == NULL) p = malloc(COPY_BLOCK);
  if (p == NULL) {
    pthread_mutex_lock(&copy_lock);
    copy_out--;
    pthread_mutex_unlock(&copy_lock);
    return int_value(env, -ENOMEM);
  }
  napi_value ab;
  // A runtime that allows no external buffers (napi_no_external_buffers_allowed)
  // gets -ENOTSUP: the caller copies into the allocator's memory.
  if (napi_create_external_arraybuffer(env, p, COPY_BLOCK, copy_block_finalize, NULL, &ab) != napi_ok) {
    copy_block_finalize(env, p, NULL);
    return int_value(env, -ENOTSUP);
  }
  return ab;
}

// copyBlocks(): [blocks held by Buffers, blocks pooled], process-wide.
napi_value js_copy_blocks(napi_env env, napi_callback_info info) {
  (void)info;
  pthread_mutex_lock(&copy_lock);
  double held = (double)copy_out, pooled = (double)copy_pooled;
  pthread_mutex_unlock(&copy_lock);
  napi_value arr, v;
  CALL(env, napi_create_array_with_length(env, 2, &arr));
  CALL(env, napi_create_double(env, held, &v));
  CALL(env, napi_set_element(env, arr, 0, v));
  CALL(env, napi_create_double(env, pooled, &v));
  CALL(env, napi_set_element(env, arr, 1, v));
  return arr;
}
