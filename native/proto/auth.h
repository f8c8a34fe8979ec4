// auth.h — who may talk to a server. Owns: the credential store (memcached's auth file,
// `user:password` lines) that every connection of one server shares, the constant-time check of
// a username and password against it, and the process's auth counters (stats auth_cmds and
// auth_errors).
//
// Invariants:
//  - A store is immutable once built: connections hold it through a shared_ptr, so a server that
//    reloads its file builds a new one and old connections keep a valid store.
//  - auth_check takes the same time whichever entry (if any) matches and however many leading
//    bytes of a guess are right: every entry is compared, every byte of each stored credential
//    is compared, and the result is folded without branching on the data.
//  - The text parser (auth.cc, Conn::text_auth_step) follows memcached 1.6's
//    try_read_command_asciiauth byte for byte; binary SASL PLAIN (Conn::bin_sasl) follows
//    proto_bin.c's statuses. Neither touches the store.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace proto {

struct AuthStore {
  std::vector<std::pair<std::string, std::string>> users;  // (username, password)
  bool sasl = false;                                       // binary SASL PLAIN offered (memcached's -S)
  std::string ascii_label;  // stats settings auth_enabled_ascii: the file's path, or "yes"
};

// Parses memcached's auth file format: one `user:password` per line ('\n' or "\r\n"), the user
// up to the first ':', the password the rest of the line; empty lines are skipped. Returns
// false (and leaves out untouched) on a non-empty line without ':'.
bool auth_parse(const char* data, size_t n, AuthStore* out);

// True when (user, pass) is one of store's entries, in time independent of where they differ.
bool auth_check(const AuthStore& store, const char* user, size_t ulen, const char* pass, size_t plen);

// Process-wide counters for `stats`: every auth attempt, and the failed ones.
void auth_counted(bool ok);
uint64_t auth_cmds();
uint64_t auth_errors();

}  // namespace proto
