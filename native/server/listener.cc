// listener.cc — see listener.h.
#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace srv {
namespace {

std::string errtext(const char* what, int e) { return std::string(what) + ": " + std::strerror(e); }

void fill_name(const sockaddr_storage& ss, std::string* address, int* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    *port = ntohs(a->sin6_port);
  } else {
    auto* a = reinterpret_cast<const sockaddr_un*>(&ss);
    *address = a->sun_path;
    *port = 0;
    return;
  }
  *address = buf;
}

}  // namespace

bool listen_tcp(const std::string& host, int port, int backlog, Bound* out, std::string* err) {
  if (port < 0 || port > 65535) {
    *err = "port must be 0..65535";
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  // "" listens everywhere as Node does: "::" (dual stack) where IPv6 exists, else 0.0.0.0.
  const char* node = host.empty() ? "::" : host.c_str();
  addrinfo* res = nullptr;
  std::string ps = std::to_string(port);
  int rc = getaddrinfo(node, ps.c_str(), &hints, &res);
  if (rc != 0 && host.empty()) rc = getaddrinfo("0.0.0.0", ps.c_str(), &hints, &res);
  if (rc != 0) {
    *err = std::string("getaddrinfo ") + (host.empty() ? "::" : host) + ": " + gai_strerror(rc);
    return false;
  }
  int last = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && host.empty()) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
      last = errno;
      close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    out->fd = fd;
    out->family = ss.ss_family;
    fill_name(ss, &out->address, &out->port);
    freeaddrinfo(res);
    return true;
  }
  freeaddrinfo(res);
  *err = errtext(("listen " + host_port(host, port)).c_str(), last);
  return false;
}

bool listen_unix(const std::string& path, int backlog, Bound* out, std::string* err) {
  sockaddr_un a{};
  if (path.empty() || path.size() >= sizeof a.sun_path) {
    *err = "unix socket path must be 1.." + std::to_string(sizeof a.sun_path - 1) + " bytes";
    return false;
  }
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errtext("socket", errno);
    return false;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    *err = errtext(("listen " + path).c_str(), errno);  // EADDRINUSE: the file exists (Node's answer too)
    close(fd);
    return false;
  }
  if (listen(fd, backlog) != 0) {
    *err = errtext(("listen " + path).c_str(), errno);
    close(fd);
    unlink(path.c_str());
    return false;
  }
  out->fd = fd;
  out->family = AF_UNIX;
  out->address = path;
  out->port = 0;
  return true;
}

void sock_name(int fd, bool peer, std::string* address, int* port) {
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  if (rc != 0) {
    address->clear();
    *port = 0;
    return;
  }
  fill_name(ss, address, port);
}

std::string host_port(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace srv
