// proto_binding.cc — the Node-API face of the protocol engine (native/proto/). Owns: one JS
// connection object per socket, wrapping a proto::Conn, with `feed(chunk?)` and `close()`.
//
// Invariants:
//  - One native call per chunk read from the socket: feed copies the chunk into the engine's own
//    buffer (the engine never reads JS memory), runs every complete command, and copies all
//    their replies into a slice of a slab the caller passes (src/server.ts's ReplyPool: one
//    view per reply instead of a fresh ArrayBuffer per reply, which costs microseconds).
//  - state[0] after each call: bit 0 = close after writing the reply, bit 1 = complete input is
//    still buffered because the reply reached the engine's high-water mark (call feed() with no
//    chunk once the socket drained).
//  - A connection keeps its store handle object referenced, so the handle (and the ctx/closed
//    the engine points at) cannot be collected while it lives; a closed store is seen through
//    *closed before every core call.
#include "proto_binding.h"

#include <cstring>

#include "proto/conn.h"

namespace {

struct ConnBox {
  proto::Conn* conn = nullptr;
  napi_ref handle_ref = nullptr;
  napi_ref state_ref = nullptr;
  int32_t* state = nullptr;
};

struct Attach {
  shm::Ctx* ctx;
  int pkey;
  const bool* closed;
};

void release(napi_env env, ConnBox* b) {
  delete b->conn;
  b->conn = nullptr;
  if (env) {
    if (b->handle_ref) napi_delete_reference(env, b->handle_ref);
    if (b->state_ref) napi_delete_reference(env, b->state_ref);
  }
  b->handle_ref = b->state_ref = nullptr;
  b->state = nullptr;
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
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) return false;
  napi_typedarray_type type;
  size_t off = 0;
  void* d = nullptr;
  napi_value ab;
  napi_get_typedarray_info(env, v, &type, len, &d, &ab, &off);
  if (type != napi_uint8_array) return false;
  *p = static_cast<const uint8_t*>(d);
  return true;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// feed(chunk: Uint8Array | undefined, slab: Uint8Array, off) -> n. Runs the chunk (or what is
// buffered), then copies all the replies into slab[off..]: n bytes (0: none). When they do not
// fit, nothing is copied and -n is returned (the replies stay queued; call again with room).
napi_value js_feed(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  auto* b = static_cast<ConnBox*>(data);
  napi_value ret;
  if (!b->conn) {
    napi_create_int32(env, 0, &ret);
    return ret;
  }
  proto::Conn& c = *b->conn;
  const uint8_t* in = nullptr;
  size_t in_len = 0;
  if (typed_bytes(env, argc >= 1 ? argv[0] : nullptr, &in, &in_len)) c.feed(in, in_len);
  else c.run();
  if (b->state) b->state[0] = (c.closing() ? 1 : 0) | (c.more() ? 2 : 0);
  uint8_t* slab = nullptr;
  size_t slab_len = 0;
  uint32_t off = 0;
  if (argc >= 3) napi_get_value_uint32(env, argv[2], &off);
  std::string& out = c.out();
  int64_t n = int64_t(out.size());
  if (n > 0) {
    const uint8_t* sp = nullptr;
    if (typed_bytes(env, argc >= 2 ? argv[1] : nullptr, &sp, &slab_len) && off <= slab_len &&
        out.size() <= slab_len - off) {
      slab = const_cast<uint8_t*>(sp);
      std::memcpy(slab + off, out.data(), out.size());
      out.clear();
      if (out.capacity() > proto::kOutHigh * 2) out.shrink_to_fit();
    } else {
      n = -n;
    }
  }
  napi_create_int64(env, n, &ret);
  return ret;
}

napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  release(env, static_cast<ConnBox*>(data));
  return undefined(env);
}

// handle.protoConn(state: Int32Array) -> { feed, close }
napi_value js_proto_conn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value self;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, &self, &data);
  auto* a = static_cast<Attach*>(data);
  if (*a->closed) {
    napi_throw_error(env, "ERR_CACHE_CLOSED", "the cache is closed");
    return nullptr;
  }
  auto* b = new ConnBox();
  bool is_ta = false;
  if (argc >= 1) napi_is_typedarray(env, argv[0], &is_ta);
  if (is_ta) {
    napi_typedarray_type type;
    size_t len = 0, off = 0;
    void* p = nullptr;
    napi_value ab;
    napi_get_typedarray_info(env, argv[0], &type, &len, &p, &ab, &off);
    if (type == napi_int32_array && len >= 1) {
      b->state = static_cast<int32_t*>(p);
      napi_create_reference(env, argv[0], 1, &b->state_ref);
    }
  }
  proto::Backend be;
  be.ctx = a->ctx;
  be.pkey = a->pkey;
  be.closed = a->closed;
  be.protection = a->pkey >= 0 ? "pku" : "none";
  b->conn = new proto::Conn(be);
  napi_create_reference(env, self, 1, &b->handle_ref);
  napi_value obj, f;
  napi_create_object(env, &obj);
  napi_wrap(env, obj, b, finalize_conn, nullptr, nullptr);
  napi_create_function(env, "feed", NAPI_AUTO_LENGTH, js_feed, b, &f);
  napi_set_named_property(env, obj, "feed", f);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_close, b, &f);
  napi_set_named_property(env, obj, "close", f);
  return obj;
}

void free_attach(napi_env, void* data, void*) { delete static_cast<Attach*>(data); }

}  // namespace

void proto_attach(napi_env env, napi_value handle_obj, shm::Ctx* ctx, int pkey, const bool* closed) {
  auto* a = new Attach{ctx, pkey, closed};
  napi_value fn;
  napi_create_function(env, "protoConn", NAPI_AUTO_LENGTH, js_proto_conn, a, &fn);
  napi_add_finalizer(env, fn, a, free_attach, nullptr, nullptr);
  napi_set_named_property(env, handle_obj, "protoConn", fn);
}
