// proto.cc — the protocol binding: the Node-API face of the protocol engine (native/proto/).
// Owns: handle.protoConn(state), and one JS connection object per socket, wrapping a
// proto::Conn, with `feed(chunk?)` and `close()`.
//
// Invariants:
//  - One native call per chunk read from the socket: feed copies the chunk into the engine's own
//    buffer (the engine never reads JS memory), runs every complete command, and copies all
//    their replies into a slice of a slab the caller passes (src/server.ts's ReplyPool: one
//    view per reply instead of a fresh ArrayBuffer per reply, which costs microseconds).
//  - state[0] after each call: the contract's ProtoState bits (Close = close after writing the
//    reply, More = complete input is still buffered because the reply reached the engine's
//    high-water mark: call feed() with no chunk once the socket drained).
//  - A connection keeps its store handle object referenced, so the handle (and the ctx/closed
//    the engine points at) cannot be collected while it lives; a closed store is seen through
//    the handle's `closed` before every core call.
#include <cstring>

#include "binding/args.h"
#include "proto/conn.h"

namespace shm::binding {
namespace {

struct ConnBox {
  proto::Conn* conn = nullptr;
  napi_ref handle_ref = nullptr;
  napi_ref state_ref = nullptr;
  int32_t* state = nullptr;
  napi_ref settings_ref = nullptr;
  int32_t* settings = nullptr;  // the server's ProtoSetting array, or none
};

// The server's settings array into the engine (before a feed) and back (after it).
void settings_in(const int32_t* a, proto::ServerSettings& s) {
  int32_t f = a[c::kProtoSettingFlags];
  s.shutdown_enabled = (f & c::kProtoSettingFlagShutdownEnabled) != 0;
  s.lru_crawler = (f & c::kProtoSettingFlagLruCrawler) != 0;
  s.text_ok = (f & c::kProtoSettingFlagText) != 0;
  s.binary_ok = (f & c::kProtoSettingFlagBinary) != 0;
  s.automove = uint32_t(a[c::kProtoSettingAutomove]);
  s.tocrawl = uint32_t(a[c::kProtoSettingTocrawl]);
  s.crawler_sleep = uint32_t(a[c::kProtoSettingCrawlerSleep]);
  s.verbosity = uint32_t(a[c::kProtoSettingVerbosity]);
  s.reqs_per_event = uint32_t(a[c::kProtoSettingReqsPerEvent]);
  s.shutdown_requested = 0;
}
void settings_out(const proto::ServerSettings& s, int32_t* a) {
  int32_t f = a[c::kProtoSettingFlags] & ~c::kProtoSettingFlagLruCrawler;
  a[c::kProtoSettingFlags] = f | (s.lru_crawler ? c::kProtoSettingFlagLruCrawler : 0);
  a[c::kProtoSettingAutomove] = int32_t(s.automove);
  a[c::kProtoSettingTocrawl] = int32_t(s.tocrawl);
  a[c::kProtoSettingCrawlerSleep] = int32_t(s.crawler_sleep);
  a[c::kProtoSettingVerbosity] = int32_t(s.verbosity);
  if (s.shutdown_requested) a[c::kProtoSettingShutdown] = int32_t(s.shutdown_requested);
}

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

// feed(chunk: Uint8Array | undefined, slab: Uint8Array, off) -> n. Runs the chunk (or what is
// buffered), then copies all the replies into slab[off..]: n bytes (0: none). When they do not
// fit, nothing is copied and -n is returned (the replies stay queued; call again with room).
napi_value js_feed(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  void* data = nullptr;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, nullptr, &data));
  auto* b = static_cast<ConnBox*>(data);
  if (!b->conn) return ret_int(env, 0);
  uint32_t off = 0;
  if (argc >= 3) NAPI_OK(env, napi_get_value_uint32(env, argv[2], &off));
  proto::Conn& conn = *b->conn;
  const uint8_t* in = nullptr;
  size_t in_len = 0;
  if (b->settings) settings_in(b->settings, conn.settings());
  if (typed_bytes(env, argc >= 1 ? argv[0] : nullptr, &in, &in_len))
    conn.feed(in, in_len);
  else
    conn.run();
  if (b->settings) settings_out(conn.settings(), b->settings);
  if (b->state) b->state[0] = (conn.closing() ? c::kProtoStateClose : 0) | (conn.more() ? c::kProtoStateMore : 0);
  size_t slab_len = 0;
  std::string& out = conn.out();
  int64_t n = int64_t(out.size());
  if (n > 0) {
    const uint8_t* sp = nullptr;
    if (typed_bytes(env, argc >= 2 ? argv[1] : nullptr, &sp, &slab_len) && off <= slab_len &&
        out.size() <= slab_len - off) {
      std::memcpy(const_cast<uint8_t*>(sp) + off, out.data(), out.size());
      out.clear();
      if (out.capacity() > proto::kOutHigh * 2) out.shrink_to_fit();
    } else {
      n = -n;
    }
  }
  napi_value ret;
  NAPI_OK(env, napi_create_int64(env, n, &ret));
  return ret;
}

napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data));
  release(env, static_cast<ConnBox*>(data));
  return undefined(env);
}

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

// handle.protoConn(state: Int32Array, settings?: Int32Array) -> { feed, close }
napi_value js_proto_conn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value self;
  void* data = nullptr;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, &self, &data));
  auto* h = static_cast<Handle*>(data);
  if (h->closed) {
    NAPI_OK(env, napi_throw_error(env, "ERR_CACHE_CLOSED", "the cache is closed"));
    return nullptr;
  }
  int32_t* state = nullptr;
  napi_value state_v = nullptr;
  bool is_ta = false;
  if (argc >= 1) NAPI_OK(env, napi_is_typedarray(env, argv[0], &is_ta));
  if (is_ta) {
    napi_typedarray_type type;
    size_t len = 0, off = 0;
    void* p = nullptr;
    napi_value ab;
    NAPI_OK(env, napi_get_typedarray_info(env, argv[0], &type, &len, &p, &ab, &off));
    if (type == napi_int32_array && len >= 1) {
      state = static_cast<int32_t*>(p);
      state_v = argv[0];
    }
  }
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
    NAPI_OK(env, napi_create_reference(env, state_v, 1, &b->state_ref));
    b->state = state;
  }
  if (int32_t* settings = int32_array(env, argc >= 2 ? argv[1] : nullptr, size_t(c::kProtoSettingCount))) {
    NAPI_OK(env, napi_create_reference(env, argv[1], 1, &b->settings_ref));
    b->settings = settings;
  }
  NAPI_OK(env, napi_create_reference(env, self, 1, &b->handle_ref));
  proto::Backend be;
  be.ctx = &h->ctx;
  be.pkey = h->pkey;
  be.closed = &h->closed;
  be.protection = h->pkey >= 0 ? "pku" : "none";
  b->conn = new proto::Conn(be);
  if (!set_method(env, obj, "feed", js_feed, b) || !set_method(env, obj, "close", js_close, b)) return nullptr;
  return obj;
}

}  // namespace

// handle.protoConn: the Handle outlives every connection made from it (each references the
// handle object, whose finalizer frees the Handle).
bool attach_proto(napi_env env, napi_value obj, Handle* h) {
  return set_method(env, obj, "protoConn", js_proto_conn, h);
}

}  // namespace shm::binding
