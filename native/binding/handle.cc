// handle.cc — the lifetime of mappings and handles. Owns: g_maps (one mapping per region file
// in this process), each handle's private memory, closing a handle (on close(), GC or env
// teardown), and detaching what is still mapped at process exit.
//
// Invariants:
//  - g_maps changes only under g_maps_mu; a mapping lives while a handle refers to it, and the
//    last handle's close deletes the Region (detaching this process) behind the gate.
//  - close_handle runs once per handle; Node-API references are released only while the env is
//    alive.
#include <sys/mman.h>

#include <cstdio>

#include "binding/args.h"

namespace shm::binding {

std::mutex g_maps_mu;
std::unordered_map<std::string, Mapping> g_maps;

void throw_failed(napi_env env, napi_status st, const char* what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info* info = nullptr;
  const char* why =
      napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message ? info->error_message : "failed";
  char msg[256];
  std::snprintf(msg, sizeof msg, "shmcached addon: %s: %s (napi_status %d)", what, why, int(st));
  if (napi_throw_error(env, "ERR_NAPI", msg) != napi_ok) {}  // nothing more can be done
}

Handle* open_handle(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv, napi_value* self) {
  void* data = nullptr;
  if (napi_status st = napi_get_cb_info(env, info, argc, argv, self, &data); st != napi_ok) {
    throw_failed(env, st, "napi_get_cb_info");
    return nullptr;
  }
  auto* h = static_cast<Handle*>(data);
  if (h == nullptr || h->closed) {
    if (napi_throw_error(env, "ERR_CACHE_CLOSED", "the cache is closed") != napi_ok) {}  // nothing more can be done
    return nullptr;
  }
  return h;
}

bool set_method(napi_env env, napi_value obj, const char* name, napi_callback cb, void* data) {
  napi_value fn;
  NAPI_OK_OR(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, data, &fn), false);
  NAPI_OK_OR(env, napi_set_named_property(env, obj, name, fn), false);
  return true;
}

bool set_number(napi_env env, napi_value obj, const char* name, double v) {
  napi_value n;
  NAPI_OK_OR(env, napi_create_double(env, v, &n), false);
  NAPI_OK_OR(env, napi_set_named_property(env, obj, name, n), false);
  return true;
}

bool set_fields(napi_env env, napi_value obj, std::initializer_list<Field> fields) {
  for (const Field& f : fields) {
    napi_value v;
    if (f.is_bool)
      NAPI_OK_OR(env, napi_get_boolean(env, f.value != 0, &v), false);
    else
      NAPI_OK_OR(env, napi_create_double(env, f.value, &v), false);
    NAPI_OK_OR(env, napi_set_named_property(env, obj, f.name, v), false);
  }
  return true;
}

Private* alloc_private(int pkey, size_t* len) {
  *len = (sizeof(Private) + 4095) / 4096 * 4096;
  void* m = mmap(nullptr, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  if (!gate::protect(m, *len, pkey)) {
    munmap(m, *len);
    return nullptr;
  }
  return static_cast<Private*>(m);
}

void release_ref(napi_env env, napi_ref* r) {
  if (*r) {
    // Teardown: a reference that cannot be deleted leaks a Buffer until the thread exits, which
    // is all that could happen anyway.
    if (napi_delete_reference(env, *r) != napi_ok) {}
    *r = nullptr;
  }
}

void close_handle(Handle* h, bool env_alive) {
  if (h->closed) return;
  h->closed = true;
  {
    gate::Gate g(h->pkey);  // the slot lives in the region
    stats_detach(&h->ctx);
  }
  if (env_alive) {
    release_ref(h->env, &h->scratch_ref);
    release_ref(h->env, &h->meta_ref);
    release_ref(h->env, &h->arena_ref);
  }
  h->scratch = h->meta = h->arena = nullptr;
  h->scratch_len = h->meta_len = h->arena_len = 0;
  if (h->priv) munmap(h->priv, h->priv_len);
  h->priv = nullptr;
  std::lock_guard<std::mutex> lk(g_maps_mu);
  if (h->map && --h->map->refs == 0) {
    {
      // The last handle of the mapping: ~Region detaches this process in the header (the attach
      // table, the clean flag), which is region memory, so behind the gate like any other access.
      gate::Gate g(h->map->pkey);
      delete h->map->region;
    }
    g_maps.erase(h->key);
  }
  h->map = nullptr;
}

// The environment is exiting (a worker thread ends, or the main thread) with the handle still
// open. Its napi_env is still usable here: the env's own teardown hook was registered when the
// addon loaded, before any handle's, and cleanup hooks run in reverse order. So the references
// are deleted too: napi_create_reference's are the caller's to free, and Node does not free them
// at teardown (LeakSanitizer showed 3 per worker that exited with a handle open).
void env_cleanup(void* arg) { close_handle(static_cast<Handle*>(arg), true); }

void finalize_handle(napi_env env, void* data, void*) {
  auto* h = static_cast<Handle*>(data);
  if (!h->closed) {
    // Collected without close(): drop the references too, or they would keep the scratch and
    // arena Buffers alive until the thread exits.
    if (napi_remove_env_cleanup_hook(env, env_cleanup, h) != napi_ok) {}  // finalizer: nothing to throw to
    close_handle(h, true);
  }
  delete h;
}

// process.exit() (and exit() from anywhere) skips the env cleanup hooks that close handles on a
// natural exit: detach what is still mapped, so a region left by an exiting process starts warm.
void at_exit() {
  std::unique_lock<std::mutex> lk(g_maps_mu, std::try_to_lock);
  if (!lk.owns_lock()) return;  // a thread is opening or closing right now: leave it to recovery
  for (auto& [path, m] : g_maps) {
    gate::Gate g(m.pkey);
    if (g.refused()) continue;
    m.region->exit_detach(200);
  }
}

}  // namespace shm::binding
