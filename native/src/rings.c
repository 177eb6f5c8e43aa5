// Rings. Each keeps references to four typed arrays JavaScript registered,
// how many elements each must hold, and the kernel's mmsghdr and iovec arrays,
// mapped once with the ring's working memory. The arrays are resolved afresh on every call, since
// JavaScript may detach or resize them, and must still cover the whole ring.
#include "batchgram.h"

// V8 decides when to collect by the memory it knows of: tell it what a ring
// holds outside its heap, so that dropped rings are finalized in time.
static void ring_account(napi_env env, ring_t* r, int64_t bytes) {
  int64_t total;
  r->external += bytes;
  napi_adjust_external_memory(env, bytes, &total);
}

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

bool ring_memory(napi_env env, ring_t* r, ring_mem_t* m) {
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
napi_value ring_new(napi_env env, size_t size, const napi_type_tag* tag, const char* what,
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

// ringRelease(ring): gives back what a receive or send ring holds now, rather
// than when the garbage collector finalizes it; later calls with the ring
// throw. Releasing twice is harmless.
napi_value js_ring_release(napi_env env, napi_callback_info info) {
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
