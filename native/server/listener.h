// listener.h — the listening sockets the native loop owns, and the names of accepted sockets.
// Owns: opening a TCP listener (host:port, port 0 picks one, IPv4 or IPv6, "" = every address)
// or a unix-socket listener (path), nonblocking, and the "HOST:PORT" names memcached prints.
//
// Invariants: a returned descriptor is listening, nonblocking and close-on-exec; on failure
// nothing is left open (nor a unix socket file created by the attempt) and err says why.
#pragma once
#include <string>

namespace srv {

struct Bound {
  int fd = -1;
  std::string address;  // "127.0.0.1", "::1", or the unix path
  int port = 0;         // the bound port (0 for a unix socket)
  int family = 0;       // AF_INET, AF_INET6 or AF_UNIX
};

bool listen_tcp(const std::string& host, int port, int backlog, Bound* out, std::string* err);
bool listen_unix(const std::string& path, int backlog, Bound* out, std::string* err);

// An accepted socket's peer (peer=true) or local end: address and port as Node prints them
// (remoteAddress, remotePort); port 0 and the listener's path for a unix socket.
void sock_name(int fd, bool peer, std::string* address, int* port);

// memcached's "HOST:PORT" ("[v6]:PORT" for IPv6 addresses).
std::string host_port(const std::string& host, int port);

}  // namespace srv
