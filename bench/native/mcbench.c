/*
 * mcbench: a small memcached text-protocol client for the shmcached benchmarks.
 *
 *   mcbench lat  HOST PORT OP SIZE KEYS OPS ROUNDS SEED [spin]
 *       One request, one reply, one at a time over one blocking TCP connection (TCP_NODELAY):
 *       the "memcached over sockets" latency of the paper. Populates KEYS keys ("key:<i>", SIZE
 *       bytes each; counters "0" for incr), runs one warm-up round and ROUNDS timed rounds of OPS
 *       operations on uniform random keys, and prints one line per timed round:
 *           round <ns per op>
 *       then `hits <n> <expected>` and `pct <min> <p50> <p90> <p99>`, the ns of single round trips
 *       over all timed rounds. OP is get, set, delete or incr. A delete round removes
 *       existing keys a quarter of the key space at a time (timed) and puts them back (untimed).
 *       With `spin`, the client busy-polls the socket instead of sleeping in recv: the round trip
 *       without the client's own wake-up, but holding a CPU the server may need (a cross-check,
 *       not a lower bound, on a machine with few CPUs).
 *
 *   mcbench load HOST PORT OP SIZE KEYS CONNS DEPTH WARMUP_MS MEASURE_MS THREADS SEED
 *       A pipelined load generator: CONNS connections spread over THREADS threads, each keeping
 *       DEPTH requests in flight (a new one is sent as each reply arrives). OP is get or set.
 *       DEPTH 1 is sequential round trips: a connection's next request is written only after its
 *       reply was read. A thread with one connection blocks in recv; one with several polls them.
 *       One thread drives every connection by default: on a 2-CPU machine a second client thread
 *       only takes CPU from the server under test.
 *       Populates the keys first, warms up, then measures for MEASURE_MS and prints one JSON line:
 *           {"ops":..,"seconds":..,"opsPerSec":..,"p50Us":..,"p99Us":..,"hits":..,"errors":..}
 *       where latency is from the moment a request was written to the moment its reply was read.
 *       With `nofill` the keys are not stored first (`fill` stored them).
 *
 *   mcbench fill HOST PORT SIZE KEYS SEED
 *       Stores KEYS keys of SIZE bytes ("key:<i>"), pipelined, checking every reply; prints
 *       `filled <KEYS>`. Lets many `load ... nofill` runs share one population of a server.
 *
 * Exit status: 0 on success, 1 on a usage error, 2 on a connection or protocol error.
 * Written for these benchmarks; built by bench/lib/mcbench.ts with `cc -O2 -Wall -Wextra`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum op { OP_GET, OP_SET, OP_DELETE, OP_INCR };

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "mcbench: %s: %s\n", what, errno ? strerror(errno) : "protocol error");
  exit(2);
}

/* xorshift64*: a small seeded generator, enough for picking keys. */
static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 2685821657736338717ull;
}

static uint32_t rng_below(uint64_t *s, uint32_t n) { return (uint32_t)((rng_next(s) >> 32) % n); }

/* ---------------------------------------------------------------------------------------------
 * A connection with a receive buffer that keeps bytes past the reply being parsed (pipelining). */

struct conn {
  int fd;
  char *rbuf;
  size_t rcap, rlen, rpos;
};

static int connect_to(const char *host, const char *port) {
  struct addrinfo hints, *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0) {
    errno = 0;
    die("cannot resolve host");
  }
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd < 0) die("socket");
  if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) die("connect");
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void conn_init(struct conn *c, const char *host, const char *port, size_t cap) {
  c->fd = connect_to(host, port);
  c->rcap = cap;
  c->rbuf = malloc(cap);
  if (!c->rbuf) die("malloc");
  c->rlen = c->rpos = 0;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    p += w;
    n -= (size_t)w;
  }
}

/*
 * Length of the first complete reply in buf[0..len), 0 if it is not all there yet. A get reply is
 * "VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n" or "END\r\n"; every other reply of the
 * commands used here is one line.
 */
static size_t reply_len(const char *buf, size_t len) {
  const char *eol = memmem(buf, len, "\r\n", 2);
  if (!eol) return 0;
  size_t line = (size_t)(eol - buf) + 2;
  if (line > 6 && memcmp(buf, "VALUE ", 6) == 0) {
    /* the fourth token is the byte count */
    const char *p = buf + 6;
    int field = 1;
    while (p < eol && field < 3) {
      if (*p == ' ') field++;
      p++;
    }
    char *end;
    unsigned long n = strtoul(p, &end, 10);
    if (end == p) {
      errno = 0;
      die("malformed VALUE line");
    }
    size_t total = line + n + 2 + 5;
    if (len < total) return 0;
    if (memcmp(buf + line + n, "\r\nEND\r\n", 7) != 0) {
      errno = 0;
      die("get reply does not end in END");
    }
    return total;
  }
  return line;
}

/* Did this reply succeed for this op (a hit, stored, deleted, a number)? */
static int reply_ok(enum op op, const char *r) {
  switch (op) {
  case OP_GET: return r[0] == 'V';
  case OP_SET: return r[0] == 'S'; /* STORED */
  case OP_DELETE: return r[0] == 'D'; /* DELETED */
  case OP_INCR: return r[0] >= '0' && r[0] <= '9';
  }
  return 0;
}

/* Is a whole reply buffered? Returns a pointer to it (and advances past it), or NULL. */
static const char *conn_take(struct conn *c) {
  size_t n = reply_len(c->rbuf + c->rpos, c->rlen - c->rpos);
  if (n == 0) return NULL;
  const char *r = c->rbuf + c->rpos;
  c->rpos += n;
  return r;
}

/* Reads more bytes (blocking unless dontwait); returns the count, 0 if none were ready. */
static ssize_t conn_fill(struct conn *c, int dontwait) {
  if (c->rpos > 0) { /* compact */
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
  }
  if (c->rlen == c->rcap) {
    c->rcap *= 2;
    c->rbuf = realloc(c->rbuf, c->rcap);
    if (!c->rbuf) die("realloc");
  }
  for (;;) {
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, dontwait ? MSG_DONTWAIT : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && dontwait && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r < 0) die("recv");
    if (r == 0) {
      errno = 0;
      die("server closed the connection");
    }
    c->rlen += (size_t)r;
    return r;
  }
}

/* Busy-poll instead of sleeping in recv (lat's `spin` option). */
static int spin_wait = 0;

/* Waits until one whole reply is buffered (blocking in recv, or spinning); returns it. */
static const char *conn_reply(struct conn *c) {
  const char *r;
  while ((r = conn_take(c)) == NULL) conn_fill(c, spin_wait);
  return r;
}

/* Appends one request for key index k to out; returns its length. */
static size_t format_req(char *out, enum op op, uint32_t k, const char *value, size_t size) {
  switch (op) {
  case OP_GET: return (size_t)sprintf(out, "get key:%u\r\n", k);
  case OP_DELETE: return (size_t)sprintf(out, "delete key:%u\r\n", k);
  case OP_INCR: return (size_t)sprintf(out, "incr key:%u 1\r\n", k);
  case OP_SET: {
    size_t n = (size_t)sprintf(out, "set key:%u 0 0 %zu\r\n", k, size);
    memcpy(out + n, value, size);
    memcpy(out + n + size, "\r\n", 2);
    return n + size + 2;
  }
  }
  return 0;
}

/* Stores keys [from, to) (through idx when given), pipelined 64 at a time; checks every reply. */
static void store_keys(struct conn *c, const uint32_t *idx, uint32_t from, uint32_t to, const char *value, size_t size,
                       char *wbuf) {
  for (uint32_t i = from; i < to;) {
    size_t w = 0;
    uint32_t batch = 0;
    for (; i < to && batch < 64; i++, batch++) w += format_req(wbuf + w, OP_SET, idx ? idx[i] : i, value, size);
    write_all(c->fd, wbuf, w);
    for (uint32_t j = 0; j < batch; j++) {
      const char *r = conn_reply(c);
      if (!reply_ok(OP_SET, r)) {
        errno = 0;
        fprintf(stderr, "mcbench: set failed: %.40s\n", r);
        exit(2);
      }
    }
  }
}

static enum op parse_op(const char *s) {
  if (strcmp(s, "get") == 0) return OP_GET;
  if (strcmp(s, "set") == 0) return OP_SET;
  if (strcmp(s, "delete") == 0) return OP_DELETE;
  if (strcmp(s, "incr") == 0) return OP_INCR;
  fprintf(stderr, "mcbench: unknown op '%s' (get, set, delete, incr)\n", s);
  exit(1);
}

static unsigned long parse_num(const char *s, const char *name) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s) {
    fprintf(stderr, "mcbench: %s must be a non-negative integer, got '%s'\n", name, s);
    exit(1);
  }
  return v;
}

static char *make_value(size_t size, uint64_t *seed) {
  char *v = malloc(size + 1);
  if (!v) die("malloc");
  for (size_t i = 0; i < size; i++) v[i] = (char)('a' + rng_below(seed, 26));
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * lat: one round trip at a time */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int cmd_lat(char **a) {
  const char *host = a[0], *port = a[1];
  enum op op = parse_op(a[2]);
  size_t size = parse_num(a[3], "SIZE");
  uint32_t keys = (uint32_t)parse_num(a[4], "KEYS");
  uint32_t ops = (uint32_t)parse_num(a[5], "OPS");
  uint32_t rounds = (uint32_t)parse_num(a[6], "ROUNDS");
  uint64_t seed = parse_num(a[7], "SEED") * 0x9E3779B97F4A7C15ull + 1;
  if (keys == 0 || ops == 0 || rounds == 0) {
    fprintf(stderr, "mcbench: KEYS, OPS and ROUNDS must be positive\n");
    return 1;
  }
  if (op == OP_INCR) size = 1;
  char *value = op == OP_INCR ? strdup("0") : make_value(size, &seed);
  char *wbuf = malloc(64 * (size + 64));
  struct conn c;
  conn_init(&c, host, port, 2 * size + 4096);
  if (!wbuf) die("malloc");
  store_keys(&c, NULL, 0, keys, value, size, wbuf);

  uint32_t *order = malloc(sizeof(uint32_t) * (op == OP_DELETE ? keys : ops));
  if (!order) die("malloc");
  if (op == OP_DELETE) { /* a permutation: every delete finds its key */
    for (uint32_t i = 0; i < keys; i++) order[i] = i;
    for (uint32_t i = keys - 1; i > 0; i--) {
      uint32_t j = rng_below(&seed, i + 1), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  } else {
    for (uint32_t i = 0; i < ops; i++) order[i] = rng_below(&seed, keys);
  }

  /* every timed op's own round trip, for the percentiles printed at the end */
  uint32_t *each = malloc(sizeof(uint32_t) * (size_t)ops * rounds);
  if (!each) die("malloc");
  size_t nEach = 0;
  uint64_t hits = 0, expected = 0;
  uint32_t pos = 0;
  for (uint32_t r = 0; r <= rounds; r++) { /* round 0 warms up */
    uint64_t ns = 0, h = 0;
    if (op == OP_DELETE) {
      uint32_t chunk = keys / 4 ? keys / 4 : 1;
      for (uint32_t done = 0; done < ops;) {
        uint32_t m = ops - done < chunk ? ops - done : chunk;
        if (pos + m > keys) pos = 0;
        uint64_t t0 = now_ns(), prev = t0;
        for (uint32_t i = pos; i < pos + m; i++) {
          size_t n = format_req(wbuf, OP_DELETE, order[i], NULL, 0);
          write_all(c.fd, wbuf, n);
          h += reply_ok(OP_DELETE, conn_reply(&c));
          uint64_t t = now_ns();
          if (r > 0) each[nEach++] = (uint32_t)(t - prev < UINT32_MAX ? t - prev : UINT32_MAX);
          prev = t;
        }
        ns += prev - t0;
        store_keys(&c, order, pos, pos + m, value, size, wbuf);
        pos += m;
        done += m;
      }
    } else {
      uint64_t t0 = now_ns(), prev = t0;
      for (uint32_t i = 0; i < ops; i++) {
        size_t n = format_req(wbuf, op, order[i], value, size);
        write_all(c.fd, wbuf, n);
        h += reply_ok(op, conn_reply(&c));
        uint64_t t = now_ns();
        if (r > 0) each[nEach++] = (uint32_t)(t - prev < UINT32_MAX ? t - prev : UINT32_MAX);
        prev = t;
      }
      ns = prev - t0;
    }
    if (r > 0) {
      printf("round %.1f\n", (double)ns / ops);
      hits += h;
      expected += ops;
    }
  }
  printf("hits %llu %llu\n", (unsigned long long)hits, (unsigned long long)expected);
  qsort(each, nEach, sizeof *each, cmp_u32);
  printf("pct %u %u %u %u\n", each[0], each[nEach / 2], each[(size_t)((double)nEach * 0.9)], each[(size_t)((double)nEach * 0.99)]);
  free(each);
  close(c.fd);
  free(order);
  free(wbuf);
  free(value);
  free(c.rbuf);
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * load: pipelined connections over a few threads */

/* Latency histogram: 100 ns buckets up to 100 ms, then one overflow bucket. */
#define HBUCKET_NS 100
#define HBUCKETS 1000001

enum { PH_WARM = 0, PH_MEASURE = 1, PH_STOP = 2 };
static _Atomic int phase = PH_WARM;

struct loadcfg {
  const char *host, *port;
  enum op op;
  const char *value;
  size_t size;
  uint32_t keys, depth;
};

struct worker {
  const struct loadcfg *cfg;
  uint32_t nconns;
  uint64_t seed;
  uint64_t ops, hits, errors;
  uint32_t *hist;
  pthread_t tid;
};

struct pconn {
  struct conn c;
  uint64_t *sent; /* send times, a ring of depth entries */
  uint32_t head, inflight;
};

static void *load_thread(void *arg) {
  struct worker *w = arg;
  const struct loadcfg *cfg = w->cfg;
  struct pconn *pc = calloc(w->nconns, sizeof *pc);
  struct pollfd *pfd = calloc(w->nconns, sizeof *pfd);
  char *wbuf = malloc((size_t)cfg->depth * (cfg->size + 64));
  if (!pc || !pfd || !wbuf) die("malloc");
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_init(&pc[i].c, cfg->host, cfg->port, (size_t)cfg->depth * (cfg->size + 64) + 4096);
    pc[i].sent = calloc(cfg->depth, sizeof(uint64_t));
    if (!pc[i].sent) die("calloc");
    pfd[i].fd = pc[i].c.fd;
    pfd[i].events = POLLIN;
  }
  for (;;) {
    int ph = atomic_load_explicit(&phase, memory_order_relaxed);
    if (ph == PH_STOP) break;
    /* top every connection up to depth requests in flight, one write each */
    for (uint32_t i = 0; i < w->nconns; i++) {
      struct pconn *p = &pc[i];
      if (p->inflight == cfg->depth) continue;
      size_t n = 0;
      uint64_t t = now_ns();
      while (p->inflight < cfg->depth) {
        n += format_req(wbuf + n, cfg->op, rng_below(&w->seed, cfg->keys), cfg->value, cfg->size);
        p->sent[(p->head + p->inflight) % cfg->depth] = t;
        p->inflight++;
      }
      write_all(p->c.fd, wbuf, n);
    }
    /* one connection: block in recv (no poll), so a sequential round trip costs the client
     * one send and one recv, as a plain memcached client's does */
    int single = w->nconns == 1;
    if (!single && poll(pfd, w->nconns, 100) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (uint32_t i = 0; i < w->nconns; i++) {
      if (!single && !(pfd[i].revents & (POLLIN | POLLERR | POLLHUP))) continue;
      struct pconn *p = &pc[i];
      conn_fill(&p->c, !single);
      const char *r;
      uint64_t t = now_ns();
      while ((r = conn_take(&p->c)) != NULL) {
        if (p->inflight == 0) {
          errno = 0;
          die("reply without a request");
        }
        uint64_t lat = t - p->sent[p->head];
        p->head = (p->head + 1) % cfg->depth;
        p->inflight--;
        if (ph == PH_MEASURE) {
          w->ops++;
          if (reply_ok(cfg->op, r)) w->hits++;
          else if (memcmp(r, "ERROR", 5) == 0 || memcmp(r, "CLIENT_ERROR", 12) == 0 || memcmp(r, "SERVER_ERROR", 12) == 0) w->errors++;
          uint64_t b = lat / HBUCKET_NS;
          w->hist[b < HBUCKETS - 1 ? b : HBUCKETS - 1]++;
        }
      }
    }
  }
  for (uint32_t i = 0; i < w->nconns; i++) {
    close(pc[i].c.fd);
    free(pc[i].c.rbuf);
    free(pc[i].sent);
  }
  free(pc);
  free(pfd);
  free(wbuf);
  return NULL;
}

static double hist_quantile(const uint64_t *h, uint64_t total, double q) {
  uint64_t want = (uint64_t)(q * (double)total);
  if (want >= total) want = total - 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < HBUCKETS; b++) {
    seen += h[b];
    if (seen > want) return ((double)b + 0.5) * HBUCKET_NS / 1000.0;
  }
  return 0;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Set by `load ... nofill`: the keys were stored before (by `fill`), do not store them again. */
static int nofill = 0;

/* fill: stores the keys once (what load does first, for servers that several loads will share). */
static int cmd_fill(char **a) {
  const char *host = a[0], *port = a[1];
  size_t size = parse_num(a[2], "SIZE");
  uint32_t keys = (uint32_t)parse_num(a[3], "KEYS");
  uint64_t seed = parse_num(a[4], "SEED") * 0x9E3779B97F4A7C15ull + 1;
  char *value = make_value(size, &seed);
  char *wbuf = malloc(64 * (size + 64));
  if (!wbuf) die("malloc");
  struct conn c;
  conn_init(&c, host, port, 2 * size + 4096);
  store_keys(&c, NULL, 0, keys, value, size, wbuf);
  close(c.fd);
  free(c.rbuf);
  free(wbuf);
  free(value);
  printf("filled %u\n", keys);
  return 0;
}

static int cmd_load(char **a) {
  struct loadcfg cfg;
  cfg.host = a[0];
  cfg.port = a[1];
  cfg.op = parse_op(a[2]);
  cfg.size = parse_num(a[3], "SIZE");
  cfg.keys = (uint32_t)parse_num(a[4], "KEYS");
  uint32_t conns = (uint32_t)parse_num(a[5], "CONNS");
  cfg.depth = (uint32_t)parse_num(a[6], "DEPTH");
  double warm = (double)parse_num(a[7], "WARMUP_MS") / 1000.0;
  double secs = (double)parse_num(a[8], "MEASURE_MS") / 1000.0;
  uint32_t threads = (uint32_t)parse_num(a[9], "THREADS");
  uint64_t seed = parse_num(a[10], "SEED") * 0x9E3779B97F4A7C15ull + 1;
  if (cfg.op != OP_GET && cfg.op != OP_SET) {
    fprintf(stderr, "mcbench: load runs get or set\n");
    return 1;
  }
  if (cfg.keys == 0 || conns == 0 || cfg.depth == 0 || threads == 0 || secs <= 0) {
    fprintf(stderr, "mcbench: KEYS, CONNS, DEPTH, THREADS and MEASURE_MS must be positive\n");
    return 1;
  }
  if (threads > conns) threads = conns;
  char *value = make_value(cfg.size, &seed);
  cfg.value = value;
  if (!nofill) { /* populate over one connection */
    struct conn c;
    char *wbuf = malloc(64 * (cfg.size + 64));
    if (!wbuf) die("malloc");
    conn_init(&c, cfg.host, cfg.port, 2 * cfg.size + 4096);
    store_keys(&c, NULL, 0, cfg.keys, value, cfg.size, wbuf);
    close(c.fd);
    free(c.rbuf);
    free(wbuf);
  }
  struct worker *ws = calloc(threads, sizeof *ws);
  if (!ws) die("calloc");
  for (uint32_t t = 0; t < threads; t++) {
    ws[t].cfg = &cfg;
    ws[t].nconns = conns / threads + (t < conns % threads);
    ws[t].seed = seed + 0x51ED270B27ull * (t + 1);
    ws[t].hist = calloc(HBUCKETS, sizeof(uint32_t));
    if (!ws[t].hist) die("calloc");
    if (pthread_create(&ws[t].tid, NULL, load_thread, &ws[t]) != 0) die("pthread_create");
  }
  sleep_s(warm);
  uint64_t t0 = now_ns();
  atomic_store(&phase, PH_MEASURE);
  sleep_s(secs);
  atomic_store(&phase, PH_STOP);
  uint64_t t1 = now_ns();
  uint64_t ops = 0, hits = 0, errors = 0;
  uint64_t *hist = calloc(HBUCKETS, sizeof(uint64_t));
  if (!hist) die("calloc");
  for (uint32_t t = 0; t < threads; t++) {
    pthread_join(ws[t].tid, NULL);
    ops += ws[t].ops;
    hits += ws[t].hits;
    errors += ws[t].errors;
    for (size_t b = 0; b < HBUCKETS; b++) hist[b] += ws[t].hist[b];
    free(ws[t].hist);
  }
  double elapsed = (double)(t1 - t0) / 1e9;
  printf("{\"ops\":%llu,\"seconds\":%.3f,\"opsPerSec\":%.0f,\"p50Us\":%.1f,\"p99Us\":%.1f,\"hits\":%llu,\"errors\":%llu}\n",
         (unsigned long long)ops, elapsed, (double)ops / elapsed, ops ? hist_quantile(hist, ops, 0.5) : 0.0,
         ops ? hist_quantile(hist, ops, 0.99) : 0.0, (unsigned long long)hits, (unsigned long long)errors);
  free(hist);
  free(ws);
  free(value);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if ((argc == 10 || (argc == 11 && strcmp(argv[10], "spin") == 0)) && strcmp(argv[1], "lat") == 0) {
    spin_wait = argc == 11;
    return cmd_lat(argv + 2);
  }
  if ((argc == 13 || (argc == 14 && strcmp(argv[13], "nofill") == 0)) && strcmp(argv[1], "load") == 0) {
    nofill = argc == 14;
    return cmd_load(argv + 2);
  }
  if (argc == 7 && strcmp(argv[1], "fill") == 0) return cmd_fill(argv + 2);
  fprintf(stderr,
          "usage: mcbench lat  HOST PORT OP SIZE KEYS OPS ROUNDS SEED [spin]\n"
          "       mcbench load HOST PORT OP SIZE KEYS CONNS DEPTH WARMUP_MS MEASURE_MS THREADS SEED [nofill]\n"
          "       mcbench fill HOST PORT SIZE KEYS SEED\n");
  return 1;
}
