// proto.cc — the protocol binding: the Node-API face of the protocol engine (native/proto/).
// Owns: handle.protoConn(state, server?, addr?, listenAddr?, auth?, settings?), and one JS connection object per
// socket, wrapping a proto::Conn, with `feed(chunk?)` and `close()`; handle.protoServer(), one
// JS object per server wrapping its proto::ServerInfo (`set(general, settings)`,
// `listeners(addrs)`, `rejected()`), which the server's connections share; handle.authStore(file, sasl, label), a
// type-tagged external holding a server's credential store (native/proto/auth.h) that each of its connections shares.
//
// Invariants:
//  - One native call per chunk read from the socket: feed copies the chunk into the engine's own
//    buffer (the engine never reads JS memory), runs every complete command, and copies all
//    their replies into a slice of a slab the caller passes (src/server.ts's ReplyPool: one
//    view per reply instead of a fresh ArrayBuffer per reply, which costs microseconds).
//  - state[0] after each call: the contract's ProtoState bits (Close = close after writing the
//    reply, More = complete input is still buffered because the unsent replies (this call's and
//    the socket's, feed's unsent argument) reached the engine's high-water mark: call feed()
//    with no chunk once the socket drained, Ran = at least one whole command ran: the host's
//    idle clock restarts).
//  - A connection keeps its store handle object referenced, so the handle (and the ctx/closed
//    the engine points at) cannot be collected while it lives; a closed store is seen through
//    the handle's `closed` before every core call.
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "binding/args.h"
#include "proto/conn.h"
#include "proto/serverinfo.h"
#include "server/engine.h"

namespace shm::binding {

using AuthPtr = std::shared_ptr<const proto::AuthStore>;

// The argument readers protoConn and nativeServer (server.cc) share (defined below).
int32_t* int32_array(napi_env env, napi_value v, size_t min);
bool auth_store_arg(napi_env env, napi_value v, AuthPtr* out);
bool proto_server_arg(napi_env env, napi_value v, std::shared_ptr<proto::ServerInfo>* out);

namespace {

constexpr napi_type_tag kAuthTag = {0x73686d6361757468ull, 0x2e73746f72650001ull};  // "shmcauth.store"

void finalize_auth(napi_env, void* data, void*) { delete static_cast<AuthPtr*>(data); }

// handle.authStore(file: Uint8Array, sasl: boolean, label: string) -> external | null (a line
// without ':'). The bytes are the auth file's content, already read safely by the caller.
napi_value js_auth_store(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  const uint8_t* p = nullptr;
  size_t n = 0;
  bool ta = false;
  if (argc >= 1) NAPI_OK(env, napi_is_typedarray(env, argv[0], &ta));
  if (!ta || argc < 3) {
    NAPI_OK(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "authStore(file: Uint8Array, sasl, label)"));
    return nullptr;
  }
  {
    napi_typedarray_type type;
    size_t off = 0;
    void* d = nullptr;
    napi_value ab;
    NAPI_OK(env, napi_get_typedarray_info(env, argv[0], &type, &n, &d, &ab, &off));
    p = static_cast<const uint8_t*>(d);
  }
  bool sasl = false;
  NAPI_OK(env, napi_get_value_bool(env, argv[1], &sasl));
  char label[1024];
  size_t llen = 0;
  NAPI_OK(env, napi_get_value_string_utf8(env, argv[2], label, sizeof label, &llen));
  auto store = std::make_shared<proto::AuthStore>();
  if (!proto::auth_parse(reinterpret_cast<const char*>(p), n, store.get())) {
    napi_value nul;
    NAPI_OK(env, napi_get_null(env, &nul));
    return nul;
  }
  store->sasl = sasl;
  store->ascii_label.assign(label, llen);
  auto* holder = new AuthPtr(std::move(store));
  napi_value ext;
  if (napi_status st = napi_create_external(env, holder, finalize_auth, nullptr, &ext); st != napi_ok) {
    delete holder;
    throw_failed(env, st, "napi_create_external");
    return nullptr;
  }
  NAPI_OK(env, napi_type_tag_object(env, ext, &kAuthTag));
  return ext;
}

// The credential store in v when it is one of authStore's externals; null otherwise.
AuthPtr auth_of(napi_env env, napi_value v) {
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_external) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kAuthTag, &tagged) != napi_ok || !tagged) return nullptr;
  void* d = nullptr;
  if (napi_get_value_external(env, v, &d) != napi_ok || !d) return nullptr;
  return *static_cast<AuthPtr*>(d);
}

struct ConnBox {
  proto::Conn* conn = nullptr;
  napi_ref handle_ref = nullptr;
  napi_ref state_ref = nullptr;
  int32_t* state = nullptr;
  napi_ref settings_ref = nullptr;
  int32_t* settings = nullptr;  // the server's ProtoSetting array, or none
};

void release(napi_env env, ConnBox* b) {
  delete b->conn;
  b->conn = nullptr;
  if (env) {
    // Teardown: a failure here leaves nothing to undo, so it is not reported.
    if (b->handle_ref && napi_delete_reference(env, b->handle_ref) != napi_ok) {}
    if (b->state_ref && napi_delete_reference(env, b->state_ref) != napi_ok) {}
    if (b->settings_ref && napi_delete_reference(env, b->settings_ref) != napi_ok) {}
  }
  b->handle_ref = b->state_ref = b->settings_ref = nullptr;
  b->state = nullptr;
  b->settings = nullptr;
}

void finalize_conn(napi_env env, void* data, void*) {
  auto* b = static_cast<ConnBox*>(data);
  // At env teardown finalizers run in any order: the Handle the engine counts into may be gone.
  if (b->conn) b->conn->forget_store();
  release(env, b);
  delete b;
}

// The bytes of a Uint8Array (a Buffer included); false for anything else.
bool typed_bytes(napi_env env, napi_value v, const uint8_t** p, size_t* len) {
  if (!v) return false;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  size_t off = 0;
  void* d = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, len, &d, &ab, &off) != napi_ok || type != napi_uint8_array) return false;
  *p = static_cast<const uint8_t*>(d);
  return true;
}

// Marks protoServer() objects, so protoConn never mistakes another wrapped object for one.
constexpr napi_type_tag kServerTag = {0x73686d6373727631ull, 0x9c1e5a3b2d4f6071ull};

struct ServerBox {
  std::shared_ptr<proto::ServerInfo> info = std::make_shared<proto::ServerInfo>();
  Handle* h = nullptr;
  napi_ref handle_ref = nullptr;
};

void finalize_server(napi_env env, void* data, void*) {
  auto* b = static_cast<ServerBox*>(data);
  if (env && b->handle_ref && napi_delete_reference(env, b->handle_ref) != napi_ok) {}  // teardown: nothing to undo
  delete b;
}

// A string value (false for anything else).
bool get_string(napi_env env, napi_value v, std::string* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) return false;
  out->resize(n + 1);
  if (napi_get_value_string_utf8(env, v, out->data(), n + 1, &n) != napi_ok) return false;
  out->resize(n);
  return true;
}

// A JS array of strings (false, with a TypeError pending, for anything else).
bool get_strings(napi_env env, napi_value v, std::vector<std::string>* out) {
  bool is_array = false;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array) {
    NAPI_OK_OR(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an array of strings"), false);
    return false;
  }
  uint32_t n = 0;
  NAPI_OK_OR(env, napi_get_array_length(env, v, &n), false);
  out->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    NAPI_OK_OR(env, napi_get_element(env, v, i, &e), false);
    if (!get_string(env, e, &(*out)[i])) {
      NAPI_OK_OR(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an array of strings"), false);
      return false;
    }
  }
  return true;
}

bool get_pairs(napi_env env, napi_value v, shm::StatList* out) {
  std::vector<std::string> flat;
  if (!get_strings(env, v, &flat)) return false;
  out->clear();
  for (size_t i = 0; i + 1 < flat.size(); i += 2) out->emplace_back(std::move(flat[i]), std::move(flat[i + 1]));
  return true;
}

// server.set(general: string[], settings: string[]): the server's values of `stats` and
// `stats settings` keys, flat [key, value, ...] lists (replacing what was set before).
napi_value js_server_set(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  auto* b = box_arg<ServerBox>(env, info, &argc, argv);
  if (!b) return nullptr;
  shm::StatList general, settings;
  if (argc < 2 || !get_pairs(env, argv[0], &general) || !get_pairs(env, argv[1], &settings)) {
    bool pending = false;
    NAPI_OK(env, napi_is_exception_pending(env, &pending));
    if (!pending) NAPI_OK(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "set(general, settings)"));
    return nullptr;
  }
  std::lock_guard<std::mutex> lk(b->info->mu);
  b->info->general = std::move(general);
  b->info->settings = std::move(settings);
  return undefined(env);
}

// server.listeners(addrs: string[]): where the server listens ("tcp:HOST:PORT"), for `stats conns`.
napi_value js_server_listeners(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  auto* b = box_arg<ServerBox>(env, info, &argc, argv);
  if (!b) return nullptr;
  std::vector<std::string> addrs;
  if (argc < 1 || !get_strings(env, argv[0], &addrs)) return nullptr;
  auto& info_ = *b->info;
  std::lock_guard<std::mutex> lk(info_.mu);
  info_.listeners.clear();
  for (auto& a : addrs) info_.listeners.emplace_back(info_.next_id++, std::move(a));
  info_.started = int64_t(std::time(nullptr));
  return undefined(env);
}

// server.rejected(): counts a connection refused over the limit (rejected_connections).
napi_value js_server_rejected(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  auto* b = box_arg<ServerBox>(env, info, &argc, nullptr);
  if (!b) return nullptr;
  if (!b->h->closed) {
    proto::Backend be;
    be.ctx = &b->h->ctx;
    be.pkey = b->h->pkey;
    be.closed = &b->h->closed;
    uint64_t counts[proto::kEngineCounters]{};
    counts[proto::kEcRejected] = 1;
    be.add_counts(counts);
  }
  return undefined(env);
}

// handle.protoServer() -> { set, listeners, rejected }
napi_value js_proto_server(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  void* data = nullptr;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, nullptr, &self, &data));
  napi_value obj;
  NAPI_OK(env, napi_create_object(env, &obj));
  auto* b = new ServerBox();
  b->h = static_cast<Handle*>(data);
  if (napi_status st = napi_wrap(env, obj, b, finalize_server, nullptr, nullptr); st != napi_ok) {
    delete b;
    throw_failed(env, st, "napi_wrap");
    return nullptr;
  }
  NAPI_OK(env, napi_type_tag_object(env, obj, &kServerTag));
  NAPI_OK(env, napi_create_reference(env, self, 1, &b->handle_ref));
  if (!set_method(env, obj, "set", js_server_set, b) || !set_method(env, obj, "listeners", js_server_listeners, b) ||
      !set_method(env, obj, "rejected", js_server_rejected, b))
    return nullptr;
  return obj;
}

// feed(chunk: Uint8Array | undefined, slab: Uint8Array, off, unsent = 0) -> n. Runs the chunk (or
// what is buffered), then copies all the replies into slab[off..]: n bytes (0: none). When they
// do not fit, nothing is copied and -n is returned (the replies stay queued; call again with
// room). unsent: bytes of earlier replies the socket has not written yet (its writableLength):
// they count toward the engine's output mark.
napi_value js_feed(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  auto* b = box_arg<ConnBox>(env, info, &argc, argv);
  if (!b) return nullptr;
  if (!b->conn) return ret_int(env, 0);
  uint32_t off = 0;
  if (argc >= 3) NAPI_OK(env, napi_get_value_uint32(env, argv[2], &off));
  double unsent = 0;  // a number, or undefined (0)
  if (argc >= 4 && napi_get_value_double(env, argv[3], &unsent) != napi_ok) unsent = 0;
  if (!(unsent > 0)) unsent = 0;  // NaN and negatives count as nothing unsent
  if (unsent > 1e15) unsent = 1e15;
  proto::Conn& conn = *b->conn;
  const uint8_t* in = nullptr;
  size_t in_len = 0;
  bool chunk = typed_bytes(env, argc >= 1 ? argv[0] : nullptr, &in, &in_len);
  int32_t st = srv::drive(conn, b->settings, chunk ? (in ? in : reinterpret_cast<const uint8_t*>("")) : nullptr, in_len,
                          size_t(unsent));
  if (b->state) b->state[0] = st;
  size_t slab_len = 0;
  std::string& out = conn.out();
  int64_t n = int64_t(out.size());
  if (n > 0) {
    const uint8_t* sp = nullptr;
    if (typed_bytes(env, argc >= 2 ? argv[1] : nullptr, &sp, &slab_len) && off <= slab_len &&
        out.size() <= slab_len - off) {
      std::memcpy(const_cast<uint8_t*>(sp) + off, out.data(), out.size());
      out.clear();
    } else {
      n = -n;
    }
  }
  conn.trim();  // buffers a large request grew go back once empty (out_ stays while it waits for room)
  napi_value ret;
  NAPI_OK(env, napi_create_int64(env, n, &ret));
  return ret;
}

napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  auto* b = box_arg<ConnBox>(env, info, &argc, nullptr);
  if (!b) return nullptr;
  release(env, b);
  return undefined(env);
}

// handle.protoConn(state: Int32Array, server?, addr?: string, listenAddr?: string, auth?,
//                  settings?: Int32Array) -> { feed, close }
napi_value js_proto_conn(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_value self;
  Handle* h = open_handle(env, info, &argc, argv, &self);
  if (!h) return nullptr;
  int32_t* state = argc >= 1 ? int32_array(env, argv[0], 1) : nullptr;
  AuthPtr auth;
  std::shared_ptr<proto::ServerInfo> srv;
  if ((argc >= 5 && !auth_store_arg(env, argv[4], &auth)) || (argc >= 2 && !proto_server_arg(env, argv[1], &srv)))
    return nullptr;
  napi_value obj;
  NAPI_OK(env, napi_create_object(env, &obj));
  auto* b = new ConnBox();
  if (napi_status st = napi_wrap(env, obj, b, finalize_conn, nullptr, nullptr); st != napi_ok) {
    delete b;
    throw_failed(env, st, "napi_wrap");
    return nullptr;
  }
  // From here the object owns b: finalize_conn frees it whatever happens below.
  if (state) {
    NAPI_OK(env, napi_create_reference(env, argv[0], 1, &b->state_ref));
    b->state = state;
  }
  if (int32_t* settings = int32_array(env, argc >= 6 ? argv[5] : nullptr, size_t(c::kProtoSettingCount))) {
    NAPI_OK(env, napi_create_reference(env, argv[5], 1, &b->settings_ref));
    b->settings = settings;
  }
  NAPI_OK(env, napi_create_reference(env, self, 1, &b->handle_ref));
  proto::Backend be;
  be.ctx = &h->ctx;
  be.pkey = h->pkey;
  be.closed = &h->closed;
  be.protection = h->pkey >= 0 ? "pku" : "none";
  std::string addr, listen_addr;
  if (argc >= 3) get_string(env, argv[2], &addr);
  if (argc >= 4) get_string(env, argv[3], &listen_addr);
  b->conn = srv::make_engine(be, srv::EngineSpec{std::move(srv), std::move(auth), nullptr}, std::move(addr),
                             std::move(listen_addr))
                .release();
  if (!set_method(env, obj, "feed", js_feed, b) || !set_method(env, obj, "close", js_close, b)) return nullptr;
  return obj;
}

}  // namespace

// An Int32Array argument of at least min elements, or nullptr.
int32_t* int32_array(napi_env env, napi_value v, size_t min) {
  bool is_ta = false;
  if (!v || napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return nullptr;
  napi_typedarray_type type;
  size_t len = 0, off = 0;
  void* p = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &len, &p, &ab, &off) != napi_ok) return nullptr;
  return type == napi_int32_array && len >= min ? static_cast<int32_t*>(p) : nullptr;
}

// auth: undefined/null (none) or an authStore() external; anything else is a TypeError, never
// an unauthenticated server.
bool auth_store_arg(napi_env env, napi_value v, AuthPtr* out) {
  napi_valuetype at;
  NAPI_OK_OR(env, napi_typeof(env, v, &at), false);
  if (at == napi_undefined || at == napi_null) return true;
  if (!(*out = auth_of(env, v))) {
    NAPI_OK_OR(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "auth must be an authStore"), false);
    return false;
  }
  return true;
}

// server: a protoServer() object (its ServerInfo), or anything but an object (none).
bool proto_server_arg(napi_env env, napi_value v, std::shared_ptr<proto::ServerInfo>* out) {
  napi_valuetype t;
  NAPI_OK_OR(env, napi_typeof(env, v, &t), false);
  if (t != napi_object) return true;
  void* sb = nullptr;
  bool tagged = false;
  NAPI_OK_OR(env, napi_check_object_type_tag(env, v, &kServerTag, &tagged), false);
  // An object that is not a protoServer() result is refused, not guessed at.
  if (!tagged || napi_unwrap(env, v, &sb) != napi_ok || !sb) {
    NAPI_OK_OR(env, napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "server must come from protoServer()"), false);
    return false;
  }
  *out = static_cast<ServerBox*>(sb)->info;
  return true;
}

bool attach_server(napi_env env, napi_value obj, Handle* h);  // server.cc

// handle.protoConn: the Handle outlives every connection made from it (each references the
// handle object, whose finalizer frees the Handle).
bool attach_proto(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "protoConn", js_proto_conn, h) &&
         set_method(env, obj, "protoServer", js_proto_server, h) &&
         set_method(env, obj, "authStore", js_auth_store, h) &&
         attach_server(env, obj, h);  // handle.nativeServer: the native connection loop
}

}  // namespace shm::binding
