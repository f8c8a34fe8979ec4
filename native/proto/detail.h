// detail.h — memcached's `stats detail`: per-prefix counts of gets, hits, sets and deletes of the
// text protocol's get/gets/gat/gats, storage commands and delete, keyed by the part of the key
// before the first ':' (keys without one are not counted). Owns: the process-wide on/off switch
// and the prefix table.
//
// Invariants: one table per process (memcached's is per server process), guarded by one mutex and
// touched only while recording is on; at most kDetailMaxPrefixes prefixes (memcached's
// MAX_PREFIX_COUNT), later new prefixes are not counted; `stats detail dump` lists them in the
// order they were first seen. Nothing here reaches the store.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace proto {

constexpr size_t kDetailMaxPrefixes = 1u << 16;
constexpr char kDetailDelimiter = ':';

bool detail_enabled();
void detail_enable(bool on);
void detail_record_get(const char* key, size_t nkey, bool hit);
void detail_record_set(const char* key, size_t nkey);
void detail_record_delete(const char* key, size_t nkey);
// "PREFIX name get N hit N set N del N\r\n" per prefix, then "END\r\n".
std::string detail_dump();
// Forgets every prefix (tests; memcached's stats_prefix_clear).
void detail_clear();

}  // namespace proto
