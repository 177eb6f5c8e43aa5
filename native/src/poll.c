// Readiness. JavaScript chooses the events, asking for writability only while
// it has something queued, and at pollStart the means, one of two:
//
// - libuv's uv_poll, on the runtime's own loop: Node.js. Each report is a
//   callback of the loop's, as node:dgram's are.
// - a thread of ours per socket, waiting in epoll_wait, which hands each
//   report to the main thread through a Node-API thread-safe function: for
//   runtimes that load Node-API addons without running on libuv. Bun 1.x
//   has no uv_poll (uv_poll_init_socket aborts the process). Deno 2.x has an
//   imitation of it that cannot carry a socket: it reports once per
//   uv_poll_start and never again (a socket read once, then never), and
//   calls uv_close's callback before uv_close returns, which freed our
//   socket under sock_close_poll when its wrapper was finalized (the double
//   free that aborted Deno 2.9.6 at exit).
//
// Whether the runtime's loop is libuv's is not something the addon can ask:
// napi_get_uv_event_loop answers napi_ok in all three (Deno hands out its
// own environment as the "loop"), and calling a uv function that Bun lacks
// ends the process. JavaScript knows which runtime it runs on.
#include "batchgram.h"

// The prebuilt binaries load on glibc 2.28 (scripts/prebuild.mjs checks):
// glibc 2.34 moved pthread_create, pthread_join and
// pthread_attr_setstacksize into libc under a new version, which the
// linker would pick, so they are bound to the versions every glibc has
// (those of 2.28's libpthread, which the runtime has loaded).
#if defined(__GLIBC__) && defined(__x86_64__)
#define GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__GLIBC__) && defined(__aarch64__)
#define GLIBC_BASE "GLIBC_2.17"
#endif
#ifdef GLIBC_BASE
__asm__(".symver pthread_create,pthread_create@" GLIBC_BASE);
__asm__(".symver pthread_join,pthread_join@" GLIBC_BASE);
__asm__(".symver pthread_attr_setstacksize,pthread_attr_setstacksize@" GLIBC_BASE);
#endif

// Both means end here once nothing of theirs can call back any more: the
// environment's cleanup hook is done, and the socket may be freed.
static void poll_closed(sock_t* s) {
  s->poll_closing = false;
  if (s->cleanup != NULL) {
    napi_remove_async_cleanup_hook(s->cleanup);
    s->cleanup = NULL;
  }
  sock_free_if_done(s);
}

static void on_poll_closed(uv_handle_t* h) { poll_closed((sock_t*)h->data); }

static void on_watch_finalized(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  poll_closed((sock_t*)data);
}

static void watch_close(sock_t* s);

void sock_close_poll(sock_t* s) {
  if (!s->poll_open) return;
  s->poll_open = false;
  s->poll_closing = true;
  if (s->uv) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t*)&s->poll, on_poll_closed);
  } else {
    watch_close(s);
  }
  if (s->callback != NULL) {
    napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
  }
  if (s->async_ctx != NULL) {
    napi_async_destroy(s->env, s->async_ctx);
    s->async_ctx = NULL;
  }
}

// Calls the poll's callback: from uv_poll's callback by napi_make_callback,
// in a callback scope of its own, which Node closes by running the nextTicks
// and promise jobs it queued; from a thread-safe call by napi_call_function,
// since that call has its scope and its async resource already (the
// function's). Returns what the callback returned, a count of datagrams
// waiting to be handed out (anything but a positive number is 0), or -1 if
// it threw.
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
    napi_status st = s->uv ? napi_make_callback(env, s->async_ctx, recv, cb, 2, argv, &result)
                           : napi_call_function(env, recv, cb, 2, argv, &result);
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
// never give the thread back). A readiness call that throws is asked once
// whether any wait. A close in between releases the callback.
static int64_t waiting_after(int64_t before, int64_t got, bool hand_out) {
  if (got >= 0) return got;
  return hand_out ? before - 1 : 1;
}

// On Node.js, whose scopes run the ticks and jobs, every hand-out is called
// from the poll's own callback.
static void on_poll(uv_poll_t* h, int status, int events) {
  sock_t* s = (sock_t*)h->data;
  if (s->callback == NULL) return;
  int64_t waiting = waiting_after(0, call_poll(s, status, events), false);
  while (waiting > 0 && s->callback != NULL) waiting = waiting_after(waiting, call_poll(s, POLL_HAND_OUT, 0), true);
}

// The thread. It owns nothing: the main thread makes the epoll set, the
// eventfd and the thread-safe function before it starts the thread, and
// frees them after joining it.
#define WATCH_SOCKET 0
#define WATCH_STOP 1

static void* watch(void* arg) {
  sock_t* s = arg;
  for (;;) {
    struct epoll_event ev;
    // Fails only with EINTR (the set and the buffer are ours, and every
    // signal is blocked here, but a debugger's stop interrupts it too).
    if (epoll_wait(s->watch_epfd, &ev, 1, -1) != 1) continue;
    if (ev.data.u32 == WATCH_STOP) return NULL;
    __atomic_store_n(&s->reported, true, __ATOMIC_RELEASE);
    // The events travel in the pointer: nothing is allocated per report. A
    // queue without a bound never blocks; once the main thread has released
    // the function this fails, and the stop event follows.
    napi_call_threadsafe_function(s->watch_tsfn, (void*)(uintptr_t)ev.events, napi_tsfn_nonblocking);
  }
}

// Puts the socket in the epoll set with the events JavaScript asked for, one
// report's worth, or takes it out for none (EPOLLERR is reported whatever the
// mask: libuv's uv_poll_stop takes the descriptor out too). 0 or -errno.
static int watch_arm(sock_t* s) {
  if (s->watch_events == 0) {
    if (!s->watch_registered) return 0;
    s->watch_registered = false;
    return epoll_ctl(s->watch_epfd, EPOLL_CTL_DEL, s->fd, NULL) == 0 ? 0 : -errno;
  }
  struct epoll_event ev = {.events = EPOLLONESHOT, .data.u32 = WATCH_SOCKET};
  if (s->watch_events & UV_READABLE) ev.events |= EPOLLIN;
  if (s->watch_events & UV_WRITABLE) ev.events |= EPOLLOUT;
  if (s->watch_events & UV_PRIORITIZED) ev.events |= EPOLLPRI;
  int op = s->watch_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(s->watch_epfd, op, s->fd, &ev) != 0) return -errno;
  s->watch_registered = true;
  return 0;
}

// What the thread-safe function carries for a hand-out: no address of an
// epoll event mask (a report carries its mask in the pointer's place).
static const char HAND_OUT = 0;

// A report, or a hand-out, on the main thread. env is NULL when the function
// is being torn down with calls still queued: they are dropped, as after a
// close. Bun 1.4 and Deno 2.9 run no promise jobs nor nextTicks when a
// napi_make_callback returns, only between their tasks, so each hand-out is
// a call of the thread-safe function of its own, queued by the call before
// it. Bun runs each such call as a task: a listener's jobs run before the
// next datagram, as on Node.js (whose thread-safe calls each have a callback
// scope too), though another task (a timer's) may come in between, where on
// Node.js none does. Deno 2.9 runs the calls queued while it runs its queue
// in the same turn: its jobs run after every two or three datagrams (its own
// node:dgram runs a read's nextTicks after all of its datagrams).
static void on_watch(napi_env env, napi_value js_cb, void* context, void* data) {
  (void)js_cb;
  sock_t* s = context;
  if (env == NULL || s->callback == NULL) return;
  if (data == &HAND_OUT) {
    s->watch_waiting = waiting_after(s->watch_waiting, call_poll(s, POLL_HAND_OUT, 0), true);
  } else {
    uint32_t got = (uint32_t)(uintptr_t)data;
    int status = 0, events = 0;
    // As libuv reads poll(2)'s answer (uv__poll_io): an error without urgent
    // data stops the poll and reports EBADF; JavaScript asks again.
    if ((got & EPOLLERR) && !(got & EPOLLPRI)) {
      status = -EBADF;
      s->watch_events = 0;
    } else {
      if (got & EPOLLIN) events |= UV_READABLE;
      if (got & EPOLLOUT) events |= UV_WRITABLE;
      if (got & EPOLLPRI) events |= UV_PRIORITIZED;
    }
    s->watch_waiting = waiting_after(0, call_poll(s, status, events), false);
  }
  if (s->callback == NULL) return;
  if (s->watch_waiting > 0 &&
      napi_call_threadsafe_function(s->watch_tsfn, (void*)&HAND_OUT, napi_tsfn_nonblocking) == napi_ok)
    return;
  s->watch_waiting = 0;
  // Armed again only now (pollUpdate leaves it to us while `reported` is
  // set), so that the thread never reports what JavaScript has not read
  // yet. A failure is one more report, as libuv's would be.
  __atomic_store_n(&s->reported, false, __ATOMIC_RELEASE);
  int r = watch_arm(s);
  if (r < 0) call_poll(s, r, 0);
}

static int watch_start(napi_env env, sock_t* s) {
  s->watch_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->watch_epfd < 0) return -errno;
  s->watch_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WATCH_STOP};
  if (s->watch_stop < 0 || epoll_ctl(s->watch_epfd, EPOLL_CTL_ADD, s->watch_stop, &ev) != 0) {
    int err = errno;
    if (s->watch_stop >= 0) close(s->watch_stop);
    close(s->watch_epfd);
    return -err;
  }
  napi_value name;
  if (napi_create_string_utf8(env, "batchgram:socket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, s, on_watch_finalized, s, on_watch,
                                      &s->watch_tsfn) != napi_ok) {
    close(s->watch_stop);
    close(s->watch_epfd);
    return -ENOMEM;
  }
  // epoll_wait needs little stack: a small one keeps many sockets' threads
  // cheap. Every signal is blocked in the thread (it inherits the mask it
  // is made with), so that the process's signals go to the runtime's own.
  // sigprocmask sets the calling thread's mask on Linux, as
  // pthread_sigmask does, and has no version newer than glibc 2.28's.
  pthread_attr_t attr;
  sigset_t all, before;
  sigfillset(&all);
  int r = pthread_attr_init(&attr);
  if (r == 0) {
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigprocmask(SIG_SETMASK, &all, &before);
    r = pthread_create(&s->watch_thread, &attr, watch, s);
    sigprocmask(SIG_SETMASK, &before, NULL);
    pthread_attr_destroy(&attr);
  }
  if (r != 0) {
    close(s->watch_stop);
    close(s->watch_epfd);
    // Its finalizer frees the socket if the wrapper is gone meanwhile.
    s->poll_closing = true;
    napi_release_threadsafe_function(s->watch_tsfn, napi_tsfn_abort);
    return -r;
  }
  return 0;
}

// Ends the thread (it is in epoll_wait, or about to be: a report in flight
// does not block), then frees what it used. The thread-safe function's
// finalizer comes later, from the runtime, and ends the close.
static void watch_close(sock_t* s) {
  uint64_t one = 1;
  ssize_t w;
  do {
    w = write(s->watch_stop, &one, sizeof(one));
  } while (w < 0 && errno == EINTR);
  pthread_join(s->watch_thread, NULL);
  close(s->watch_stop);
  close(s->watch_epfd);
  s->watch_stop = s->watch_epfd = -1;
  s->watch_registered = false;
  napi_release_threadsafe_function(s->watch_tsfn, napi_tsfn_abort);
}

// pollStart(socket, callback, uvLoop): readiness by uv_poll where uvLoop is
// true, else by a thread of ours (see the top of this file).
napi_value js_poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  sock_t* s;
  bool uv;
  if (!get_args(env, info, 3, argv) || !get_sock(env, argv[0], &s)) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function)
    return throw_type(env, "callback must be a function"), NULL;
  if (!get_bool(env, argv[2], &uv, "uvLoop must be a boolean")) return NULL;
  if (s->fd < 0) return int_value(env, -EBADF);
  if (s->poll_open || s->poll_closing) return int_value(env, -EALREADY);
  s->uv = uv;
  if (uv) {
    uv_loop_t* loop;
    CALL(env, napi_get_uv_event_loop(env, &loop));
    int r = uv_poll_init_socket(loop, &s->poll, s->fd);
    if (r != 0) return int_value(env, r);
    s->poll.data = s;
  } else {
    int r = watch_start(env, s);
    if (r != 0) return int_value(env, r);
  }
  s->poll_open = true;
  // An async context of our own only for napi_make_callback (see call_poll).
  // Deno 2.9.6 ends the process with a V8 fatal error if one is destroyed
  // by the environment's cleanup hook as an uncaught exception ends it.
  if (uv) {
    napi_value name;
    CALL(env, napi_create_string_utf8(env, "batchgram:socket", NAPI_AUTO_LENGTH, &name));
    CALL(env, napi_async_init(env, argv[0], name, &s->async_ctx));
  }
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
  if (s->uv) return int_value(env, events == 0 ? uv_poll_stop(&s->poll) : uv_poll_start(&s->poll, (int)events, on_poll));
  s->watch_events = (int)events;
  // With a report on its way the socket is armed once that report is handled.
  return int_value(env, __atomic_load_n(&s->reported, __ATOMIC_ACQUIRE) ? 0 : watch_arm(s));
}

// Whether the readiness keeps the event loop alive, as libuv's uv_ref does.
napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t* s;
  bool ref;
  if (!get_args(env, info, 2, argv) || !get_sock(env, argv[0], &s) || !get_bool(env, argv[1], &ref, "ref must be a boolean"))
    return NULL;
  if (!s->poll_open) return int_value(env, -EBADF);
  if (s->uv) {
    if (ref)
      uv_ref((uv_handle_t*)&s->poll);
    else
      uv_unref((uv_handle_t*)&s->poll);
    return int_value(env, 0);
  }
  napi_status st = ref ? napi_ref_threadsafe_function(env, s->watch_tsfn) : napi_unref_threadsafe_function(env, s->watch_tsfn);
  return st == napi_ok ? int_value(env, 0) : napi_failed(env);
}
