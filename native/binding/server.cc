// server.cc — the Node-API face of the native connection loop (native/server/).
// Owns: handle.nativeServer(server, auth, settings, threads, maxConns, idleTimeout, verbose,
// onEvent), one JS object per native server with listen(where, port, backlog) -> [address,
// port, family] (TCP, or a unix path when port < 0), start(), stop(), connections() and
// threadConnections(); the
// thread-safe function that carries the loop's events ('shutdown', stopped) to onEvent; and the
// server's hold on the store's mapping.
//
// Invariants:
//  - The server holds a reference on the store's mapping (Mapping::refs) from creation until
//    its threads are joined (when the stopped event is delivered, not later at GC), so the
//    region outlives every loop thread even when the JS Cache closes first, and no longer than
//    that; each loop thread attaches its own stats slot (its own lock token) on itself.
//  - The thread-safe function keeps Node's loop alive from start() until the stopped event has
//    been delivered (as a listening net.Server does); the threads are joined on the JS thread
//    when that event arrives, at GC, or at env teardown, whichever comes first.
//  - Every napi_status is checked; a failure throws and leaves the server as it was.
//  - exit() (process.exit) skips env cleanup, and the module's exit hook unmaps the regions: a
//    hook registered after it (so run before it) cuts and joins every live server's threads
//    first, so no loop thread touches a region being unmapped.
#include <sys/socket.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "binding/args.h"
#include "server/server.h"

namespace shm::binding {

// proto.cc: the pieces of a protoServer()/authStore() argument (null: none, or a TypeError
// pending when the argument is of the wrong kind).
bool proto_server_arg(napi_env env, napi_value v, std::shared_ptr<proto::ServerInfo>* out);
bool auth_store_arg(napi_env env, napi_value v, std::shared_ptr<const proto::AuthStore>* out);
int32_t* int32_array(napi_env env, napi_value v, size_t min);

namespace {

struct NativeBox {
  std::unique_ptr<srv::Server> srv;
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  napi_ref settings_ref = nullptr;
  napi_ref handle_ref = nullptr;
  Mapping* map = nullptr;
  std::string map_key;
  int pkey = -1;
  bool store_closed = false;  // never set: the server holds the mapping until it is joined
  bool started = false;
  bool hooked = false;  // env cleanup hook registered
  // Who keeps the box: the JS object (finalize_box) and, while it lives, the thread-safe function
  // (tsfn_finalized). A queued event may still be delivered after the JS object was collected.
  int owners = 1;
};

// On the JS thread: one owner lets go; the last one frees the box.
void drop_owner(NativeBox* b) {
  if (--b->owners == 0) delete b;
}

// Live servers, for the exit hook.
std::mutex g_live_mu;
std::set<srv::Server*>* g_live = new std::set<srv::Server*>();  // never freed: exit hooks may use it last

void at_exit_servers() {
  std::lock_guard<std::mutex> lk(g_live_mu);
  for (srv::Server* s : *g_live) {
    s->stop_now();
    s->join();
  }
  g_live->clear();
}

struct EventMsg {
  int event;
  int arg;
};

// Joins the threads and lets the mapping go (the last holder unmaps it, as close_handle does).
void wind_down(NativeBox* b) {
  if (b->srv) {
    {
      std::lock_guard<std::mutex> lk(g_live_mu);
      g_live->erase(b->srv.get());
    }
    b->srv->stop();
    b->srv->join();
    b->srv.reset();
  }
  if (b->map) {
    std::lock_guard<std::mutex> lk(g_maps_mu);
    if (--b->map->refs == 0) {
      {
        gate::Gate g(b->map->pkey);
        delete b->map->region;
      }
      g_maps.erase(b->map_key);
    }
    b->map = nullptr;
  }
}

void release_tsfn(NativeBox* b) {
  if (b->tsfn) {
    // Teardown: the function is being torn down anyway when this fails.
    if (napi_release_threadsafe_function(b->tsfn, napi_tsfn_release) != napi_ok) {}
    b->tsfn = nullptr;
  }
}

void env_cleanup(void* arg) {
  auto* b = static_cast<NativeBox*>(arg);
  b->hooked = false;
  wind_down(b);
}

void finalize_box(napi_env env, void* data, void*) {
  auto* b = static_cast<NativeBox*>(data);
  if (b->hooked && napi_remove_env_cleanup_hook(env, env_cleanup, b) != napi_ok) {}  // finalizer: nothing to throw to
  wind_down(b);
  release_tsfn(b);
  if (b->settings_ref && napi_delete_reference(env, b->settings_ref) != napi_ok) {}
  if (b->handle_ref && napi_delete_reference(env, b->handle_ref) != napi_ok) {}
  drop_owner(b);
}

// On the JS thread, once the thread-safe function is released and its queue drained.
void tsfn_finalized(napi_env, void* data, void*) { drop_owner(static_cast<NativeBox*>(data)); }

// On the JS thread: one event from a loop thread.
void call_js(napi_env env, napi_value fn, void* ctx, void* data) {
  std::unique_ptr<EventMsg> m(static_cast<EventMsg*>(data));
  auto* b = static_cast<NativeBox*>(ctx);
  if (!env || !fn) return;  // torn down
  if (m->event == srv::kStopped) {
    // Every thread has returned from its loop: the join is immediate. The mapping goes with it,
    // not at GC: after close() and cache.close() the store is detached (clean) and its
    // descriptor closed, as a JS-engine server's leaves it.
    wind_down(b);
  }
  napi_value argv[2], recv, ret;
  if (napi_create_int32(env, m->event, &argv[0]) != napi_ok || napi_create_int32(env, m->arg, &argv[1]) != napi_ok ||
      napi_get_undefined(env, &recv) != napi_ok)
    return;
  // An exception thrown by the handler surfaces as Node's uncaught exception.
  if (napi_call_function(env, recv, fn, 2, argv, &ret) != napi_ok) {}
  if (m->event == srv::kStopped) release_tsfn(b);
}

NativeBox* box_of(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  return box_arg<NativeBox>(env, info, argc, argv);
}

bool not_listening(napi_env env, NativeBox* b) {
  if (!b->srv || b->started) {
    NAPI_OK_OR(env, napi_throw_error(env, "ERR_SERVER_ALREADY_LISTEN", "the native server is listening or closed"),
               false);
    return false;
  }
  return true;
}

napi_value listen_result(napi_env env, const srv::Bound& bd) {
  napi_value arr, a, p, f;
  NAPI_OK(env, napi_create_array_with_length(env, 3, &arr));
  NAPI_OK(env, napi_create_string_utf8(env, bd.address.c_str(), bd.address.size(), &a));
  NAPI_OK(env, napi_create_int32(env, bd.port, &p));
  const char* fam = bd.family == AF_INET6 ? "IPv6" : bd.family == AF_INET ? "IPv4" : "unix";
  NAPI_OK(env, napi_create_string_utf8(env, fam, NAPI_AUTO_LENGTH, &f));
  NAPI_OK(env, napi_set_element(env, arr, 0, a));
  NAPI_OK(env, napi_set_element(env, arr, 1, p));
  NAPI_OK(env, napi_set_element(env, arr, 2, f));
  return arr;
}

bool string_arg(napi_env env, napi_value v, std::string* out) {
  size_t n = 0;
  NAPI_OK_OR(env, napi_get_value_string_utf8(env, v, nullptr, 0, &n), false);
  out->resize(n + 1);
  NAPI_OK_OR(env, napi_get_value_string_utf8(env, v, out->data(), n + 1, &n), false);
  out->resize(n);
  return true;
}

// listen(where: string, port: number, backlog: number) -> [address, port, family]: binds
// where:port over TCP (port 0 picks one), or a unix socket at the path `where` when port < 0
// ([path, 0, 'unix']).
napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NativeBox* b = box_of(env, info, &argc, argv);
  if (!b || !not_listening(env, b)) return nullptr;
  std::string where, err;
  int32_t port = 0, backlog = 511;
  if (argc < 3 || !string_arg(env, argv[0], &where)) return nullptr;
  NAPI_OK(env, napi_get_value_int32(env, argv[1], &port));
  NAPI_OK(env, napi_get_value_int32(env, argv[2], &backlog));
  srv::Bound bd;
  const bool ok =
      port < 0 ? srv::listen_unix(where, backlog, &bd, &err) : srv::listen_tcp(where, port, backlog, &bd, &err);
  if (!ok) {
    NAPI_OK(env, napi_throw_error(env, "ERR_LISTEN", err.c_str()));
    return nullptr;
  }
  b->srv->add_listener(bd);
  return listen_result(env, bd);
}

// start(): the loop threads serve the listeners added so far.
napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  NativeBox* b = box_of(env, info, &argc, nullptr);
  if (!b || !not_listening(env, b)) return nullptr;
  std::string err;
  b->started = true;
  if (!b->srv->start(&err)) {
    wind_down(b);
    NAPI_OK(env, napi_throw_error(env, "ERR_LISTEN", err.c_str()));
    return nullptr;
  }
  return undefined(env);
}

// stop(): stop accepting, end the connections once their replies are out; onEvent(2) follows.
napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  NativeBox* b = box_of(env, info, &argc, nullptr);
  if (!b) return nullptr;
  if (b->srv && b->started) {
    b->srv->stop();
  } else {
    // Never started: nothing runs, so the stopped event is answered at once (on the next turn).
    wind_down(b);
    if (b->tsfn) {
      auto* m = new EventMsg{srv::kStopped, 0};
      if (napi_call_threadsafe_function(b->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
        delete m;
        release_tsfn(b);
      }
    }
  }
  return undefined(env);
}

// connections(): open connections now (all threads).
napi_value js_connections(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  NativeBox* b = box_of(env, info, &argc, nullptr);
  if (!b) return nullptr;
  return ret_int(env, b->srv ? int32_t(b->srv->connections()) : 0);
}

// threadConnections(): connections each loop thread serves now, in thread order (diagnostics:
// how evenly new connections were spread).
napi_value js_thread_connections(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  NativeBox* b = box_of(env, info, &argc, nullptr);
  if (!b) return nullptr;
  std::vector<uint32_t> v;
  if (b->srv && b->started) v = b->srv->thread_connections();
  napi_value arr, n;
  NAPI_OK(env, napi_create_array_with_length(env, v.size(), &arr));
  for (size_t i = 0; i < v.size(); ++i) {
    NAPI_OK(env, napi_create_uint32(env, v[i], &n));
    NAPI_OK(env, napi_set_element(env, arr, uint32_t(i), n));
  }
  return arr;
}

// handle.nativeServer(server, auth, settings: Int32Array, threads, maxConns, idleTimeout,
//                     verbose, onEvent(event, arg)) -> { listen, start, stop, connections }
napi_value js_native_server(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_value self;
  Handle* h = open_handle(env, info, &argc, argv, &self);
  if (!h) return nullptr;
  if (argc < 8) {
    NAPI_OK(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nativeServer: 8 arguments"));
    return nullptr;
  }
  srv::EngineSpec spec;
  if (!proto_server_arg(env, argv[0], &spec.info) || !auth_store_arg(env, argv[1], &spec.auth)) return nullptr;
  spec.settings = int32_array(env, argv[2], size_t(c::kProtoSettingCount));
  if (!spec.settings || !spec.info) {
    NAPI_OK(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nativeServer(server, auth, settings, ...)"));
    return nullptr;
  }
  srv::Options opt;
  uint32_t idle = 0, maxc = 0;
  NAPI_OK(env, napi_get_value_int32(env, argv[3], &opt.threads));
  NAPI_OK(env, napi_get_value_uint32(env, argv[4], &maxc));
  NAPI_OK(env, napi_get_value_uint32(env, argv[5], &idle));
  NAPI_OK(env, napi_get_value_int32(env, argv[6], &opt.verbose));
  opt.max_conns = maxc;
  opt.idle_timeout_s = idle;
  if (opt.threads < 1 || opt.threads > 256) {
    NAPI_OK(env, napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "threads must be 1..256"));
    return nullptr;
  }
  napi_valuetype ft;
  NAPI_OK(env, napi_typeof(env, argv[7], &ft));
  if (ft != napi_function) {
    NAPI_OK(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "nativeServer: onEvent must be a function"));
    return nullptr;
  }

  napi_value obj;
  NAPI_OK(env, napi_create_object(env, &obj));
  auto* b = new NativeBox();
  b->env = env;
  if (napi_status st = napi_wrap(env, obj, b, finalize_box, nullptr, nullptr); st != napi_ok) {
    delete b;
    throw_failed(env, st, "napi_wrap");
    return nullptr;
  }
  // From here the object owns b (finalize_box).
  NAPI_OK(env, napi_create_reference(env, argv[2], 1, &b->settings_ref));
  NAPI_OK(env, napi_create_reference(env, self, 1, &b->handle_ref));
  napi_value name;
  NAPI_OK(env, napi_create_string_utf8(env, "shmcached.nativeServer", NAPI_AUTO_LENGTH, &name));
  NAPI_OK(env,
          napi_create_threadsafe_function(env, argv[7], nullptr, name, 0, 1, b, tsfn_finalized, b, call_js, &b->tsfn));
  b->owners++;  // the thread-safe function's (tsfn_finalized)
  {
    std::lock_guard<std::mutex> lk(g_maps_mu);
    b->map = h->map;
    b->map_key = h->key;
    b->map->refs++;
  }
  b->pkey = h->pkey;
  Region* region = b->map->region;
  const int pkey = h->pkey;
  const bool* closed = &b->store_closed;
  const char* protection = pkey >= 0 ? "pku" : "none";
  napi_threadsafe_function tsfn = b->tsfn;
  srv::Hooks hooks;
  hooks.attach = [region, pkey, closed, protection](proto::Backend* be) {
    auto* ctx = new shm::Ctx();
    {
      gate::Gate g(pkey);
      if (g.refused()) {
        delete ctx;
        return false;
      }
      stats_attach(*region, ctx);
    }
    be->ctx = ctx;
    be->pkey = pkey;
    be->closed = closed;
    be->protection = protection;
    return true;
  };
  hooks.detach = [pkey](proto::Backend* be) {
    {
      gate::Gate g(pkey);
      stats_detach(be->ctx);
    }
    delete be->ctx;
    be->ctx = nullptr;
  };
  hooks.notify = [tsfn](int event, int arg) {
    auto* m = new EventMsg{event, arg};
    if (napi_call_threadsafe_function(tsfn, m, napi_tsfn_nonblocking) != napi_ok) delete m;  // tearing down
  };
  b->srv = std::make_unique<srv::Server>(opt, std::move(hooks), std::move(spec));
  {
    static std::once_flag once;
    std::call_once(once, [] { std::atexit(at_exit_servers); });
    std::lock_guard<std::mutex> lk(g_live_mu);
    g_live->insert(b->srv.get());
  }
  NAPI_OK(env, napi_add_env_cleanup_hook(env, env_cleanup, b));
  b->hooked = true;
  if (!set_method(env, obj, "listen", js_listen, b) || !set_method(env, obj, "start", js_start, b) ||
      !set_method(env, obj, "stop", js_stop, b) || !set_method(env, obj, "connections", js_connections, b) ||
      !set_method(env, obj, "threadConnections", js_thread_connections, b))
    return nullptr;
  return obj;
}

}  // namespace

bool attach_server(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "nativeServer", js_native_server, h);
}

}  // namespace shm::binding
