// Readiness. One uv_poll per socket; JavaScript chooses the events, asking for
// writability only while it has something queued.
#include "batchgram.h"

static void on_poll_closed(uv_handle_t* h) {
  sock_t* s = (sock_t*)h->data;
  s->poll_closing = false;
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  sock_free_if_done(s);
}

void sock_close_poll(sock_t* s) {
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

napi_value js_poll_start(napi_env env, napi_callback_info info) {
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
napi_value js_poll_update(napi_env env, napi_callback_info info) {
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

napi_value js_poll_ref(napi_env env, napi_callback_info info) {
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
