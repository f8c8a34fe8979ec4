// open.cc — the region binding: open() and check(). Owns: mapping a region file once per
// process (g_maps, shared by every thread's handle), the option checks against a region already
// mapped here, the handle object open() returns (its methods come from cache.cc, events.cc,
// testonly.cc and proto.cc), the recovery report, and the read-only structure check.
//
// Invariants:
//  - A region is tagged with the protection key right after it is mapped, before any handle can
//    use it: from then on only a gate reaches it.
//  - open() either returns a handle object that owns its Handle (freed by its finalizer, or
//    closed at env teardown), or throws a coded error (ERR_BAD_REGION, ERR_REGION_MISMATCH,
//    ERR_PKU_UNAVAILABLE) having left nothing mapped or allocated for it.
#include <napi.h>

#include <string>
#include <vector>

#include "binding/args.h"

namespace shm::binding {
namespace {

int64_t int_arg(const Napi::Value& v) { return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0; }

void throw_coded(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.ThrowAsJavaScriptException();
}

// The recovery report as a JS object; an empty value with an exception pending when Node-API fails.
Napi::Value report_object(Napi::Env env, const RecoveryReport& r) {
  static const char* kinds[] = {"created", "attached", "warm", "recovered", "reset"};
  Napi::Object o = Napi::Object::New(env);
  uint32_t k = uint32_t(r.kind);
  bool ok = o.Set("kind", Napi::String::New(env, kinds[k <= 4 ? k : 1])) &&
            set_fields(env, o,
                       {{"itemsKept", double(r.items_kept)},
                        {"itemsDropped", double(r.items_dropped)},
                        {"duplicatesDropped", double(r.duplicates)},
                        {"expiredDropped", double(r.expired)},
                        {"chunksFreed", double(r.chunks_freed)},
                        {"pagesScanned", double(r.pages_scanned)},
                        {"orphanPages", double(r.orphan_pages)},
                        {"deadProcesses", double(r.dead_processes)},
                        {"ms", r.ms}}) &&
            o.Set("reason", Napi::String::New(env, r.reason));
  return ok ? Napi::Value(o) : Napi::Value();
}

}  // namespace

// check(path) -> { ok, problems[], items, freeChunks, pagesUsed, pagesTotal, livePids, hashPower,
// expanding, clean, dirty, recoveries, lockTakeovers } or throws ERR_BAD_REGION. Maps the file
// read-only and writes nothing.
Napi::Value Check(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    Napi::TypeError::New(env, "check(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  RegionOptions opt;
  opt.readonly = true;
  // check(path, allowOwner = -1, mode = 0600): the file rules of core/region_file.h.
  if (info.Length() > 1 && info[1].IsNumber()) opt.allow_owner = int_arg(info[1]);
  if (info.Length() > 2 && info[2].IsNumber()) opt.mode = uint32_t(int_arg(info[2]));
  std::string err;
  bool created = false;
  const char* code = nullptr;
  Region* r = Region::open(path, opt, &err, &created, nullptr, &code);
  if (!r) {
    throw_coded(env, code ? code : "ERR_BAD_REGION", err);
    return env.Undefined();
  }
  std::vector<std::string> problems;
  VerifyStats st;
  bool ok = verify_region(*r, &problems, &st);
  uint64_t recoveries = r->h()->recoveries.load(), takeovers = r->h()->lock_takeovers.load();
  delete r;
  Napi::Object o = Napi::Object::New(env);
  Napi::Array arr = Napi::Array::New(env, problems.size());
  for (size_t i = 0; i < problems.size(); ++i)
    if (!arr.Set(uint32_t(i), Napi::String::New(env, problems[i]))) return env.Undefined();
  bool set = set_fields(env, o, {flag("ok", ok)}) && o.Set("problems", arr) &&
             set_fields(env, o,
                        {{"items", double(st.items)},
                         {"freeChunks", double(st.free_chunks)},
                         {"leakedChunks", double(st.leaked_chunks)},
                         {"pagesUsed", double(st.pages_used)},
                         {"pagesTotal", double(st.pages_total)},
                         {"liveProcesses", double(st.live_procs)},
                         {"hashPower", double(st.hash_power)},
                         flag("expanding", st.expanding),
                         flag("clean", st.clean),
                         flag("dirty", st.dirty),
                         {"recoveries", double(recoveries)},
                         {"lockTakeovers", double(takeovers)}});
  return set ? Napi::Value(o) : env.Undefined();
}

namespace {

// The options must agree with a region already mapped in this process.
std::string check_mapped(const std::string& path, const Mapping& m, const RegionOptions& opt, int protection) {
  const Geometry& g = m.region->geo();
  if ((protection == 1 && m.pkey < 0) || (protection == 0 && m.pkey >= 0))
    return path + ": open in this process with protection '" + (m.pkey >= 0 ? "pku" : "none") + "'";
  if (opt.reset) return "cannot reset " + path + ": it is open in this process (close it first)";
  if (opt.mem_limit && opt.mem_limit != g.mem_limit)
    return path + ": region has size " + std::to_string(g.mem_limit) + " bytes, opened with size " +
           std::to_string(opt.mem_limit);
  if (opt.item_size_max && opt.item_size_max != g.item_size_max)
    return path + ": region has itemSizeMax " + std::to_string(g.item_size_max) + ", opened with " +
           std::to_string(opt.item_size_max);
  if (opt.evict >= 0 && (opt.evict != 0) != m.evict) return path + ": region was created with another evict setting";
  return "";
}

}  // namespace

// open(path, memLimit, itemSizeMax, evict, reset, mode, protection, flags, allowOwner) -> handle
// object with bound methods. protection: 0 none, 1 pku (an error without PKU), 2 auto. flags: 1
// reset if bad, 2 recover, 4 mode explicit. allowOwner: a uid whose file may be opened, -1 none.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString()) {
    Napi::TypeError::New(env, "open(path, memLimit, itemSizeMax, evict, reset, mode)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  RegionOptions opt;
  opt.mem_limit = uint64_t(int_arg(info[1]));
  opt.item_size_max = uint32_t(int_arg(info[2]));
  opt.evict = int(int_arg(info[3]));
  opt.reset = info[4].ToBoolean().Value();
  opt.mode = uint32_t(int_arg(info[5]));
  int protection = info.Length() > 6 ? int(int_arg(info[6])) : 2;
  int64_t flags = info.Length() > 7 ? int_arg(info[7]) : 0;
  opt.reset_if_bad = (flags & 1) != 0;
  opt.recover = (flags & 2) != 0;
  // flags & 4: mode was given explicitly; info[8]: allowOwner uid (-1: none).
  opt.mode_explicit = (flags & 4) != 0;
  opt.allow_owner = info.Length() > 8 && info[8].IsNumber() ? int_arg(info[8]) : -1;
  if (protection == 1 && !gate::pku_available()) {
    throw_coded(
        env, "ERR_PKU_UNAVAILABLE",
        "protection 'pku' is not available: this CPU or kernel has no memory protection keys (use 'auto' or 'none')");
    return env.Undefined();
  }

  auto* h = new Handle();
  h->env = env;
  bool mapped_here = false;
  {
    std::lock_guard<std::mutex> lk(g_maps_mu);
    auto it = g_maps.find(path);
    if (it != g_maps.end()) {
      std::string err = check_mapped(path, it->second, opt, protection);
      if (!err.empty()) {
        delete h;
        throw_coded(env, "ERR_REGION_MISMATCH", err);
        return env.Undefined();
      }
      it->second.refs++;
      h->map = &it->second;
    } else {
      std::string err;
      bool created = false;
      RecoveryReport rep;
      const char* code = nullptr;  // the refusal's own code (ERR_REGION_*), if any
      Region* r = Region::open(path, opt, &err, &created, &rep, &code);
      if (!r) {
        delete h;
        throw_coded(env, code ? code : "ERR_BAD_REGION", err);
        return env.Undefined();
      }
      // Read what we need before the region is tagged, then tag it: from here on only a gate
      // reaches it.
      bool evict = r->h()->evict != 0;
      int pkey = protection == 0 ? -1 : gate::pku_key();
      if (!gate::protect(r->base(), r->geo().file_size, pkey)) {
        delete r;
        delete h;
        throw_coded(env, "ERR_PKU_UNAVAILABLE", "pkey_mprotect failed on " + path);
        return env.Undefined();
      }
      h->map = &g_maps.emplace(path, Mapping{r, 1, pkey, evict, rep}).first->second;
      mapped_here = true;
    }
  }
  h->key = path;
  h->pkey = h->map->pkey;
  h->priv = alloc_private(h->pkey, &h->priv_len);
  Region& region = *h->map->region;
  {
    gate::Gate g(h->pkey);
    stats_attach(region, &h->ctx);
  }
  if (napi_status st = napi_add_env_cleanup_hook(env, env_cleanup, h); st != napi_ok) {
    close_handle(h, true);
    delete h;
    throw_failed(env, st, "napi_add_env_cleanup_hook");
    return env.Undefined();
  }
  if (!h->priv) {
    if (napi_remove_env_cleanup_hook(env, env_cleanup, h) != napi_ok) {}  // failing already
    close_handle(h, true);
    delete h;
    throw_coded(env, "ERR_BAD_REGION", "cannot allocate private memory for " + path);
    return env.Undefined();
  }

  Napi::Object obj = Napi::Object::New(env);
  if (napi_status st = napi_wrap(env, obj, h, finalize_handle, nullptr, nullptr); st != napi_ok) {
    if (napi_remove_env_cleanup_hook(env, env_cleanup, h) != napi_ok) {}  // failing already
    close_handle(h, true);
    delete h;
    throw_failed(env, st, "napi_wrap");
    return env.Undefined();
  }
  // From here the object owns h (finalize_handle). Each binding file adds its methods.
  if (!attach_cache(env, obj, h) || !attach_events(env, obj, h) || !attach_test_only(env, obj, h) ||
      !attach_proto(env, obj, h) ||                              // the wire protocol engine (native/proto/)
      !values_attach(env, obj, &h->ctx, h->pkey, &h->closed) ||  // has, key crawl (values.cc)
      !attach_crawler(env, obj, h))  // the expired-item crawler (crawler.cc, core/crawler.h)
    return env.Undefined();
  const Geometry& g = region.geo();
  Napi::Value report = report_object(env, mapped_here ? h->map->report : RecoveryReport{RecoveryReport::kAttached});
  bool set = set_fields(env, obj,
                        {{"memLimit", double(g.mem_limit)},
                         {"itemSizeMax", double(g.item_size_max)},
                         {"itemHeader", double(sizeof(Item))},
                         {"evict", h->map->evict ? 1.0 : 0.0},
                         {"protection", h->pkey >= 0 ? 1.0 : 0.0}}) &&
             !report.IsEmpty() && obj.Set("recovery", report);
  return set ? Napi::Value(obj) : env.Undefined();
}

}  // namespace shm::binding
