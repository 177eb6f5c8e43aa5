// Argument helpers: each reads one argument of a call from JavaScript, or
// throws. Each returns false with a JavaScript exception pending.
#include "batchgram.h"

// A failed Node-API call returns undefined to JavaScript only with an
// exception pending: never silently.
napi_value napi_failed(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
    napi_throw_error(env, "ERR_BATCHGRAM_NAPI", "Node-API call failed");
  return NULL;
}

napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  if (napi_create_int64(env, v, &out) != napi_ok) return napi_failed(env);
  return out;
}

bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t* out,
                    const char* what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return throw_type(env, what);
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return throw_type(env, what);
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return throw_range(env, what);
  *out = (int64_t)d;
  return true;
}

bool get_bool(napi_env env, napi_value v, bool* out, const char* what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) return throw_type(env, what);
  return true;
}

// A typed array of the wanted element type; the pointer and length are read
// afresh on every call because JavaScript may detach or resize the buffer.
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void** data,
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

bool get_typed_ref(napi_env env, napi_ref ref, napi_typedarray_type want, void** data,
                          size_t* len, const char* what) {
  napi_value v;
  if (napi_get_reference_value(env, ref, &v) != napi_ok || v == NULL) return throw_range(env, what);
  return get_typed(env, v, want, data, len, what);
}

bool unwrap(napi_env env, napi_value v, const napi_type_tag* tag, void** out, const char* what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) return throw_type(env, what);
  bool ok = false;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) return throw_type(env, what);
  if (napi_unwrap(env, v, out) != napi_ok || *out == NULL) return throw_type(env, what);
  return true;
}

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env), false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}
