// loop.h — one loop thread of the native server (server.h): an epoll set, the connections it
// was handed, and the bytes between their sockets and their protocol engines.
//
// Invariants:
//  - A connection is touched by its own thread only (its engine, buffers and descriptor). The
//    one crossing: an accepted descriptor handed to this thread waits in inbox_ (under
//    inbox_mu_) until the wake eventfd has this thread take it.
//  - load_ counts this thread's connections from the moment one is picked for it (Server::pick)
//    until it closes; other threads read it to pick.
//  - The listeners are in the epoll set exactly while the server accepts (Server::accepting_)
//    and this thread is not stopping.
//  - One read buffer per thread, reused for every read (the engine copies what it is given).
//  - Replies of one read go out in one send(); what the socket does not take waits in the
//    connection's wbuf, EPOLLOUT is armed, and reading stops while kOutHigh bytes or more wait.
//    Replies appended to a wbuf that still waits push out its sent front first (when that is
//    at least half of it, or the append reallocates): wbuf holds unsent replies, not a copy
//    of what the socket already took.
//  - Every feed/run counts wbuf's unsent bytes toward the engine's mark (drive's unsent): a
//    read that arrives while replies still wait runs only until they and the new ones reach
//    kOutHigh, then the engine yields (More) and reading stops. So what one connection makes
//    this thread hold is about one mark of replies plus one command's reply plus one read's
//    input, never a second mark on top of the first (memcached stops reading while it writes).
//  - ProtoState.More (the engine yielded: -R, or the unsent replies reached the mark): no
//    reading while it is set; the connection goes on the thread's ready list and runs again
//    after the other events of this turn, once the socket took every earlier reply (wbuf
//    empty).
//  - A drained wbuf grown past kBufKeep is released, and the engine trims its own buffers
//    (Conn::trim) after each run's replies are taken: idle connections hold base-size buffers.
//  - Close: the connection ends once its replies are written; a client that half-closed gets
//    the replies to what it sent, then the close.
//  - The idle clock restarts only when a whole command ran (ProtoState.Ran); one sweep per
//    thread per tick ends connections idle past the timeout.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/server.h"

namespace srv {

struct Client;

class Loop {
 public:
  explicit Loop(Server& s) : s_(s) {}
  ~Loop();
  bool init(std::string* err);  // epoll set, wake descriptor, listeners
  void run();                   // the thread's body
  void wake();                  // any thread: look at the server's flags and the inbox
  void hand(int fd);            // any thread: a new connection for this thread to serve

  std::atomic<uint32_t> load_{0};

 private:
  void accept_all(int lfd);
  void adopt(int fd);
  void drain_inbox();
  void set_listening(bool on);
  void on_client(Client* c, uint32_t ev);
  void process(Client* c, const uint8_t* data, size_t n);
  bool send_out(Client* c);
  bool flush(Client* c);
  void interest(Client* c);
  void settle(Client* c);  // close when it is done, else keep reading/writing
  void finish(Client* c, const char* why);
  void begin_stop();
  void sweep(int64_t now_ms);

  Server& s_;
  int ep_ = -1;
  int wake_fd_ = -1;
  proto::Backend be_;
  bool attached_ = false;
  std::vector<uint8_t> rbuf_;
  std::vector<Client*> clients_;
  std::vector<Client*> ready_, ready_next_;
  bool stopping_ = false;
  int64_t stop_deadline_ = 0;
  bool listening_ = false;
  std::mutex inbox_mu_;
  std::vector<int> inbox_;
};

}  // namespace srv
