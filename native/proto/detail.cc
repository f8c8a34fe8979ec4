// detail.cc — see detail.h.
#include "proto/detail.h"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace proto {

namespace {
struct Prefix {
  std::string name;
  uint64_t gets = 0, hits = 0, sets = 0, dels = 0;
};

std::atomic<bool> g_on{false};
std::mutex g_mu;
std::vector<Prefix>* g_list = nullptr;                            // first-seen order
std::unordered_map<std::string_view, size_t>* g_index = nullptr;  // views into g_list's names

// The prefix of key (before the first delimiter; a NUL ends the key as in memcached), or null:
// no delimiter, or a new prefix past the limit. Called with g_mu held.
Prefix* find(const char* key, size_t nkey) {
  size_t len = 0;
  while (len < nkey && key[len] != '\0' && key[len] != kDetailDelimiter) ++len;
  if (len >= nkey || key[len] != kDetailDelimiter) return nullptr;
  if (!g_list) {
    g_list = new std::vector<Prefix>();
    g_index = new std::unordered_map<std::string_view, size_t>();
  }
  auto hit = g_index->find(std::string_view(key, len));
  if (hit != g_index->end()) return &(*g_list)[hit->second];
  if (g_list->size() >= kDetailMaxPrefixes) return nullptr;
  // Names live in their own heap strings: rebuild the index's views when the vector moves them.
  size_t cap = g_list->capacity();
  g_list->push_back(Prefix{std::string(key, len)});
  if (g_list->capacity() != cap) {
    g_index->clear();
    for (size_t i = 0; i < g_list->size(); ++i) g_index->emplace((*g_list)[i].name, i);
  } else {
    g_index->emplace(g_list->back().name, g_list->size() - 1);
  }
  return &g_list->back();
}
}  // namespace

bool detail_enabled() { return g_on.load(std::memory_order_relaxed); }
void detail_enable(bool on) { g_on.store(on, std::memory_order_relaxed); }

void detail_record_get(const char* key, size_t nkey, bool hit) {
  std::lock_guard<std::mutex> l(g_mu);
  if (Prefix* p = find(key, nkey)) {
    ++p->gets;
    if (hit) ++p->hits;
  }
}

void detail_record_set(const char* key, size_t nkey) {
  std::lock_guard<std::mutex> l(g_mu);
  if (Prefix* p = find(key, nkey)) ++p->sets;
}

void detail_record_delete(const char* key, size_t nkey) {
  std::lock_guard<std::mutex> l(g_mu);
  if (Prefix* p = find(key, nkey)) ++p->dels;
}

std::string detail_dump() {
  std::string out;
  std::lock_guard<std::mutex> l(g_mu);
  if (g_list) {
    char b[160];
    for (const Prefix& p : *g_list) {
      out += "PREFIX ";
      out += p.name;
      int n = std::snprintf(b, sizeof b, " get %" PRIu64 " hit %" PRIu64 " set %" PRIu64 " del %" PRIu64 "\r\n", p.gets,
                            p.hits, p.sets, p.dels);
      out.append(b, size_t(n));
    }
  }
  out += "END\r\n";
  return out;
}

void detail_clear() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_list) {
    g_index->clear();
    g_list->clear();
  }
}

}  // namespace proto
